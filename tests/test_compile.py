"""The compiler: real Synthea modules compile; broken ones fail naming file, state, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohortforge.engine.compile import compile_modules
from cohortforge.engine.module_loader import ModuleError, ModuleLibrary
from cohortforge.kernels import machine_codes as mc

from .conftest import shared_dir


def conformance_library() -> ModuleLibrary:
    return ModuleLibrary([shared_dir() / "conformance" / "synthea_modules"])


def test_every_conformance_module_compiles():
    library = conformance_library()
    names = list(library.module_names())
    modules = [
        library.load(name) for name in names if name in ("asthma", "atopy", "copd", "hypertension")
    ]
    model = compile_modules(modules, library, seed=1)
    loaded = {info.module for info in model.states}
    assert {
        "asthma",
        "copd",
        "hypertension",
        "atopy",
        "medications/maintenance_inhaler",
        "medications/emergency_inhaler",
        "medications/hypertension_medication",
        "anemia/anemia_sub",
        "dme/wheelchair",
        "dme/wheelchair_end",
    } <= loaded
    kinds = set(model.kernel.state_kind.tolist())
    assert {
        mc.S_ENTRY_START,
        mc.S_ENTRY_END,
        mc.S_OBSERVATION,
        mc.S_DELAY,
        mc.S_GUARD,
        mc.S_CALL_SUBMODULE,
        mc.S_DEATH,
    } <= kinds
    # Lookup-table transitions become one branch per table row plus the defaults.
    prescribe = model.state_index("medications/emergency_inhaler", "Prescribe_Ingredient")
    branches = model.kernel.branch_start[prescribe + 1] - model.kernel.branch_start[prescribe]
    assert branches == 3  # rows 0-5 and 6-103, then the default probabilities


def write_module(folder: Path, states: dict, name: str = "broken") -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"name": name, "states": states}))
    return path


GOOD_INITIAL = {"type": "Initial", "direct_transition": "Terminal"}
TERMINAL = {"type": "Terminal"}


@pytest.mark.parametrize(
    ("states", "where", "problem"),
    [
        (
            {"Initial": {"type": "Initial", "direct_transition": "Nowhere"}, "Terminal": TERMINAL},
            "Initial:direct_transition",
            "unknown state 'Nowhere'",
        ),
        (
            {"Initial": GOOD_INITIAL, "Terminal": TERMINAL, "Odd": {"type": "Teleport"}},
            "Odd:type",
            "not supported",
        ),
        ({"Terminal": TERMINAL}, "states", "no Initial"),
        (
            {
                "Initial": {"type": "Initial", "direct_transition": "Wait"},
                "Wait": {
                    "type": "Delay",
                    "exact": {"quantity": 1, "unit": "fortnights"},
                    "direct_transition": "Terminal",
                },
                "Terminal": TERMINAL,
            },
            "Wait:exact",
            "unit 'fortnights'",
        ),
        (
            {
                "Initial": {"type": "Initial", "direct_transition": "Check"},
                "Check": {
                    "type": "Guard",
                    "allow": {"condition_type": "Horoscope"},
                    "direct_transition": "Terminal",
                },
                "Terminal": TERMINAL,
            },
            "Check:allow",
            "condition type 'Horoscope' is not supported",
        ),
        (
            {
                "Initial": {"type": "Initial", "direct_transition": "Check"},
                "Check": {
                    "type": "Guard",
                    "allow": {
                        "condition_type": "Age",
                        "operator": "~",
                        "quantity": 1,
                        "unit": "years",
                    },
                    "direct_transition": "Terminal",
                },
                "Terminal": TERMINAL,
            },
            "Check:allow",
            "operator '~'",
        ),
        (
            {
                "Initial": {"type": "Initial", "direct_transition": "Lab"},
                "Lab": {
                    "type": "Observation",
                    "codes": [{"system": "LOINC", "code": "4548-4"}],
                    "distribution": {"kind": "CAUCHY", "parameters": {}},
                    "unit": "%",
                    "direct_transition": "Terminal",
                },
                "Terminal": TERMINAL,
            },
            "Lab:distribution",
            "distribution kind",
        ),
        (
            {"Initial": {"type": "Initial"}, "Terminal": TERMINAL},
            "Initial:transition",
            "needs exactly one transition",
        ),
        (
            {
                "Initial": {"type": "Initial", "direct_transition": "Sub"},
                "Sub": {
                    "type": "CallSubmodule",
                    "submodule": "nowhere/missing",
                    "direct_transition": "Terminal",
                },
                "Terminal": TERMINAL,
            },
            "Sub:submodule",
            "not found",
        ),
    ],
)
def test_compile_errors_name_file_state_and_field(tmp_path, states, where, problem):
    path = write_module(tmp_path, states)
    library = ModuleLibrary([tmp_path])
    with pytest.raises(ModuleError) as raised:
        compile_modules([library.load(str(path))], library, seed=1)
    message = str(raised.value)
    assert str(path.resolve()) in message or str(path) in message
    assert where in message
    assert problem in message
    assert "\n" not in message


def test_codes_may_be_json_numbers(tmp_path):
    states = {
        "Initial": {"type": "Initial", "direct_transition": "Onset"},
        "Onset": {
            "type": "ConditionOnset",
            "codes": [{"system": "SNOMED-CT", "code": 44054006, "display": "Diabetes"}],
            "direct_transition": "Terminal",
        },
        "Terminal": TERMINAL,
    }
    library = ModuleLibrary([tmp_path])
    module = library.load(str(write_module(tmp_path, states)))
    assert module.states["Onset"]["codes"][0]["code"] == "44054006"
    compile_modules([module], library, seed=1)
