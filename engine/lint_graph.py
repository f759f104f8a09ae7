"""Graph rules of the module linter: Initial, reachability, dead ends, instant loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .lint_context import MODULE_LEVEL, ModuleContext, transition_targets

# How many states of a loop the message names before it says "...".
LOOP_NAMES_SHOWN = 6


def check_initial(ctx: ModuleContext) -> bool:
    """A module starts in its state named "Initial", which must be of type Initial."""
    initial = ctx.states.get("Initial")
    if initial is None:
        ctx.error(MODULE_LEVEL, 'no state named "Initial"; every module starts there')
        return False
    if initial.get("type") != "Initial":
        ctx.error(
            "Initial", f'state "Initial" has type {initial.get("type")!r}, expected "Initial"'
        )
    return True


def check_reachable(ctx: ModuleContext) -> None:
    seen = {"Initial"}
    pending = ["Initial"]
    while pending:
        for target in transition_targets(ctx.states[pending.pop()]):
            if target in ctx.states and target not in seen:
                seen.add(target)
                pending.append(target)
    for name in ctx.states:
        if name not in seen:
            ctx.warning(name, "state is unreachable from Initial")


def check_way_out(ctx: ModuleContext) -> None:
    """Only Terminal ends a module; any other state without a transition is a dead end."""
    for name, state in ctx.states.items():
        # An unsupported "*_transition" key is reported as such; a dead end would repeat it.
        has_transition = any(key.endswith("_transition") for key in state)
        if state["type"] == "Terminal":
            if has_transition:
                ctx.error(name, "a Terminal state ends the module; remove its transition")
        elif not has_transition:
            ctx.error(
                name,
                f"{state['type']} state has no transition and is not Terminal; "
                "the module would be stuck here",
            )


def check_instant_loops(
    ctx: ModuleContext, can_block: Callable[[str, dict[str, Any]], bool]
) -> None:
    """A cycle of states none of which can block, and that cannot end, is an error.

    Dropping every state that can block leaves a graph whose cycles are the loops that
    run at one instant; each strongly connected component with a cycle is one loop. Such
    a loop still ends when it has a way out and something in it changes between passes:
    a random draw (Synthea's redraw-until-valid loops) or an attribute write (a counter).
    """
    free = {name for name, state in ctx.states.items() if not can_block(name, state)}
    edges = {name: [t for t in transition_targets(ctx.states[name]) if t in free] for name in free}
    order = list(ctx.states)
    for component in _strongly_connected(edges):
        first = component[0]
        if len(component) == 1 and first not in edges[first]:
            continue
        if _has_exit(ctx, component) and any(_changes(ctx.states[n]) for n in component):
            continue
        component.sort(key=order.index)
        shown = " -> ".join(component[:LOOP_NAMES_SHOWN])
        more = " -> ..." if len(component) > LOOP_NAMES_SHOWN else ""
        ctx.error(
            component[0],
            f"loop with no delay or guard ({shown}{more} -> {component[0]}) repeats forever "
            "at one instant: nothing in it draws or sets an attribute that could end it; "
            "add a Delay or Guard",
        )


def _has_exit(ctx: ModuleContext, component: list[str]) -> bool:
    members = set(component)
    return any(
        target not in members
        for name in component
        for target in transition_targets(ctx.states[name])
    )


def _changes(state: dict[str, Any]) -> bool:
    """Whether passing through a state can make the next pass of a loop differ."""
    if state["type"] in ("SetAttribute", "Counter") or "assign_to_attribute" in state:
        return True
    if "distributed_transition" in state or "lookup_table_transition" in state:
        return True
    options = state.get("complex_transition")
    return isinstance(options, list) and any(
        isinstance(option, dict) and "distributions" in option for option in options
    )


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so a long chain of states cannot hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                target = edges[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components
