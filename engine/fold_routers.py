"""Router folding: a state whose one transition goes straight to a router takes the router's
branches, so the kernel skips the router's entry.

A router here is a Simple state that only chooses where to go: conditional (or direct)
branches, each to one target with no draw, and no PriorState condition naming it.
Entering such a state records nothing a module can observe (no event, no attribute, no
random draw, no PriorState time), and its conditions would be evaluated at the same
instant, in the same patient state, as its predecessor's transition. So evaluating the
router's branches in place of "go to the router" picks the same next state (the last
branch is the fallback either way), and every event, draw and id stays the same; the
router stays in the model (state ids do not move), just unreached. The one difference:
a folded router is not entered, so it does not count towards the 1,000-entries-per-instant
loop guard (modules/SEMANTICS.md); its predecessor still does.

Wellness visits walk several such routers (visit type, body-size band, vitals band,
next-visit schedule), as do the yearly risk checks of the clinical modules. On
general_population, with the immunization shortcuts of the same change, state entries
went from 3,281 to 2,404 per patient (`benchmarks/kernel_entry_counts.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from cohortforge.kernels import machine_codes as mc

# (condition index or -1, [(target state, probability, probability attribute or -1)])
Branch = tuple[int, list[tuple[int, float, int]]]


def is_router(
    state: int, branches: Sequence[Branch], kind: int, referenced: Collection[int]
) -> bool:
    """True when `state` only routes: see the module docstring."""
    if kind != mc.S_SIMPLE or state in referenced or not branches:
        return False
    return all(
        len(choices) == 1 and choices[0][1] == 1.0 and choices[0][2] < 0 for _, choices in branches
    )


def direct_target(branches: Sequence[Branch]) -> int:
    """The target of a lone unconditional, undrawn branch (a direct transition), else -1."""
    if len(branches) != 1 or branches[0][0] >= 0 or len(branches[0][1]) != 1:
        return -1
    target, probability, attribute = branches[0][1][0]
    return target if probability == 1.0 and attribute < 0 else -1


def fold_routers(
    branches: list[list[Branch]], kinds: Sequence[int], referenced: Collection[int]
) -> int:
    """Replace, in place, each direct transition to a router by the router's branches
    (repeatedly, through a chain of direct routers); returns how many were replaced.
    `referenced`: the states some PriorState condition names."""
    routers = {
        state
        for state, state_branches in enumerate(branches)
        if is_router(state, state_branches, kinds[state], referenced)
    }
    folded = 0
    for state, state_branches in enumerate(branches):
        seen = {state}
        target = direct_target(state_branches)
        while target in routers and target not in seen:
            seen.add(target)
            state_branches = [(condition, list(choices)) for condition, choices in branches[target]]
            folded += 1
            target = direct_target(state_branches)
        branches[state] = state_branches
    return folded
