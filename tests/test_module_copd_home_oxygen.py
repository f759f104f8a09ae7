"""copd_home_oxygen: clinical invariants on a small cohort, calibration on a large one.

Reference values are from shared/reference/clinical_reference_tables.md, Table 6 (source keys in its
References section):

- [CO3] Prev Chronic Dis 2024;21:E31, Table 1 (BRFSS 2017-18): diagnosed COPD 2.9% at ages 18-39 and
  10.0% at 40+; age-adjusted women 7.1% vs men 5.9%. Table 6 gives no sex-by-age cells, so each
  band's
  value is split with the women/men ratio 7.1/5.9 and the band's share of women in the cohort
  (p_F = p r / (f r + 1 - f), p_M = p / (f r + 1 - f), r = 7.1/5.9).
- [CO10] Nishi et al., PLoS One 2015;10(3):e0120684: sustained home oxygen among Medicare
beneficiaries
  with COPD (65+) 18.5% (2010).
- [CO4] MMWR 2012;61(46) (BRFSS 2011 COPD module): among adults with COPD, 17.7% had a COPD ED
visit or
  hospital admission and 43.2% saw a physician for COPD in the past 12 months; 55.6% take a daily
  COPD
  medicine.
- [SY1] Chen et al., BMC Med Inform Decis Mak 2019;19:44: 30-day mortality after a COPD exacerbation
  admission, US 8%.

"COPD" in a cohort is the COPD diagnosis (SNOMED CT 13645005) still active at the 2026-01-01
reference
date among patients alive then. Past-12-month rates count encounters in calendar year 2025.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cohortforge.terminology import get_terminology

from .module_harness import generate_tables

MODULE = "copd_home_oxygen"
REF = dt.date(2026, 1, 1)

COPD, EXACERBATION, HYPOXEMIA = "13645005", "195951007", "389087006"
RATIO_POST, FEV1_PCT, SPO2 = "69970-2", "20152-5", "59408-5"
SPIROMETRY, COUNSELING, OXYGEN_THERAPY = "127783003", "711028002", "57485005"
CONCENTRATOR, NEBULIZER = "336621006", "170615005"
HOME_O2_PLAN, LTOT, COPD_PLAN, REHAB = "426990007", "243137006", "736283006", "15081005"
SABA, ALBUTEROL_NEB = "2123111", "245314"
LAMA, LABA, ICS_LABA = "485032", "1246319", "896209"
PREDNISONE, VARENICLINE, NICOTINE_PATCH = "312615", "636676", "198030"
MAINTENANCE = {LAMA, LABA, ICS_LABA}
CESSATION = {VARENICLINE, NICOTINE_PATCH}
COPD_DRUGS = MAINTENANCE | {SABA, ALBUTEROL_NEB, PREDNISONE}
# First US approval of each product (Drugs@FDA); the module never orders one earlier.
APPROVED = {SABA: 1996, LAMA: 2004, LABA: 2007, VARENICLINE: 2006}


def _within(value: float, target: float) -> bool:
    """The project tolerance: 20% relative or 2 percentage points, whichever is larger."""
    return abs(value - target) <= max(0.2 * target, 2.0)


def _num(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("VALUE").cast(pl.Float64))


def _copd_onsets(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (
        tables["conditions"]
        .filter(pl.col("CODE") == COPD)
        .group_by("PATIENT")
        .agg(pl.col("START").min().alias("COPD_START"))
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    # The COPD scenario (adults 40+, many smokers) with 70 years of history, so that most
    # diagnoses, their spirometry and every later event are in the record.
    return generate_tables(
        "copd_home_oxygen",
        [MODULE],
        2000,
        tmp_path_factory.mktemp("copd_small"),
        seed=1,
        years_of_history=70,
    )


def test_cohort_has_the_pathway(small):
    conditions, meds = small["conditions"], small["medications"]
    assert conditions.filter(pl.col("CODE") == COPD)["PATIENT"].n_unique() >= 150
    for code in (EXACERBATION, HYPOXEMIA):
        assert conditions.filter(pl.col("CODE") == code).height > 0, code
    for code in (SABA, LAMA, LABA, ICS_LABA, PREDNISONE):
        assert meds.filter(pl.col("CODE") == code).height > 0, code
    assert meds.filter(pl.col("CODE").is_in(list(CESSATION))).height > 0
    assert small["devices"].filter(pl.col("CODE") == CONCENTRATOR).height > 0
    classes = set(small["encounters"].filter(pl.col("REASONCODE") == COPD)["ENCOUNTERCLASS"])
    assert {"ambulatory", "emergency", "inpatient"} <= classes
    assert small["careplans"].filter(pl.col("CODE") == REHAB).height > 0


def test_every_code_resolves_with_its_display(small):
    term = get_terminology()
    pairs = [
        ("conditions", None),
        ("procedures", None),
        ("careplan_activities", None),
        ("medications", "RxNorm"),
        ("observations", "LOINC"),
        ("devices", "SNOMED-CT"),
        ("encounters", "SNOMED-CT"),
        ("careplans", "SNOMED-CT"),
        ("immunizations", "CVX"),
    ]
    checked = 0
    for table, system in pairs:
        frame = small[table]
        columns = ["CODE", "DESCRIPTION"] + (["SYSTEM"] if system is None else [])
        for row in frame.select(columns).unique().iter_rows(named=True):
            display = term.lookup(row.get("SYSTEM", system), row["CODE"])
            assert display == row["DESCRIPTION"], (table, row)
            checked += 1
        if "REASONCODE" in frame.columns:
            for row in (
                frame.select("REASONCODE", "REASONDESCRIPTION").drop_nulls().unique().iter_rows()
            ):
                assert term.lookup("SNOMED-CT", row[0]) == row[1], (table, row)
    assert checked > 40


def test_diagnosis_is_confirmed_by_post_bronchodilator_spirometry(small):
    obs = _num(small["observations"])
    diagnoses = small["conditions"].filter(pl.col("CODE") == COPD)
    assert diagnoses.height >= 150
    ratio = obs.filter(pl.col("CODE") == RATIO_POST).select("ENCOUNTER", ratio="VALUE")
    fev1 = obs.filter(pl.col("CODE") == FEV1_PCT).select("ENCOUNTER", fev1="VALUE")
    spiro = small["procedures"].filter(pl.col("CODE") == SPIROMETRY).select("ENCOUNTER").unique()
    # Each diagnosis is recorded in its diagnostic encounter, with the ratio and FEV1 % predicted.
    joined = diagnoses.join(ratio, on="ENCOUNTER", how="left").join(
        fev1, on="ENCOUNTER", how="left"
    )
    assert joined["ratio"].null_count() == 0 and joined["fev1"].null_count() == 0
    assert (joined["ratio"] < 70).all()
    assert diagnoses.join(spiro, on="ENCOUNTER", how="anti").height == 0


def test_spirometry_and_oximetry_stay_in_range(small):
    obs = _num(small["observations"])
    ratio = obs.filter(pl.col("CODE") == RATIO_POST)
    fev1 = obs.filter(pl.col("CODE") == FEV1_PCT)
    spo2 = obs.filter(pl.col("CODE") == SPO2)
    assert ratio.height > 0 and spo2.height > ratio.height
    # COPD is irreversible: the post-bronchodilator ratio stays below 0.70 at every test.
    assert ratio["VALUE"].min() >= 20 and ratio["VALUE"].max() < 70
    assert fev1["VALUE"].min() >= 15 and fev1["VALUE"].max() <= 95
    assert spo2["VALUE"].min() >= 80 and spo2["VALUE"].max() <= 100
    for frame in (ratio, fev1, spo2):
        assert set(frame["UNITS"]) == {"%"}
    assert set(spo2["CATEGORY"]) == {"vital-signs"}
    # Pulse oximetry at every COPD encounter except the rehabilitation start.
    visits = small["encounters"].filter(
        (pl.col("REASONCODE") == COPD) & (pl.col("ENCOUNTERCLASS") != "outpatient")
    )
    assert visits.join(spo2, left_on="Id", right_on="ENCOUNTER", how="anti").height == 0


def test_home_oxygen_only_for_resting_hypoxaemia(small):
    obs = _num(small["observations"]).filter(pl.col("CODE") == SPO2)
    devices = small["devices"].filter(pl.col("CODE") == CONCENTRATOR)
    assert devices.height >= 10
    lowest = obs.group_by("ENCOUNTER").agg(pl.col("VALUE").last().alias("spo2"))
    started = devices.join(lowest, on="ENCOUNTER", how="left")
    assert started["spo2"].null_count() == 0
    assert (started["spo2"] <= 88).all()
    onsets = _copd_onsets(small)
    with_copd = devices.join(onsets, on="PATIENT", how="left")
    assert (with_copd["COPD_START"] <= with_copd["START"].dt.date()).all()
    # Hypoxaemia and the home-oxygen care plan (long-term oxygen activity) start with the device.
    hyp = small["conditions"].filter(pl.col("CODE") == HYPOXEMIA).select("ENCOUNTER")
    plans = small["careplans"].filter(pl.col("CODE") == HOME_O2_PLAN)
    assert devices.join(hyp, on="ENCOUNTER", how="anti").height == 0
    assert devices.join(plans.select("ENCOUNTER"), on="ENCOUNTER", how="anti").height == 0
    assert set(plans["REASONCODE"]) == {COPD}
    acts = small["careplan_activities"].filter(pl.col("CAREPLAN").is_in(plans["Id"].implode()))
    assert set(acts["CODE"]) == {LTOT}


def test_oxygen_stops_only_after_a_normal_retest_or_death(small):
    devices = small["devices"].filter(
        (pl.col("CODE") == CONCENTRATOR) & pl.col("STOP").is_not_null()
    )
    deaths = small["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    stopped = devices.join(deaths, on="PATIENT").filter(
        pl.col("DEATHDATE").is_null() | (pl.col("STOP").dt.date() < pl.col("DEATHDATE"))
    )
    assert stopped.height > 0
    obs = _num(small["observations"]).filter(pl.col("CODE") == SPO2)
    retest = stopped.join(
        obs, left_on=["PATIENT", "STOP"], right_on=["PATIENT", "DATE"], how="left"
    )
    assert retest["VALUE"].null_count() == 0
    assert (retest["VALUE"] > 88).all()
    # The retest comes within 90 days of the discharge that started the oxygen.
    assert ((retest["STOP"] - retest["START"]).dt.total_days() <= 90).all()


def test_no_complication_or_treatment_without_copd(small):
    onsets = _copd_onsets(small)
    for code in (EXACERBATION, HYPOXEMIA):
        rows = (
            small["conditions"]
            .filter(pl.col("CODE") == code)
            .join(onsets, on="PATIENT", how="left")
        )
        assert rows.height > 0
        assert (rows["COPD_START"] <= rows["START"]).all(), code
    meds = small["medications"].filter(pl.col("CODE").is_in(list(COPD_DRUGS | CESSATION)))
    meds = meds.join(onsets, on="PATIENT", how="left")
    assert (meds["COPD_START"] <= meds["START"].dt.date()).all()
    assert set(meds["REASONCODE"]) <= {COPD, EXACERBATION}
    # Steroids and nebulised albuterol treat an exacerbation; inhalers treat COPD itself.
    acute = meds.filter(pl.col("CODE").is_in([PREDNISONE, ALBUTEROL_NEB]))
    assert set(acute["REASONCODE"]) == {EXACERBATION}
    # Exacerbations resolve within about three weeks unless the patient dies or the record ends.
    ex = small["conditions"].filter((pl.col("CODE") == EXACERBATION) & pl.col("STOP").is_not_null())
    assert ((ex["STOP"] - ex["START"]).dt.total_days() <= 25).all()
    encounters = small["encounters"].filter(
        pl.col("ENCOUNTERCLASS").is_in(["emergency", "inpatient"])
    )
    assert set(encounters["REASONCODE"]) == {COPD}
    stays = encounters.filter(pl.col("ENCOUNTERCLASS") == "inpatient")
    days = (stays["STOP"] - stays["START"]).dt.total_days()
    assert days.min() >= 3 and days.max() <= 6


def test_maintenance_ladder_and_approval_dates(small):
    meds = small["medications"]
    first = meds.group_by("PATIENT", "CODE").agg(pl.col("START").min())
    wide = first.pivot(on="CODE", index="PATIENT", values="START")
    # LABA is added to a LAMA; ICS/LABA replaces the LABA (triple therapy).
    laba = wide.filter(pl.col(LABA).is_not_null())
    assert laba.height > 0 and (laba[LAMA] <= laba[LABA]).all()
    triple = wide.filter(pl.col(ICS_LABA).is_not_null())
    assert triple.height > 0 and (triple[LABA] <= triple[ICS_LABA]).all()
    switched = meds.filter(pl.col("CODE") == LABA).join(
        meds.filter(pl.col("CODE") == ICS_LABA).select("PATIENT", pl.col("START").alias("ICS")),
        on="PATIENT",
    )
    assert switched.height > 0 and (switched["STOP"] == switched["ICS"]).all()
    # Nebulised formoterol comes with a home nebulizer, for exactly as long.
    nebs = small["devices"].filter(pl.col("CODE") == NEBULIZER)
    formoterol = meds.filter(pl.col("CODE") == LABA)
    pairs = formoterol.join(nebs, on=["PATIENT", "START"], how="left", suffix="_DEV")
    assert pairs.height > 0 and pairs["STOP_DEV"].is_not_null().sum() > 0
    assert pairs["STOP"].equals(pairs["STOP_DEV"], null_equal=True)
    for code, year in APPROVED.items():
        starts = meds.filter(pl.col("CODE") == code)["START"]
        assert starts.len() > 0 and starts.dt.year().min() >= year, code
    # Maintenance inhalers are chronic: never ended before death except the LABA switch.
    chronic = meds.filter(
        pl.col("CODE").is_in([LAMA, ICS_LABA, SABA]) & pl.col("STOP").is_not_null()
    )
    deaths = small["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    assert (
        chronic.join(deaths, on="PATIENT")
        .filter(pl.col("DEATHDATE").is_null() | (pl.col("STOP").dt.date() != pl.col("DEATHDATE")))
        .height
        == 0
    )


def test_cessation_support_only_for_current_smokers(small):
    smokers = small["patients"].filter(pl.col("SMOKING_STATUS") == "current")["Id"].implode()
    meds = small["medications"].filter(pl.col("CODE").is_in(list(CESSATION)))
    counseling = small["procedures"].filter(pl.col("CODE") == COUNSELING)
    assert meds.height > 0 and counseling.height > meds.height
    assert meds["PATIENT"].is_in(smokers).all()
    assert counseling["PATIENT"].is_in(smokers).all()
    assert set(counseling["REASONCODE"]) == {COPD}
    # A course of 8-12 weeks, a little longer when a visit comes between (never past 20 weeks).
    deaths = small["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    ended = (
        meds.filter(pl.col("STOP").is_not_null())
        .join(deaths, on="PATIENT")
        .filter(pl.col("DEATHDATE").is_null() | (pl.col("STOP").dt.date() != pl.col("DEATHDATE")))
    )
    days = (ended["STOP"] - ended["START"]).dt.total_days()
    assert ended.height > 0 and days.min() >= 56 and days.max() <= 140
    # Smokers with COPD get a care plan that includes smoking cessation therapy.
    plans = small["careplans"].filter(pl.col("CODE") == COPD_PLAN)
    acts = small["careplan_activities"].filter(pl.col("CODE") == "710081004")
    with_cessation = plans.filter(pl.col("Id").is_in(acts["CAREPLAN"].implode()))
    assert with_cessation.height > 0 and with_cessation["PATIENT"].is_in(smokers).all()


def _prevalence(tables: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    alive = (
        tables["patients"]
        .filter(pl.col("DEATHDATE").is_null())
        .with_columns(age=((pl.lit(REF) - pl.col("BIRTHDATE")).dt.total_days() / 365.25).floor())
        .filter(pl.col("age") >= 18)
    )
    copd = tables["conditions"].filter((pl.col("CODE") == COPD) & pl.col("STOP").is_null())
    alive = alive.with_columns(
        copd=pl.col("Id").is_in(copd["PATIENT"].implode()),
        band=pl.when(pl.col("age") < 40).then(pl.lit("18-39")).otherwise(pl.lit("40+")),
    )
    return alive, alive.filter(pl.col("copd"))


@pytest.mark.slow
def test_calibration_general_population(tmp_path):
    tables = generate_tables("general_population", [MODULE], 20_000, tmp_path, seed=1)
    alive, patients = _prevalence(tables)

    # [CO3] BRFSS 2017-18: 18-39 2.9%, 40+ 10.0%; women/men 7.1/5.9 (see module docstring).
    ratio = 7.1 / 5.9
    for band, overall in (("18-39", 2.9), ("40+", 10.0)):
        rows = alive.filter(pl.col("band") == band)
        women = (rows["GENDER"] == "F").mean()
        for sex in ("F", "M"):
            target = overall * (ratio if sex == "F" else 1.0) / (women * ratio + 1 - women)
            value = rows.filter(pl.col("GENDER") == sex)["copd"].mean() * 100
            assert _within(value, target), (band, sex, value, target)

    # [CO10] sustained home oxygen among COPD patients 65+ (Medicare): 18.5%.
    on_o2 = tables["devices"].filter((pl.col("CODE") == CONCENTRATOR) & pl.col("STOP").is_null())
    older = patients.filter(pl.col("age") >= 65)
    share = older["Id"].is_in(on_o2["PATIENT"].implode()).mean() * 100
    assert older.height > 150 and _within(share, 18.5), share
    younger = patients.filter(pl.col("age") < 65)
    assert younger["Id"].is_in(on_o2["PATIENT"].implode()).mean() * 100 < share

    # [CO4] past-12-month care patterns among adults with COPD.
    enc = tables["encounters"].filter(
        (pl.col("REASONCODE") == COPD) & (pl.col("START").dt.year() == 2025)
    )
    severe = enc.filter(pl.col("ENCOUNTERCLASS").is_in(["emergency", "inpatient"]))["PATIENT"]
    seen = enc["PATIENT"]
    ids = patients["Id"]
    assert _within(ids.is_in(severe.implode()).mean() * 100, 17.7)
    assert _within(ids.is_in(seen.implode()).mean() * 100, 43.2)
    maintenance = tables["medications"].filter(
        pl.col("CODE").is_in(list(MAINTENANCE)) & pl.col("STOP").is_null()
    )["PATIENT"]
    assert _within(ids.is_in(maintenance.implode()).mean() * 100, 55.6)

    # [SY1] 30-day mortality after an exacerbation admission, US 8%. A few hundred admissions:
    # allow three binomial standard errors when that is wider than the project tolerance.
    admissions = (
        tables["encounters"]
        .filter(
            (pl.col("ENCOUNTERCLASS") == "inpatient")
            & (pl.col("START").dt.date() < dt.date(2025, 12, 1))
        )
        .join(tables["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE"), on="PATIENT")
    )
    died = (admissions["DEATHDATE"] - admissions["START"].dt.date()).dt.total_days() <= 30
    n = admissions.height
    rate = died.sum() / n * 100
    allowed = max(0.2 * 8.0, 2.0, 3 * (8.0 * 92.0 / n) ** 0.5)
    assert n > 300 and abs(rate - 8.0) <= allowed, (rate, n)
