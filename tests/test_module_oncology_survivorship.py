"""modules/oncology_survivorship.json: codes, clinical invariants and calibration.

Small-cohort invariants run the shipped oncology_survivorship scenario (adults, mostly 60+, so
many patients reach a cancer) with this module only, over the whole life (years_of_history=100)
so that no cause (surgery, drug) is cut off by the export window before its effect.

The slow calibration test runs the general_population scenario and compares survivor prevalence
by sex and age band with Table 4 of shared/reference/clinical_reference_tables.md ([ON1]) and
the SEER Cancer Statistics Review, and 5-year cause-specific survival by stage with SEER.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cohortforge.terminology import get_terminology
from tests.module_harness import generate_tables

REPO = Path(__file__).resolve().parents[1]
MODULE = "oncology_survivorship"
MODULE_FILES = [
    REPO / "modules" / f"{MODULE}.json",
    *sorted((REPO / "modules" / MODULE).glob("*.json")),
]
REFERENCE = date(2026, 1, 1)

BREAST, PROSTATE, COLON = "254837009", "399068003", "363406005"
NSCLC, SCLC = "254637007", "254632001"
CANCERS = [BREAST, PROSTATE, COLON, NSCLC, SCLC]
HISTORY = {BREAST: "429087003", PROSTATE: "428262008", COLON: "429699009"}
SURVIVOR_CODES = {
    "breast": [BREAST, HISTORY[BREAST]],
    "prostate": [PROSTATE, HISTORY[PROSTATE]],
    "colon": [COLON, HISTORY[COLON]],
    "lung": [NSCLC, SCLC],
}
METASTASES = ["94222008", "94381002"]
LYMPHEDEMA, NEUROPATHY, CARDIOMYOPATHY = "234097001", "302226006", "85898001"
# sentinel node biopsy, axillary dissection, modified radical mastectomy
AXILLARY_SURGERY = ["396487001", "234262008", "406505007"]
ANTHRACYCLINE = ["1790099"]  # doxorubicin
# docetaxel, paclitaxel, oxaliplatin, cisplatin
NEUROTOXIC = ["1860480", "312199", "1736776", "1736854"]
TAMOXIFEN, AROMATASE_INHIBITORS = "198240", ["199224", "200064"]
ADT = "456381000124102"
DEATH_CERTIFICATION = "308646001"
STAGE_GROUP, PSA, CEA = "21908-9", "2857-1", "2039-6"
STAGE_VALUES = {f"Stage {n} (qualifier value)" for n in (1, 2, 3, 4)}
SITE_PROCEDURES = {
    BREAST: ["392021009", "172043006", "406505007", "396487001", "234262008", "122548005"],
    PROSTATE: ["26294005", "65575008", ADT],
    COLON: ["43075005", "359571009", "76164006"],
}
LUNG_PROCEDURES = ["173171007", "78603008"]


def _module_codes() -> list[dict]:
    codes: list[dict] = []

    def walk(node):
        if isinstance(node, dict):
            if {"system", "code", "display"} <= node.keys():
                codes.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in MODULE_FILES:
        walk(json.loads(path.read_text(encoding="utf-8")))
    return codes


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, pl.DataFrame]:
    folder = tmp_path_factory.mktemp("oncology_small")
    return generate_tables(MODULE, [MODULE], 2000, folder, seed=7, years_of_history=100)


def _first(frame: pl.DataFrame, codes: list[str], when: str = "START") -> pl.DataFrame:
    """Earliest row per patient with one of `codes`: PATIENT, time."""
    return (
        frame.filter(pl.col("CODE").is_in(codes))
        .group_by("PATIENT")
        .agg(pl.col(when).min().alias("first"))
    )


# --------------------------------------------------------------------------- codes


def test_module_lints_without_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cohortforge", "lint", str(MODULE_FILES[0])],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("0 errors"), result.stdout
    # only warnings allowed: `smoker` is a patient attribute from the scenario, not set by a module
    assert all("attribute 'smoker'" in line for line in lines[:-1]), result.stdout


def test_every_module_code_resolves_with_its_official_display() -> None:
    term = get_terminology()
    codes = _module_codes()
    assert len(codes) > 40
    for code in codes:
        assert term.lookup(code["system"], str(code["code"])) == code["display"], code


def test_exported_rows_carry_the_terminology_display(small) -> None:
    term = get_terminology()
    mine = {str(c["code"]): c for c in _module_codes()}
    checked = 0
    for table, system in [
        ("conditions", "SNOMED-CT"),
        ("procedures", "SNOMED-CT"),
        ("encounters", "SNOMED-CT"),
        ("careplans", "SNOMED-CT"),
        ("medications", "RxNorm"),
        ("observations", "LOINC"),
    ]:
        rows = (
            small[table]
            .filter(pl.col("CODE").is_in(list(mine)))
            .select("CODE", "DESCRIPTION")
            .unique()
        )
        for code, description in rows.iter_rows():
            assert term.lookup(system, code) == description, (table, code, description)
            checked += 1
    stage_values = (
        small["observations"].filter(pl.col("CODE") == STAGE_GROUP)["VALUE"].unique().to_list()
    )
    assert set(stage_values) <= STAGE_VALUES and stage_values
    assert checked > 30


# --------------------------------------------------------------------------- observations


def test_tumor_markers_are_physiological_with_ucum_units(small) -> None:
    obs = small["observations"]
    psa = obs.filter(pl.col("CODE") == PSA)
    cea = obs.filter(pl.col("CODE") == CEA)
    assert psa.height > 100 and cea.height > 50
    assert set(psa["UNITS"].unique()) == {"ng/mL"} and set(cea["UNITS"].unique()) == {"ng/mL"}
    psa_values = psa["VALUE"].cast(pl.Float64)
    cea_values = cea["VALUE"].cast(pl.Float64)
    assert psa_values.min() >= 0.01 and psa_values.max() <= 500
    assert cea_values.min() >= 0.5 and cea_values.max() <= 500


def test_psa_is_undetectable_after_prostatectomy_until_recurrence(small) -> None:
    surgery = _first(small["procedures"], ["26294005"]).rename({"first": "surgery"})
    relapse = _first(small["conditions"], METASTASES).rename({"first": "relapse"})
    psa = (
        small["observations"]
        .filter(pl.col("CODE") == PSA)
        .join(surgery, on="PATIENT")
        .join(relapse, on="PATIENT", how="left")
        .filter(
            (pl.col("DATE") > pl.col("surgery"))
            & (pl.col("relapse").is_null() | (pl.col("DATE").dt.date() < pl.col("relapse")))
        )
    )
    assert psa.height > 20
    assert psa["VALUE"].cast(pl.Float64).max() < 0.1


def test_diagnosis_psa_and_cea_agree_with_stage(small) -> None:
    obs = small["observations"]
    stage = obs.filter(pl.col("CODE") == STAGE_GROUP).select(
        "PATIENT", pl.col("DATE").alias("dx"), pl.col("VALUE").alias("stage")
    )
    at_dx = (
        obs.filter(pl.col("CODE").is_in([PSA, CEA]))
        .join(stage, on="PATIENT")
        .filter((pl.col("DATE") - pl.col("dx")).abs() < pl.duration(days=1))
    )
    distant = at_dx.filter(pl.col("stage") == "Stage 4 (qualifier value)")
    early = at_dx.filter(pl.col("stage") == "Stage 1 (qualifier value)")
    assert distant.height > 5 and early.height > 20
    # stage 4: PSA >= 5, CEA >= 5 at diagnosis; stage 1 (organ-confined): PSA <= 20, CEA <= 6 ng/mL
    for code, distant_min, early_max in [(PSA, 5.0, 20.0), (CEA, 5.0, 6.0)]:
        high = distant.filter(pl.col("CODE") == code)["VALUE"].cast(pl.Float64)
        low = early.filter(pl.col("CODE") == code)["VALUE"].cast(pl.Float64)
        assert low.len() > 5, code
        assert low.max() <= early_max, code
        assert high.len() == 0 or high.min() >= distant_min, code


# --------------------------------------------------------------------------- clinical invariants


def test_one_primary_staged_at_diagnosis_in_adults_of_the_right_sex(small) -> None:
    cond = small["conditions"]
    patients = small["patients"].select("Id", "GENDER", "BIRTHDATE")
    first = (
        cond.filter(pl.col("CODE").is_in(CANCERS))
        .sort("START")
        .group_by("PATIENT")
        .agg(
            pl.col("CODE").first(),
            pl.col("START").first(),
            pl.col("CODE").n_unique().alias("sites"),
        )
    )
    assert first.height > 150
    assert first["sites"].max() == 1  # one primary per patient
    first = first.join(patients, left_on="PATIENT", right_on="Id")
    assert set(first.filter(pl.col("CODE") == BREAST)["GENDER"]) == {"F"}
    assert set(first.filter(pl.col("CODE") == PROSTATE)["GENDER"]) == {"M"}
    age_at_dx = (first["START"] - first["BIRTHDATE"]).dt.total_days() / 365.25
    assert age_at_dx.min() >= 20
    stage = small["observations"].filter(pl.col("CODE") == STAGE_GROUP)
    per_patient = stage.group_by("PATIENT").agg(
        pl.len().alias("n"), pl.col("DATE").min().dt.date().alias("d")
    )
    joined = first.join(per_patient, on="PATIENT", how="left")
    assert joined["n"].null_count() == 0 and joined["n"].max() == 1
    assert (joined["d"] == joined["START"]).all()


def test_treatments_only_for_their_cancer(small) -> None:
    site = (
        small["conditions"]
        .filter(pl.col("CODE").is_in(CANCERS))
        .group_by("PATIENT")
        .agg(pl.col("CODE").first().alias("site"))
    )
    procs = small["procedures"].join(site, on="PATIENT", how="left")
    for cancer, codes in SITE_PROCEDURES.items():
        rows = procs.filter(pl.col("CODE").is_in(codes))
        assert rows.height > 0
        assert set(rows["site"].to_list()) == {cancer}, cancer
    lung = procs.filter(pl.col("CODE").is_in(LUNG_PROCEDURES))
    assert lung.height > 0 and set(lung["site"].to_list()) <= {NSCLC, SCLC}
    meds = small["medications"].join(site, on="PATIENT", how="left")
    endocrine = meds.filter(pl.col("CODE").is_in([TAMOXIFEN, *AROMATASE_INHIBITORS]))
    assert endocrine.height > 0 and set(endocrine["site"].to_list()) == {BREAST}
    # adjuvant tamoxifen is for premenopausal women (under 50 at the start)
    tamoxifen = endocrine.filter(pl.col("CODE") == TAMOXIFEN).join(
        small["patients"].select("Id", "BIRTHDATE"), left_on="PATIENT", right_on="Id"
    )
    ages = (tamoxifen["START"].dt.date() - tamoxifen["BIRTHDATE"]).dt.total_days() / 365.25
    assert ages.max() < 50


def test_late_effects_only_after_their_causes(small) -> None:
    cond, procs, meds = small["conditions"], small["procedures"], small["medications"]
    for effect, cause, table in [
        (LYMPHEDEMA, AXILLARY_SURGERY, procs),
        (CARDIOMYOPATHY, ANTHRACYCLINE, meds),
        (NEUROPATHY, NEUROTOXIC, meds),
    ]:
        onset = _first(cond, [effect]).rename({"first": "onset"})
        exposure = (
            table.filter(pl.col("CODE").is_in(cause))
            .group_by("PATIENT")
            .agg(pl.col("START").min().dt.date().alias("exposed"))
        )
        joined = onset.join(exposure, on="PATIENT", how="left")
        assert joined.height > 0, effect
        assert joined["exposed"].null_count() == 0, effect
        assert (joined["exposed"] <= joined["onset"]).all(), effect


def test_history_of_cancer_follows_five_years_of_remission(small) -> None:
    cond = small["conditions"]
    checked = 0
    for cancer, history in HISTORY.items():
        ca = (
            cond.filter(pl.col("CODE") == cancer)
            .group_by("PATIENT")
            .agg(pl.col("START").min().alias("dx"), pl.col("STOP").min().alias("ended"))
        )
        hx = (
            cond.filter(pl.col("CODE") == history)
            .group_by("PATIENT")
            .agg(pl.col("START").min().alias("hx"))
        )
        joined = hx.join(ca, on="PATIENT", how="left")
        assert joined["dx"].null_count() == 0
        years = (joined["hx"] - joined["dx"]).dt.total_days() / 365
        assert years.min() >= 4.5 and years.max() < 7
        assert (joined["ended"] == joined["hx"]).all()
        checked += joined.height
    assert checked > 50


def test_metastasis_and_cancer_death_follow_the_cancer(small) -> None:
    cond = small["conditions"]
    dx = _first(cond, CANCERS).rename({"first": "dx"})
    mets = _first(cond, METASTASES).rename({"first": "mets"}).join(dx, on="PATIENT", how="left")
    assert mets.height > 20 and mets["dx"].null_count() == 0 and (mets["mets"] >= mets["dx"]).all()
    deaths = small["encounters"].filter(pl.col("CODE") == DEATH_CERTIFICATION)
    assert deaths.height > 10
    assert set(deaths["REASONCODE"].to_list()) <= set(CANCERS)
    joined = (
        deaths.select("PATIENT", pl.col("START").dt.date().alias("certified"))
        .join(small["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE"), on="PATIENT")
        .join(mets.select("PATIENT", "mets"), on="PATIENT", how="left")
    )
    assert (joined["certified"] == joined["DEATHDATE"]).all()
    assert joined["mets"].null_count() == 0 and (joined["mets"] <= joined["certified"]).all()


def test_survivorship_care_plan_and_surveillance(small) -> None:
    plans = small["careplans"].filter(pl.col("CODE") == "736252007")
    assert plans.height > 100
    assert set(plans["REASONCODE"].to_list()) <= set(CANCERS)
    dx = _first(small["conditions"], CANCERS).rename({"first": "dx"})
    joined = plans.join(dx, on="PATIENT")
    assert (
        joined["START"] >= joined["dx"]
    ).all()  # same day for active surveillance of prostate cancer
    # breast cancer survivors get a mammogram at least every 14 months during follow-up
    breast_plans = joined.filter(pl.col("REASONCODE") == BREAST).select(
        "PATIENT", pl.col("START").alias("plan")
    )
    mammo = (
        small["procedures"].filter(pl.col("CODE") == "71651007").join(breast_plans, on="PATIENT")
    )
    gaps = (
        mammo.filter(pl.col("START").dt.date() > pl.col("plan"))
        .sort("PATIENT", "START")
        .with_columns(pl.col("START").diff().over("PATIENT").alias("gap"))
        .drop_nulls("gap")
    )
    assert gaps.height > 50
    assert gaps["gap"].dt.total_days().max() <= 14 * 31


# --------------------------------------------------------------------------- calibration

# Census 2020 DP1 resident population (millions) by age band, both sexes (general_population.toml),
# used to age-standardise the cohort's age-specific prevalence: the generated cohort keeps people
# who died before the reference date, so its living population is younger than the Census.
CENSUS_BANDS = [
    (0, 40, 171.070),
    (40, 50, 40.454),
    (50, 60, 42.844),
    (60, 65, 21.288),
    (65, 70, 18.289),
    (70, 80, 24.778),
    (80, 200, 12.725),
]
# Survivors as a share of the sex's population (Census 2020 DP1: 162.686M men, 168.763M women).
REFERENCE_PREVALENCE = {
    # [ON1] Miller 2022 (Table 4): 4,055,770 female breast survivors / 168.763M women
    ("breast", "F"): 2.403,
    # [ON1]: 3,523,230 prostate survivors / 162.686M men
    ("prostate", "M"): 2.166,
    # [ON1]: 726,450 male colorectal survivors / 162.686M men
    ("colon", "M"): 0.447,
    # ACS Cancer Treatment & Survivorship Facts & Figures 2016-2017: 727,350 women (Table 4 has no
    # female colorectal count) / 168.763M women
    ("colon", "F"): 0.431,
    # SEER CSR 1975-2017 Table 15.27 complete prevalence Jan 1 2017: 248,102 men, 310,148 women
    ("lung", "M"): 0.153,
    ("lung", "F"): 0.184,
}
# SEER CSR 1975-2016 Table 23.15: prostate prevalence percent by age at prevalence, Jan 1 2016
# (24-year limited-duration). 70-79 (12.887%) and 80+ (17.558%) are merged with Census weights
# (24.778M, 12.725M) = 14.474% because a 20,000-patient cohort has too few living men over 80.
PROSTATE_BY_AGE = [((40, 50), 0.069), ((50, 60), 1.011), ((60, 70), 5.064), ((70, 200), 14.474)]
# 5-year relative survival by SEER summary stage (module remarks): SEER/ACS statistics
SURVIVAL_5Y = {
    ("breast", "localized"): 0.99,
    ("breast", "regional"): 0.86,
    ("breast", "distant"): 0.30,
    ("prostate", "localized"): 0.995,
    ("prostate", "regional"): 0.985,
    ("prostate", "distant"): 0.32,
    ("colon", "localized"): 0.91,
    ("colon", "regional"): 0.73,
    ("colon", "distant"): 0.13,
    ("lung", "localized"): 0.64,
    ("lung", "regional"): 0.37,
    ("lung", "distant"): 0.09,
}


def _within(value: float, reference: float) -> bool:
    """Within 20% relative or 2 percentage points (values in percent), whichever is larger."""
    return abs(value - reference) <= max(0.2 * reference, 2.0)


def prevalence_table(tables: dict[str, pl.DataFrame]) -> dict:
    """Age-band prevalence (percent of the living) by site and sex; Census-standardised totals."""
    patients = (
        tables["patients"]
        .filter(pl.col("DEATHDATE").is_null())
        .with_columns(
            ((pl.lit(REFERENCE) - pl.col("BIRTHDATE")).dt.total_days() / 365.25).alias("age")
        )
    )
    active = tables["conditions"].filter(pl.col("STOP").is_null())
    out: dict = {}
    for site, codes in SURVIVOR_CODES.items():
        ids = active.filter(pl.col("CODE").is_in(codes))["PATIENT"].unique().implode()
        for sex in ("M", "F"):
            bands = []
            for lo, hi, weight in CENSUS_BANDS:
                alive = patients.filter(
                    (pl.col("GENDER") == sex) & (pl.col("age") >= lo) & (pl.col("age") < hi)
                )
                cases = alive.filter(pl.col("Id").is_in(ids)).height
                bands.append(((lo, hi), 100 * cases / max(alive.height, 1), weight, cases))
            total = sum(p * w for _, p, w, _ in bands) / sum(w for _, _, w, _ in bands)
            out[(site, sex)] = {"bands": bands, "standardised": total}
    return out


def _km_five_year(years: list[float], events: list[bool]) -> float:
    """Kaplan-Meier survival at 5 years: events are cancer deaths, other deaths are censored."""
    pairs = sorted(zip(years, events, strict=True))
    at_risk, survival = len(pairs), 1.0
    for t, event in pairs:
        if t > 5:
            break
        if event:
            survival *= 1 - 1 / at_risk
        at_risk -= 1
    return survival


def survival_table(tables: dict[str, pl.DataFrame]) -> dict:
    """5-year cause-specific survival (Kaplan-Meier, other deaths censored) by site and stage,
    for diagnoses 2006-2020 (all inside the 20-year export window, with 5 years of follow-up)."""
    obs = (
        tables["observations"]
        .filter(pl.col("CODE") == STAGE_GROUP)
        .select("PATIENT", pl.col("DATE").dt.date().alias("dx"), pl.col("VALUE").alias("stage"))
    )
    site = (
        tables["conditions"]
        .filter(pl.col("CODE").is_in(CANCERS))
        .group_by("PATIENT")
        .agg(pl.col("CODE").first().alias("code"))
    )
    mets_at_dx = _first(tables["conditions"], METASTASES).rename({"first": "mets"})
    certified = (
        tables["encounters"]
        .filter(pl.col("CODE") == DEATH_CERTIFICATION)
        .select("PATIENT", pl.lit(True).alias("cancer_death"))
    )
    deaths = tables["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    frame = (
        obs.join(site, on="PATIENT")
        .join(mets_at_dx, on="PATIENT", how="left")
        .join(certified, on="PATIENT", how="left")
        .join(deaths, on="PATIENT")
        .filter((pl.col("dx") >= date(2006, 1, 1)) & (pl.col("dx") <= date(2020, 12, 31)))
    )
    names = {BREAST: "breast", PROSTATE: "prostate", COLON: "colon", NSCLC: "lung", SCLC: "lung"}
    # summary stage from the record: metastasis on the day of diagnosis = distant; AJCC stage 1 is
    # always localized and stage 3 always regional here (stage 2 and prostate stage 4 can be either)
    frame = frame.with_columns(
        pl.col("code").replace_strict(names).alias("site"),
        pl.when(pl.col("mets") == pl.col("dx"))
        .then(pl.lit("distant"))
        .when(pl.col("stage") == "Stage 1 (qualifier value)")
        .then(pl.lit("localized"))
        .when(pl.col("stage") == "Stage 3 (qualifier value)")
        .then(pl.lit("regional"))
        .otherwise(pl.lit(None))
        .alias("summary"),
        (
            (pl.coalesce(pl.col("DEATHDATE"), pl.lit(REFERENCE)) - pl.col("dx")).dt.total_days()
            / 365
        ).alias("years"),
        pl.col("cancer_death").fill_null(False),
    )
    out = {}
    for (s, st), group in frame.drop_nulls("summary").group_by("site", "summary"):
        out[(s, st)] = (
            _km_five_year(group["years"].to_list(), group["cancer_death"].to_list()),
            group.height,
        )
    return out


@pytest.mark.slow
def test_calibration_general_population(tmp_path) -> None:
    tables = generate_tables("general_population", [MODULE], 20000, tmp_path, seed=1)
    table = prevalence_table(tables)
    failures = []
    for key, reference in REFERENCE_PREVALENCE.items():
        value = table[key]["standardised"]
        if not _within(value, reference):
            failures.append((key, round(value, 3), reference))
    bands = table[("prostate", "M")]["bands"]
    for (lo, hi), reference in PROSTATE_BY_AGE:
        rows = [b for b in bands if b[0][0] >= lo and b[0][1] <= hi]
        value = sum(p * w for _, p, w, _ in rows) / sum(w for _, _, w, _ in rows)
        if not _within(value, reference):
            failures.append((("prostate", lo, hi), round(value, 3), reference))
    # share of survivors (four sites, both sexes, Census-standardised) aged 65+: 67% [ON1]
    weights = {band: w for band, _, w, _ in table[("breast", "F")]["bands"]}
    per_band: dict = {}
    for entry in table.values():
        for band, p, _, _ in entry["bands"]:
            per_band[band] = per_band.get(band, 0.0) + p * weights[band]
    share_65 = sum(v for band, v in per_band.items() if band[0] >= 65) / sum(per_band.values())
    if not _within(100 * share_65, 67.0):
        failures.append(("share 65+", round(100 * share_65, 1), 67.0))
    assert not failures, failures


@pytest.mark.slow
def test_five_year_survival_by_stage(tmp_path) -> None:
    tables = generate_tables(MODULE, [MODULE], 20000, tmp_path, seed=3)
    table = survival_table(tables)
    failures = []
    for key, (value, n) in table.items():
        reference = SURVIVAL_5Y[key]
        # stage 1 = localized and stage 4 = distant; the binomial error must allow a real check
        tolerance = max(0.2 * reference, 0.02, 2.5 * (reference * (1 - reference) / n) ** 0.5)
        if n >= 30 and abs(value - reference) > tolerance:
            failures.append((key, round(value, 3), reference, n))
    assert len(table) >= 6
    assert not failures, failures
