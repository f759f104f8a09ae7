"""Branch test rows (engine/compile_rows.py): which conditions become rows, and what
the rows hold. That the kernel chooses the same branch with them is checked against the
reference interpreter by tests/test_kernel_vs_naive.py (its lookup-table, age, gender
and attribute fixtures use rows; the first test here makes sure of that)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cohortforge.engine.compile import compile_modules
from cohortforge.engine.compile_rows import NEVER_GENDER, branch_heads, branch_tests
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.kernels import machine_codes as mc

FIXTURES = Path(__file__).parent / "fixtures" / "modules"
YEAR = 365.25 * 86400


def states_using_rows(fixture: str) -> set[str]:
    library = ModuleLibrary([FIXTURES])
    model = compile_modules([library.load(fixture)], library, seed=1)
    rows = model.kernel.state_row[:, mc.ST_ROWS]
    return {info.name for info, flag in zip(model.states, rows, strict=True) if flag == 1}


def test_reference_fixtures_exercise_the_row_scan():
    assert states_using_rows("transition_lookup_table")
    assert states_using_rows("condition_age")
    assert states_using_rows("condition_gender")
    assert states_using_rows("condition_attribute_ops")
    assert states_using_rows("condition_prior_state")


def test_reference_fixtures_exercise_windows_and_dates_in_rows():
    """So tests/test_kernel_vs_naive.py checks the row scan's window and time tests."""
    library = ModuleLibrary([FIXTURES])
    found = set()
    for fixture in ("condition_date", "condition_prior_state"):
        kernel = compile_modules([library.load(fixture)], library, seed=1).kernel
        scanned = np.repeat(kernel.state_row[:, mc.ST_ROWS] == 1, np.diff(kernel.branch_start))
        rows = kernel.branch_test[: scanned.size][scanned]
        windows = rows[:, mc.ROW_PRIORS + 2 :: mc.ROW_PRIOR_WIDTH]
        priors = rows[:, mc.ROW_PRIORS :: mc.ROW_PRIOR_WIDTH]
        if ((priors >= 0) & (windows >= 0)).any():
            found.add("window")
        if np.isfinite(rows[:, [mc.ROW_TIME_LOW, mc.ROW_TIME_HIGH]]).any():
            found.add("date")
    assert found == {"window", "date"}


def age(operator: int, years: float) -> tuple[int, int, int, int, float]:
    return (mc.C_AGE, 0, operator, 0, years * YEAR)


AND2 = (mc.C_AND, 0, 0, 2, 0.0)


def rows_for(*programs):
    """Rows for one state whose branches have these conditions (None: unconditional)."""
    conditions = [p for p in programs if p is not None]
    branch_cond, index = [], 0
    for program in programs:
        branch_cond.append(-1 if program is None else index)
        index += program is not None
    return branch_tests(conditions, branch_cond, np.array([0, len(programs)]))


def test_lookup_row_holds_age_range_gender_and_attribute():
    program = [
        age(mc.OP_GE, 18),
        age(mc.OP_LT, 25),
        AND2,
        (mc.C_GENDER, 1, 0, 0, 0.0),
        (mc.C_ATTRIBUTE, 7, mc.OP_EQ, mc.T_TEXT, 3.0),
        (mc.C_AND, 0, 0, 3, 0.0),
    ]
    rows, use = rows_for(program, None)
    assert use.tolist() == [1]
    first, fallback = rows
    assert first[mc.ROW_AGE_LOW] == 18 * YEAR and first[mc.ROW_AGE_HIGH] == 25 * YEAR
    assert first[mc.ROW_GENDER] == 1.0
    attribute = mc.ROW_ATTRIBUTES
    assert first[attribute : attribute + 4].tolist() == [7.0, mc.T_TEXT, mc.OP_EQ, 3.0]
    assert first[attribute + 4] == -1.0  # no second attribute
    assert first[mc.ROW_PRIORS] == -1.0  # no prior-state test
    # The unconditional fallback matches everybody.
    assert fallback[mc.ROW_AGE_LOW] == -math.inf and fallback[mc.ROW_AGE_HIGH] == math.inf
    assert fallback[mc.ROW_GENDER] == -1.0 and fallback[attribute] == -1.0


def test_contradictions_become_rows_that_never_match():
    female_and_male = [(mc.C_GENDER, 0, 0, 0, 0.0), (mc.C_GENDER, 1, 0, 0, 0.0), AND2]
    false = [(mc.C_FALSE, 0, 0, 0, 0.0)]
    rows, use = rows_for(female_and_male, false, None)
    assert use.tolist() == [1]
    assert rows[0][mc.ROW_GENDER] == NEVER_GENDER
    assert rows[1][mc.ROW_AGE_LOW] == math.inf  # no age is >= infinity


def test_two_bounds_on_one_side_keep_the_tighter():
    program = [age(mc.OP_GE, 5), age(mc.OP_GE, 10), AND2]
    rows, _ = rows_for(program, None)
    assert rows[0][mc.ROW_AGE_LOW] == 10 * YEAR


def test_age_orderings_become_half_open_bounds():
    # Ages are whole seconds: age > x is age >= floor(x) + 1, age <= x is age < floor(x) + 1.
    rows, _ = rows_for([age(mc.OP_GT, 2), age(mc.OP_LE, 4.5), AND2], None)
    assert rows[0][mc.ROW_AGE_LOW] == math.floor(2 * YEAR) + 1
    assert rows[0][mc.ROW_AGE_HIGH] == math.floor(4.5 * YEAR) + 1


def test_prior_states_and_their_negation():
    had_dose_1 = (mc.C_PRIOR_STATE, 4, 0, 0, -1.0)
    had_dose_2 = (mc.C_PRIOR_STATE, 9, 0, 0, -1.0)
    due_dose_2 = [had_dose_1, had_dose_2, (mc.C_NOT, 0, 0, 1, 0.0), AND2]
    rows, use = rows_for(due_dose_2, None)
    assert use.tolist() == [1]
    width = mc.ROW_PRIOR_WIDTH
    assert rows[0][mc.ROW_PRIORS : mc.ROW_PRIORS + 2 * width].tolist() == [
        *(4.0, 1.0, -1.0),  # entered dose 1, at any time
        *(9.0, 0.0, -1.0),  # never entered dose 2
    ]


def test_prior_state_windows_and_dates_become_rows():
    # Influenza-style: not within 10 months, and (a Date condition) from 2022 on.
    not_recently = [(mc.C_PRIOR_STATE, 3, 0, 0, 300 * 86400.0), (mc.C_NOT, 0, 0, 1, 0.0)]
    from_2022 = (mc.C_TIME, 0, mc.OP_GE, 0, 1640995200.0)
    before_2023 = (mc.C_TIME, 0, mc.OP_LE, 0, 1672531199.5)
    program = [*not_recently, from_2022, before_2023, (mc.C_AND, 0, 0, 3, 0.0)]
    rows, use = rows_for(program, None)
    assert use.tolist() == [1]
    column = mc.ROW_PRIORS
    assert rows[0][column : column + mc.ROW_PRIOR_WIDTH].tolist() == [3.0, 0.0, 300 * 86400.0]
    assert rows[0][mc.ROW_TIME_LOW] == 1640995200.0
    assert rows[0][mc.ROW_TIME_HIGH] == math.floor(1672531199.5) + 1  # t <= x on whole seconds
    assert rows[1][mc.ROW_TIME_LOW] == -math.inf and rows[1][mc.ROW_TIME_HIGH] == math.inf


def test_any_attribute_operator_is_kept_with_its_type():
    is_nil = [(mc.C_ATTRIBUTE, 2, mc.OP_IS_NIL, mc.T_NIL, 0.0)]
    rows, use = rows_for(is_nil, None)
    assert use.tolist() == [1]
    column = mc.ROW_ATTRIBUTES
    assert rows[0][column : column + 4].tolist() == [2.0, mc.T_NIL, mc.OP_IS_NIL, 0.0]


def test_states_with_other_tests_keep_the_interpreter():
    on_a_date = [(mc.C_TIME, 0, mc.OP_EQ, 0, 1640995200.0)]  # equality is no range
    either = [age(mc.OP_GE, 5), (mc.C_GENDER, 1, 0, 0, 0.0), (mc.C_OR, 0, 0, 2, 0.0)]
    not_both = [age(mc.OP_GE, 5), (mc.C_GENDER, 1, 0, 0, 0.0), AND2, (mc.C_NOT, 0, 0, 1, 0.0)]
    not_a_gender = [(mc.C_GENDER, 1, 0, 0, 0.0), (mc.C_NOT, 0, 0, 1, 0.0)]
    active = [(mc.C_ACTIVE_CODES, 0, 0, 1, 0.0)]
    too_many = [(mc.C_ATTRIBUTE, k, mc.OP_EQ, mc.T_NUMBER, 1.0) for k in range(4)]
    too_many.append((mc.C_AND, 0, 0, 4, 0.0))
    for program in (on_a_date, either, not_both, not_a_gender, active, too_many):
        _, use = rows_for([age(mc.OP_GE, 1)], program, None)
        assert use.tolist() == [0], program
    # A state with a single branch has nothing to scan.
    _, use = rows_for([age(mc.OP_GE, 1)])
    assert use.tolist() == [0]


def test_heads_hold_age_and_gender_and_flag_rows_that_test_more():
    male_adult = [age(mc.OP_GE, 18), (mc.C_GENDER, 1, 0, 0, 0.0), AND2]
    smoker = [age(mc.OP_GE, 18), (mc.C_ATTRIBUTE, 7, mc.OP_EQ, mc.T_BOOL, 1.0), AND2]
    had_dose = [(mc.C_PRIOR_STATE, 4, 0, 0, -1.0)]
    from_2022 = [(mc.C_TIME, 0, mc.OP_GE, 0, 1640995200.0)]
    rows, use = rows_for(male_adult, smoker, had_dose, from_2022, None)
    assert use.tolist() == [1]
    heads = branch_heads(rows)
    assert heads.shape == (5, mc.HEAD_WIDTH)
    assert heads[:, mc.HEAD_AGE_LOW].tolist() == rows[:, mc.ROW_AGE_LOW].tolist()
    assert heads[:, mc.HEAD_AGE_HIGH].tolist() == rows[:, mc.ROW_AGE_HIGH].tolist()
    assert heads[:, mc.HEAD_GENDER].tolist() == [1.0, -1.0, -1.0, -1.0, -1.0]
    # Only the attribute, prior-state and date rows need their full row read.
    assert heads[:, mc.HEAD_MORE].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_conjunction_guards_get_a_row_and_a_row_that_never_holds():
    """The kernel scans a Guard's pair of rows: the first row found is the Guard's own
    exactly when its condition holds. tests/test_kernel_vs_naive.py runs these fixtures
    against the reference interpreter."""
    library = ModuleLibrary([FIXTURES])
    for fixture, guards in (
        ("state_guard", {"Adult_Guard": True}),
        ("state_guard_rows", {"Flag_And_Age_Guard": True, "Either_Guard": False}),
    ):
        model = compile_modules([library.load(fixture)], library, seed=1)
        kernel = model.kernel
        for state, info in enumerate(model.states):
            at = kernel.state_row[state, mc.ST_GUARD_ROW]
            if info.name not in guards:
                assert at == -1, info.name
                continue
            assert (at >= 0) == guards[info.name], info.name
            if at < 0:
                continue
            own, never = kernel.branch_test[at], kernel.branch_test[at + 1]
            assert never[mc.ROW_AGE_LOW] == math.inf
            assert kernel.branch_head[at + 1, mc.HEAD_AGE_LOW] == math.inf
            if info.name == "Adult_Guard":
                assert own[mc.ROW_AGE_LOW] == 18 * 365 * 86400
            else:
                assert own[mc.ROW_AGE_LOW] == 30 * 365 * 86400
                assert own[mc.ROW_ATTRIBUTES] == model.attribute_names.index("guard_rows_flag")
