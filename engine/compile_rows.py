"""Branch conditions as flat test rows: the kernel's fast path for routers and tables.

A lookup-table transition compiles to one branch per table row, each an And of an age
range, a gender and attribute equalities, so the kernel's condition interpreter walks
the table row by row, several instructions per row (measured: lookup tables were a
third of all instructions the interpreter ran for general_population); age routers and
vaccine-schedule checks (age, calendar dates, then prior doses with or without a time
window) are the same kind of flat conjunction.
When every branch condition of a state is one, the branches are also written as rows of
plain numbers (`branch_test`) and the kernel scans them in a tight loop. The first
matching branch is the same either way: only the work changes.
"""

from __future__ import annotations

import math

import numpy as np

from cohortforge.kernels import machine_codes as mc

from .compile_conditions import Instruction

BOUNDS = (mc.OP_GE, mc.OP_GT, mc.OP_LT, mc.OP_LE)  # orderings a row's range can hold
NEVER_GENDER = 2.0  # two different genders in one conjunction: no patient matches


def _test_row(program: list[Instruction] | None) -> np.ndarray | None:
    """The program as one test row, or None when it is not a conjunction of the
    leaves a row can hold: Age and Date orderings, Gender, Attribute tests, PriorState
    (or its Not), True and False."""
    row = np.full(mc.ROW_WIDTH, -1.0)
    row[mc.ROW_AGE_LOW], row[mc.ROW_AGE_HIGH] = -math.inf, math.inf
    row[mc.ROW_TIME_LOW], row[mc.ROW_TIME_HIGH] = -math.inf, math.inf
    if program is None:  # an unconditional branch: every patient matches
        return row
    attributes = priors = 0
    for index, (op, a, operator, n, x) in enumerate(program):
        if op in (mc.C_AND, mc.C_TRUE):
            continue
        if op == mc.C_NOT:
            # Only a Not of the PriorState just before it negates a single leaf; any
            # other Not negates a compound, which is no longer a conjunction.
            if index == 0 or program[index - 1][0] != mc.C_PRIOR_STATE:
                return None
            column = mc.ROW_PRIORS + mc.ROW_PRIOR_WIDTH * (priors - 1)
            row[column + 1] = 1.0 - row[column + 1]
        elif op == mc.C_FALSE:
            row[mc.ROW_AGE_LOW] = math.inf
        elif op in (mc.C_AGE, mc.C_TIME) and operator in BOUNDS:
            # Age and time are whole numbers of seconds (as floats), so v > x is
            # v >= floor(x) + 1 and v <= x is v < floor(x) + 1, exactly.
            bound = math.floor(x) + 1.0 if operator in (mc.OP_GT, mc.OP_LE) else x
            low, high = (
                (mc.ROW_AGE_LOW, mc.ROW_AGE_HIGH)
                if op == mc.C_AGE
                else (mc.ROW_TIME_LOW, mc.ROW_TIME_HIGH)
            )
            if operator in (mc.OP_GE, mc.OP_GT):
                row[low] = max(row[low], bound)
            else:
                row[high] = min(row[high], bound)
        elif op == mc.C_GENDER:
            same = row[mc.ROW_GENDER] in (-1.0, float(a))
            row[mc.ROW_GENDER] = float(a) if same else NEVER_GENDER
        elif op == mc.C_ATTRIBUTE:
            if attributes == mc.MAX_ROW_ATTRIBUTES:
                return None
            column = mc.ROW_ATTRIBUTES + mc.ROW_ATTRIBUTE_WIDTH * attributes
            row[column : column + mc.ROW_ATTRIBUTE_WIDTH] = (a, n, operator, x)
            attributes += 1
        elif op == mc.C_PRIOR_STATE:
            if priors == mc.MAX_ROW_PRIORS:
                return None
            column = mc.ROW_PRIORS + mc.ROW_PRIOR_WIDTH * priors
            # x is the window in seconds, negative for "ever": the kernel's test then
            # skips the time comparison, as the interpreter's does.
            row[column : column + mc.ROW_PRIOR_WIDTH] = (a, 1.0, x if x >= 0.0 else -1.0)
            priors += 1
        else:
            return None
    return row


def is_flat(program: list[Instruction] | None) -> bool:
    """Whether a condition (None: none) can be one test row."""
    return _test_row(program) is not None


def branch_tests(
    conditions: list[list[Instruction]],
    branch_cond: list[int],
    branch_start: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Test rows for every branch (float64[B, mc.ROW_WIDTH]) and, per state, 1 when the
    kernel may scan its rows instead of interpreting its conditions (int32[S])."""
    rows = np.full((max(1, len(branch_cond)), mc.ROW_WIDTH), -1.0)
    use_rows = np.zeros(branch_start.size - 1, dtype=np.int32)
    for state in range(branch_start.size - 1):
        first, last = int(branch_start[state]), int(branch_start[state + 1])
        if last - first < 2:
            continue  # nothing to choose between, or a single test: no scan to speed up
        state_rows = [
            _test_row(conditions[branch_cond[b]] if branch_cond[b] >= 0 else None)
            for b in range(first, last)
        ]
        if any(row is None for row in state_rows):
            continue
        rows[first:last] = np.stack(state_rows)
        use_rows[state] = 1
    return rows, use_rows


def guard_tests(
    conditions: list[list[Instruction]], kind: np.ndarray, aux: np.ndarray, first_row: int
) -> tuple[np.ndarray, np.ndarray]:
    """Test rows for the Guard conditions that are flat conjunctions (float64[G,
    mc.ROW_WIDTH]), to be appended to the branch rows from `first_row` on, and each
    state's row index there (int32[S], -1 for none).

    The kernel tests such a Guard with the row test inline instead of calling the
    condition interpreter out of line, a call that passes every array of the model
    (wellness visit schedules wait on age Guards)."""
    at = np.full(kind.size, -1, dtype=np.int32)
    never = _test_row([(mc.C_FALSE, 0, 0, 0, 0.0)])
    rows = []
    for state in np.flatnonzero(kind == mc.S_GUARD):
        row = _test_row(conditions[aux[state, 0]])
        if row is not None:
            # The kernel scans the pair: the first row that holds is the Guard's own
            # exactly when its condition holds (the scan's fallback is the second).
            at[state] = first_row + len(rows)
            rows += [row, never]
    return np.array(rows).reshape(-1, mc.ROW_WIDTH), at


def branch_heads(branch_test: np.ndarray) -> np.ndarray:
    """Each test row's age range and gender, and whether it tests anything else
    (float64[B, mc.HEAD_WIDTH]).

    The kernel scans these instead of the 208-byte test rows: the scan's loads of test
    rows were the kernel's hottest instructions in a profile (incidence tables of 31-37
    rows per state, most of them failing the age test), and were cache misses rather
    than work; a head row is 32 bytes.
    """
    heads = np.empty((branch_test.shape[0], mc.HEAD_WIDTH))
    heads[:, mc.HEAD_AGE_LOW] = branch_test[:, mc.ROW_AGE_LOW]
    heads[:, mc.HEAD_AGE_HIGH] = branch_test[:, mc.ROW_AGE_HIGH]
    heads[:, mc.HEAD_GENDER] = branch_test[:, mc.ROW_GENDER]
    only_age_and_gender = (
        np.isneginf(branch_test[:, mc.ROW_TIME_LOW])
        & np.isposinf(branch_test[:, mc.ROW_TIME_HIGH])
        & (branch_test[:, mc.ROW_ATTRIBUTES] < 0)
        & (branch_test[:, mc.ROW_PRIORS] < 0)
    )
    heads[:, mc.HEAD_MORE] = np.where(only_age_and_gender, 0.0, 1.0)
    return heads
