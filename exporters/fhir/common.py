"""Parts shared by the resource templates: references and the output frame."""

from __future__ import annotations

import polars as pl

from .codes import SNOMED, coded
from .json_text import Part, opt, render_rows, when


def reference(member: str, resource_type: str, column: str) -> Part:
    """`,"member":{"reference":"Type/<id>"}` where the id column is not null."""
    return opt(f',"{member}":{{"reference":"{resource_type}/', pl.col(column), '"}')


def reason(member: str, code: str, description: str) -> Part:
    """`,"member":[<SNOMED CodeableConcept>]` where the reason code is not null."""
    c = pl.col
    return when(
        c(code).is_not_null(), f',"{member}":[', coded(SNOMED, c(code), c(description)), "]"
    )


def resource_frame(frame: pl.DataFrame, resource: Part, patient: str = "PATIENT") -> pl.DataFrame:
    """The exporter's view of a resource table: PATIENT, id, json."""
    json = render_rows(frame, resource)
    return frame.select(
        pl.col(patient).alias("PATIENT"), pl.col("Id").alias("id"), json.alias("json")
    )


def active_or(stop: str, active: str, ended: str) -> pl.Expr:
    """JSON text `active` while the STOP column is null, `ended` once it is set."""
    return pl.when(pl.col(stop).is_null()).then(pl.lit(active)).otherwise(pl.lit(ended))
