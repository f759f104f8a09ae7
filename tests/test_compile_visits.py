"""Which states the kernel counts visits of (engine/compile_visits.py): every state whose
visit number a draw, an event or a handle reads, and no other. That events keep their
visit numbers and draws is checked against the reference interpreter by
tests/test_kernel_vs_naive.py."""

from __future__ import annotations

import json
from pathlib import Path

from cohortforge.engine.compile import compile_modules
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.kernels import machine_codes as mc

ADULT = {"condition_type": "Age", "operator": ">=", "quantity": 18, "unit": "years"}
MODULE = {
    "name": "visits",
    "states": {
        "Initial": {"type": "Initial", "direct_transition": "Router"},
        "Router": {
            "type": "Simple",
            "conditional_transition": [
                {"condition": ADULT, "transition": "Coin"},
                {"transition": "Set_Constant"},
            ],
        },
        "Coin": {
            "type": "Simple",
            "distributed_transition": [
                {"distribution": 0.5, "transition": "Set_Constant"},
                {"distribution": 0.5, "transition": "Set_Drawn"},
            ],
        },
        "Set_Constant": {
            "type": "SetAttribute",
            "attribute": "a",
            "value": 1,
            "direct_transition": "Set_Drawn",
        },
        "Set_Drawn": {
            "type": "SetAttribute",
            "attribute": "b",
            "distribution": {"kind": "UNIFORM", "parameters": {"low": 0, "high": 1}},
            "direct_transition": "Wait",
        },
        "Wait": {
            "type": "Delay",
            "exact": {"quantity": 1, "unit": "years"},
            "direct_transition": "Guarded",
        },
        "Guarded": {"type": "Guard", "allow": ADULT, "direct_transition": "Onset"},
        "Onset": {
            "type": "ConditionOnset",
            "codes": [{"system": "SNOMED-CT", "code": "44054006", "display": "Diabetes"}],
            "direct_transition": "Count",
        },
        "Count": {
            "type": "Counter",
            "attribute": "n",
            "action": "increment",
            "complex_transition": [
                {
                    "condition": ADULT,
                    "distributions": [
                        {"distribution": 0.5, "transition": "Terminal"},
                        {"distribution": 0.5, "transition": "Terminal"},
                    ],
                },
                {"transition": "Terminal"},
            ],
        },
        "Terminal": {"type": "Terminal"},
    },
}


def test_only_states_whose_visit_number_is_read_are_counted(tmp_path: Path):
    (tmp_path / "visits.json").write_text(json.dumps(MODULE))
    library = ModuleLibrary([tmp_path])
    model = compile_modules([library.load("visits")], library, seed=1)
    counts = model.kernel.state_row[:, mc.ST_COUNT] & mc.COUNT_VISITS
    counted = {info.name for info, flag in zip(model.states, counts, strict=True) if flag}
    # Coin and Count draw their transitions, Set_Drawn its value, Wait (a Delay) may draw,
    # Onset writes an event; the routers, the constant SetAttribute and the Guard read none.
    assert counted == {"Coin", "Set_Drawn", "Wait", "Onset", "Count"}
