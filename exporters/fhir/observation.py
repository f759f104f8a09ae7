"""Observation (vital signs, laboratory, survey, ...) and DiagnosticReport for panels.

Blood pressure arrives as two rows, systolic (LOINC 8480-6) and diastolic (8462-4), at
the same time and encounter; FHIR's vital-signs profile wants one Observation 85354-9
with the two as components (R4 observation-vitalsigns, "Blood Pressure"). The pair
takes the systolic row's id and place; a lone half becomes a panel of one component.
"""

from __future__ import annotations

import polars as pl

from .codes import LOINC, OBSERVATION_CATEGORY, UCUM, coded, concept_json
from .common import reference, resource_frame
from .json_text import (
    Part,
    instant_text,
    lookup,
    number_text,
    opt,
    prepare_text,
    render_rows,
    when,
)

SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
_BP_PANEL = concept_json(
    LOINC,
    "85354-9",
    "Blood pressure panel with all children optional",
    "Blood pressure panel with all children optional",
)
_BP_KEY = ["PATIENT", "DATE", "ENCOUNTER", "_nth"]
_OUT = ["_row", "PATIENT", "id", "REPORT", "CATEGORY", "json"]
_VALUE_COLUMNS = ("VALUE", "UNITS", "TYPE")


def _value_stage(prefix: str = "") -> list[pl.Expr]:
    """The number a numeric row's VALUE spells (else null), for `_value`."""
    c = pl.col
    number = pl.when(c(f"{prefix}TYPE") != "text").then(number_text(c(f"{prefix}VALUE")))
    return [number.alias(f"{prefix}_number")]


def _value(prefix: str = "") -> list[Part]:
    """valueQuantity (UCUM) for numeric rows whose VALUE spells a number, else
    valueString (VALUE and UNITS already escaped)."""
    c = pl.col
    number, unit = c(f"{prefix}_number"), c(f"{prefix}UNITS")
    return [
        when(
            number.is_not_null(),
            ',"valueQuantity":{"value":',
            number,
            opt(',"unit":"', unit, f'","system":"{UCUM}","code":"'),
            opt("", unit, '"'),
            "}",
        ),
        when(number.is_null(), opt(',"valueString":"', c(f"{prefix}VALUE"), '"')),
    ]


def _subject_and_times() -> tuple[Part, ...]:
    """subject, encounter, effectiveDateTime and issued: the same in an Observation and
    in its DiagnosticReport (both read PATIENT, ENCOUNTER and the formatted _date)."""
    c = pl.col
    return (
        ',"subject":{"reference":"Patient/',
        c("PATIENT"),
        '"}',
        reference("encounter", "Encounter", "ENCOUNTER"),
        ',"effectiveDateTime":"',
        c("_date"),
        '","issued":"',
        c("_date"),
        '"',
    )


def _observation(code: list[Part] | str, *values: Part) -> tuple[Part, ...]:
    c = pl.col
    return (
        '{"resourceType":"Observation","id":"',
        c("id"),
        '","status":"final"',
        opt(',"category":', c("_category")),
        ',"code":',
        code,
        *_subject_and_times(),
        *values,
        "}",
    )


def _component(prefix: str, code: str, display: str) -> list[Part]:
    return [
        f'{{"code":{concept_json(LOINC, code, display, display)}',
        _value(prefix),
        "}",
    ]


def _common_stage() -> list[pl.Expr]:
    c = pl.col
    return [
        instant_text(c("DATE")).alias("_date"),
        lookup(c("CATEGORY"), OBSERVATION_CATEGORY).alias("_category"),
    ]


def _blood_pressure(rows: pl.DataFrame) -> pl.DataFrame:
    halves = []
    for code, prefix in ((SYSTOLIC, "S_"), (DIASTOLIC, "D_")):
        half = rows.filter(pl.col("CODE") == code).select(
            *_BP_KEY[:3],
            pl.int_range(pl.len()).over(_BP_KEY[:3]).alias("_nth"),
            *(
                pl.col(name).alias(prefix + name)
                for name in ("id", "_row", "REPORT", "CATEGORY", *_VALUE_COLUMNS)
            ),
        )
        halves.append(half)
    pairs = halves[0].join(
        halves[1], on=_BP_KEY, how="full", coalesce=True, nulls_equal=True, maintain_order="left"
    )
    c = pl.col
    pairs = pairs.with_columns(
        *_value_stage("S_"),
        *_value_stage("D_"),
        pl.coalesce("S_id", "D_id").alias("id"),
        pl.coalesce("S__row", "D__row").alias("_row"),
        pl.coalesce("S_REPORT", "D_REPORT").alias("REPORT"),
        pl.coalesce("S_CATEGORY", "D_CATEGORY").alias("CATEGORY"),
    ).with_columns(_common_stage())
    systolic, diastolic = c("S_id").is_not_null(), c("D_id").is_not_null()
    json = _observation(
        _BP_PANEL,
        ',"component":[',
        when(systolic, _component("S_", SYSTOLIC, "Systolic blood pressure")),
        when(systolic & diastolic, ","),
        when(diastolic, _component("D_", DIASTOLIC, "Diastolic blood pressure")),
        "]",
    )
    return pairs.select(*(c(name) for name in _OUT[:-1]), render_rows(pairs, json).alias("json"))


def observation_resources(observations: pl.DataFrame) -> pl.DataFrame:
    """Columns _row (table order), PATIENT, id, REPORT, CATEGORY, json, in table order."""
    c = pl.col
    rows = (
        prepare_text(observations, "CODE", "DESCRIPTION", "VALUE", "UNITS")
        .rename({"Id": "id"})
        .with_row_index("_row")
    )
    is_bp = c("CODE").is_in([SYSTOLIC, DIASTOLIC])
    single = rows.filter(~is_bp).with_columns(*_value_stage(), *_common_stage())
    json = _observation(coded(LOINC, c("CODE"), c("DESCRIPTION")), *_value())
    singles = single.select(
        *(c(name) for name in _OUT[:-1]), render_rows(single, json).alias("json")
    )
    bp = _blood_pressure(rows.filter(is_bp))
    if bp.height == 0:
        return singles
    return pl.concat([singles, bp.cast(singles.schema)]).sort("_row")


# DiagnosticReport.category for laboratory panels: v2 table 0074 "LAB" (THO 7.0.1).
_LAB = concept_json("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")


def diagnostic_report_resources(reports: pl.DataFrame, observations: pl.DataFrame) -> pl.DataFrame:
    """One DiagnosticReport per panel, its results the Observations written for it.

    `observations` is the frame from `observation_resources`, so a result always names
    an Observation that exists (a blood-pressure pair under its systolic id).
    """
    c = pl.col
    members = (
        observations.filter(c("REPORT").is_not_null())
        .group_by("REPORT", maintain_order=True)
        .agg(
            pl.concat_str([pl.lit('{"reference":"Observation/'), c("id"), pl.lit('"}')])
            .str.join(",")
            .alias("_results"),
            (c("CATEGORY") == "laboratory").any().alias("_lab"),
        )
    )
    frame = (
        prepare_text(reports, "CODE", "DESCRIPTION")
        .join(members, left_on="Id", right_on="REPORT", how="left", maintain_order="left")
        .with_columns(instant_text(c("DATE")).alias("_date"))
    )
    resource = (
        '{"resourceType":"DiagnosticReport","id":"',
        c("Id"),
        '","status":"final"',
        when(c("_lab").fill_null(False), f',"category":[{_LAB}]'),
        ',"code":',
        coded(LOINC, c("CODE"), c("DESCRIPTION")),
        *_subject_and_times(),
        opt(',"result":[', c("_results"), "]"),
        "}",
    )
    return resource_frame(frame, resource)
