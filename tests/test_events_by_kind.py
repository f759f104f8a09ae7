"""events.events_by_kind: the kernel's block buffers to kind-ordered event columns."""

from __future__ import annotations

import numpy as np
import pytest

from cohortforge.engine.events import EVENT_KINDS, events_by_kind

# The kernel's int32 row layout (kernels/machine.py `_emit`) against the column names.
I32_COLUMNS = ("patient", "kind", "state", "visit", "sub", "enc_state", "enc_visit", "reason")


def _blocks(rng: np.random.Generator, counts: list[int], capacity: int):
    """Random events in blocks of `capacity` rows, each block's unused tail filled with
    garbage that must never be read."""
    n_rows = capacity * len(counts)
    out_i32 = np.full((n_rows, 8), -7, np.int32)
    out_time = np.full(n_rows, -1, np.int64)
    out_value = np.full(n_rows, np.inf)
    starts = np.arange(len(counts), dtype=np.int64) * capacity
    written = []
    for block, count in enumerate(counts):
        rows = slice(starts[block], starts[block] + count)
        out_i32[rows] = rng.integers(0, 1000, (count, 8))
        out_i32[rows, 1] = rng.integers(0, len(EVENT_KINDS), count)
        out_time[rows] = rng.integers(0, 10**9, count)
        out_value[rows] = rng.normal(size=count)
        written.append(np.arange(starts[block], starts[block] + count))
    return out_i32, out_time, out_value, starts, np.array(counts, np.int64), np.concatenate(written)


def test_columns_are_the_written_rows_stably_ordered_by_kind():
    rng = np.random.default_rng(5)
    out_i32, out_time, out_value, starts, counts, written = _blocks(rng, [40, 0, 75, 13], 100)

    columns, bounds = events_by_kind(out_i32, out_time, out_value, starts, counts)

    # Expected, computed another way: the written rows in order, then a stable sort by kind.
    order = written[np.argsort(out_i32[written, 1], kind="stable")]
    for position, name in enumerate(I32_COLUMNS):
        np.testing.assert_array_equal(columns[name], out_i32[order, position], err_msg=name)
    np.testing.assert_array_equal(columns["time"], out_time[order])
    np.testing.assert_array_equal(columns["value"], out_value[order])
    kinds = out_i32[written, 1]
    assert bounds.tolist() == [0, *np.cumsum(np.bincount(kinds, minlength=len(EVENT_KINDS)))]
    for k in range(len(EVENT_KINDS)):
        assert (columns["kind"][bounds[k] : bounds[k + 1]] == k).all()
    assert columns["kind"].dtype == np.int8 and columns["sub"].dtype == np.int16


def test_no_events_gives_empty_columns():
    rng = np.random.default_rng(1)
    out_i32, out_time, out_value, starts, counts, _ = _blocks(rng, [0, 0], 16)
    columns, bounds = events_by_kind(out_i32, out_time, out_value, starts, counts)
    assert all(column.size == 0 for column in columns.values())
    assert bounds.tolist() == [0] * (len(EVENT_KINDS) + 1)


def test_a_kind_outside_the_codes_is_refused():
    rng = np.random.default_rng(2)
    out_i32, out_time, out_value, starts, counts, _ = _blocks(rng, [5], 8)
    out_i32[3, 1] = len(EVENT_KINDS)
    with pytest.raises(ValueError, match="event kind"):
        events_by_kind(out_i32, out_time, out_value, starts, counts)
