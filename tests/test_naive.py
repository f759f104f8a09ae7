"""The reference interpreter (tests/naive.py) against hand-computed expectations.

Times are seconds since the epoch; a year is 365 days (SEMANTICS.md "Time"). Draws are
recomputed here straight from kernels/rng.py, so these tests also pin the counter layout
(visit * 64 + slot) the kernel must reproduce.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.engine.streams import stream_key
from cohortforge.kernels.rng import random_uniform
from tests.conftest import shared_dir
from tests.naive import EVENT_SCHEMA, naive_event_log

FIXTURES = Path(__file__).parent / "fixtures" / "modules"
DAY = 86400
MONTH = 30 * DAY
YEAR = 365 * DAY
SEED = 20240607
BIRTH = 946684800  # 2000-01-01
HORIZON_2025 = 1735689600  # 2025-01-01
# Fixture modules that need a partner module to do anything.
PARTNERS = {"state_encounter_wellness": ["state_encounter_wellness_source"]}


def patients(n: int = 1, births=None, genders=None, first_id: int = 0, **columns) -> pl.DataFrame:
    births = [BIRTH] * n if births is None else births
    genders = ["F"] * n if genders is None else genders
    return pl.DataFrame({
        "patient": pl.Series(range(first_id, first_id + n), dtype=pl.Int64),
        "birth_time": pl.Series(births, dtype=pl.Int64),
        "gender": genders,
        "race": ["white"] * n,
        "ethnicity": ["nonhispanic"] * n,
        "income": pl.Series([50_000] * n, dtype=pl.Int64),
        **columns,
    })


def run(names, people, horizon, library=None, **options) -> pl.DataFrame:
    library = library or ModuleLibrary([FIXTURES])
    modules = [library.load(name) for name in names]
    options.setdefault("natural_death", False)
    return naive_event_log(modules, library, people, SEED, horizon, **options)


def uniform(module: str, state: str, patient: int, visit: int, slot: int) -> float:
    key = np.uint64(stream_key(SEED, f"module:{module}:{state}"))
    return float(random_uniform(key, np.uint64(patient), np.uint64(visit * 64 + slot)))


def times(log: pl.DataFrame, **filters) -> list[int]:
    for column, value in filters.items():
        log = log.filter(pl.col(column) == value)
    return sorted(log["time"].to_list())


def write_module(folder: Path, name: str, states: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "states": states}))


def test_log_has_the_documented_columns_and_is_sorted():
    log = run(["state_encounter"], patients(3), BIRTH + 40 * YEAR)
    assert dict(log.schema) == EVENT_SCHEMA
    assert log.equals(log.sort(list(EVENT_SCHEMA)))
    assert log.height > 0


def test_delay_exact_one_year_gives_events_on_each_365_day_birthday():
    log = run(["state_delay_exact"], patients(), BIRTH + 5 * YEAR + 1)
    assert times(log, state="Checkup") == [BIRTH + k * YEAR for k in range(1, 6)]
    assert log["visit"].to_list() == [0, 1, 2, 3, 4]
    # A wake time at the horizon is not run.
    assert times(run(["state_delay_exact"], patients(), BIRTH + 5 * YEAR)) == [
        BIRTH + k * YEAR for k in range(1, 5)
    ]


def test_delay_range_draws_slot_one_of_each_visit():
    log = run(["state_delay_range"], patients(first_id=41), BIRTH + 4 * YEAR)
    expected, t = [], BIRTH
    for visit in range(10):
        months = 6 + uniform("state_delay_range", "Wait", 41, visit, 1) * (18 - 6)
        t += math.floor(months * MONTH)
        expected.append(t)
    expected = [x for x in expected if x < BIRTH + 4 * YEAR]
    assert times(log, state="Review") == expected


def test_counter_reaching_three_starts_a_condition():
    log = run(["state_counter"], patients(), BIRTH + 10 * YEAR)
    assert times(log, kind="condition_onset") == [BIRTH + 3 * YEAR, BIRTH + 6 * YEAR,
                                                  BIRTH + 9 * YEAR]


def test_guard_on_age_18_passes_exactly_at_the_18th_birthday():
    log = run(["state_guard"], patients(), BIRTH + 30 * YEAR)
    assert times(log, state="Adult_Exam") == [BIRTH + 18 * YEAR, BIRTH + 23 * YEAR,
                                              BIRTH + 28 * YEAR]


def test_guard_on_age_greater_than_wakes_one_second_after_the_threshold(tmp_path):
    write_module(tmp_path, "guard_gt", {
        "Initial": {"type": "Initial", "direct_transition": "Wait"},
        "Wait": {"type": "Guard", "allow": {"condition_type": "Age", "operator": ">",
                                            "quantity": 18, "unit": "years"},
                 "direct_transition": "Exam"},
        "Exam": {"type": "Immunization", "codes": [{"system": "CVX", "code": "140"}],
                 "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    log = run(["guard_gt"], patients(), BIRTH + 30 * YEAR, library=ModuleLibrary([tmp_path]))
    assert times(log) == [BIRTH + 18 * YEAR + 1]


def test_guard_passes_when_another_module_sets_its_attribute(tmp_path):
    write_module(tmp_path, "waiter", {
        "Initial": {"type": "Initial", "direct_transition": "Wait"},
        "Wait": {"type": "Guard", "allow": {"condition_type": "Attribute", "attribute": "ready",
                                            "operator": "==", "value": True},
                 "direct_transition": "Shot"},
        "Shot": {"type": "Immunization", "codes": [{"system": "CVX", "code": "140"}],
                 "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    write_module(tmp_path, "setter", {
        "Initial": {"type": "Initial", "direct_transition": "Later"},
        "Later": {"type": "Delay", "exact": {"quantity": 5, "unit": "days"},
                  "direct_transition": "Ready"},
        "Ready": {"type": "SetAttribute", "attribute": "ready", "value": True,
                  "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    log = run(["waiter", "setter"], patients(), BIRTH + YEAR, library=ModuleLibrary([tmp_path]))
    assert times(log, state="Shot") == [BIRTH + 5 * DAY]


def test_distributed_transition_frequencies_over_20000_patients():
    n = 20_000
    log = run(["transition_distributed"], patients(n), BIRTH + YEAR + 1)
    shares = log.filter(pl.col("kind") == "procedure")["state"].value_counts()
    share = {row["state"]: row["count"] / n for row in shares.iter_rows(named=True)}
    # 0.2, 0.5, 0.2 and the missing 0.1 goes to the last option.
    assert share["Option_A"] == pytest.approx(0.2, abs=0.02)
    assert share["Option_B"] == pytest.approx(0.5, abs=0.02)
    assert share["Option_C"] == pytest.approx(0.3, abs=0.02)
    # The attribute-valued probability (0.7) is used, not its default (0.1).
    flu = log.filter(pl.col("kind") == "immunization").height / n
    assert flu == pytest.approx(0.7, abs=0.02)


def test_distributed_choice_is_the_first_option_whose_cumulative_share_exceeds_the_draw():
    log = run(["transition_distributed"], patients(50), BIRTH + YEAR + 1)
    for patient in range(50):
        u = uniform("transition_distributed", "Choose", patient, 0, 0)
        expected = "Option_A" if u < 0.2 else "Option_B" if u < 0.7 else "Option_C"
        chosen = log.filter((pl.col("patient") == patient) & (pl.col("kind") == "procedure"))
        assert chosen["state"].to_list() == [expected]


def test_conditional_transition_with_no_option_holding_takes_the_last_option():
    people = patients(2, genders=["M", "F"])
    log = run(["transition_conditional"], people, BIRTH + 25 * YEAR)
    man = log.filter(pl.col("patient") == 0)
    assert times(man, state="Child_Exam") == [BIRTH + k * YEAR for k in range(1, 18)]
    assert times(man, state="Adult_Exam") == [BIRTH + k * YEAR for k in range(18, 25)]
    woman = log.filter(pl.col("patient") == 1)
    assert times(woman, state="Adult_Exam") == [BIRTH + k * YEAR for k in range(18, 25)]


def test_gaussian_with_round_and_clamps_uses_slots_2_and_34():
    log = run(["distribution_gaussian"], patients(20), BIRTH + YEAR + 1)
    for patient in range(20):
        u1 = uniform("distribution_gaussian", "Draw", patient, 0, 2)
        u2 = uniform("distribution_gaussian", "Draw", patient, 0, 34)
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        value = min(max(5 + 3 * z, 2), 8)
        value = math.copysign(math.floor(abs(value) + 0.5), value)
        row = log.filter((pl.col("patient") == patient) & (pl.col("state") == "Record_Draw"))
        assert row["value"].to_list() == [value]


def test_multi_observation_child_i_draws_from_slot_2_plus_i():
    log = run(["state_multi_observation"], patients(first_id=7), BIRTH + YEAR + 1)
    rows = log.filter(pl.col("state") == "Blood_Pressure").sort("sub")
    systolic = 100 + uniform("state_multi_observation", "Blood_Pressure", 7, 0, 2) * 50
    u1 = uniform("state_multi_observation", "Blood_Pressure", 7, 0, 3)
    u2 = uniform("state_multi_observation", "Blood_Pressure", 7, 0, 35)
    diastolic = 80 + 8 * (math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2))
    assert rows["sub"].to_list() == [0, 1]
    assert rows["value"].to_list() == [systolic, diastolic]
    # The systolic value sets the vital sign the transition reads.
    assert (log.filter(pl.col("state") == "High").height == 1) == (systolic >= 140)


def test_encounter_events_carry_their_encounter_and_reason():
    log = run(["state_encounter"], patients(first_id=3), BIRTH + 60 * YEAR)
    years = 1 + uniform("state_encounter", "Onset_Delay", 3, 0, 1) * 29
    onset = BIRTH + math.floor(years * YEAR)
    first = log.filter(pl.col("time") == onset + YEAR).to_dicts()
    by_state = {row["state"]: row for row in first}
    assert by_state["Followup"]["encounter_state"] == "Followup"
    assert by_state["Followup"]["reason_state"] == "Hypertension"  # by attribute handle
    assert by_state["Screening"]["encounter_state"] == "Followup"
    assert by_state["Screening"]["encounter_visit"] == 0
    assert by_state["Screening"]["reason_state"] == "Hypertension"  # by state name
    assert by_state["End_Followup"]["kind"] == "encounter_end"
    assert by_state["End_Followup"]["encounter_state"] == "Followup"


def test_encounter_end_leaves_later_events_outside_any_encounter():
    log = run(["state_encounter_end"], patients(), BIRTH + YEAR + 1)
    inside = log.filter(pl.col("state") == "Inside").row(0, named=True)
    outside = log.filter(pl.col("state") == "Outside").row(0, named=True)
    assert (inside["encounter_state"], inside["encounter_visit"]) == ("Visit", 0)
    assert outside["encounter_state"] is None
    assert log.filter(pl.col("kind") == "encounter_end").height == 1  # End_Again: nothing open


def test_submodule_events_are_named_by_path_and_belong_to_the_callers_encounter():
    log = run(["state_call_submodule"], patients(), BIRTH + 2 * YEAR + 2 * DAY)
    weight = log.filter(pl.col("state") == "Record_Weight").row(0, named=True)
    height = log.filter(pl.col("state") == "Record_Height").row(0, named=True)
    assert weight["module"] == "submodules/annual_vitals"
    assert weight["time"] == BIRTH + 2 * YEAR
    assert height["time"] == BIRTH + 2 * YEAR + DAY  # the submodule's own Delay
    assert (height["encounter_module"], height["encounter_state"]) == ("state_call_submodule",
                                                                     "Visit")
    end = log.filter(pl.col("kind") == "encounter_end")
    assert end["time"].to_list() == [BIRTH + 2 * YEAR + DAY]


def test_wellness_encounter_joins_the_next_wellness_encounter():
    log = run(["state_encounter_wellness_source", "state_encounter_wellness"], patients(),
              BIRTH + 6 * YEAR)
    screenings = log.filter(pl.col("state") == "Screening")
    # Waiting from birth: joins the encounter at 1 year; then 30 months (900 days) later
    # it waits again and joins the next one, at 4 years (visit 3 of Wellness_Visit).
    assert screenings["time"].to_list() == [BIRTH + YEAR, BIRTH + 4 * YEAR]
    assert screenings["encounter_module"].to_list() == ["state_encounter_wellness_source"] * 2
    assert screenings["encounter_state"].to_list() == ["Wellness_Visit"] * 2
    assert screenings["encounter_visit"].to_list() == [0, 3]
    # The joined encounter is ended only by the module that started it.
    ends = log.filter(pl.col("kind") == "encounter_end")
    assert set(ends["module"]) == {"state_encounter_wellness_source"}


def test_wellness_wait_joins_an_encounter_started_at_the_same_instant(tmp_path):
    write_module(tmp_path, "late_joiner", {
        "Initial": {"type": "Initial", "direct_transition": "Year"},
        "Year": {"type": "Delay", "exact": {"quantity": 1, "unit": "years"},
                 "direct_transition": "Wait"},
        "Wait": {"type": "Encounter", "wellness": True, "direct_transition": "Shot"},
        "Shot": {"type": "Immunization", "codes": [{"system": "CVX", "code": "140"}],
                 "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    library = ModuleLibrary([tmp_path, FIXTURES])
    # Whichever module runs first at the 1-year instant, the joiner joins that encounter
    # (Synthea: modules reaching a wellness state in the encounter's time step join it).
    for names in (["state_encounter_wellness_source", "late_joiner"],
                  ["late_joiner", "state_encounter_wellness_source"]):
        log = run(names, patients(), BIRTH + 3 * YEAR, library=library)
        shot = log.filter(pl.col("state") == "Shot").row(0, named=True)
        assert shot["time"] == BIRTH + YEAR
        assert (shot["encounter_state"], shot["encounter_visit"]) == ("Wellness_Visit", 0)


def test_entries_end_by_attribute_state_name_and_codes():
    log = run(["state_condition_end"], patients(), BIRTH + YEAR + 6 * MONTH + 1)
    ends = log.filter(pl.col("kind") == "condition_end")
    ended = dict(zip(ends["state"], ends["encounter_state"], strict=True))
    assert ended["End_By_Attribute"] == "Onset_A"
    assert ended["End_By_State"] == "Onset_B"
    went_on = uniform("state_condition_end", "End_By_State", 0, 0, 0) < 0.5
    assert ("End_By_Codes" in ended) == went_on
    if went_on:
        assert ended["End_By_Codes"] == "Onset_C"
    assert "End_Again" not in ended  # the entry is no longer active


def test_death_stops_every_module():
    log = run(["state_death_now", "state_delay_exact"], patients(), BIRTH + 40 * YEAR)
    death = BIRTH + 30 * YEAR
    assert times(log, kind="death") == [death]
    assert log.filter(pl.col("kind") == "death")["state"].to_list() == ["Death"]
    assert times(log, state="Checkup") == [BIRTH + k * YEAR for k in range(1, 30)]
    assert log["time"].max() == death


def test_delayed_death_lets_modules_run_until_the_death_time():
    log = run(["state_death", "state_delay_exact"], patients(300, births=[0] * 300),
              HORIZON_2025)
    deaths = log.filter(pl.col("kind") == "death")
    assert deaths.height > 0
    for row in deaths.iter_rows(named=True):
        mine = log.filter(pl.col("patient") == row["patient"])
        onset = mine.filter(pl.col("state") == "Cancer")["time"].item()
        assert onset + YEAR <= row["time"] <= onset + 3 * YEAR
        assert mine["time"].max() == row["time"]
        assert row["reason_state"] == "Cancer"
        # The yearly module is still running right up to the death time.
        assert mine.filter(pl.col("state") == "Checkup")["time"].max() > row["time"] - YEAR


def test_natural_death_from_a_tiny_life_table(tmp_path):
    table = tmp_path / "life_table.csv"
    table.write_text("age,male_qx,female_qx\n0,1.0,1.0\n1,0.5,0.5\n")
    people = patients(30, genders=["F", "M"] * 15)
    log = run(["state_delay_exact"], people, HORIZON_2025, natural_death=True, life_table=table)
    deaths = log.filter(pl.col("kind") == "death")
    assert deaths.height == 30
    key = np.uint64(stream_key(SEED, "patient.natural_death"))
    for row in deaths.iter_rows(named=True):
        u = float(random_uniform(key, np.uint64(row["patient"]), np.uint64(0)))
        # F(0) = 0, F(1) = 1: the age is u years.
        assert row["time"] == BIRTH + math.floor(u * YEAR)
        assert (row["module"], row["state"], row["encounter_state"]) == ("", "", None)
    assert log.filter(pl.col("kind") == "procedure").height == 0  # all die within a year


def test_natural_death_interpolates_within_the_year_and_caps_at_120(tmp_path):
    table = tmp_path / "life_table.csv"
    table.write_text("age,male_qx,female_qx\n0,0.0,0.0\n1,0.0,0.0\n2,0.5,0.0\n")
    people = patients(40, genders=["M"] * 20 + ["F"] * 20, births=[0] * 40)
    log = run(["state_death_now"], people, 2**62, natural_death=True, life_table=table,
              library=None)
    key = np.uint64(stream_key(SEED, "patient.natural_death"))
    deaths = {row["patient"]: row for row in log.filter(pl.col("kind") == "death").to_dicts()}
    for patient in range(20):  # men: F(3) = 0.5, never reaches 1 -> 120 if u >= 0.5
        u = float(random_uniform(key, np.uint64(patient), np.uint64(0)))
        age = 2 + u / 0.5 if u < 0.5 else 120
        natural = math.floor(age * YEAR)
        expected = min(natural, 30 * YEAR)  # state_death_now dies at 30 unless earlier
        assert deaths[patient]["time"] == expected
        assert deaths[patient]["state"] == ("" if natural <= 30 * YEAR else "Death")
    for patient in range(20, 40):  # women: q = 0 everywhere -> 120, so the Death state wins
        assert deaths[patient]["time"] == 30 * YEAR


def test_a_state_entered_over_1000_times_at_one_instant_stops_only_its_module(tmp_path):
    write_module(tmp_path, "loop", {
        "Initial": {"type": "Initial", "direct_transition": "A"},
        "A": {"type": "Counter", "attribute": "spins", "action": "increment",
              "direct_transition": "B"},
        "B": {"type": "Simple", "direct_transition": "A"},
    })
    write_module(tmp_path, "after", {
        "Initial": {"type": "Initial", "direct_transition": "Year"},
        "Year": {"type": "Delay", "exact": {"quantity": 1, "unit": "years"},
                 "conditional_transition": [
                     {"condition": {"condition_type": "Attribute", "attribute": "spins",
                                    "operator": "==", "value": 1000}, "transition": "Shot"}]},
        "Shot": {"type": "Immunization", "codes": [{"system": "CVX", "code": "140"}],
                 "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    log = run(["loop", "after"], patients(), BIRTH + 2 * YEAR, library=ModuleLibrary([tmp_path]))
    assert times(log, state="Shot") == [BIRTH + YEAR]


def test_lookup_table_rows_match_age_gender_and_attributes():
    log = run(["transition_lookup_table"], patients(400, genders=["M", "F"] * 200),
              BIRTH + YEAR + 1)
    for row in log.filter(pl.col("state").is_in(["Low_Dose", "High_Dose", "No_Treatment"])
                          ).iter_rows(named=True):
        patient = row["patient"]
        urban = uniform("transition_lookup_table", "Set_Setting", patient, 0, 0) < 0.6
        level = 0.5 + uniform("transition_lookup_table", "Set_Level", patient, 0, 2) * 2.0
        level = math.floor(level + 0.5)
        male = patient % 2 == 0
        if urban and level == 1:  # rows 0-17 urban 1
            shares = (0.9, 0.0, 0.1) if male else (0.0, 0.9, 0.1)
        else:  # no row matches: the default probabilities
            shares = (0.1, 0.1, 0.8)
        u = uniform("transition_lookup_table", "Choose", patient, 0, 0)
        names = ["Low_Dose", "High_Dose", "No_Treatment"]
        expected = next((n for n, c in zip(names, np.cumsum(shares), strict=True) if u < c),
                        names[-1])
        assert row["state"] == expected


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_runs_on_200_random_patients(path):
    rng = np.random.default_rng(20240607)
    n = 200
    people = pl.DataFrame({
        "patient": pl.Series(np.arange(1000, 1000 + n), dtype=pl.Int64),
        "birth_time": pl.Series(rng.integers(-30 * YEAR, HORIZON_2025 - YEAR, n), dtype=pl.Int64),
        "gender": rng.choice(["M", "F"], n),
        "race": rng.choice(["white", "black", "asian", "native", "hawaiian", "other"], n),
        "ethnicity": rng.choice(["hispanic", "nonhispanic"], n),
        "income": pl.Series(rng.integers(10_000, 200_000, n), dtype=pl.Int64),
    })
    names = [*PARTNERS.get(path.stem, []), path.stem]
    log = run(names, people, HORIZON_2025)
    assert dict(log.schema) == EVENT_SCHEMA
    assert log.filter(pl.col("module") == path.stem).height > 0
    assert (log["time"] < HORIZON_2025).all()


def test_synthea_conformance_modules_run():
    root = shared_dir() / "conformance" / "synthea_modules"
    library = ModuleLibrary([root, FIXTURES])
    people = patients(
        50, births=[BIRTH - 50 * YEAR] * 50, genders=["M", "F"] * 25,
        smoker=[True, False] * 25, chf=[None] * 50, ckd=pl.Series([None] * 50, dtype=pl.Int64),
        coronary_heart_disease=[False] * 50, microalbuminuria=[False] * 50,
        pregnant=[False] * 50, proteinuria=[False] * 50,
        **{"Systolic Blood Pressure": [150.0, 120.0] * 25,
           "Diastolic Blood Pressure": [95.0, 80.0] * 25},
    )
    # Synthea's wellness encounters come from its Java encounter module; the fixture's
    # yearly wellness source stands in for it.
    names = ("state_encounter_wellness_source", "atopy", "asthma", "copd", "hypertension")
    modules = [library.load(name) for name in names]
    log = naive_event_log(modules, library, people, SEED, HORIZON_2025, natural_death=False)
    assert dict(log.schema) == EVENT_SCHEMA
    assert {"asthma", "copd", "hypertension"} <= set(log["module"])
