"""Which states the kernel counts per instant (engine/compile_loops.py): exactly those a
module could enter again without time passing. That the loop guard still stops such
loops is tests/test_kernel_loop_guard.py; that nothing else changes, the kernel-vs-naive
and determinism tests."""

from __future__ import annotations

import json
from pathlib import Path

from cohortforge.engine.compile import compile_modules
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.kernels import machine_codes as mc

TERMINAL = {"type": "Terminal"}


def counted_states(tmp_path: Path, main: dict, *submodules: tuple[str, dict]) -> set[str]:
    """Names ("module:state") of the states the compiled main module counts."""
    for name, module in submodules:
        path = tmp_path / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(module))
    (tmp_path / f"{main['name']}.json").write_text(json.dumps(main))
    library = ModuleLibrary([tmp_path])
    model = compile_modules([library.load(main["name"])], library, seed=1)
    flags = model.kernel.state_row[:, mc.ST_COUNT] & mc.COUNT_INSTANT
    return {f"{i.module}:{i.name}" for i, flag in zip(model.states, flags, strict=True) if flag}


def loop_through(pause: dict) -> dict:
    """Initial -> Check -> Pause -> Check ... until age 5 (a loop closed by a Delay)."""
    return {
        "name": "looping",
        "states": {
            "Initial": {"type": "Initial", "direct_transition": "Check"},
            "Check": {
                "type": "Simple",
                "conditional_transition": [
                    {
                        "condition": {
                            "condition_type": "Age",
                            "operator": "<",
                            "quantity": 5,
                            "unit": "years",
                        },
                        "transition": "Pause",
                    },
                    {"transition": "Terminal"},
                ],
            },
            "Pause": {"type": "Delay", **pause, "direct_transition": "Check"},
            "Terminal": TERMINAL,
        },
    }


def test_a_loop_closed_by_a_delay_of_at_least_a_second_is_not_counted(tmp_path):
    assert (
        counted_states(tmp_path, loop_through({"exact": {"quantity": 1, "unit": "days"}})) == set()
    )
    one_second = {"range": {"low": 1, "high": 30, "unit": "seconds"}}
    assert counted_states(tmp_path, loop_through(one_second)) == set()


def test_a_delay_that_may_last_zero_seconds_leaves_the_loop_counted(tmp_path):
    for pause in (
        {"range": {"low": 0, "high": 12, "unit": "months"}},
        {"exact": {"quantity": 0.5, "unit": "seconds"}},
        {"distribution": {"kind": "EXPONENTIAL", "parameters": {"mean": 3}}, "unit": "days"},
    ):
        counted = counted_states(tmp_path, loop_through(pause))
        # Check only routes, so it is folded into Pause (engine/fold_routers.py): the
        # loop that can close at one instant is Pause to Pause.
        assert counted == {"looping:Pause"}, pause


def test_zero_time_cycles_and_self_loops_are_counted_and_nothing_else(tmp_path):
    module = {
        "name": "spin",
        "states": {
            "Initial": {"type": "Initial", "direct_transition": "Before"},
            "Before": {"type": "Simple", "direct_transition": "Ping"},
            "Ping": {"type": "Simple", "direct_transition": "Pong"},
            "Pong": {
                "type": "Simple",
                "distributed_transition": [
                    {"distribution": 0.5, "transition": "Ping"},
                    {"distribution": 0.5, "transition": "Count"},
                ],
            },
            "Count": {
                "type": "Counter",
                "attribute": "n",
                "action": "increment",
                "conditional_transition": [
                    {
                        "condition": {
                            "condition_type": "Attribute",
                            "attribute": "n",
                            "operator": "<",
                            "value": 10,
                        },
                        "transition": "Count",
                    },
                    {"transition": "After"},
                ],
            },
            "After": {"type": "Simple", "direct_transition": "Terminal"},
            "Terminal": TERMINAL,
        },
    }
    assert counted_states(tmp_path, module) == {"spin:Ping", "spin:Pong", "spin:Count"}


def calls(*targets: str) -> dict:
    """A main module calling submodule `sub` from states Call_1..Call_n, in sequence."""
    states: dict = {"Initial": {"type": "Initial", "direct_transition": "Call_1"}}
    for index, target in enumerate(targets, start=1):
        states[f"Call_{index}"] = {
            "type": "CallSubmodule",
            "submodule": "sub",
            "direct_transition": target,
        }
    states["Terminal"] = TERMINAL
    return {"name": "caller", "states": states}


SUB = {
    "name": "sub",
    "states": {
        "Initial": {"type": "Initial", "direct_transition": "Work"},
        # Not a Simple state, which would be folded into Initial (engine/fold_routers.py).
        "Work": {
            "type": "SetAttribute",
            "attribute": "worked",
            "value": True,
            "direct_transition": "Terminal",
        },
        "Terminal": TERMINAL,
    },
}


def test_a_submodule_called_twice_in_one_instant_is_not_a_loop(tmp_path):
    # Terminal returns to its own caller only: Call_1's return cannot reach Call_1 again.
    assert counted_states(tmp_path, calls("Call_2", "Terminal"), ("sub", SUB)) == set()


def test_a_submodule_called_from_a_zero_time_cycle_is_counted(tmp_path):
    counted = counted_states(tmp_path, calls("Call_1"), ("sub", SUB))
    assert counted == {"caller:Call_1", "sub:Initial", "sub:Work", "sub:Terminal"}


def test_a_submodule_that_calls_itself_makes_every_state_counted(tmp_path):
    recursive = {
        "name": "sub",
        "states": {
            "Initial": {"type": "Initial", "direct_transition": "Again"},
            "Again": {"type": "CallSubmodule", "submodule": "sub", "direct_transition": "Terminal"},
            "Terminal": TERMINAL,
        },
    }
    counted = counted_states(tmp_path, calls("Terminal"), ("sub", recursive))
    assert counted == {
        "caller:Initial",
        "caller:Call_1",
        "caller:Terminal",
        "sub:Initial",
        "sub:Again",
        "sub:Terminal",
    }
