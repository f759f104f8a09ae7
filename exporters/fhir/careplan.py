"""CarePlan with its activities (careplan_activities rows, in their order)."""

from __future__ import annotations

import polars as pl

from .codes import SNOMED, coded, system_uri
from .common import active_or, reference, resource_frame
from .json_text import constant, date_text, opt, prepare_text, render, when

# US Core CarePlan category "assess-plan" (US Core CodeSystem careplan-category).
_ASSESS_PLAN = constant(
    {
        "coding": [
            {
                "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                "code": "assess-plan",
                "display": "Assessment and Plan of Treatment",
            }
        ]
    }
)


def _activities(careplans: pl.DataFrame, activities: pl.DataFrame) -> pl.DataFrame:
    """Per care plan, its activities as JSON items joined with commas (column _activity)."""
    c = pl.col
    rows = prepare_text(activities, "CODE", "DESCRIPTION").join(
        careplans.select(c("Id").alias("CAREPLAN"), c("STOP")),
        on="CAREPLAN",
        how="left",
        maintain_order="left",
    )
    item = render(
        '{"detail":{"code":',
        coded(system_uri(c("SYSTEM"), rows["SYSTEM"]), c("CODE"), c("DESCRIPTION")),
        # CarePlan.activity.detail.status (R4 care-plan-activity-status) follows the plan.
        ',"status":',
        active_or("STOP", '"in-progress"', '"completed"'),
        "}}",
    )
    return rows.group_by("CAREPLAN", maintain_order=True).agg(item.str.join(",").alias("_activity"))


def careplan_resources(careplans: pl.DataFrame, activities: pl.DataFrame | None) -> pl.DataFrame:
    """One CarePlan per row: columns PATIENT, id, json."""
    c = pl.col
    frame = prepare_text(careplans, "CODE", "DESCRIPTION").with_columns(
        date_text(c("START")).alias("_start"), date_text(c("STOP")).alias("_stop")
    )
    if activities is not None and activities.height:
        frame = frame.join(
            _activities(careplans, activities),
            left_on="Id",
            right_on="CAREPLAN",
            how="left",
            maintain_order="left",
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.Utf8).alias("_activity"))
    resource = (
        '{"resourceType":"CarePlan","id":"',
        c("Id"),
        '","status":',
        active_or("STOP", '"active"', '"completed"'),
        f',"intent":"plan","category":[{_ASSESS_PLAN},',
        coded(SNOMED, c("CODE"), c("DESCRIPTION")),
        '],"subject":{"reference":"Patient/',
        c("PATIENT"),
        '"}',
        reference("encounter", "Encounter", "ENCOUNTER"),
        opt(',"period":{"start":"', c("_start"), '"'),
        opt(',"end":"', c("_stop"), '"'),
        when(c("_start").is_not_null(), "}"),
        opt(',"activity":[', c("_activity"), "]"),
        "}",
    )
    return resource_frame(frame, resource)
