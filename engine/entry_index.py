"""Events found by the entry they name: (patient, state, visit).

The kernel names every entry (an encounter, a condition, a panel) by the patient, the
state that started it and the state's visit counter, and rows that refer to an entry
(its end event, the observations recorded in an encounter) carry the same triple. The
table builder pairs them up constantly; a hash join on three columns does it, but moves
every column through hash tables. Here the triple is packed into one int64 (patient
first), the entries are sorted once, and each lookup is a binary search inside its own
patient's few entries, which stay in cache because rows come patient by patient. The
result is a row number, so no other column moves until the caller gathers by it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cohortforge.kernels.options import JIT_OPTIONS

NO_ROW = -1


@njit(**JIT_OPTIONS)
def _pack(
    patient: np.ndarray,
    state: np.ndarray,
    visit: np.ndarray,
    n_patients: int,
    n_states: int,
    visit_span: int,
) -> np.ndarray:
    """Packed keys; NO_ROW where a negative state or visit (the kernel's "none") names
    no entry."""
    keys = np.empty(patient.size, dtype=np.int64)
    for i in range(patient.size):
        p = np.int64(patient[i])
        s = np.int64(state[i])
        v = np.int64(visit[i])
        if p < 0 or p >= n_patients or s < 0 or s >= n_states or v < 0 or v >= visit_span:
            keys[i] = NO_ROW
        else:
            keys[i] = (p * n_states + s) * visit_span + v
    return keys


@njit(**JIT_OPTIONS)
def _patient_bounds(keys: np.ndarray, per_patient: int, n_patients: int) -> np.ndarray:
    """bounds[p]:bounds[p+1] is patient p's slice of keys sorted patient-first, where a
    key's patient is key // per_patient."""
    bounds = np.zeros(n_patients + 1, dtype=np.int64)
    for key in keys:
        bounds[np.int64(key) // per_patient + 1] += 1
    for p in range(n_patients):
        bounds[p + 1] += bounds[p]
    return bounds


@njit(**JIT_OPTIONS)
def _search(keys: np.ndarray, found_rows: np.ndarray, bounds: np.ndarray, p: int, key: int) -> int:
    """The row of `key` among patient p's sorted keys, or NO_ROW."""
    lo = bounds[p]
    hi = bounds[p + 1]
    # Most lookups that miss (end events of entries from before the export window) fall
    # outside the patient's key range: two compares instead of a search.
    if lo == hi or key < keys[lo] or key > keys[hi - 1]:
        return NO_ROW
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return found_rows[lo] if keys[lo] == key else NO_ROW


@njit(**JIT_OPTIONS)
def _find(
    patient: np.ndarray,
    state: np.ndarray,
    visit: np.ndarray,
    n_states: int,
    visit_span: int,
    keys: np.ndarray,
    found_rows: np.ndarray,
    bounds: np.ndarray,
) -> np.ndarray:
    found = np.empty(patient.size, dtype=np.int64)
    n_patients = bounds.size - 1
    last_key = np.int64(NO_ROW)
    last_found = np.int64(NO_ROW)
    for i in range(patient.size):
        p = np.int64(patient[i])
        s = np.int64(state[i])
        v = np.int64(visit[i])
        if s < 0 or s >= n_states or v < 0 or v >= visit_span or p < 0 or p >= n_patients:
            found[i] = NO_ROW
            continue
        key = (p * n_states + s) * visit_span + v
        if key != last_key:  # rows naming one entry come in runs: search once per run
            last_key = key
            last_found = _search(keys, found_rows, bounds, p, key)
        found[i] = last_found
    return found


@njit(**JIT_OPTIONS)
def _end_times(
    patient: np.ndarray,
    state: np.ndarray,
    visit: np.ndarray,
    time: np.ndarray,
    n_states: int,
    visit_span: int,
    keys: np.ndarray,
    found_rows: np.ndarray,
    bounds: np.ndarray,
    n_entries: int,
) -> tuple[np.ndarray, np.ndarray, bool]:
    end_time = np.zeros(n_entries, dtype=np.int64)
    has_end = np.zeros(n_entries, dtype=np.bool_)
    twice = False
    n_patients = bounds.size - 1
    for i in range(patient.size):
        p = np.int64(patient[i])
        s = np.int64(state[i])
        v = np.int64(visit[i])
        if s < 0 or s >= n_states or v < 0 or v >= visit_span or p < 0 or p >= n_patients:
            continue
        entry = _search(keys, found_rows, bounds, p, (p * n_states + s) * visit_span + v)
        if entry != NO_ROW:
            twice |= has_end[entry]
            has_end[entry] = True
            end_time[entry] = time[i]
    return end_time, has_end, twice


class EntryIndex:
    """Rows by the (patient, state, visit) entry each names.

    `n_patients` bounds the local patient numbers and `visit_span` every visit number
    in the chunk (both sides of a lookup must pack alike). Columns are contiguous: the
    caller gathers each event column once and every pass here reads it in order.
    """

    def __init__(
        self,
        patient: np.ndarray,
        state: np.ndarray,
        visit: np.ndarray,
        n_patients: int,
        n_states: int,
        visit_span: int,
    ):
        if n_patients * n_states * visit_span >= 2**63:
            raise OverflowError(
                f"{n_patients} patients x {n_states} states x {visit_span} visits do not "
                "pack into a 64-bit key; use smaller chunks"
            )
        self.n_states = n_states
        self.visit_span = visit_span
        keys = _pack(patient, state, visit, n_patients, n_states, visit_span)
        named = np.flatnonzero(keys >= 0)
        # Nearly sorted already (rows come patient by patient), which timsort exploits.
        order = named[np.argsort(keys[named], kind="stable")]
        self.keys = keys[order]
        self.rows = order
        # A left join would repeat the left row for each duplicate; the kernel starts an
        # entry once per visit, so a duplicate is a kernel bug, not data to reproduce.
        if np.any(self.keys[1:] == self.keys[:-1]):
            raise ValueError("two events name the same (patient, state, visit) entry")
        self.bounds = _patient_bounds(self.keys, n_states * visit_span, n_patients)

    def end_times(
        self,
        patient: np.ndarray,
        state: np.ndarray,
        visit: np.ndarray,
        time: np.ndarray,
        n_entries: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(end time, has an end) of each of the `n_entries` indexed entries, from end
        events naming their entry by (patient, state, visit) at `time`."""
        end_time, has_end, twice = _end_times(
            patient,
            state,
            visit,
            time,
            self.n_states,
            self.visit_span,
            self.keys,
            self.rows,
            self.bounds,
            n_entries,
        )
        # A left join would repeat an entry with two ends; the kernel ends it once.
        if twice:
            raise ValueError("two end events name the same (patient, state, visit) entry")
        return end_time, has_end

    def find(self, patient: np.ndarray, state: np.ndarray, visit: np.ndarray) -> np.ndarray:
        """For each (patient, state, visit), the indexed row naming that entry, or NO_ROW."""
        return _find(
            patient,
            state,
            visit,
            self.n_states,
            self.visit_span,
            self.keys,
            self.rows,
            self.bounds,
        )


@njit(**JIT_OPTIONS)
def _first_at(
    patient: np.ndarray, time: np.ndarray, times: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    found = np.empty(patient.size, dtype=np.int64)
    n_patients = bounds.size - 1
    for i in range(patient.size):
        p = np.int64(patient[i])
        found[i] = NO_ROW
        if p < 0 or p >= n_patients:
            continue
        lo = bounds[p]
        hi = bounds[p + 1]
        while lo < hi:  # the first of the patient's rows at or after time[i]
            mid = (lo + hi) >> 1
            if times[mid] < time[i]:
                lo = mid + 1
            else:
                hi = mid
        if lo < bounds[p + 1] and times[lo] == time[i]:
            found[i] = lo
    return found


class SameTimeIndex:
    """Rows sorted by (patient, time), searched like a forward as-of join by patient with
    zero tolerance: the first row, in their order, of the same patient at the same time.
    """

    def __init__(self, patient: np.ndarray, time: np.ndarray, n_patients: int):
        if patient.size and (
            np.any(patient[1:] < patient[:-1])
            or np.any((patient[1:] == patient[:-1]) & (time[1:] < time[:-1]))
            or patient[0] < 0
            or patient[-1] >= n_patients
        ):
            raise ValueError("rows must be sorted by patient, then time")
        self.times = np.ascontiguousarray(time, dtype=np.int64)
        self.bounds = _patient_bounds(patient, 1, n_patients)

    def first_at(self, patient: np.ndarray, time: np.ndarray) -> np.ndarray:
        """The position of each (patient, time)'s first row, or NO_ROW."""
        return _first_at(patient, np.asarray(time, dtype=np.int64), self.times, self.bounds)
