"""Which states need the kernel's zero-time loop guard (modules/SEMANTICS.md, Advancing a
module: a state entered more than 1,000 times at one instant stops its module).

Counting every state entry per instant was a load, a compare and a store on each of the
~4,250 entries a general_population patient makes over a lifetime. A module can enter a
state again and again at one instant only if the state lies on a cycle of the state
graph that can close without time passing; these states are marked here, and only they
are counted. Any other state is entered at most once per copy (below) per module at an
instant, so its count stays under the limit (checked here, else every state is marked).

The graph is conservative: a Guard, a wellness Encounter, a Death and a Delay that may
last zero seconds all let a cycle close at one instant; only a Delay whose every draw
lasts at least a second cuts it. A submodule's Terminal returns only to the state that
called it: the graph holds one copy of a submodule per call site (per chain of them).
A state with several copies is entered at most once per copy without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cohortforge.kernels import machine_codes as mc


def _always_waits(
    dist: int, kind: np.ndarray, params: np.ndarray, scale: np.ndarray, rounds: np.ndarray
) -> bool:
    """True when every draw of duration `dist` is at least one second (the kernel floors
    value * scale to whole seconds and only a positive pause blocks)."""
    if dist < 0:
        return False
    if kind[dist] == mc.D_EXACT or kind[dist] == mc.D_UNIFORM:
        low = float(params[dist, 0])  # exact value, or a range's low end
    else:  # Gaussian, exponential and triangular draws may come out at (or near) zero
        return False
    if rounds[dist] == 1:
        low = math.floor(low + 0.5)
    return math.floor(low * float(scale[dist])) >= 1


def _transition_targets(
    state_row: np.ndarray, branch_row: np.ndarray, choice_target: np.ndarray, s: int
) -> list[int]:
    """Every state s may go to by its own transition."""
    targets = []
    direct = int(state_row[s, mc.ST_DIRECT])
    if direct >= 0:
        targets.append(direct)
    for b in range(int(state_row[s, mc.ST_BRANCH_FIRST]), int(state_row[s, mc.ST_BRANCH_LAST])):
        first = int(branch_row[b, mc.BR_CHOICE_FIRST])
        last = int(branch_row[b, mc.BR_CHOICE_LAST])
        targets.extend(int(t) for t in choice_target[first:last])
    return targets


def _call_graph(
    state_row: np.ndarray,
    branch_row: np.ndarray,
    choice_target: np.ndarray,
    roots: Sequence[int],
) -> tuple[list[int], list[list[int]], bool]:
    """The state graph with each submodule copied per call site (so a Terminal returns
    only to its own caller): per node its state, per node its successors, and whether a
    submodule calls itself (then no copy ends, and every state is counted)."""
    node_state: list[int] = []
    successors: list[list[int]] = []
    nodes: dict[tuple[int, tuple[int, ...]], int] = {}

    def node(state: int, callers: tuple[int, ...]) -> int:
        key = (state, callers)
        if key not in nodes:
            nodes[key] = len(node_state)
            node_state.append(state)
            successors.append([])
            pending.append(key)
        return nodes[key]

    pending: list[tuple[int, tuple[int, ...]]] = []
    for root in roots:
        node(int(root), ())
    while pending:
        state, callers = pending.pop()
        here = nodes[(state, callers)]
        kind = state_row[state, mc.ST_KIND]
        if kind == mc.S_CALL_SUBMODULE:
            initial = int(state_row[state, 0])
            if any(state_row[c, 0] == initial for c in callers):
                return node_state, successors, True
            successors[here].append(node(initial, (*callers, state)))
        elif kind == mc.S_TERMINAL:
            if callers:  # back to the caller, which then follows its own transition
                caller, outer = callers[-1], callers[:-1]
                successors[here].extend(
                    node(t, outer)
                    for t in _transition_targets(state_row, branch_row, choice_target, caller)
                )
        else:
            successors[here].extend(
                node(t, callers)
                for t in _transition_targets(state_row, branch_row, choice_target, state)
            )
    return node_state, successors, False


def _on_cycles(successors: list[list[int]], removed: np.ndarray) -> np.ndarray:
    """int8 per state: 1 when it lies on a cycle that avoids the removed states
    (Tarjan's strongly connected components, iterative: module graphs can be deep)."""
    n = len(successors)
    index = np.full(n, -1, dtype=np.int64)
    low = np.zeros(n, dtype=np.int64)
    on_stack = np.zeros(n, dtype=bool)
    result = np.zeros(n, dtype=np.int8)
    stack: list[int] = []
    counter = 0
    for root in range(n):
        if removed[root] or index[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            recursed = False
            edges = successors[v]
            while i < len(edges):
                w = edges[i]
                i += 1
                if removed[w]:
                    continue
                if index[w] < 0:
                    work.append((v, i))
                    work.append((w, 0))
                    recursed = True
                    break
                if on_stack[w]:
                    low[v] = min(low[v], index[w])
            if recursed:
                continue
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in successors[v]:
                    result[component] = 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return result


def loop_guarded_states(
    state_row: np.ndarray,
    branch_row: np.ndarray,
    choice_target: np.ndarray,
    dist_kind: np.ndarray,
    dist_params: np.ndarray,
    dist_scale: np.ndarray,
    dist_round: np.ndarray,
    module_initial: np.ndarray,
    limit: int,
) -> np.ndarray:
    """int8 per state: 1 when the kernel must count its entries per instant."""
    n_states = state_row.shape[0]
    node_state, successors, recursive = _call_graph(
        state_row, branch_row, choice_target, [int(s) for s in module_initial]
    )
    copies = np.bincount(np.array(node_state, dtype=np.int64), minlength=n_states)
    # Without a cycle a state is entered at most once per copy per module at an instant.
    if recursive or int(copies.max(initial=0)) * module_initial.size > limit:
        return np.ones(n_states, dtype=np.int8)
    removed = np.array(
        [
            state_row[s, mc.ST_KIND] == mc.S_DELAY
            and _always_waits(int(state_row[s, 0]), dist_kind, dist_params, dist_scale, dist_round)
            for s in node_state
        ],
        dtype=bool,
    )
    guarded = np.zeros(n_states, dtype=np.int8)
    on_cycle = _on_cycles(successors, removed)
    guarded[np.array(node_state, dtype=np.int64)[on_cycle == 1]] = 1
    return guarded
