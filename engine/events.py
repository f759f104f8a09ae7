"""Event kinds by name, and the canonical event log (modules/SEMANTICS.md, The event log)."""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import literal_unroll, njit

from cohortforge.kernels.options import JIT_OPTIONS

from .compile import CompiledModel

# Index = the kernel's E_* code (kernels/machine_codes.py).
EVENT_KINDS = (
    "encounter_start",
    "encounter_end",
    "condition_onset",
    "condition_end",
    "allergy_onset",
    "allergy_end",
    "medication_start",
    "medication_end",
    "careplan_start",
    "careplan_end",
    "procedure",
    "observation",
    "report",
    "immunization",
    "device_start",
    "device_end",
    "death",
)


@njit(**JIT_OPTIONS)
def _kind_bounds(kind: np.ndarray, n_kinds: int) -> np.ndarray:
    bounds = np.zeros(n_kinds + 1, dtype=np.int64)
    for k in kind:
        if k < 0 or k >= n_kinds:
            raise ValueError("event kind outside machine_codes' E_* range")
        bounds[k + 1] += 1
    for k in range(n_kinds):
        bounds[k + 1] += bounds[k]
    return bounds


@njit(**JIT_OPTIONS)
def _scatter_by_kind(kind: np.ndarray, bounds: np.ndarray, pairs: tuple) -> None:
    fill = bounds[:-1].copy()
    for row in range(kind.size):
        k = kind[row]
        at = fill[k]
        fill[k] = at + 1
        for pair in literal_unroll(pairs):  # (source, out); unrolled: one type per column
            pair[1][at] = pair[0][row]


def split_by_kind(events: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every event column reordered by kind (stable: event order within a kind), and the
    bounds: the events of kind k are rows bounds[k]:bounds[k + 1] of every column.

    One pass reads each column in order and writes it into its kind's run, so each
    kind's columns are contiguous slices. It replaced a counting sort of row numbers and
    then a gather per kind, whose reads skipped through the columns (most cache lines
    holding other kinds' events). Profiled (cProfile) over the table building of 20,000
    general_population patients: counting sort + gathers 0.093 s, this 0.072 s; the
    tables are byte-identical.
    """
    bounds = _kind_bounds(events["kind"], len(EVENT_KINDS))
    split = {name: np.empty_like(column) for name, column in events.items()}
    # One call per memory layout: a tuple mixing contiguous and strided arrays (run_kernel's
    # int32 columns are views of one row-major block) compiles to a loop ten times slower.
    contiguous = tuple(name for name in events if events[name].flags.c_contiguous)
    strided = tuple(name for name in events if not events[name].flags.c_contiguous)
    for group in (contiguous, strided):
        if group:
            pairs = tuple((events[name], split[name]) for name in group)
            _scatter_by_kind(events["kind"], bounds, pairs)
    return split, bounds


def event_log(
    model: CompiledModel, events: dict[str, np.ndarray], patient_ids: np.ndarray
) -> pl.DataFrame:
    """The kernel's event arrays as the canonical, name-based log, sorted by every column."""
    modules = [info.module for info in model.states] + [None]
    names = [info.name for info in model.states] + [None]
    none = len(model.states)  # index of the null name for state -1

    def name_of(column: np.ndarray, table: list[str | None]) -> pl.Series:
        index = np.where(column < 0, none, column)
        return pl.Series(table, dtype=pl.Utf8).gather(index)

    has_encounter = events["enc_state"] >= 0
    frame = pl.DataFrame(
        {
            "patient": patient_ids[events["patient"]].astype(np.int64),
            "time": events["time"],
            "kind": pl.Series(EVENT_KINDS).gather(events["kind"].astype(np.int64)),
            "module": name_of(events["state"], modules),
            "state": name_of(events["state"], names),
            "visit": events["visit"].astype(np.int32),
            "sub": events["sub"].astype(np.int32),
            "value": events["value"],
            "encounter_module": name_of(events["enc_state"], modules),
            "encounter_state": name_of(events["enc_state"], names),
            "encounter_visit": pl.Series(events["enc_visit"].astype(np.int32)).set(
                pl.Series(~has_encounter), None
            ),
            "reason_module": name_of(events["reason"], modules),
            "reason_state": name_of(events["reason"], names),
        }
    )
    # Natural death has no state: empty, not null, module and state (SEMANTICS.md).
    natural = (pl.col("kind") == "death") & pl.col("state").is_null()
    frame = frame.with_columns(
        pl.when(natural).then(pl.lit("")).otherwise(pl.col("module")).alias("module"),
        pl.when(natural).then(pl.lit("")).otherwise(pl.col("state")).alias("state"),
    )
    return frame.sort(frame.columns, nulls_last=True)
