"""Router folding (engine/fold_routers.py): which transitions take a router's branches.

That the kernel's event log stays the reference interpreter's with the folds in place is
checked by tests/test_kernel_vs_naive.py on the transition_fold_routers fixture; the
fixture test here makes sure the folds it is meant to exercise really happen."""

from __future__ import annotations

from pathlib import Path

from cohortforge.engine import compile as compile_module
from cohortforge.engine.compile import compile_modules
from cohortforge.engine.fold_routers import fold_routers
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.engine.module_selection import select_modules
from cohortforge.kernels import machine_codes as mc
from cohortforge.scenarios.loader import load_scenario

from .engine_helpers import kernel_event_log, random_patients

FIXTURES = Path(__file__).parent / "fixtures" / "modules"
SIMPLE, DELAY = mc.S_SIMPLE, mc.S_DELAY


def direct(target: int) -> list:
    return [(-1, [(target, 1.0, -1)])]


def fold(branches: list, kinds: list, referenced=frozenset(), flat=lambda condition: True) -> int:
    return fold_routers(branches, kinds, referenced, flat)


def test_a_direct_transition_to_a_router_takes_its_branches():
    router = [(0, [(2, 1.0, -1)]), (-1, [(3, 1.0, -1)])]
    branches = [direct(1), router, direct(0), direct(0)]
    kinds = [DELAY, SIMPLE, DELAY, DELAY]
    assert fold(branches, kinds) == 1
    assert branches[0] == router
    assert branches[1] == router  # the router itself is kept, only no longer entered


def test_a_chain_of_direct_routers_is_followed_to_its_end():
    router = [(0, [(0, 1.0, -1)]), (-1, [(0, 1.0, -1)])]
    branches = [direct(1), direct(2), router]
    assert fold(branches, [DELAY, SIMPLE, SIMPLE]) == 3
    assert branches[0] == router and branches[1] == router


def test_states_that_are_not_pure_routers_are_left_alone():
    drawn = [(-1, [(0, 0.5, -1), (0, 0.5, -1)])]  # a distributed transition draws
    by_attribute = [(-1, [(0, 1.0, 7)])]  # a probability read from an attribute
    referenced = [(-1, [(0, 1.0, -1)])]  # a PriorState condition names this one
    not_simple = [(-1, [(0, 1.0, -1)])]
    branches = [direct(0), drawn, by_attribute, referenced, not_simple]
    kinds = [DELAY, SIMPLE, SIMPLE, SIMPLE, DELAY]
    for target in range(1, 5):
        trial = [list(b) for b in branches]
        trial[0] = direct(target)
        assert fold(trial, kinds, referenced={3}) == 0, target
        assert trial[0] == direct(target)


def test_a_router_whose_conditions_all_can_fail_is_folded_too():
    # Its last branch is the fallback whether the router or its predecessor evaluates it.
    router = [(0, [(2, 1.0, -1)]), (1, [(0, 1.0, -1)])]
    branches = [direct(1), router, direct(0)]
    assert fold(branches, [DELAY, SIMPLE, DELAY]) == 1
    assert branches[0] == router


def test_a_fallback_to_a_router_takes_its_branches_after_the_own_ones():
    own = (5, [(3, 1.0, -1)])
    router = [(6, [(3, 1.0, -1)]), (-1, [(3, 1.0, -1)])]
    branches = [
        [own, (-1, [(1, 1.0, -1)])],
        router,
        [(7, [(1, 1.0, -1)]), (-1, [(3, 1.0, -1)])],
        [],
    ]
    kinds = [SIMPLE, SIMPLE, SIMPLE, mc.S_TERMINAL]
    assert fold(branches, kinds) == 1
    assert branches[0] == [own, *router]
    assert branches[2] == [(7, [(1, 1.0, -1)]), (-1, [(3, 1.0, -1)])]  # only a fallback folds


def test_a_fallback_fold_that_would_cost_the_row_scan_is_skipped():
    branches = [
        [(5, [(2, 1.0, -1)]), (-1, [(1, 1.0, -1)])],
        [(9, [(2, 1.0, -1)]), (-1, [(2, 1.0, -1)])],
        [],
    ]
    kinds = [SIMPLE, SIMPLE, mc.S_TERMINAL]
    assert fold(branches, kinds, flat=lambda condition: condition != 9) == 0
    # A state that is interpreted anyway may take it; a direct transition always may.
    assert fold(branches, kinds, flat=lambda condition: condition not in (5, 9)) == 1


def test_a_cycle_of_routers_ends():
    branches = [direct(1), direct(2), direct(1)]
    fold(branches, [DELAY, SIMPLE, SIMPLE])
    assert branches[0] in (direct(1), direct(2))


def test_the_fixture_folds_what_it_is_meant_to():
    library = ModuleLibrary([FIXTURES])
    model = compile_modules([library.load("transition_fold_routers")], library, seed=1)
    kernel = model.kernel

    def targets(state: str) -> list[str]:
        s = model.state_index("transition_fold_routers", state)
        first, last = kernel.branch_start[s], kernel.branch_start[s + 1]
        return [
            model.states[kernel.choice_target[kernel.choice_start[b]]].name
            for b in range(first, last)
        ]

    # Age_Router's branches, its fallback Adult_Hop folded in turn.
    assert targets("Yearly_Wait") == ["Done_Hop", "Child_Hop", "Adult_Visit_Router"]
    assert targets("Child_Exam") == ["Note_Exam", "Yearly_Wait"]  # Seen_Router's
    assert targets("Note_Exam") == ["Yearly_Wait", "Yearly_Wait"]  # through Back_Hop to End_Hop
    # Kept: a PriorState condition reads Adult_Visit_Router's entry time, and
    # Child_Hop is reached from a conditional branch that is not the fallback.
    assert targets("Adult_Hop") == ["Adult_Visit_Router"]
    assert targets("Child_Hop") == ["Child_Exam"]
    assert targets("Age_Router") == ["Done_Hop", "Child_Hop", "Adult_Visit_Router"]


def test_the_shipped_modules_give_the_same_events_folded_or_not(monkeypatch):
    """Every module of general_population, on random patients: folding changes only how
    many states the kernel enters, never an event (exact log comparison)."""
    library = ModuleLibrary()
    modules = select_modules(library, load_scenario("general_population"), [])
    patients = random_patients(300, seed=11)
    folds = []

    def counting(*args):
        folds.append(fold_routers(*args))
        return folds[-1]

    monkeypatch.setattr(compile_module, "fold_routers", counting)
    folded = kernel_event_log(modules, library, patients, seed=5)
    monkeypatch.setattr(compile_module, "fold_routers", lambda *args: 0)
    unfolded = kernel_event_log(modules, library, patients, seed=5)
    assert folds and folds[0] > 100  # the shipped modules have many routers to fold
    assert folded.height > 10 * patients.height
    assert folded.equals(unfolded)
