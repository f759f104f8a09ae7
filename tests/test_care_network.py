"""Organizations, clinicians and payers: ids resolve, routing by class, counts add up."""

from __future__ import annotations

import polars as pl
import pytest

from cohortforge.engine.care_network import (
    CLINICIANS_PER_ORG,
    HOSPITAL_CLASSES,
    ORGS_PER_STATE,
    CareNetwork,
)
from cohortforge.engine.config import RunConfig
from cohortforge.engine.population import geography
from cohortforge.engine.runner import run

from .export_harness import export_tables


@pytest.fixture(scope="module")
def cohort():
    return export_tables(200)


def test_network_is_a_pure_function_of_the_seed():
    first, again, other = CareNetwork(3), CareNetwork(3), CareNetwork(4)
    assert first.organizations.equals(again.organizations)
    assert first.providers.equals(again.providers)
    assert not first.organizations["Id"].equals(other.organizations["Id"])
    n_states = len(geography().state_abbrs)
    assert first.organizations.height == n_states * ORGS_PER_STATE
    assert first.providers.height == first.organizations.height * CLINICIANS_PER_ORG
    for table in (first.organizations, first.providers, first.payers):
        assert table["Id"].n_unique() == table.height
    assert set(first.providers["ORGANIZATION"]) <= set(first.organizations["Id"])
    assert first.payers["NAME"].to_list()[-1] == "NO_INSURANCE"


def test_encounters_reference_the_network_in_the_patients_state(cohort):
    tables, context = cohort
    encounters = tables["encounters"].join(
        tables["patients"].select(pl.col("Id").alias("PATIENT"), pl.col("STATE").alias("HOME")),
        on="PATIENT",
    )
    orgs = context.organizations.select(
        pl.col("Id").alias("ORGANIZATION"), pl.col("STATE").alias("ORG_STATE"), "NAME"
    )
    joined = encounters.join(orgs, on="ORGANIZATION", how="left")
    assert joined["ORG_STATE"].null_count() == 0
    abbr = geography().table.select(pl.col("state").alias("HOME"), "state_abbr").unique()
    joined = joined.join(abbr, on="HOME")
    assert (joined["ORG_STATE"] == joined["state_abbr"]).all()
    at_hospital = joined["ENCOUNTERCLASS"].is_in(HOSPITAL_CLASSES)
    hospital_name = joined["NAME"].str.contains("Hospital|Medical Center")
    assert (at_hospital == hospital_name).all()
    providers = context.providers.select(pl.col("Id").alias("PROVIDER"), "ORGANIZATION")
    linked = encounters.join(providers, on="PROVIDER", how="left", suffix="_OF_PROVIDER")
    assert (linked["ORGANIZATION"] == linked["ORGANIZATION_OF_PROVIDER"]).all()


def test_payer_follows_the_insurance_category(cohort):
    tables, context = cohort
    payer_name = context.payers.select(pl.col("Id").alias("PAYER"), pl.col("NAME").alias("P"))
    rows = (
        tables["encounters"]
        .join(payer_name, on="PAYER")
        .join(tables["patients"].select(pl.col("Id").alias("PATIENT"), "INSURANCE"), on="PATIENT")
    )
    expected = {"medicare": "Medicare", "medicaid": "Medicaid", "uninsured": "NO_INSURANCE"}
    for insurance, name in expected.items():
        assert set(rows.filter(pl.col("INSURANCE") == insurance)["P"]) <= {name}
    private = set(rows.filter(pl.col("INSURANCE") == "private")["P"])
    assert private and not private & set(expected.values())
    medication_payers = set(tables["medications"]["PAYER"])
    assert medication_payers <= set(context.payers["Id"])


def test_utilisation_columns_count_the_run(tmp_path):
    out = tmp_path / "out"
    config = RunConfig(
        num_records=150,
        scenario="general_population",
        seed=9,
        output_dir=out,
        output_format="parquet",
        chunk_size=40,
        workers=2,
        fhir=False,
        hl7=False,
    )
    run(config)
    read = lambda name: pl.read_parquet(out / "parquet" / f"{name}.parquet")  # noqa: E731
    encounters = read("encounters")
    orgs = read("organizations")
    by_org = encounters.group_by("ORGANIZATION").len()
    merged = orgs.join(by_org, left_on="Id", right_on="ORGANIZATION", how="left")
    assert (merged["UTILIZATION"] == merged["len"].fill_null(0)).all()
    assert read("providers")["ENCOUNTERS"].sum() == encounters.height
    payers = read("payers")
    assert payers["COVERED_ENCOUNTERS"].sum() == encounters.height
    assert payers["UNIQUE_CUSTOMERS"].sum() == 150
