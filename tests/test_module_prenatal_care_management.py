"""prenatal_care_management: clinical invariants on a small cohort, calibration on a large one.

Reference values are from shared/reference/clinical_reference_tables.md, Table 3 (source keys in its
References section), plus NCHS birth rates for the age bands:

- Births per 1,000 woman-years by age of mother (computed): 2023 births by maternal age from NCHS
  NVSR 74(3) (Driscoll & Hamilton 2025, as tabulated in scenarios/prenatal.toml, thousands: 15-17
  33.9,
  18-19 110.7, 20-24 606.8, 25-29 972.7, 30-34 1095.3, 35-39 606.0, 40-44 about 136) divided by the
  women in each band (Census 2020 DP1 age-group counts x female share 0.503, the share implied by
  3,596,017 births and a general fertility rate of 54.5 in NVSR 74(1)):
  15-17 5.2, 18-19 24.2, 20-24 54.4, 25-29 86.7, 30-34 96.6, 35-39 55.1, 40-44 13.3.
- Cesarean delivery 32.1% of births (2022) [PN5]; gestational diabetes 8.1% of births (2022)
[PN6][PN7];
  preeclampsia 3.4% of deliveries [PN10]; preterm births 10.38% (2022) [PN4]; prenatal visits per
  pregnancy: median 12.3 (US births 2001, Williams Obstetrics) [PN2], about 13 expected by the ACOG
  schedule [PN1]; early pregnancy loss about 10% of clinically recognised pregnancies (ACOG PB 200).

The module's calibrated monthly conception probabilities (by age band, for a woman not pregnant)
are a hazard of -ln(1 - p) per 30 days, which the module samples by thinning; the conception test
instruments the module and checks that hazard by age band.

A "birth" is a delivery procedure (cesarean or vaginal delivery) dated inside the exported 10-year
window (2016-2025); woman-years are the time females spend alive in each age band in that window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.terminology import get_terminology

from .engine_helpers import HORIZON, kernel_event_log, random_patients
from .module_harness import generate_tables

MODULE = "prenatal_care_management"
WINDOW_START = dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
REFERENCE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
YEAR_S = 365 * 86400
DAY = dt.timedelta(days=1)

PREGNANCY, GDM, PREECLAMPSIA, SEVERE_PE, MISCARRIAGE = (
    "72892002",
    "11687002",
    "398254007",
    "46764007",
    "19169002",
)
PE_CODES = (PREECLAMPSIA, SEVERE_PE)
CESAREAN, VAGINAL, INDUCTION = "11466000", "177184002", "31208007"
DELIVERIES = (CESAREAN, VAGINAL)
DATING_US, OB_US, ANATOMY_US = "169230002", "268445003", "271442007"
PRENATAL_INITIAL, PRENATAL_VISIT, OB_ADMISSION, POSTNATAL = (
    "424441002",
    "424619006",
    "183460006",
    "169762003",
)
PRENATAL_VISITS = (PRENATAL_INITIAL, PRENATAL_VISIT)
FOLLOW_UP, PROBLEM, ED = "185389009", "185347001", "4525004"
MODULE_ENCOUNTERS = (*PRENATAL_VISITS, OB_ADMISSION, POSTNATAL, FOLLOW_UP, PROBLEM, ED)
GA, FUNDAL, FHR = "49051-6", "11881-0", "55283-6"
SBP, DBP, HGB, PLT = "8480-6", "8462-4", "718-7", "777-3"
GCT, OGTT_0, OGTT_1, OGTT_2, OGTT_3 = "1504-0", "1549-5", "1501-6", "1514-9", "1530-5"
URINE_PROTEIN_24H, GBS, HCG_URINE, ABO, RH = "2889-4", "72607-5", "2106-3", "883-9", "10331-7"
SMBG = "2339-0"
ASPIRIN, INSULIN, METFORMIN, LABETALOL, AMPICILLIN = (
    "243670",
    "311041",
    "861007",
    "896762",
    "1721476",
)
TDAP = "115"
POSITIVE = "Positive (qualifier value)"
VALUE_CODES = (
    "10828004",
    "260385009",
    "112144000",
    "112149005",
    "165743006",
    "58460004",
    "165747007",
    "165746003",
)
CARPENTER_COUSTAN = {OGTT_0: 95, OGTT_1: 180, OGTT_2: 155, OGTT_3: 140}

# Births per 1,000 woman-years by age band (see the module docstring for the arithmetic).
BIRTH_RATE_TARGETS = {
    (15, 18): 5.2,
    (18, 20): 24.2,
    (20, 25): 54.4,
    (25, 30): 86.7,
    (30, 35): 96.6,
    (35, 40): 55.1,
    (40, 45): 13.3,
}


# The module's calibrated monthly probability of conception for a woman who is not pregnant, by age
# band (Conception_Check remarks): a hazard of -ln(1 - p) per 30 days.
MONTHLY_CONCEPTION = {
    (15, 18): 0.000574,
    (18, 20): 0.003268,
    (20, 25): 0.005651,
    (25, 30): 0.009038,
    (30, 35): 0.009517,
    (35, 38): 0.005406,
    (38, 40): 0.004099,
    (40, 42): 0.00176,
    (42, 45): 0.0008,
}


def _within(value: float, target: float) -> bool:
    """The project tolerance: 20% relative or 2 percentage points, whichever is larger."""
    return abs(value - target) <= max(0.2 * target, 2.0)


def _after_window_start(frame: pl.DataFrame, column: str, weeks: int = 0) -> pl.DataFrame:
    """Rows dated at least `weeks` after the export window opens, so the events that led to them
    (earlier in the same pregnancy) were exported too."""
    cutoff = WINDOW_START + dt.timedelta(weeks=weeks)
    if frame.schema[column] == pl.Date:
        return frame.filter(pl.col(column) >= cutoff.date())
    return frame.filter(pl.col(column) >= cutoff)


def _num(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("VALUE").cast(pl.Float64))


def _obs(tables, *codes: str) -> pl.DataFrame:
    return _num(tables["observations"].filter(pl.col("CODE").is_in(codes)))


def _pregnancies(tables) -> pl.DataFrame:
    return (
        tables["conditions"]
        .filter(pl.col("CODE") == PREGNANCY)
        .select("PATIENT", pl.col("START").alias("P_START"), pl.col("STOP").alias("P_STOP"))
    )


def _deliveries(tables) -> pl.DataFrame:
    return tables["procedures"].filter(pl.col("CODE").is_in(DELIVERIES))


def _ga_by_encounter(tables) -> pl.DataFrame:
    return _obs(tables, GA).group_by("ENCOUNTER").agg(pl.col("VALUE").max().alias("GA"))


def _in_pregnancy(frame: pl.DataFrame, pregnancies: pl.DataFrame, date_col: str) -> pl.DataFrame:
    """Rows of frame (one per row) matched to the pregnancy of the same patient containing
    date_col."""
    return frame.join(pregnancies, on="PATIENT").filter(
        (pl.col(date_col) >= pl.col("P_START"))
        & (pl.col("P_STOP").is_null() | (pl.col(date_col) <= pl.col("P_STOP")))
    )


def _delivered_pregnancies(tables) -> pl.DataFrame:
    """Pregnancies that started in the window and ended in a delivery, with their delivery row."""
    deliveries = _deliveries(tables).select(
        "PATIENT",
        pl.col("START").alias("DELIVERED"),
        pl.col("CODE").alias("MODE"),
        pl.col("ENCOUNTER").alias("DELIVERY_ENCOUNTER"),
        pl.col("START").dt.date().alias("DELIVERY_DATE"),
    )
    return (
        _pregnancies(tables)
        .join(deliveries, left_on=["PATIENT", "P_STOP"], right_on=["PATIENT", "DELIVERY_DATE"])
        .filter(pl.col("P_START") >= WINDOW_START.date())
    )


def _woman_years(patients: pl.DataFrame) -> dict[tuple[int, int], float]:
    women = patients.filter(pl.col("GENDER") == "F").select(
        pl.col("BIRTHDATE").cast(pl.Datetime("us", "UTC")).dt.epoch("s").alias("born"),
        pl.col("DEATHDATE").cast(pl.Datetime("us", "UTC")).dt.epoch("s").alias("died"),
    )
    start, end = int(WINDOW_START.timestamp()), int(REFERENCE.timestamp())
    years = {}
    for low, high in BIRTH_RATE_TARGETS:
        lo = pl.max_horizontal(pl.col("born") + low * YEAR_S, pl.lit(start))
        hi = pl.min_horizontal(
            pl.col("born") + high * YEAR_S, pl.lit(end), pl.col("died").fill_null(end)
        )
        years[(low, high)] = women.select((hi - lo).clip(lower_bound=0).sum()).item() / YEAR_S
    return years


def _births_by_age(tables) -> dict[tuple[int, int], int]:
    born = tables["patients"].select(
        pl.col("Id").alias("PATIENT"),
        pl.col("BIRTHDATE").cast(pl.Datetime("us", "UTC")).dt.epoch("s").alias("born"),
    )
    births = (
        _deliveries(tables)
        .filter(pl.col("START") >= WINDOW_START)
        .join(born, on="PATIENT")
        .with_columns(((pl.col("START").dt.epoch("s") - pl.col("born")) / YEAR_S).alias("age"))
    )
    return {
        band: births.filter((pl.col("age") >= band[0]) & (pl.col("age") < band[1])).height
        for band in BIRTH_RATE_TARGETS
    }


def _process_rates(tables) -> dict[str, float]:
    delivered = _delivered_pregnancies(tables)
    n = delivered.height
    conditions = tables["conditions"]

    def share_with(codes) -> float:
        found = conditions.filter(pl.col("CODE").is_in(codes)).select(
            "PATIENT", pl.col("START").alias("DX")
        )
        hits = _in_pregnancy(found, delivered.select("PATIENT", "P_START", "P_STOP"), "DX")
        return hits.select(["PATIENT", "P_START"]).unique().height / n

    visits = (
        tables["encounters"]
        .filter(pl.col("CODE").is_in(PRENATAL_VISITS))
        .select("PATIENT", pl.col("START").dt.date().alias("VISIT"))
    )
    counts = (
        _in_pregnancy(visits, delivered.select("PATIENT", "P_START", "P_STOP"), "VISIT")
        .group_by(["PATIENT", "P_START"])
        .agg(pl.len().alias("visits"))
    )
    counts = (
        delivered.select("PATIENT", "P_START")
        .join(counts, on=["PATIENT", "P_START"], how="left")
        .with_columns(pl.col("visits").fill_null(0))
    )
    all_deliveries = _deliveries(tables).filter(pl.col("START") >= WINDOW_START)
    ga = all_deliveries.join(_ga_by_encounter(tables), on="ENCOUNTER")
    losses = conditions.filter(
        (pl.col("CODE") == MISCARRIAGE) & (pl.col("START") >= WINDOW_START.date())
    ).height
    return {
        "cesarean": all_deliveries.filter(pl.col("CODE") == CESAREAN).height
        / all_deliveries.height,
        "gdm": share_with([GDM]),
        "preeclampsia": share_with(PE_CODES),
        "preterm": ga.filter(pl.col("GA") < 37).height / ga.height,
        "visits_median": float(counts["visits"].median()),
        "visits_mean": float(counts["visits"].mean()),
        "early_loss_share": losses / (losses + all_deliveries.height),
    }


# ---------------------------------------------------------------------------------- small cohort
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    # Women 15-44 (the prenatal scenario): most of them have at least one pregnancy in the window.
    return generate_tables(
        "prenatal", [MODULE], 2000, tmp_path_factory.mktemp("prenatal_small"), seed=1
    )


def test_cohort_has_the_pathway(small):
    conditions, procedures, meds = small["conditions"], small["procedures"], small["medications"]
    assert conditions.filter(pl.col("CODE") == PREGNANCY).height >= 800
    for code in (GDM, PREECLAMPSIA, MISCARRIAGE):
        assert conditions.filter(pl.col("CODE") == code).height > 0, code
    for code in (CESAREAN, VAGINAL, INDUCTION, DATING_US, ANATOMY_US):
        assert procedures.filter(pl.col("CODE") == code).height > 0, code
    for code in (ASPIRIN, INSULIN, AMPICILLIN):
        assert meds.filter(pl.col("CODE") == code).height > 0, code
    assert small["immunizations"].filter(pl.col("CODE") == TDAP).height > 0
    assert small["encounters"].filter(pl.col("CODE") == POSTNATAL).height > 0


def test_every_code_resolves_in_the_terminology(small):
    term = get_terminology()
    systems = {
        "conditions": "SNOMED-CT",
        "procedures": "SNOMED-CT",
        "encounters": "SNOMED-CT",
        "careplans": "SNOMED-CT",
        "medications": "RxNorm",
        "observations": "LOINC",
        "immunizations": "CVX",
    }
    for table, system in systems.items():
        rows = small[table].select("CODE", "DESCRIPTION").unique()
        for code, description in rows.iter_rows():
            display = term.lookup(system, code)
            assert display is not None, (table, code)
            assert display == description, (table, code, display, description)
    for code, description in (
        small["careplan_activities"].select("CODE", "DESCRIPTION").unique().iter_rows()
    ):
        assert term.lookup("SNOMED-CT", code) == description, code
    # Coded observation values (test results, blood groups) are SNOMED CT concepts with their
    # displays.
    for code in VALUE_CODES:
        assert term.lookup("SNOMED-CT", code) is not None, code
    displays = {term.lookup("SNOMED-CT", code) for code in VALUE_CODES}
    coded = set(small["observations"].filter(pl.col("TYPE") == "text")["VALUE"].unique().to_list())
    assert coded and coded <= displays, coded - displays


def test_pregnancy_only_in_women_of_reproductive_age(small):
    patients = small["patients"].select(pl.col("Id").alias("PATIENT"), "GENDER", "BIRTHDATE")
    preg = _pregnancies(small).join(patients, on="PATIENT")
    assert preg.filter(pl.col("GENDER") != "F").is_empty()
    age = (preg["P_START"] - preg["BIRTHDATE"]).dt.total_days() / 365
    assert age.min() >= 15
    assert age.max() < 46


def _instrumented_module():
    """The module with two marker procedures that draw nothing (so every other state keeps its
    draws): Test_At_Risk where a woman starts waiting for a conception (at 15, and after each
    pregnancy), Test_Conceived at each conception."""
    module = ModuleLibrary().load(MODULE)
    document = {**module.document, "states": dict(module.states)}
    states = document["states"]
    marker = {"type": "Procedure", "codes": [{"system": "SNOMED-CT", "code": "72892002"}]}
    starts = [
        name for name, s in states.items() if s.get("direct_transition") == "Wait_For_Conception"
    ]
    assert sorted(starts) == ["Back_To_Conception_Check", "Daytime_Offset"], starts
    for name in starts:
        states[name] = {**states[name], "direct_transition": "Test_At_Risk"}
    states["Test_At_Risk"] = {**marker, "direct_transition": "Wait_For_Conception"}
    states["Test_Conceived"] = {
        **marker,
        "direct_transition": states["Conception"]["direct_transition"],
    }
    states["Conception"] = {**states["Conception"], "direct_transition": "Test_Conceived"}
    return dataclasses.replace(module, document=document)


def test_conception_hazard_by_age_matches_the_monthly_calibration():
    """Conceptions per 1,000 woman-years not pregnant, by age band, equal the calibrated monthly
    probabilities as a hazard, 1000 x (365 / 30) x -ln(1 - p), within 4 Poisson standard errors;
    none outside 15-44; first conceptions in daytime (whole-day waits after the 8:00-17:00
    offset)."""
    n = 20_000
    rng = np.random.default_rng(11)
    # Women 45-60 at the horizon, without natural death: each is followed from 15 to 45.
    women = random_patients(n, seed=11, smoker=rng.random(n) < 0.1).with_columns(
        gender=pl.lit("F"),
        birth_time=pl.lit(HORIZON) - pl.Series(rng.integers(45 * 365, 60 * 365, n)) * 86400,
    )
    module = _instrumented_module()
    log = kernel_event_log([module], ModuleLibrary(), women, 5)
    marks = (
        log.filter(pl.col("state").is_in(["Test_At_Risk", "Test_Conceived"]))
        .join(women.select("patient", "birth_time"), on="patient")
        .sort(["patient", "time", "state"])
        .with_columns(age=(pl.col("time") - pl.col("birth_time")) / YEAR_S)
        .with_columns(
            next_state=pl.col("state").shift(-1).over("patient"),
            next_age=pl.col("age").shift(-1).over("patient"),
        )
    )
    at_risk = marks.filter(pl.col("state") == "Test_At_Risk")
    conceived = marks.filter(pl.col("state") == "Test_Conceived")
    # Waits and conceptions alternate: a wait ends in a conception or runs on to 45.
    assert at_risk.filter(pl.col("next_state") == "Test_At_Risk").is_empty()
    assert conceived.filter(pl.col("next_state") == "Test_Conceived").is_empty()
    assert conceived.height > 0.5 * n
    assert conceived["age"].min() >= 15 and conceived["age"].max() < 45
    first = conceived.filter(pl.col("patient").is_first_distinct())
    hours = (first["time"] % 86400) / 3600
    assert hours.min() >= 8 and hours.max() <= 17
    start = at_risk["age"].to_numpy()
    end = np.where(at_risk["next_state"].to_numpy() == "Test_Conceived", at_risk["next_age"], 45.0)
    ages = conceived["age"].to_numpy()
    for (low, high), p in MONTHLY_CONCEPTION.items():
        years = np.clip(np.minimum(end, high) - np.maximum(start, low), 0, None).sum()
        observed = int(((ages >= low) & (ages < high)).sum())
        expected = years * (365 / 30) * -math.log(1 - p)
        assert abs(observed - expected) <= 4 * math.sqrt(expected), (
            (low, high),
            observed,
            expected,
        )


def test_every_pregnancy_ends_in_delivery_or_early_loss(small):
    patients = small["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    preg = _pregnancies(small).join(patients, on="PATIENT")
    ongoing_cutoff = (REFERENCE - dt.timedelta(weeks=44)).date()
    open_ = preg.filter(pl.col("P_STOP").is_null())
    # Only a pregnancy still in progress at the reference date, or cut short by the mother's death,
    # is open.
    assert open_.filter(
        (pl.col("P_START") < ongoing_cutoff) & pl.col("DEATHDATE").is_null()
    ).is_empty()
    closed = preg.filter(pl.col("P_STOP").is_not_null())
    assert ((closed["P_STOP"] - closed["P_START"]).dt.total_days() <= 44 * 7).all()
    deliveries = _deliveries(small).select("PATIENT", pl.col("START").dt.date().alias("P_STOP"))
    losses = (
        small["conditions"]
        .filter(pl.col("CODE") == MISCARRIAGE)
        .select("PATIENT", pl.col("START").alias("P_STOP"))
    )
    endings = pl.concat([deliveries, losses]).unique()
    unexplained = closed.join(endings, on=["PATIENT", "P_STOP"], how="anti")
    assert unexplained.is_empty(), unexplained.head()
    # ... and every delivery or loss closes a pregnancy.
    assert endings.join(
        preg.select("PATIENT", "P_STOP"), on=["PATIENT", "P_STOP"], how="anti"
    ).is_empty()


def test_delivery_is_an_inpatient_admission_with_one_delivery_procedure(small):
    deliveries = _deliveries(small)
    enc = small["encounters"].select(
        pl.col("Id").alias("ENCOUNTER"),
        "ENCOUNTERCLASS",
        pl.col("CODE").alias("ENC_CODE"),
        pl.col("START").alias("ADMIT"),
        pl.col("STOP").alias("DISCHARGE"),
    )
    joined = deliveries.join(enc, on="ENCOUNTER")
    assert joined.height == deliveries.height
    assert (joined["ENCOUNTERCLASS"] == "inpatient").all()
    assert (joined["ENC_CODE"] == OB_ADMISSION).all()
    assert deliveries.group_by("ENCOUNTER").len()["len"].max() == 1
    stay = (joined["DISCHARGE"] - joined["ADMIT"]).dt.total_days()
    assert stay.min() >= 2 and stay.max() <= 7
    ga = deliveries.join(_ga_by_encounter(small), on="ENCOUNTER")
    assert ga.height == deliveries.height
    assert ga["GA"].min() >= 24 and ga["GA"].max() <= 42


def test_early_loss_is_in_the_first_trimester(small):
    losses = (
        small["conditions"]
        .filter(pl.col("CODE") == MISCARRIAGE)
        .select("PATIENT", pl.col("START").alias("LOSS"), pl.col("STOP").alias("RESOLVED"))
    )
    assert losses.height > 0
    assert losses.filter(
        pl.col("RESOLVED").is_not_null() & (pl.col("RESOLVED") < pl.col("LOSS"))
    ).is_empty()
    # The loss ends the pregnancy, no more than 13 weeks after the pregnancy was first recorded.
    matched = losses.join(
        _pregnancies(small), left_on=["PATIENT", "LOSS"], right_on=["PATIENT", "P_STOP"]
    )
    assert matched.height == losses.height
    assert ((matched["LOSS"] - matched["P_START"]).dt.total_days() <= 13 * 7).all()
    assert (
        _deliveries(small)
        .join(losses, left_on="PATIENT", right_on="PATIENT")
        .filter(pl.col("START").dt.date() == pl.col("LOSS"))
        .is_empty()
    )


def test_scheduled_tests_happen_at_the_right_gestational_age(small):
    ga = _ga_by_encounter(small)
    proc = small["procedures"].join(ga, on="ENCOUNTER", how="left")
    dating = proc.filter(pl.col("CODE") == DATING_US)
    assert dating.height > 0 and dating["GA"].max() <= 13 and dating["GA"].min() >= 6
    anatomy = proc.filter(pl.col("CODE") == ANATOMY_US)
    assert anatomy.height > 0 and anatomy["GA"].min() >= 18 and anatomy["GA"].max() <= 22
    gct = _obs(small, GCT).join(ga, on="ENCOUNTER", how="left")
    assert gct.height > 0 and gct["GA"].min() >= 24 and gct["GA"].max() <= 28
    gbs = small["observations"].filter(pl.col("CODE") == GBS).join(ga, on="ENCOUNTER", how="left")
    assert gbs.height > 0 and gbs["GA"].min() >= 35 and gbs["GA"].max() <= 37
    tdap = small["immunizations"].filter(pl.col("CODE") == TDAP).join(ga, on="ENCOUNTER")
    assert tdap.height > 0 and tdap["GA"].min() >= 27 and tdap["GA"].max() <= 36
    # First-visit labs: every initial visit confirms the pregnancy and types the blood.
    initial = (
        small["encounters"]
        .filter(pl.col("CODE") == PRENATAL_INITIAL)
        .select(pl.col("Id").alias("ENCOUNTER"))
    )
    for code in (HCG_URINE, ABO, RH, HGB):
        have = small["observations"].filter(pl.col("CODE") == code).select("ENCOUNTER").unique()
        assert initial.join(have, on="ENCOUNTER", how="anti").is_empty(), code
    hcg = small["observations"].filter(pl.col("CODE") == HCG_URINE)
    assert (hcg["VALUE"] == POSITIVE).all()


def test_blood_type_is_stable_across_pregnancies(small):
    for code in (ABO, RH):
        values = (
            small["observations"]
            .filter(pl.col("CODE") == code)
            .group_by("PATIENT")
            .agg(pl.col("VALUE").n_unique().alias("n"))
        )
        assert values["n"].max() == 1, code


def test_visit_schedule_follows_acog(small):
    ga = _ga_by_encounter(small)
    visits = (
        small["encounters"]
        .filter(pl.col("CODE").is_in(PRENATAL_VISITS))
        .select("PATIENT", pl.col("Id").alias("ENCOUNTER"), "START")
        .join(ga, on="ENCOUNTER")
        .sort(["PATIENT", "START"])
    )
    gaps = visits.with_columns(
        (pl.col("START").diff().over("PATIENT").dt.total_days() / 7).alias("weeks"),
        pl.col("GA").shift(1).over("PATIENT").alias("prev_ga"),
    ).filter(
        pl.col("weeks").is_not_null() & (pl.col("weeks") < 20) & (pl.col("GA") > pl.col("prev_ga"))
    )
    # Never more than 4 weeks between visits of a pregnancy in care, never more than 2 after 28
    # weeks,
    # never more than 1 after 36 weeks.
    assert gaps["weeks"].max() <= 4.01
    assert gaps.filter(pl.col("prev_ga") >= 28)["weeks"].max() <= 2.01
    assert gaps.filter(pl.col("prev_ga") >= 36)["weeks"].max() <= 1.01
    # Prenatal visits happen only while pregnant.
    preg = _pregnancies(small)
    dated = visits.with_columns(pl.col("START").dt.date().alias("DAY"))
    assert dated.join(
        _in_pregnancy(dated, preg, "DAY").select("ENCOUNTER"), on="ENCOUNTER", how="anti"
    ).is_empty()


def test_gestational_diabetes_follows_an_abnormal_ogtt(small):
    gdm = _after_window_start(small["conditions"].filter(pl.col("CODE") == GDM), "START", weeks=2)
    assert gdm.height > 0
    ogtt = _obs(small, *CARPENTER_COUSTAN).with_columns(
        pl.col("CODE").replace_strict(CARPENTER_COUSTAN, return_dtype=pl.Float64).alias("LIMIT")
    )
    abnormal = ogtt.group_by("ENCOUNTER").agg(
        (pl.col("VALUE") >= pl.col("LIMIT")).sum().alias("n_abnormal")
    )
    diagnosed = gdm.join(abnormal, on="ENCOUNTER", how="left")
    assert (diagnosed["n_abnormal"].fill_null(0) >= 2).all()
    # Women without GDM never have two abnormal OGTT values.
    normal = (
        ogtt.join(gdm.select("ENCOUNTER"), on="ENCOUNTER", how="anti")
        .group_by("ENCOUNTER")
        .agg((pl.col("VALUE") >= pl.col("LIMIT")).sum().alias("n_abnormal"))
    )
    assert (normal["n_abnormal"] <= 1).all()
    # A screen >= 140 mg/dL precedes every diagnosis in the same pregnancy, and GDM ends with the
    # pregnancy.
    preg = _pregnancies(small)
    in_preg = _in_pregnancy(gdm.select("PATIENT", pl.col("START").alias("DX"), "STOP"), preg, "DX")
    assert in_preg.height == gdm.height
    assert in_preg.filter(pl.col("P_STOP").is_not_null())["STOP"].equals(
        in_preg.filter(pl.col("P_STOP").is_not_null())["P_STOP"]
    )
    screens = (
        _obs(small, GCT)
        .filter(pl.col("VALUE") >= 140)
        .select("PATIENT", pl.col("DATE").dt.date().alias("SCREEN"))
    )
    screened = in_preg.join(screens, on="PATIENT").filter(
        (pl.col("SCREEN") >= pl.col("P_START")) & (pl.col("SCREEN") <= pl.col("DX"))
    )
    assert screened.select("PATIENT", "DX").unique().height == gdm.height


def test_glucose_lowering_drugs_only_for_gestational_diabetes(small):
    meds = small["medications"].filter(pl.col("CODE").is_in([INSULIN, METFORMIN]))
    assert (meds["REASONCODE"] == GDM).all()
    meds = _after_window_start(meds, "START")
    gdm = (
        small["conditions"]
        .filter(pl.col("CODE") == GDM)
        .select("PATIENT", pl.col("START").alias("G_START"), pl.col("STOP").alias("G_STOP"))
    )
    joined = (
        meds.with_columns(
            pl.col("START").dt.date().alias("M_START"), pl.col("STOP").dt.date().alias("M_STOP")
        )
        .join(gdm, on="PATIENT")
        .filter(
            (pl.col("M_START") >= pl.col("G_START"))
            & (pl.col("G_STOP").is_null() | (pl.col("M_START") <= pl.col("G_STOP")))
        )
    )
    assert joined.height == meds.height
    ended = joined.filter(pl.col("G_STOP").is_not_null())
    assert (ended["M_STOP"] == ended["G_STOP"]).all()
    # A2 treatment starts only after fasting self-monitored glucose above target.
    high = (
        _obs(small, SMBG)
        .filter(pl.col("VALUE") >= 95)
        .select("PATIENT", pl.col("DATE").alias("M_START_TS"))
    )
    started = meds.select("PATIENT", pl.col("START").alias("M_START_TS")).join(
        high, on=["PATIENT", "M_START_TS"]
    )
    assert started.height == meds.height


def test_preeclampsia_is_diagnosed_on_hypertension_and_proteinuria_after_20_weeks(small):
    pe = _after_window_start(small["conditions"].filter(pl.col("CODE").is_in(PE_CODES)), "START")
    assert pe.height > 0
    ga = _ga_by_encounter(small)
    at_dx = pe.join(ga, on="ENCOUNTER", how="left")
    assert at_dx["GA"].min() >= 24
    bp = _obs(small, SBP, DBP).pivot(
        on="CODE", index="ENCOUNTER", values="VALUE", aggregate_function="max"
    )
    dx_bp = pe.join(bp, on="ENCOUNTER", how="left")
    assert ((dx_bp[SBP] >= 140) | (dx_bp[DBP] >= 90)).all()
    severe = dx_bp.filter(pl.col("CODE") == SEVERE_PE)
    assert ((severe[SBP] >= 160) | (severe[DBP] >= 110)).all()
    protein = _obs(small, URINE_PROTEIN_24H).select("ENCOUNTER", pl.col("VALUE").alias("PROTEIN"))
    assert (pe.join(protein, on="ENCOUNTER", how="left")["PROTEIN"].fill_null(0) >= 300).all()
    # Preeclampsia ends before the mother is back at risk (resolved by the postpartum visit, <= 10
    # weeks).
    ended = pe.filter(pl.col("STOP").is_not_null())
    assert ((ended["STOP"] - ended["START"]).dt.total_days() <= 20 * 7).all()
    # Labetalol only for preeclampsia; it is stopped.
    labetalol = small["medications"].filter(pl.col("CODE") == LABETALOL)
    assert labetalol["REASONCODE"].is_in(PE_CODES).all()


def test_blood_pressure_agrees_with_the_diagnosis(small):
    bp = _obs(small, SBP, DBP)
    prenatal = (
        small["encounters"]
        .filter(pl.col("CODE").is_in(PRENATAL_VISITS))
        .select(pl.col("Id").alias("ENCOUNTER"), "PATIENT", pl.col("START").dt.date().alias("DAY"))
    )
    pe = (
        small["conditions"]
        .filter(pl.col("CODE").is_in(PE_CODES))
        .select("PATIENT", pl.col("START").alias("PE_START"), pl.col("STOP").alias("PE_STOP"))
    )
    with_pe = prenatal.join(pe, on="PATIENT").filter(
        (pl.col("DAY") >= pl.col("PE_START"))
        & (pl.col("PE_STOP").is_null() | (pl.col("DAY") <= pl.col("PE_STOP")))
    )
    without_pe = prenatal.join(with_pe.select("ENCOUNTER"), on="ENCOUNTER", how="anti")
    normal = bp.join(without_pe.select("ENCOUNTER"), on="ENCOUNTER")
    assert normal.height > 0
    assert normal.filter((pl.col("CODE") == SBP) & (pl.col("VALUE") >= 140)).is_empty()
    assert normal.filter((pl.col("CODE") == DBP) & (pl.col("VALUE") >= 90)).is_empty()


def test_observations_are_physiological_with_ucum_units(small):
    expected = {
        GA: ("wk", 4, 42),
        FUNDAL: ("cm", 20, 42),
        FHR: ("/min", 110, 160),
        SBP: ("mm[Hg]", 80, 180),
        DBP: ("mm[Hg]", 50, 120),
        HGB: ("g/dL", 11.0, 15.0),
        PLT: ("10*3/uL", 150, 400),
        GCT: ("mg/dL", 60, 250),
        OGTT_0: ("mg/dL", 60, 130),
        OGTT_1: ("mg/dL", 100, 240),
        OGTT_2: ("mg/dL", 80, 220),
        OGTT_3: ("mg/dL", 60, 180),
        SMBG: ("mg/dL", 60, 130),
        URINE_PROTEIN_24H: ("mg/(24.h)", 300, 5000),
    }
    # This module's encounters only (wellness visits record blood pressure too).
    mine = (
        small["encounters"]
        .filter(pl.col("CODE").is_in(MODULE_ENCOUNTERS))
        .select(pl.col("Id").alias("ENCOUNTER"))
    )
    obs = small["observations"].join(mine, on="ENCOUNTER")
    for code, (unit, low, high) in expected.items():
        rows = _num(obs.filter(pl.col("CODE") == code))
        assert rows.height > 0, code
        assert (rows["UNITS"] == unit).all(), code
        assert rows["VALUE"].min() >= low and rows["VALUE"].max() <= high, (
            code,
            rows["VALUE"].min(),
            rows["VALUE"].max(),
        )
    # Fundal height in centimetres equals gestational age in weeks (McDonald's rule) at the same
    # visit.
    paired = _obs(small, GA, FUNDAL).pivot(
        on="CODE", index="ENCOUNTER", values="VALUE", aggregate_function="max"
    )
    paired = paired.filter(pl.col(FUNDAL).is_not_null())
    assert (paired[FUNDAL] == paired[GA]).all()


def test_treatments_have_their_indication(small):
    meds = small["medications"]
    # GBS prophylaxis only for a colonised mother, in her delivery admission.
    iap = _after_window_start(meds.filter(pl.col("CODE") == AMPICILLIN), "START", weeks=8)
    positive = (
        small["observations"]
        .filter((pl.col("CODE") == GBS) & (pl.col("VALUE") == POSITIVE))
        .select("PATIENT", pl.col("DATE").alias("CULTURE"))
    )
    checked = iap.join(positive, on="PATIENT").filter(
        (pl.col("START") > pl.col("CULTURE"))
        & (pl.col("START") - pl.col("CULTURE") < dt.timedelta(weeks=8))
    )
    assert checked.select("PATIENT", "START").unique().height == iap.height
    admissions = (
        small["encounters"]
        .filter(pl.col("CODE") == OB_ADMISSION)
        .select(pl.col("Id").alias("ENCOUNTER"))
    )
    assert iap.join(admissions, on="ENCOUNTER", how="anti").is_empty()
    # Aspirin starts at 12-28 weeks and stops by the end of the pregnancy.
    aspirin = _after_window_start(meds.filter(pl.col("CODE") == ASPIRIN), "START").join(
        _ga_by_encounter(small), on="ENCOUNTER", how="left"
    )
    assert aspirin["GA"].min() >= 12 and aspirin["GA"].max() <= 28
    preg = _pregnancies(small)
    stopped = _in_pregnancy(
        aspirin.with_columns(pl.col("START").dt.date().alias("DAY")), preg, "DAY"
    ).filter(pl.col("P_STOP").is_not_null())
    assert (stopped["STOP"].dt.date() == stopped["P_STOP"]).all()
    # No induction, cesarean or delivery-ward drug without a pregnancy.
    inductions = small["procedures"].filter(pl.col("CODE") == INDUCTION).select("ENCOUNTER")
    assert inductions.join(
        _deliveries(small).select("ENCOUNTER"), on="ENCOUNTER", how="anti"
    ).is_empty()


def test_pregnant_women_are_not_double_booked(small):
    preg = _pregnancies(small).sort(["PATIENT", "P_START"])
    overlap = preg.with_columns(
        pl.col("P_STOP").shift(1).over("PATIENT").alias("prev_stop")
    ).filter(pl.col("prev_stop").is_not_null() & (pl.col("P_START") <= pl.col("prev_stop")))
    assert overlap.is_empty()


# ---------------------------------------------------------------------------------- calibration
@pytest.mark.slow
def test_calibration_against_nchs_and_table_3(tmp_path):
    tables = generate_tables("prenatal", [MODULE], 20_000, tmp_path, seed=7)
    years = _woman_years(tables["patients"])
    births = _births_by_age(tables)
    total_births = sum(births.values())
    total_years = sum(years.values())
    for band, target in BIRTH_RATE_TARGETS.items():
        rate = 1000 * births[band] / years[band]
        # Rates are per woman-year: the project tolerance (20% or 2 points) on the per-1,000 scale.
        assert abs(rate - target) <= max(0.2 * target, 20.0), (band, rate, target)
        if births[band] >= 300:  # bands with enough births must also meet 20% relative
            assert abs(rate - target) <= 0.2 * target, (band, rate, target)
    # General fertility: births per 1,000 women 15-44 in this cohort against the band targets
    # weighted
    # by the cohort's own woman-years.
    expected = sum(BIRTH_RATE_TARGETS[b] * years[b] for b in years) / total_years
    assert abs(1000 * total_births / total_years - expected) <= 0.1 * expected

    rates = _process_rates(tables)
    assert _within(100 * rates["cesarean"], 32.1), rates
    assert _within(100 * rates["gdm"], 8.1), rates
    assert _within(100 * rates["preeclampsia"], 3.4), rates
    assert _within(100 * rates["preterm"], 10.38), rates
    assert abs(rates["visits_median"] - 12.3) <= 0.2 * 12.3, rates
    assert 9.0 <= rates["visits_mean"] <= 14.0, rates
    assert _within(100 * rates["early_loss_share"], 10.0), rates
