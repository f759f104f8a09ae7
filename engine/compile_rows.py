"""Branch conditions as flat test rows: the kernel's fast path for routers and tables.

A lookup-table transition compiles to one branch per table row, each an And of an age
range, a gender and attribute equalities, so the kernel's condition interpreter walks
the table row by row, several instructions per row (measured: lookup tables were a
third of all instructions the interpreter ran for general_population); age routers and
vaccine-schedule checks (age, then prior doses) are the same kind of flat conjunction.
When every branch condition of a state is one, the branches are also written as rows of
plain numbers (`branch_test`) and the kernel scans them in a tight loop. The first
matching branch is the same either way: only the work changes.
"""

from __future__ import annotations

import math

import numpy as np

from cohortforge.kernels import machine_codes as mc

from .compile_conditions import Instruction

AGE_BOUNDS = (mc.OP_GE, mc.OP_GT, mc.OP_LT, mc.OP_LE)
NEVER_GENDER = 2.0  # two different genders in one conjunction: no patient matches


def _test_row(program: list[Instruction] | None) -> np.ndarray | None:
    """The program as one test row, or None when it is not a conjunction of the
    leaves a row can hold: Age orderings, Gender, Attribute tests, PriorState without a
    window (or its Not), True and False."""
    row = np.full(mc.ROW_WIDTH, -1.0)
    row[mc.ROW_AGE_LOW], row[mc.ROW_AGE_HIGH] = -math.inf, math.inf
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
            column = mc.ROW_PRIORS + 2 * (priors - 1)
            row[column + 1] = 1.0 - row[column + 1]
        elif op == mc.C_FALSE:
            row[mc.ROW_AGE_LOW] = math.inf
        elif op == mc.C_AGE and operator in AGE_BOUNDS:
            # The kernel's age is a whole number of seconds (as a float), so age > x is
            # age >= floor(x) + 1 and age <= x is age < floor(x) + 1, exactly.
            bound = math.floor(x) + 1.0 if operator in (mc.OP_GT, mc.OP_LE) else x
            if operator in (mc.OP_GE, mc.OP_GT):
                row[mc.ROW_AGE_LOW] = max(row[mc.ROW_AGE_LOW], bound)
            else:
                row[mc.ROW_AGE_HIGH] = min(row[mc.ROW_AGE_HIGH], bound)
        elif op == mc.C_GENDER:
            same = row[mc.ROW_GENDER] in (-1.0, float(a))
            row[mc.ROW_GENDER] = float(a) if same else NEVER_GENDER
        elif op == mc.C_ATTRIBUTE:
            if attributes == mc.MAX_ROW_ATTRIBUTES:
                return None
            column = mc.ROW_ATTRIBUTES + mc.ROW_ATTRIBUTE_WIDTH * attributes
            row[column : column + mc.ROW_ATTRIBUTE_WIDTH] = (a, n, operator, x)
            attributes += 1
        elif op == mc.C_PRIOR_STATE and x < 0.0:
            if priors == mc.MAX_ROW_PRIORS:
                return None
            column = mc.ROW_PRIORS + 2 * priors
            row[column : column + 2] = (a, 1.0)
            priors += 1
        else:
            return None
    return row


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
