"""The text exporters' view of a chunk: ids, panel links and the extra patient columns."""

from __future__ import annotations

import polars as pl

from cohortforge.engine.clinical_tables import REPORT_COLUMNS
from cohortforge.exporters.synthea_columns import CLINICAL_TABLES

from .export_harness import export_tables, split_tables


def test_every_row_has_a_unique_id_across_tables():
    tables, _ = export_tables(200)
    ids = []
    for name in [*CLINICAL_TABLES, "reports"]:
        if name == "careplan_activities":
            continue
        frame = tables[name]
        assert frame["Id"].null_count() == 0, name
        ids.append(frame["Id"])
    everything = pl.concat(ids)
    assert everything.n_unique() == everything.len()


def test_report_links_point_at_panels_of_the_same_encounter_and_time():
    tables, _ = export_tables(200)
    reports = tables["reports"]
    assert tuple(reports.columns) == REPORT_COLUMNS and reports.height > 0
    members = tables["observations"].filter(pl.col("REPORT").is_not_null())
    joined = members.join(
        reports.select(
            pl.col("Id").alias("REPORT"),
            pl.col("DATE").alias("R_DATE"),
            pl.col("ENCOUNTER").alias("R_ENC"),
            pl.col("PATIENT").alias("R_PATIENT"),
        ),
        on="REPORT",
        how="left",
    )
    assert joined["R_DATE"].null_count() == 0
    assert (joined["DATE"] == joined["R_DATE"]).all()
    assert (joined["PATIENT"] == joined["R_PATIENT"]).all()
    assert joined.select((pl.col("ENCOUNTER") == pl.col("R_ENC")).fill_null(True).all()).item()
    # Every panel has at least one result.
    assert set(reports["Id"]) == set(members["REPORT"])


def test_patients_carry_index_and_fictional_phone():
    tables, _ = export_tables(200)
    patients = tables["patients"]
    assert patients["INDEX"].to_list() == list(range(200))
    assert patients["PHONE"].str.contains(r"^555-01\d\d$").all()


def test_split_keeps_whole_patients():
    tables, _ = export_tables(200)
    first, second = split_tables(tables, 50)
    assert first["patients"].height == 50
    for name, frame in tables.items():
        assert first[name].height + second[name].height == frame.height
