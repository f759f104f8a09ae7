"""Running the compiled model over a block of patients: inputs in, event arrays out."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from cohortforge.kernels import machine
from cohortforge.kernels import machine_codes as mc

from .compile import CompiledModel
from .events import events_by_kind
from .module_schema import SES_HIGH_INCOME_FROM, SES_LOW_INCOME_BELOW

BLOCK_SIZE = 256
# Numba's default threading layer must not be entered from two Python threads at once;
# the chunk runner's worker threads take turns in the (all-core, prange) kernel.
_KERNEL_LOCK = threading.Lock()


class _OutputBuffers:
    """The kernel's output arrays, kept from chunk to chunk (used under _KERNEL_LOCK).

    A chunk's output is a few hundred MB; fresh arrays each chunk meant fresh pages,
    which the OS zeroes on first touch (page zeroing was ~10% of a run's CPU samples).
    Reused arrays are already mapped. Events are copied out before the lock is released.
    """

    def __init__(self) -> None:
        self.i32 = np.empty((0, 8), np.int32)
        self.time = np.empty(0, np.int64)
        self.value = np.empty(0, np.float64)

    def views(self, total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.time.size < total:
            self.i32 = np.empty((total, 8), np.int32)
            self.time = np.empty(total, np.int64)
            self.value = np.empty(total, np.float64)
        return self.i32[:total], self.time[:total], self.value[:total]


_OUTPUT = _OutputBuffers()


def release_output_buffers() -> None:
    """Drop the kept output arrays (a run calls this when it ends)."""
    global _OUTPUT
    with _KERNEL_LOCK:
        _OUTPUT = _OutputBuffers()


@dataclass(frozen=True)
class PatientInputs:
    """Per-patient inputs of the kernel, as aligned NumPy arrays."""

    patient_ids: np.ndarray  # uint64 global ids (RNG counters)
    birth_time: np.ndarray  # int64 seconds
    is_male: np.ndarray  # int8
    race: np.ndarray  # int8
    hispanic: np.ndarray  # int8
    ses: np.ndarray  # int8: 0 low, 1 middle, 2 high
    death_time: np.ndarray  # int64 natural death (or FOREVER)
    init_slots: np.ndarray  # int32[K] attribute slots given initial values
    init_values: np.ndarray  # float64[P, K]
    init_types: np.ndarray  # int8[P, K]


class KernelRun(NamedTuple):
    # events.EVENT_COLUMNS, ordered by kind: kind k's events are rows
    # kind_bounds[k]:kind_bounds[k + 1], in patient order (events.events_by_kind).
    events: dict[str, np.ndarray]
    kind_bounds: np.ndarray
    flags: int
    events_per_patient: float
    seconds: float


def ses_category(income: np.ndarray) -> np.ndarray:
    return np.where(
        income < SES_LOW_INCOME_BELOW, 0, np.where(income >= SES_HIGH_INCOME_FROM, 2, 1)
    )


def initial_attributes(
    model: CompiledModel, attributes: dict[str, pl.Series], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slots, values and types for the attributes that patients start with.

    Only attributes some module reads are passed; text values are interned like module
    constants, so `== "value"` conditions compare equal.
    """
    slots, values, types = [], [], []
    texts = {text: index for index, text in enumerate(model.texts)}
    for name, series in attributes.items():
        if name not in model.attribute_names:
            continue
        slots.append(model.attribute_names.index(name))
        is_null = series.is_null().to_numpy()
        if series.dtype == pl.Utf8:
            mapped = series.replace_strict(texts, default=-1, return_dtype=pl.Float64)
            value = mapped.fill_null(-1).to_numpy().astype(np.float64)
            kind = np.where(is_null, mc.T_NIL, mc.T_TEXT)
        elif series.dtype == pl.Boolean:
            value = series.cast(pl.Float64).fill_null(0.0).to_numpy()
            kind = np.where(is_null, mc.T_NIL, mc.T_BOOL)
        else:
            value = series.cast(pl.Float64).fill_null(0.0).to_numpy()
            kind = np.where(is_null, mc.T_NIL, mc.T_NUMBER)
        values.append(value)
        types.append(kind.astype(np.int8))
    if not slots:
        return np.zeros(0, np.int32), np.zeros((n, 0)), np.zeros((n, 0), np.int8)
    return (
        np.array(slots, dtype=np.int32),
        np.ascontiguousarray(np.stack(values, axis=1)),
        np.ascontiguousarray(np.stack(types, axis=1)),
    )


def run_kernel(
    model: CompiledModel,
    inputs: PatientInputs,
    horizon: int,
    window_start: int,
    events_per_patient: float = 64.0,
) -> KernelRun:
    """Simulate every patient: the event columns (by kind, then patient), the kernel's flags,
    the events-per-patient estimate that was big enough (to start the next batch with)
    and the seconds spent in the kernel itself."""
    n = inputs.patient_ids.size
    n_blocks = max(1, -(-n // BLOCK_SIZE))
    estimate = max(16.0, events_per_patient)
    kernel_seconds = 0.0  # inside the lock only: waiting for it is not kernel time
    while True:
        capacity = int(estimate * BLOCK_SIZE * 1.25) + 64
        counts = np.zeros(n_blocks, np.int64)
        flags = np.zeros(n_blocks, np.int64)
        with _KERNEL_LOCK:
            out_i32, out_time, out_value = _OUTPUT.views(capacity * n_blocks)
            started = time.perf_counter()
            machine.simulate_cohort(
                model.kernel,
                inputs.patient_ids,
                inputs.birth_time,
                inputs.is_male,
                inputs.race,
                inputs.hispanic,
                inputs.ses,
                inputs.death_time,
                inputs.init_slots,
                inputs.init_values,
                inputs.init_types,
                np.int64(horizon),
                np.int64(window_start),
                BLOCK_SIZE,
                capacity,
                out_i32,
                out_time,
                out_value,
                counts,
                flags,
            )
            kernel_seconds += time.perf_counter() - started
            if not (flags & machine.FLAG_OVERFLOW).any():
                # Copy each block's written prefix out, by kind and in block (so
                # patient) order within a kind, before another chunk may reuse the arrays.
                starts = np.arange(n_blocks, dtype=np.int64) * capacity
                events, kind_bounds = events_by_kind(out_i32, out_time, out_value, starts, counts)
                break
        # A block ran out of room: rerun with twice the room. The events do not depend
        # on the capacity, only the memory does.
        estimate *= 2
    return KernelRun(
        events, kind_bounds, int(np.bitwise_or.reduce(flags)), estimate, kernel_seconds
    )
