"""Event kinds by name, and the canonical event log (modules/SEMANTICS.md, The event log)."""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

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


# The event columns run_kernel returns, with their types, in the order _scatter_by_kind
# fills them.
EVENT_COLUMNS = {
    "patient": np.int32,
    "time": np.int64,
    "kind": np.int8,
    "state": np.int32,
    "visit": np.int32,
    "sub": np.int16,
    "value": np.float64,
    "enc_state": np.int32,
    "enc_visit": np.int32,
    "reason": np.int32,
}


@njit(**JIT_OPTIONS)
def _kind_bounds(out_i32: np.ndarray, starts: np.ndarray, counts: np.ndarray, n_kinds: int):
    bounds = np.zeros(n_kinds + 1, dtype=np.int64)
    for block in range(starts.size):
        for row in range(starts[block], starts[block] + counts[block]):
            k = out_i32[row, 1]
            if k < 0 or k >= n_kinds:
                raise ValueError("event kind outside machine_codes' E_* range")
            bounds[k + 1] += 1
    for k in range(n_kinds):
        bounds[k + 1] += bounds[k]
    return bounds


@njit(**JIT_OPTIONS)
def _scatter_by_kind(out_i32, out_time, out_value, starts, counts, bounds, columns) -> None:
    patient, time, kind, state, visit, sub, value, enc_state, enc_visit, reason = columns
    fill = bounds[:-1].copy()
    for block in range(starts.size):
        for row in range(starts[block], starts[block] + counts[block]):
            k = out_i32[row, 1]
            at = fill[k]
            fill[k] = at + 1
            patient[at] = out_i32[row, 0]
            kind[at] = k
            state[at] = out_i32[row, 2]
            visit[at] = out_i32[row, 3]
            sub[at] = out_i32[row, 4]
            enc_state[at] = out_i32[row, 5]
            enc_visit[at] = out_i32[row, 6]
            reason[at] = out_i32[row, 7]
            time[at] = out_time[row]
            value[at] = out_value[row]


def events_by_kind(
    out_i32: np.ndarray,
    out_time: np.ndarray,
    out_value: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The kernel's events as columns ordered by kind, and the bounds: the events of
    kind k are rows bounds[k]:bounds[k + 1] of every column, in the kernel's order
    (so patient order) within a kind.

    The kernel writes each block's events as rows of 8 int32 (patient, kind, state,
    visit, sub, enc_state, enc_visit, reason; kernels/machine.py `_emit`) plus a time
    and a value, rows [starts[b], starts[b] + counts[b]) for block b. One pass over
    those rows writes each into its kind's run, so each kind's columns are contiguous
    slices for the table builders. It replaced a gather of every block's rows into
    event-ordered columns followed by a scatter by kind (a second full copy of the
    events, into freshly faulted pages).
    """
    bounds = _kind_bounds(out_i32, starts, counts, len(EVENT_KINDS))
    total = int(bounds[-1])
    columns = {name: np.empty(total, dtype) for name, dtype in EVENT_COLUMNS.items()}
    _scatter_by_kind(out_i32, out_time, out_value, starts, counts, bounds, tuple(columns.values()))
    return columns, bounds


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
