"""mental_health_integrated_care: clinical invariants on a small cohort, calibration on a large one.

Reference values are from shared/reference/clinical_reference_tables.md, Table 7 (source keys in its
References section):

- [MH1] NIMH "Major Depression" (NSDUH 2021): past-year major depressive episode, adolescents 12-17
  girls 29.2%, boys 11.5%; adults 18-25 18.6%, 26-49 9.3%, 50+ 4.5%; women 10.3%, men 6.2%.
- [MH3] Brody & Hughes, NCHS Data Brief 527 (NHANES Aug 2021-Aug 2023): PHQ-9 >= 10 in 13.1% of
  ages 12+, females 16.0%, males 10.1%, ages 12-19 19.2%, 60+ 8.7%.
- [MH5]/[MH5b] Terlizzi & Zablotsky, NHSR 213 (NHIS 2022): GAD-7 >= 5 in 18.2% of adults; mild
  11.4%, moderate 3.9%, severe 2.8%; men 14.8%, women 21.4%.
- [MH9] MN Community Measurement 2013-2015: remission (PHQ-9 < 5) about 8% of index patients at 6
  months and 6% at 12 months; follow-up PHQ-9 completed in 31-34% at 6 months and 24% at 12 months.
- [MH11] NCS-R: past-year generalized anxiety disorder 2.7% of adults.

Diagnosed depression is compared with the past-year major depressive episode: a patient counts when
a major depressive disorder diagnosis was active at any time in the year before the reference date.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cohortforge.terminology import get_terminology

from .module_harness import coded_rows, generate_tables, wrong_displays

MODULE = "mental_health_integrated_care"
REF = dt.date(2026, 1, 1)
WINDOW_START = REF - dt.timedelta(days=3650)  # years_of_history = 10 (365-day years)
MDD, GAD = "370143000", "21897009"
PHQ9, GAD7 = "44261-6", "70274-6"
DX_CODES = {MDD, GAD}
ANTIDEPRESSANTS = {"312941", "349332", "310385", "313585", "596934"}
SNRIS = {"313585", "596934"}  # venlafaxine ER, duloxetine
CBT, REFERRAL = "228557008", "81294000"
PHONE, FOLLOW_UP, PSYCHOTHERAPY_VISIT = "386472008", "390906007", "18512000"
DAY_OF_YEAR_12 = 12 * 365  # the engine's years are 365 days


def _date(column: str) -> pl.Expr:
    return pl.col(column).dt.date()


def _within(value: float, target: float) -> bool:
    """The project tolerance: 20% relative or 2 percentage points, whichever is larger."""
    return abs(value - target) <= max(0.2 * target, 2.0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    # Adults enriched for depression; their last 10 years include adolescence for the youngest.
    return generate_tables(
        "mental_health", [MODULE], 2000, tmp_path_factory.mktemp("mh_small"), seed=3
    )


# --------------------------------------------------------------------------------------- invariants
def test_every_code_resolves_with_its_official_display(small):
    term = get_terminology()
    survey = small["observations"].filter(pl.col("CATEGORY") == "survey")
    own_encounters = small["encounters"].filter(pl.col("ENCOUNTERCLASS") != "wellness")
    rows = coded_rows(small, encounters=own_encounters, observations=survey)
    assert not wrong_displays(rows)
    codes = {c for _, c, _ in rows}
    # The cohort exercises the whole pathway, so the check above covered every kind of code.
    assert {
        MDD,
        GAD,
        PHQ9,
        GAD7,
        CBT,
        REFERRAL,
        PHONE,
        FOLLOW_UP,
        "718347000",
        "768835002",
    } <= codes
    assert codes & ANTIDEPRESSANTS
    for code in DX_CODES:  # every condition the module starts has its ICD-10-CM target
        assert term.icd10cm(code) in {"F32.9", "F41.1"}


def test_scores_are_integer_totals_in_range_with_units(small):
    survey = small["observations"].filter(pl.col("CATEGORY") == "survey")
    assert set(survey["CODE"].unique()) == {PHQ9, GAD7}
    assert set(survey["UNITS"].unique()) == {"{score}"} and set(survey["TYPE"].unique()) == {
        "numeric"
    }
    scores = survey.with_columns(pl.col("VALUE").cast(pl.Float64).alias("v"))
    assert (scores["v"] == scores["v"].round(0)).all()
    assert not survey["VALUE"].str.starts_with("-").any()
    for code, top in ((PHQ9, 27), (GAD7, 21)):
        v = scores.filter(pl.col("CODE") == code)["v"]
        assert (
            v.min() == 0 and v.max() <= top and v.max() >= 15
        )  # whole range in use, never outside
    ours = small["observations"].filter(pl.col("CODE").is_in([PHQ9, GAD7]))
    assert ours.height == survey.height  # every PHQ-9 / GAD-7 is a survey observation


def test_no_screening_before_age_12(small):
    births = small["patients"].select(pl.col("Id").alias("PATIENT"), "BIRTHDATE")
    scores = (
        small["observations"].filter(pl.col("CODE").is_in([PHQ9, GAD7])).join(births, on="PATIENT")
    )
    age_days = (_date("DATE") - pl.col("BIRTHDATE")).dt.total_days()
    assert scores.height > 0
    assert scores.select(age_days.min()).item() >= DAY_OF_YEAR_12


def test_each_diagnosis_follows_a_positive_score_at_the_same_visit(small):
    conditions = small["conditions"].filter(pl.col("START") >= WINDOW_START)
    obs = small["observations"].select(
        "ENCOUNTER", "CODE", pl.col("VALUE").cast(pl.Float64).alias("v")
    )
    for dx, score in ((MDD, PHQ9), (GAD, GAD7)):
        onsets = conditions.filter(pl.col("CODE") == dx)
        assert onsets.height > 20
        at_visit = onsets.join(obs.filter(pl.col("CODE") == score), on="ENCOUNTER", how="left")
        best = at_visit.group_by("PATIENT", "START").agg(pl.col("v").max())
        assert best["v"].null_count() == 0 and (best["v"] >= 10).all()


def test_one_episode_at_a_time_and_every_end_has_its_reason(small):
    conditions = small["conditions"]
    scores = (
        small["observations"]
        .filter(pl.col("CODE").is_in([PHQ9, GAD7]))
        .select(
            "PATIENT",
            "CODE",
            _date("DATE").alias("day"),
            pl.col("VALUE").cast(pl.Float64).alias("v"),
        )
    )
    for dx, score in ((MDD, PHQ9), (GAD, GAD7)):
        rows = conditions.filter(pl.col("CODE") == dx).sort("PATIENT", "START")
        nxt = rows.with_columns(pl.col("START").shift(-1).over("PATIENT").alias("next_start"))
        overlapping = nxt.filter(
            pl.col("next_start").is_not_null()
            & (pl.col("STOP").is_null() | (pl.col("next_start") < pl.col("STOP")))
        )
        assert overlapping.height == 0
        ended = rows.filter(pl.col("STOP").is_not_null())
        assert ended.height > 20
        low = (
            scores.filter((pl.col("CODE") == score) & (pl.col("v") < 10))
            .select("PATIENT", pl.col("day").alias("STOP"))
            .unique()
            .with_columns(pl.lit(True).alias("low"))
        )
        ended = ended.join(low, on=["PATIENT", "STOP"], how="left")
        # A diagnosis only ends at a contact documenting a score below 10 (remission < 5, response).
        assert ended["low"].null_count() == 0


def test_antidepressants_are_for_a_diagnosis_inside_the_care_plan(small):
    meds = small["medications"]
    assert meds.height > 20 and set(meds["CODE"].unique()) <= ANTIDEPRESSANTS
    assert set(meds["REASONCODE"].unique()) <= DX_CODES
    recent = meds.filter(_date("START") >= WINDOW_START)
    dx = small["conditions"].select(
        "PATIENT",
        "ENCOUNTER",
        pl.col("CODE").alias("REASONCODE"),
        pl.lit(True).alias("diagnosed_here"),
    )
    joined = recent.join(dx, on=["PATIENT", "ENCOUNTER", "REASONCODE"], how="left")
    assert (
        joined["diagnosed_here"].null_count() == 0
    )  # started at the visit that made the diagnosis

    births = small["patients"].select(pl.col("Id").alias("PATIENT"), "BIRTHDATE")
    age_days = (_date("START") - pl.col("BIRTHDATE")).dt.total_days()
    teens = recent.join(births, on="PATIENT").filter(age_days < 18 * 365)
    assert (
        teens.height > 0 and not set(teens["CODE"]) & SNRIS
    )  # adolescents get SSRIs only (GLAD-PC)

    plans = small["careplans"].select(
        "PATIENT", pl.col("START").alias("p_start"), pl.col("STOP").alias("p_stop")
    )
    assert set(small["careplans"]["REASONCODE"].unique()) <= DX_CODES
    inside = recent.join(plans, on="PATIENT").filter(
        (pl.col("p_start") <= _date("START"))
        & (
            pl.col("p_stop").is_null()
            | (pl.col("STOP").is_not_null() & (pl.col("p_stop") >= _date("STOP")))
        )
    )
    assert (
        inside.select("PATIENT", "START").unique().height
        == recent.select("PATIENT", "START").unique().height
    )

    # An antidepressant still running at the reference date belongs to an active disorder or to an
    # episode diagnosed within the last year (treatment continues after remission to 12 months).
    active_dx = small["conditions"].filter(
        pl.col("STOP").is_null() | (pl.col("START") >= REF - dt.timedelta(days=366))
    )
    running = meds.filter(pl.col("STOP").is_null()).select("PATIENT").unique()
    assert running.join(active_dx.select("PATIENT").unique(), on="PATIENT", how="anti").height == 0


def test_psychotherapy_sessions_follow_a_referral_within_the_acute_phase(small):
    procedures = small["procedures"]
    sessions = procedures.filter(pl.col("CODE") == CBT)
    assert sessions.height > 20 and set(sessions["REASONCODE"].unique()) <= DX_CODES
    minutes = (pl.col("STOP") - pl.col("START")).dt.total_minutes()
    assert sessions.select(minutes.is_between(45, 60).all()).item()
    visits = small["encounters"].select(
        pl.col("Id").alias("ENCOUNTER"), "ENCOUNTERCLASS", pl.col("CODE").alias("ECODE")
    )
    at = sessions.join(visits, on="ENCOUNTER")
    assert set(at["ENCOUNTERCLASS"]) == {"outpatient"} and set(at["ECODE"]) == {PSYCHOTHERAPY_VISIT}
    referrals = procedures.filter(pl.col("CODE") == REFERRAL).select(
        "PATIENT", _date("START").alias("referred")
    )
    checked = sessions.filter(_date("START") >= WINDOW_START + dt.timedelta(days=90))
    paired = checked.join(referrals, on="PATIENT").filter(
        ((_date("START") - pl.col("referred")).dt.total_days()).is_between(7, 86)
    )
    assert paired.select("PATIENT", "START").unique().height == checked.height


def test_follow_up_contacts_only_after_a_diagnosis_and_on_schedule(small):
    encounters = small["encounters"].filter(pl.col("CODE").is_in([PHONE, FOLLOW_UP]))
    assert set(encounters["REASONCODE"].unique()) <= DX_CODES
    checked = encounters.filter(_date("START") >= WINDOW_START + dt.timedelta(days=400))
    onsets = small["conditions"].select(
        "PATIENT", pl.col("CODE").alias("REASONCODE"), pl.col("START").alias("onset")
    )
    since = (_date("START") - pl.col("onset")).dt.total_days()
    after = checked.join(onsets, on=["PATIENT", "REASONCODE"]).filter(since >= 0)
    assert after.select("Id").unique().height == checked.height
    # The care-manager telephone contact is the 4-8 week follow-up of the episode that precedes it.
    phone = after.filter(pl.col("CODE") == PHONE).group_by("Id").agg(since.min().alias("days"))
    assert phone.height > 20 and phone["days"].is_between(28, 57).all()


def test_no_phq9_at_the_preventive_visit_within_14_months_of_a_diagnosis(small):
    # USPSTF screens patients without a diagnosed depression; the PHQ-9 of the CMS159 window
    # (12 months +/- 60 days) is the care team's 12-month measurement, not a preventive screen.
    onsets = (
        small["conditions"]
        .filter((pl.col("CODE") == MDD) & (pl.col("START") >= WINDOW_START))
        .select("PATIENT", pl.col("START").alias("onset"))
    )
    wellness = small["encounters"].filter(pl.col("ENCOUNTERCLASS") == "wellness")
    visits = onsets.join(
        wellness.select("PATIENT", pl.col("Id").alias("ENCOUNTER"), _date("START").alias("day")),
        on="PATIENT",
    ).filter(
        # within 420 days (14 engine months) of the diagnosis; day 0 is the diagnosing visit
        (pl.col("day") - pl.col("onset")).dt.total_days().is_between(1, 419)
    )
    scores = small["observations"].select("ENCOUNTER", "CODE")
    taken = visits.join(scores, on="ENCOUNTER")
    assert taken.filter(pl.col("CODE") == PHQ9).height == 0
    assert taken.filter(pl.col("CODE") == GAD7).height > 20  # the GAD-7 screen still takes place


# ------------------------------------------------------------------------------------ calibration
TARGET_MDD = {  # past-year MDE [MH1]; adult age x sex computed with the women/men ratio 10.3/6.2
    ("12-17", "F"): 29.2,
    ("12-17", "M"): 11.5,
    ("18-25", "F"): 23.3,
    ("18-25", "M"): 14.0,  # 18.6 x 1.25 / x 0.75 (female share 0.49)
    ("26-49", "F"): 11.6,
    ("26-49", "M"): 7.0,  # 9.3 x 1.25 / x 0.75
    ("50+", "F"): 5.5,
    ("50+", "M"): 3.3,  # 4.5 with female share 0.535
}
# 2.7% past-year GAD [MH11] x the NHIS 2022 GAD-7 >= 5 gradients [MH5]: age 26.6/20.7/15.8/11.2 and
# sex 21.4 (women) / 14.8 (men), each relative to 18.2.
TARGET_GAD = {
    ("18-29", "F"): 4.6,
    ("18-29", "M"): 3.2,
    ("30-44", "F"): 3.6,
    ("30-44", "M"): 2.5,
    ("45-64", "F"): 2.8,
    ("45-64", "M"): 1.9,
    ("65+", "F"): 2.0,
    ("65+", "M"): 1.3,
}


def _band(age: pl.Expr, edges: list[tuple[int, int, str]]) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.Utf8)
    for low, high, label in edges:
        expr = pl.when((age >= low) & (age < high)).then(pl.lit(label)).otherwise(expr)
    return expr


def _past_year_prevalence(tables, code, edges):
    alive = tables["patients"].filter(pl.col("DEATHDATE").is_null())
    people = alive.select(
        pl.col("Id").alias("PATIENT"),
        "GENDER",
        _band((pl.lit(REF) - pl.col("BIRTHDATE")).dt.total_days() / 365, edges).alias("band"),
    )
    cases = (
        tables["conditions"]
        .filter(
            (pl.col("CODE") == code)
            & (pl.col("START") <= REF)
            & (pl.col("STOP").is_null() | (pl.col("STOP") >= REF - dt.timedelta(days=365)))
        )
        .select("PATIENT")
        .unique()
        .with_columns(pl.lit(1.0).alias("case"))
    )
    rates = (
        people.join(cases, on="PATIENT", how="left")
        .fill_null(0.0)
        .filter(pl.col("band").is_not_null())
    )
    rates = rates.group_by("band", "GENDER").agg((pl.col("case").mean() * 100).alias("pct"))
    return {(b, g): pct for b, g, pct in rates.rows()}


@pytest.mark.slow
def test_calibration_against_table_7(tmp_path):
    tables = generate_tables("general_population", [MODULE], 20_000, tmp_path, seed=1)
    misses = []

    mdd = _past_year_prevalence(
        tables, MDD, [(12, 18, "12-17"), (18, 26, "18-25"), (26, 50, "26-49"), (50, 200, "50+")]
    )
    gad = _past_year_prevalence(
        tables, GAD, [(18, 30, "18-29"), (30, 45, "30-44"), (45, 65, "45-64"), (65, 200, "65+")]
    )
    for name, got, targets in (("MDD", mdd, TARGET_MDD), ("GAD", gad, TARGET_GAD)):
        misses += [
            (name, key, round(got[key], 2), ref)
            for key, ref in targets.items()
            if not _within(got[key], ref)
        ]

    # Score distribution at preventive visits: PHQ-9 >= 10 [MH3], GAD-7 severity [MH5]/[MH5b].
    wellness = (
        tables["encounters"]
        .filter(pl.col("ENCOUNTERCLASS") == "wellness")
        .select(pl.col("Id").alias("ENCOUNTER"))
    )
    people = tables["patients"].select(pl.col("Id").alias("PATIENT"), "GENDER", "BIRTHDATE")
    scores = (
        tables["observations"]
        .filter(pl.col("CODE").is_in([PHQ9, GAD7]))
        .join(wellness, on="ENCOUNTER")
    )
    scores = scores.join(people, on="PATIENT").with_columns(
        pl.col("VALUE").cast(pl.Float64).alias("v"),
        ((_date("DATE") - pl.col("BIRTHDATE")).dt.total_days() / 365).alias("age"),
    )
    phq = scores.filter(pl.col("CODE") == PHQ9)
    share = {"all": (phq["v"] >= 10).mean() * 100}
    for sex in ("F", "M"):
        share[sex] = (phq.filter(pl.col("GENDER") == sex)["v"] >= 10).mean() * 100
    teens = phq.filter(pl.col("age") < 20)
    share["12-19"] = (teens["v"] >= 10).mean() * 100
    share["60+"] = (phq.filter(pl.col("age") >= 60)["v"] >= 10).mean() * 100
    for key, ref in (("all", 13.1), ("F", 16.0), ("M", 10.1), ("12-19", 19.2), ("60+", 8.7)):
        if not _within(share[key], ref):
            misses.append(("PHQ-9>=10", key, round(share[key], 2), ref))
    gad7 = scores.filter((pl.col("CODE") == GAD7) & (pl.col("age") >= 18))["v"]
    for label, got, ref in (
        ("GAD-7>=5", (gad7 >= 5).mean() * 100, 18.2),
        ("GAD-7 5-9", ((gad7 >= 5) & (gad7 < 10)).mean() * 100, 11.4),
        ("GAD-7 10-14", ((gad7 >= 10) & (gad7 < 15)).mean() * 100, 3.9),
        ("GAD-7 15+", (gad7 >= 15).mean() * 100, 2.8),
    ):
        if not _within(got, ref):
            misses.append((label, "adults", round(got, 2), ref))

    # Remission and follow-up of index episodes (PHQ-9 at the 6- and 12-month visits) [MH9].
    onsets = (
        tables["conditions"]
        .filter(
            (pl.col("CODE") == MDD)
            & pl.col("START").is_between(WINDOW_START, REF - dt.timedelta(days=430))
        )
        .select("PATIENT", pl.col("START").alias("onset"))
    )
    visits = (
        tables["encounters"]
        .filter(pl.col("CODE") == FOLLOW_UP)
        .select(pl.col("Id").alias("ENCOUNTER"))
    )
    follow = (
        tables["observations"]
        .filter(pl.col("CODE") == PHQ9)
        .join(visits, on="ENCOUNTER")
        .select("PATIENT", _date("DATE").alias("day"), pl.col("VALUE").cast(pl.Float64).alias("v"))
    )
    episodes = onsets.join(follow, on="PATIENT").with_columns(
        (pl.col("day") - pl.col("onset")).dt.total_days().alias("d")
    )
    n = onsets.height
    assert n > 1000
    for label, low, high, done_ref, remit_ref in (
        ("6 months", 170, 190, 32.5, 8.0),
        ("12 months", 350, 370, 24.0, 6.0),
    ):
        measured = episodes.filter(pl.col("d").is_between(low, high))
        done, remitted = measured.height / n * 100, (measured["v"] < 5).sum() / n * 100
        if not _within(done, done_ref):
            misses.append(("PHQ-9 follow-up", label, round(done, 2), done_ref))
        if not _within(remitted, remit_ref):
            misses.append(("remission", label, round(remitted, 2), remit_ref))

    # CMS159 as the fidelity report counts it [MH8]: the latest PHQ-9 of any encounter 12 months
    # +/- 60 days after the index; index patients without one are not remitted [MH9].
    deaths = tables["patients"].select(pl.col("Id").alias("PATIENT"), "DEATHDATE")
    alive = pl.col("DEATHDATE").is_null() | (
        pl.col("DEATHDATE") > pl.col("onset") + dt.timedelta(days=425)
    )
    index = onsets.join(deaths, on="PATIENT").filter(alive)
    any_phq = (
        tables["observations"]
        .filter(pl.col("CODE") == PHQ9)
        .select("PATIENT", "DATE", pl.col("VALUE").cast(pl.Float64).alias("v"))
    )
    days = (_date("DATE") - pl.col("onset")).dt.total_days()
    latest = (
        index.join(any_phq, on="PATIENT")
        .filter(days.is_between(305, 425))
        .sort("DATE", "v")
        .group_by("PATIENT", "onset")
        .agg(pl.col("v").last())
    )
    for label, got, ref in (
        ("PHQ-9 in the CMS159 window", latest.height / index.height * 100, 24.0),
        ("CMS159 remission", (latest["v"] < 5).sum() / index.height * 100, 6.0),
    ):
        if not _within(got, ref):
            misses.append((label, "12 months +/- 60 days", round(got, 2), ref))
    assert not misses
