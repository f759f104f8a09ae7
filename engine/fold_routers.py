"""Router folding: a state whose transition goes to a router unconditionally (a direct
transition, or the fallback branch) takes the router's branches, so the kernel skips the
router's entry.

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
general_population, with the immunization shortcut rows added at the same time, state
entries went from 3,281 to 2,182 per patient (`benchmarks/kernel_entry_counts.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from cohortforge.kernels import machine_codes as mc

# (condition index or -1, [(target state, probability, probability attribute or -1)])
Branch = tuple[int, list[tuple[int, float, int]]]


def _undrawn_target(choices: Sequence[tuple[int, float, int]]) -> int:
    """The one target of a branch that draws nothing (a single choice, probability 1,
    not read from an attribute), else -1."""
    if len(choices) != 1:
        return -1
    target, probability, attribute = choices[0]
    return target if probability == 1.0 and attribute < 0 else -1


def is_router(
    state: int, branches: Sequence[Branch], kind: int, referenced: Collection[int]
) -> bool:
    """True when `state` only routes: see the module docstring."""
    if kind != mc.S_SIMPLE or state in referenced or not branches:
        return False
    return all(_undrawn_target(choices) >= 0 for _, choices in branches)


def fallback_target(branches: Sequence[Branch]) -> int:
    """The target of the last branch when it is unconditional and undrawn (the fallback,
    or the whole of a direct transition), else -1."""
    if not branches or branches[-1][0] >= 0:
        return -1
    return _undrawn_target(branches[-1][1])


def fold_routers(
    branches: list[list[Branch]],
    kinds: Sequence[int],
    referenced: Collection[int],
    flat: Callable[[int], bool],
) -> int:
    """Replace, in place, each unconditional last branch to a router (a direct transition,
    or the fallback of a conditional one) by the router's branches, repeatedly through
    chains of routers; returns how many were replaced. `referenced`: the states some
    PriorState condition names. `flat`: whether a condition can be a branch test row
    (engine/compile_rows.py); a fold that would cost a state its row scan is skipped.

    A fallback can take the router's branches because both are "first branch whose
    condition holds, else the last": when none of the state's own conditions hold, the
    router's are tried in order, and the router's last branch is the fallback.
    """
    routers = {
        state
        for state, state_branches in enumerate(branches)
        if is_router(state, state_branches, kinds[state], referenced)
    }
    folded = 0
    for state, state_branches in enumerate(branches):
        seen = {state}
        target = fallback_target(state_branches)
        while target in routers and target not in seen:
            head = state_branches[:-1]
            tail = branches[target]
            if _rows_lost(head, tail, flat):
                break
            seen.add(target)
            state_branches = head + [(condition, list(choices)) for condition, choices in tail]
            folded += 1
            target = fallback_target(state_branches)
        branches[state] = state_branches
    return folded


def _rows_lost(head: Sequence[Branch], tail: Sequence[Branch], flat: Callable[[int], bool]) -> bool:
    """True when the state's own branches could be scanned as rows but the router's
    could not, so the merged list would fall back to the condition interpreter."""
    if not head:
        return False  # a direct transition: no scan to lose
    return all(flat(c) for c, _ in head) and not all(flat(c) for c, _ in tail)
