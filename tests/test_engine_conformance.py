"""Synthea's own module files run on a 10,000-patient cohort with clinical content checked,
modules stay independent of one another, and death ends every module."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.engine.module_schema import RACE_CODES

from .conftest import shared_dir
from .engine_helpers import kernel_event_log, random_patients

SEED = 4242
N = 10_000
CONFORMANCE_MODULES = ["atopy", "asthma", "copd", "hypertension"]
# Attributes the conformance files read but only other Synthea modules set.
MISSING_ATTRIBUTES = (
    "chf",
    "ckd",
    "coronary_heart_disease",
    "microalbuminuria",
    "pregnant",
    "proteinuria",
)


def library() -> ModuleLibrary:
    return ModuleLibrary([shared_dir() / "conformance" / "synthea_modules"])


def cohort(n: int) -> pl.DataFrame:
    """Random patients; as in Synthea, the disease attributes are set (true) for a few
    and nil, not false, for everyone else: modules test some of them with `is not nil`."""
    rng = np.random.default_rng(11)
    attributes = {
        name: pl.Series(name, [True if r < 0.05 else None for r in rng.random(n)], dtype=pl.Boolean)
        for name in MISSING_ATTRIBUTES
    }
    attributes["ckd"] = pl.Series("ckd", rng.integers(0, 3, n).astype(np.float64))
    return random_patients(n, seed=3, smoker=rng.random(n) < 0.2, **attributes)


@pytest.fixture(scope="module")
def conformance_log() -> pl.DataFrame:
    lib = library()
    modules = [
        lib.load(name) for name in ["wellness_encounters", "immunizations", *CONFORMANCE_MODULES]
    ]
    return kernel_event_log(modules, lib, cohort(N), SEED)


def patients_with(log: pl.DataFrame, kind: str, **where) -> set[int]:
    rows = log.filter(pl.col("kind") == kind)
    for column, values in where.items():
        rows = rows.filter(pl.col(column).is_in(values if isinstance(values, list) else [values]))
    return set(rows["patient"].to_list())


def test_asthma_patients_get_inhalers(conformance_log):
    asthmatic = patients_with(conformance_log, "condition_onset", module="asthma")
    inhaled = patients_with(
        conformance_log,
        "medication_start",
        module=["medications/maintenance_inhaler", "medications/emergency_inhaler"],
    )
    assert len(asthmatic) > 200  # roughly 8% of children develop asthma in Synthea's model
    assert asthmatic <= inhaled | patients_with(conformance_log, "death")
    assert inhaled <= asthmatic


def test_copd_patients_get_the_oxygen_devices_the_module_orders(conformance_log):
    copd = patients_with(
        conformance_log, "condition_onset", module="copd", state=["Emphysema", "Chronic_Bronchitis"]
    )
    oxygen = patients_with(
        conformance_log,
        "device_start",
        module="copd",
        state=["Oxygen System", "Portable_Oxygen_System", "Portable_Gaseous_Oxygen"],
    )
    assert len(copd) > 50
    assert oxygen, "no COPD patient reached home oxygen"
    assert oxygen <= copd


def test_hypertension_gets_blood_pressures_and_medication(conformance_log):
    hypertensive = patients_with(conformance_log, "condition_onset", module="hypertension")
    treated = patients_with(
        conformance_log, "medication_start", module="medications/hypertension_medication"
    )
    assert len(hypertensive) > 500
    assert treated and treated <= hypertensive
    readings = conformance_log.filter(
        (pl.col("kind") == "observation")
        & (pl.col("module") == "wellness_encounters")
        & (pl.col("state").str.contains("Blood_Pressure"))
    )
    assert readings.height > 10_000
    assert readings["value"].is_between(30, 250).all()


def test_death_ends_every_module(conformance_log):
    deaths = conformance_log.filter(pl.col("kind") == "death").select(
        "patient", pl.col("time").alias("death")
    )
    assert deaths.height > 0
    after = conformance_log.join(deaths, on="patient").filter(
        (pl.col("kind") != "death") & (pl.col("time") > pl.col("death"))
    )
    assert after.height == 0


def test_removing_a_module_leaves_the_others_events_identical():
    """Hypertension shares no attribute with the asthma modules and kills no one, so
    adding or removing it must not move a single asthma event. (A module with Death
    states, such as copd, legitimately ends other modules' lives early.)"""
    lib = library()
    people = cohort(2_000)
    base = ["wellness_encounters", "immunizations", "atopy", "asthma"]
    without = kernel_event_log([lib.load(n) for n in base], lib, people, SEED)
    with_added = kernel_event_log([lib.load(n) for n in [*base, "hypertension"]], lib, people, SEED)
    asthma_modules = [
        "asthma",
        "atopy",
        "medications/maintenance_inhaler",
        "medications/emergency_inhaler",
    ]
    keep = pl.col("module").is_in(asthma_modules)
    assert without.filter(keep).height > 0
    assert without.filter(keep).equals(with_added.filter(keep))
    # The added module did do something.
    assert with_added.filter(pl.col("module") == "hypertension").height > 0


def test_race_codes_cover_every_scenario_race():
    from cohortforge.scenarios.loader import RACES

    assert set(RACES) == set(RACE_CODES)
