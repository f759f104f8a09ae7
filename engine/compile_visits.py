"""Which states the kernel must count visits of (modules/SEMANTICS.md, Randomness: a
state's draws are keyed by how many times the patient entered it before).

A visit number is read only where a state draws a random number (its transition, a
duration, a value), writes an event (events carry it, and ids derive from it) or hands
out an entry handle. Routers (Simple, Initial, Terminal, Guard, CallSubmodule, Counter
and constant SetAttribute states) whose transitions draw nothing never read theirs, and
they are about half of all state entries: the kernel skips their count.
"""

from __future__ import annotations

import numpy as np

from cohortforge.kernels import machine_codes as mc

# Kinds whose own action reads no visit number (a SetAttribute only when not drawn).
_SILENT_KINDS = (
    mc.S_INITIAL,
    mc.S_TERMINAL,
    mc.S_SIMPLE,
    mc.S_GUARD,
    mc.S_CALL_SUBMODULE,
    mc.S_COUNTER,
    mc.S_SET_ATTRIBUTE,
)


def visit_counted_states(state_row: np.ndarray, branch_row: np.ndarray) -> np.ndarray:
    """int8 per state: 1 when the kernel must count the state's visits."""
    kind = state_row[:, mc.ST_KIND]
    silent = np.isin(kind, _SILENT_KINDS)
    silent &= ~((kind == mc.S_SET_ATTRIBUTE) & (state_row[:, 1] == mc.V_DISTRIBUTION))
    # A transition draws unless it is direct or every branch has one fixed target.
    draws_per_branch = (branch_row[:, mc.BR_TARGET] < 0).astype(np.int64)
    drawing_branches = np.concatenate([[0], np.cumsum(draws_per_branch)])
    first = state_row[:, mc.ST_BRANCH_FIRST]
    last = state_row[:, mc.ST_BRANCH_LAST]
    draws = (state_row[:, mc.ST_DIRECT] < 0) & (drawing_branches[last] > drawing_branches[first])
    return (~silent | draws).astype(np.int8)
