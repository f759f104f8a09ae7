"""Shared helpers for engine tests: small cohorts and event logs through the real kernel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from cohortforge.engine.compile import compile_modules
from cohortforge.engine.events import event_log
from cohortforge.engine.module_loader import ModuleFile, ModuleLibrary
from cohortforge.engine.module_schema import RACE_CODES
from cohortforge.engine.simulate import (
    PatientInputs,
    initial_attributes,
    run_kernel,
    ses_category,
)
from cohortforge.kernels.machine import FOREVER, NEVER

DAY = 86400
YEAR = 365 * DAY
HORIZON = 20_454 * DAY  # 2026-01-01


def random_patients(n: int, seed: int = 0, first_id: int = 0, **attributes) -> pl.DataFrame:
    """A patients frame in the reference interpreter's layout (tests/naive.py)."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "patient": np.arange(first_id, first_id + n, dtype=np.int64),
            "birth_time": (HORIZON - rng.integers(0, 95 * 365, n) * DAY).astype(np.int64),
            "gender": np.where(rng.random(n) < 0.5, "M", "F"),
            "race": rng.choice(list(RACE_CODES), n),
            "ethnicity": np.where(rng.random(n) < 0.19, "hispanic", "nonhispanic"),
            "income": rng.integers(5_000, 250_000, n).astype(np.int64),
        }
    )
    for name, values in attributes.items():
        frame = frame.with_columns(pl.Series(name, values))
    return frame


def kernel_run(
    modules: Sequence[ModuleFile],
    library: ModuleLibrary,
    patients: pl.DataFrame,
    seed: int,
    horizon: int = HORIZON,
    death_time: np.ndarray | None = None,
    window_start: int = int(NEVER),
) -> tuple[pl.DataFrame, int]:
    """Run the compiled kernel on a patients frame: the canonical event log and the
    kernel's flags (machine.FLAG_*).

    With a `window_start`, point events before it are not recorded (as in real runs)."""
    model = compile_modules(modules, library, seed)
    n = patients.height
    base = {"patient", "birth_time", "gender", "race", "ethnicity", "income"}
    extra = {name: patients[name] for name in patients.columns if name not in base}
    slots, values, types = initial_attributes(model, extra, n)
    inputs = PatientInputs(
        patient_ids=patients["patient"].to_numpy().astype(np.uint64),
        birth_time=patients["birth_time"].to_numpy(),
        is_male=(patients["gender"] == "M").to_numpy().astype(np.int8),
        race=patients["race"].replace_strict(RACE_CODES, return_dtype=pl.Int8).to_numpy(),
        hispanic=(patients["ethnicity"] == "hispanic").to_numpy().astype(np.int8),
        ses=ses_category(patients["income"].to_numpy()).astype(np.int8),
        death_time=np.full(n, FOREVER, np.int64) if death_time is None else death_time,
        init_slots=slots,
        init_values=values,
        init_types=types,
    )
    events, _, flags, _, _ = run_kernel(model, inputs, horizon, window_start)
    return event_log(model, events, inputs.patient_ids), flags


def kernel_event_log(*args, **kwargs) -> pl.DataFrame:
    """kernel_run's event log (same arguments), for runs that must raise no flag."""
    log, flags = kernel_run(*args, **kwargs)
    assert flags == 0, f"kernel flags {flags}"
    return log


def fixture_library(*extra: Path) -> ModuleLibrary:
    return ModuleLibrary(list(extra))
