"""Organization and Practitioner, from the run-wide care network tables."""

from __future__ import annotations

import polars as pl

from .codes import GENDER
from .json_text import any_of, constant, lookup, opt, prepare_text, render_rows, when

# Organization.type "prov" (organization-type code system, THO 7.0.1).
_PROVIDER_TYPE = constant(
    [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "prov",
                    "display": "Healthcare Provider",
                }
            ],
            "text": "Healthcare Provider",
        }
    ]
)
_ADDRESS_COLUMNS = ("ADDRESS", "CITY", "STATE", "ZIP")


def _address() -> list:
    c = pl.col
    return [
        when(
            any_of(c(name).is_not_null() for name in _ADDRESS_COLUMNS),
            ',"address":[{"use":"work"',
            opt(',"line":["', c("ADDRESS"), '"]'),
            opt(',"city":"', c("CITY"), '"'),
            opt(',"state":"', c("STATE"), '"'),
            opt(',"postalCode":"', c("ZIP"), '"'),
            when(c("STATE").is_not_null(), ',"country":"US"'),
            "}]",
        )
    ]


def organization_resources(organizations: pl.DataFrame) -> pl.DataFrame:
    """One Organization per row: columns id, json."""
    c = pl.col
    frame = prepare_text(organizations, "NAME", "PHONE", *_ADDRESS_COLUMNS)
    resource = (
        '{"resourceType":"Organization","id":"',
        c("Id"),
        f'","active":true,"type":{_PROVIDER_TYPE}',
        opt(',"name":"', c("NAME"), '"'),
        opt(',"telecom":[{"system":"phone","value":"', c("PHONE"), '","use":"work"}]'),
        _address(),
        "}",
    )
    return frame.select(c("Id").alias("id"), render_rows(frame, resource).alias("json"))


def practitioner_resources(providers: pl.DataFrame) -> pl.DataFrame:
    """One Practitioner per row: columns id, json. NAME is "<given> <family>"."""
    c = pl.col
    parts = c("NAME").str.splitn(" ", 2)
    frame = prepare_text(providers, "NAME", *_ADDRESS_COLUMNS)
    frame = frame.with_columns(
        parts.struct.field("field_0").replace("", None).alias("_given"),
        parts.struct.field("field_1").replace("", None).alias("_family"),
        lookup(c("GENDER"), GENDER).alias("_gender"),
    )
    resource = (
        '{"resourceType":"Practitioner","id":"',
        c("Id"),
        '","active":true',
        when(
            c("NAME").is_not_null(),
            ',"name":[{"text":"',
            c("NAME"),
            '"',
            opt(',"family":"', c("_family"), '"'),
            opt(',"given":["', c("_given"), '"]'),
            "}]",
        ),
        opt(',"gender":', c("_gender")),
        _address(),
        "}",
    )
    return frame.select(c("Id").alias("id"), render_rows(frame, resource).alias("json"))
