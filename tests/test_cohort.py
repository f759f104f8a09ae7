"""The columnar patients table: Synthea's layout, reproducible per patient, plausible values."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import polars as pl
import pytest

from cohortforge.engine import population
from cohortforge.engine.cohort import build_patients
from cohortforge.scenarios.loader import load_scenario

from .conftest import shared_dir

# Synthea's patients.csv header (CSVConstants.PATIENT_HEADER_LINE), 28 columns.
SYNTHEA_PATIENT_COLUMNS = [
    "Id",
    "BIRTHDATE",
    "DEATHDATE",
    "SSN",
    "DRIVERS",
    "PASSPORT",
    "PREFIX",
    "FIRST",
    "MIDDLE",
    "LAST",
    "SUFFIX",
    "MAIDEN",
    "MARITAL",
    "RACE",
    "ETHNICITY",
    "GENDER",
    "BIRTHPLACE",
    "ADDRESS",
    "CITY",
    "STATE",
    "COUNTY",
    "FIPS",
    "ZIP",
    "LAT",
    "LON",
    "HEALTHCARE_EXPENSES",
    "HEALTHCARE_COVERAGE",
    "INCOME",
]
SDOH_COLUMNS = [
    "EDUCATION",
    "INSURANCE",
    "FOOD_INSECURITY",
    "HOUSING_INSTABILITY",
    "TRANSPORTATION_BARRIER",
    "UNEMPLOYMENT",
    "SMOKING_STATUS",
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def general():
    return load_scenario("general_population")


@pytest.fixture(scope="module")
def cohort(general) -> pl.DataFrame:
    return pl.from_arrow(build_patients(general, 2024, 0, 50_000, general.reference_date))


def test_columns_are_synthea_layout_then_social_determinants(cohort):
    assert cohort.columns == SYNTHEA_PATIENT_COLUMNS + SDOH_COLUMNS


def test_layout_matches_the_shared_synthea_reference():
    text = (shared_dir() / "reference" / "synthea_csv_columns.md").read_text()
    section = text.split("## 1. patients.csv", 1)[1]
    header = re.search(r"`(Id,BIRTHDATE[^`]+)`", section).group(1)
    assert header.split(",") == SYNTHEA_PATIENT_COLUMNS


def test_a_patient_does_not_depend_on_cohort_size_or_chunking(general):
    small = build_patients(general, 99, 0, 1_000, general.reference_date)
    large = build_patients(general, 99, 0, 2_000, general.reference_date)
    assert large.slice(0, 1_000).equals(small)
    pieces = [
        build_patients(general, 99, lo, hi, general.reference_date)
        for lo, hi in [(0, 313), (313, 1000)]
    ]
    assert pl.concat([pl.from_arrow(p) for p in pieces]).equals(pl.from_arrow(small))


def test_different_seeds_give_different_patients(general):
    a = pl.from_arrow(build_patients(general, 1, 0, 500, general.reference_date))
    b = pl.from_arrow(build_patients(general, 2, 0, 500, general.reference_date))
    assert (a["Id"] != b["Id"]).all()
    assert (a["BIRTHDATE"] != b["BIRTHDATE"]).mean() > 0.9


def test_identifiers_are_unique_and_privacy_safe(cohort):
    assert cohort["Id"].n_unique() == cohort.height
    assert cohort["Id"].str.contains(UUID.pattern).all()
    # The 9xx SSN area has never been issued (SSA, Social Security Number Randomization, 2011).
    assert (
        cohort["SSN"]
        .str.contains(r"^9\d\d-(0[1-9]|[1-9]\d)-(\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d\d|[1-9]\d{3})$")
        .all()
    )
    assert cohort["DRIVERS"].drop_nulls().str.contains(r"^S99\d{6}$").all()
    assert cohort["PASSPORT"].drop_nulls().str.contains(r"^X\d{8}X$").all()


def test_demographic_mix_follows_the_scenario(cohort, general):
    female_share = general.sex["female"] / sum(general.sex.values())
    assert abs((cohort["GENDER"] == "F").mean() - female_share) < 0.01
    race_total = sum(general.race.values())
    for race, weight in general.race.items():
        assert abs((cohort["RACE"] == race).mean() - weight / race_total) < 0.01, race
    hispanic = general.ethnicity["hispanic"] / sum(general.ethnicity.values())
    assert abs((cohort["ETHNICITY"] == "hispanic").mean() - hispanic) < 0.01


def ages(frame: pl.DataFrame, reference_date) -> np.ndarray:
    delta = np.datetime64(reference_date) - frame["BIRTHDATE"].to_numpy().astype("datetime64[D]")
    return delta.astype(int) / 365.2425


def test_ages_follow_the_bands(cohort, general):
    age = ages(cohort, general.reference_date)
    assert age.min() >= 0 and age.max() < max(general.age.highs)
    total = sum(general.age.weights)
    for low, high, weight in zip(
        general.age.lows, general.age.highs, general.age.weights, strict=True
    ):
        share = ((age >= low) & (age < high)).mean()
        assert abs(share - weight / total) < 0.01, (low, high)


def test_children_have_no_adult_attributes(cohort, general):
    age = ages(cohort, general.reference_date)
    children = cohort.filter(pl.Series(age < 16))
    assert children.height > 1000
    assert children["DRIVERS"].null_count() == children.height
    assert children["PREFIX"].null_count() == children.height
    assert children["EDUCATION"].null_count() == children.height
    assert children["MARITAL"].null_count() == children.height
    assert (children["SMOKING_STATUS"] == "never").all()
    assert not children["UNEMPLOYMENT"].any()


def test_names_prefixes_and_maiden_names_agree(cohort):
    married_women = cohort.filter((pl.col("GENDER") == "F") & (pl.col("MARITAL") == "M"))
    assert (married_women["PREFIX"] == "Mrs.").all()
    assert married_women["MAIDEN"].null_count() == 0
    assert (
        cohort.filter(pl.col("GENDER") == "M")["MAIDEN"].null_count()
        == (cohort["GENDER"] == "M").sum()
    )
    assert (cohort.filter(pl.col("GENDER") == "M")["PREFIX"].drop_nulls() == "Mr.").all()
    female_names = set(population.first_names()["F"].names.to_pylist())
    assert cohort.filter(pl.col("GENDER") == "F")["FIRST"].is_in(list(female_names)).all()
    assert (cohort["FIRST"] != cohort["MIDDLE"]).fill_null(True).all()


def test_geography_is_consistent(cohort):
    zips = population.geography().table
    joined = cohort.select("ZIP", "CITY", "STATE", "COUNTY", "FIPS").join(
        zips.select(
            pl.col("zip").alias("ZIP"),
            pl.col("city").alias("CITY"),
            pl.col("state").alias("STATE"),
            pl.col("county").alias("COUNTY"),
            pl.col("county_fips").alias("FIPS"),
        ),
        on=["ZIP", "CITY", "STATE", "COUNTY", "FIPS"],
        how="inner",
    )
    assert joined.height == cohort.height
    assert cohort["STATE"].n_unique() == 51
    assert cohort["BIRTHPLACE"].str.ends_with("  US").all()
    assert cohort["LAT"].is_between(17, 72).all()


def test_scenario_states_restrict_residence():
    scenario = load_scenario("general_population")
    restricted = dataclasses.replace(scenario, states=("MA", "RI"))
    frame = pl.from_arrow(build_patients(restricted, 5, 0, 2_000, scenario.reference_date))
    assert set(frame["STATE"].unique()) == {"Massachusetts", "Rhode Island"}


def test_social_determinants_follow_the_scenario(cohort, general):
    age = ages(cohort, general.reference_date)
    for flag in ("food_insecurity", "housing_instability", "transportation_barrier"):
        assert abs(cohort[flag.upper()].mean() - general.sdoh[flag]) < 0.01, flag
    working_age = pl.Series((age >= 18) & (age < 65))
    unemployed = cohort.filter(working_age)["UNEMPLOYMENT"].mean()
    assert abs(unemployed - general.sdoh["unemployment"]) < 0.01
    rates = general.smoking_current
    for low, high, rate in zip(rates.lows, rates.highs, rates.rates, strict=True):
        band = cohort.filter(pl.Series((age >= low) & (age < high)))
        assert abs((band["SMOKING_STATUS"] == "current").mean() - rate) < 0.02, (low, high)
    seniors = cohort.filter(pl.Series(age >= 65))
    share = general.insurance["age_65_plus"]["medicare"] / sum(
        general.insurance["age_65_plus"].values()
    )
    assert abs((seniors["INSURANCE"] == "medicare").mean() - share) < 0.02


def test_prenatal_scenario_is_women_of_reproductive_age():
    prenatal = load_scenario("prenatal")
    frame = pl.from_arrow(build_patients(prenatal, 3, 0, 5_000, prenatal.reference_date))
    age = ages(frame, prenatal.reference_date)
    assert (frame["GENDER"] == "F").all()
    assert age.min() >= 15 and age.max() < 46
