"""The Numba kernel against the slow reference interpreter (tests/naive.py).

For every fixture module (one per state, transition, condition and distribution type)
and for all of them at once, random small cohorts must give identical event logs:
same events, times, states, visits, encounters and reasons, and values equal to the
last bit or within 1e-12 relative (Python's and LLVM's libm may round log/cos apart).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cohortforge.engine.draws import PatientDraws
from cohortforge.engine.life_table import natural_death_times
from cohortforge.engine.module_loader import ModuleLibrary

from .engine_helpers import HORIZON, kernel_event_log, random_patients
from .naive import naive_event_log

FIXTURES = Path(__file__).parent / "fixtures" / "modules"
PARTNERS = {"state_encounter_wellness": ["state_encounter_wellness_source"]}
PARTNER_NAMES = {name for names in PARTNERS.values() for name in names}
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
SEED = 20261126


def cohort(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return random_patients(
        n,
        seed=seed,
        smoker=rng.random(n) < 0.3,
        ckd=rng.integers(0, 4, n).astype(np.float64),
        severity=np.where(rng.random(n) < 0.5, "mild", "severe"),
    )


def assert_same_logs(kernel: pl.DataFrame, naive: pl.DataFrame) -> None:
    assert kernel.columns == naive.columns
    assert kernel.height == naive.height, (kernel.height, naive.height)
    exact = [c for c in kernel.columns if c != "value"]
    # Sort both by the exact columns so values line up before they are compared.
    k = kernel.sort(exact, nulls_last=True)
    n = naive.sort(exact, nulls_last=True)
    mismatched = (
        k.select(exact)
        .with_row_index()
        .join(n.select(exact).with_row_index(), on="index", suffix="_naive")
        .filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_naive")) for c in exact]))
    )
    assert mismatched.height == 0, mismatched.head(5)
    kv = k["value"].to_numpy()
    nv = n["value"].to_numpy()
    both_nan = np.isnan(kv) & np.isnan(nv)
    close = np.isclose(kv, nv, rtol=1e-12, atol=0.0) | both_nan
    assert close.all(), list(zip(kv[~close][:5], nv[~close][:5], strict=True))


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n not in PARTNER_NAMES])
def test_each_fixture_module_matches_the_reference(name):
    library = ModuleLibrary([FIXTURES])
    modules = [library.load(n) for n in [name, *PARTNERS.get(name, [])]]
    people = cohort(60, seed=len(name))
    kernel = kernel_event_log(modules, library, people, SEED)
    naive = naive_event_log(modules, library, people, SEED, HORIZON, natural_death=False)
    assert kernel.height > 0, f"{name} produced no events; the fixture exercises nothing"
    assert_same_logs(kernel, naive)


def test_all_fixtures_together_with_natural_death_match_the_reference():
    library = ModuleLibrary([FIXTURES])
    modules = [library.load(n) for n in FIXTURE_NAMES]
    people = cohort(80, seed=7)
    draws = PatientDraws(SEED, 0, people.height)
    deaths = natural_death_times(
        draws, people["birth_time"].to_numpy(), (people["gender"] == "M").to_numpy()
    )
    kernel = kernel_event_log(modules, library, people, SEED, death_time=deaths)
    naive = naive_event_log(modules, library, people, SEED, HORIZON, natural_death=True)
    assert kernel.filter(pl.col("kind") == "death").height > 0
    assert_same_logs(kernel, naive)


POINT_KINDS = ["encounter_start", "procedure", "observation", "report", "immunization"]


def test_export_window_drops_only_early_point_events():
    """With an export window the kernel skips work nobody reads; what it records must be
    exactly the full log's events minus point events before the window."""
    library = ModuleLibrary()
    modules = [library.load("wellness_encounters"), library.load("immunizations")]
    people = cohort(300, seed=5)
    window = HORIZON - 10 * 365 * 86400
    windowed = kernel_event_log(modules, library, people, SEED, window_start=window)
    full = naive_event_log(modules, library, people, SEED, HORIZON, natural_death=False)
    expected = full.filter(~pl.col("kind").is_in(POINT_KINDS) | (pl.col("time") >= window))
    assert windowed.height < full.height
    assert_same_logs(windowed, expected)
