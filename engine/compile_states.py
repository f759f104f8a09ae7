"""Per-state compilation: each state's parameters and its transition branches."""

from __future__ import annotations

import csv
import re
from typing import Any

import numpy as np

from cohortforge.kernels import machine_codes as mc

from .module_loader import ModuleFile
from .module_schema import ENCOUNTER_CLASSES, TRANSITION_KEYS

MAX_CHILD_OBSERVATIONS = 30  # RNG slots 2..31 (SEMANTICS.md, Randomness)
Choices = list[tuple[int, float, int]]
Branch = tuple[int, Choices]

ENTRY_OF_STATE = {
    "ConditionOnset": mc.ENTRY_CONDITION,
    "ConditionEnd": mc.ENTRY_CONDITION,
    "AllergyOnset": mc.ENTRY_ALLERGY,
    "MedicationOrder": mc.ENTRY_MEDICATION,
    "MedicationEnd": mc.ENTRY_MEDICATION,
    "CarePlanStart": mc.ENTRY_CAREPLAN,
    "CarePlanEnd": mc.ENTRY_CAREPLAN,
    "Device": mc.ENTRY_DEVICE,
    "DeviceEnd": mc.ENTRY_DEVICE,
}
# The key naming the starting state that an end state may point at.
END_STATE_KEY = {
    "ConditionEnd": "condition_onset",
    "MedicationEnd": "medication_order",
    "CarePlanEnd": "careplan",
    "DeviceEnd": "device",
}


def _duration(builder, module: ModuleFile, info, definition: dict[str, Any]) -> int:
    """A duration distribution id from exact / range / distribution (+unit), or -1."""
    for key in ("exact", "range", "duration"):
        spec = definition.get(key)
        if isinstance(spec, dict):
            scale = builder.unit_scale(module, info.name, key, spec.get("unit", "seconds"))
            kind = "exact" if key == "exact" else "range"
            return builder.distribution(module, info.name, kind, spec, scale)
    if "distribution" in definition:
        scale = builder.unit_scale(module, info.name, "unit", definition.get("unit", "seconds"))
        return builder.distribution(
            module, info.name, "distribution", definition["distribution"], scale
        )
    return -1


def _reason(builder, module: ModuleFile, reason: Any) -> tuple[int, int]:
    """(attribute slot, ConditionOnset state id) a `reason` may name; -1 where it cannot."""
    if not isinstance(reason, str):
        return -1, -1
    state = module.states.get(reason)
    is_onset = isinstance(state, dict) and state.get("type") == "ConditionOnset"
    return builder.attribute(reason), builder.state_ids[(module.name, reason)] if is_onset else -1


def _first_code(builder, module: ModuleFile, info, definition: dict[str, Any]) -> dict[str, Any]:
    codes = definition.get("codes")
    if info.type == "Device":
        codes = [definition.get("code")]
    if not isinstance(codes, list) or not codes or not isinstance(codes[0], dict):
        raise builder.error(
            module, info.name, "codes", "needs at least one code {system, code, display}"
        )
    return codes[0]


def compile_state(
    builder, module: ModuleFile, info, aux: np.ndarray, num: np.ndarray, state_id: int
) -> None:
    """Fill this state's row of state_aux (and state_num) per kernels/machine.py."""
    d = info.definition
    name = info.name
    kind = info.type
    if kind == "Guard":
        aux[0] = builder.condition(module, name, "allow", d.get("allow"))
    elif kind in ("Delay", "Death"):
        aux[0] = _duration(builder, module, info, d)
        if kind == "Delay" and aux[0] < 0:
            raise builder.error(module, name, "exact", "a Delay needs exact, range or distribution")
        if kind == "Death":
            aux[1], aux[2] = _reason(
                builder, module, d.get("referenced_by_attribute") or d.get("condition_onset")
            )
    elif kind == "SetAttribute":
        aux[0] = builder.attribute(d["attribute"])
        # Synthea's precedence: range, distribution, value_code, value_attribute, value.
        if "range" in d or "distribution" in d:
            key = "range" if "range" in d else "distribution"
            aux[1], aux[2] = mc.V_DISTRIBUTION, builder.distribution(module, name, key, d[key], 1.0)
        elif isinstance(d.get("value_code"), dict):
            code = d["value_code"]
            aux[1] = mc.V_CONSTANT
            aux[3], num[state_id] = builder.constant(str(code.get("code")))
        elif "value_attribute" in d:
            aux[1], aux[2] = mc.V_ATTRIBUTE, builder.attribute(d["value_attribute"])
        elif d.get("value") is not None:
            aux[1] = mc.V_CONSTANT
            aux[3], num[state_id] = builder.constant(d["value"])
        else:
            aux[1] = mc.V_NONE
    elif kind == "Counter":
        aux[0] = builder.attribute(d["attribute"])
        if d.get("action") not in ("increment", "decrement"):
            raise builder.error(module, name, "action", 'must be "increment" or "decrement"')
        amount = float(d.get("amount", 1))
        num[state_id] = amount if d["action"] == "increment" else -amount
    elif kind == "CallSubmodule":
        submodule = builder.library.load_submodule(d["submodule"], module, name)
        aux[0] = builder.state_ids[(submodule.name, "Initial")]
    elif kind == "Encounter":
        aux[0] = int(bool(d.get("wellness", False)))
        if not aux[0]:
            aux[1] = encounter_class_code(module, name, builder, d.get("encounter_class"))
            if not d.get("codes"):
                raise builder.error(module, name, "codes", "an Encounter needs codes")
        aux[2], aux[3] = _reason(builder, module, d.get("reason"))
    elif kind in ("ConditionOnset", "AllergyOnset", "MedicationOrder", "CarePlanStart", "Device"):
        aux[0] = ENTRY_OF_STATE[kind]
        aux[1] = builder.entry_slot(_first_code(builder, module, info, d))
        aux[2] = builder.attribute(d["assign_to_attribute"]) if "assign_to_attribute" in d else -1
        aux[3], aux[4] = _reason(builder, module, d.get("reason"))
    elif kind in ("ConditionEnd", "MedicationEnd", "CarePlanEnd", "DeviceEnd"):
        aux[0] = ENTRY_OF_STATE[kind]
        state_key = END_STATE_KEY[kind]
        if "referenced_by_attribute" in d:
            aux[1], aux[2] = mc.END_BY_ATTRIBUTE, builder.attribute(d["referenced_by_attribute"])
        elif state_key in d:
            aux[1], aux[2] = mc.END_BY_STATE, builder.target(module, name, state_key, d[state_key])
        elif d.get("codes"):
            slots = [builder.entry_slot(code) for code in d["codes"]]
            aux[1] = mc.END_BY_CODES
            aux[2], aux[3] = builder.code_list(slots)
        else:
            raise builder.error(
                module,
                name,
                "referenced_by_attribute",
                f"say what to end: referenced_by_attribute, {state_key} or codes",
            )
    elif kind in ("Observation", "MultiObservation", "DiagnosticReport"):
        start = len(builder.values)
        if kind == "Observation":
            builder.value_spec(module, name, d, 2)
        else:
            children = d.get("observations")
            if not isinstance(children, list) or not children:
                raise builder.error(module, name, "observations", "needs a list of observations")
            if len(children) > MAX_CHILD_OBSERVATIONS:
                raise builder.error(
                    module, name, "observations", f"at most {MAX_CHILD_OBSERVATIONS} observations"
                )
            for index, child in enumerate(children):
                builder.value_spec(module, name, child, 2 + index)
            builder.children[state_id] = children
        aux[0], aux[1] = start, len(builder.values)
        aux[2] = int(kind == "DiagnosticReport")
    elif kind == "Procedure":
        aux[0] = _duration(builder, module, info, d)
        aux[1], aux[2] = _reason(builder, module, d.get("reason"))
        aux[3] = builder.attribute(d["assign_to_attribute"]) if "assign_to_attribute" in d else -1


def _probability(builder, module: ModuleFile, state: str, value: Any) -> tuple[float, int]:
    if isinstance(value, dict) and "attribute" in value:
        return float(value.get("default", 0.0)), builder.attribute(value["attribute"])
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise builder.error(module, state, "distribution", f"probability {value!r} is not a number")
    return float(value), -1


def _distributed(builder, module: ModuleFile, state: str, key: str, options: Any) -> Choices:
    if not isinstance(options, list) or not options:
        raise builder.error(module, state, key, "expected a non-empty list of options")
    choices = []
    for option in options:
        probability, attribute = _probability(builder, module, state, option.get("distribution"))
        target = builder.target(module, state, key, option.get("transition"))
        choices.append((target, probability, attribute))
    return choices


def _lookup_condition(column: str, cell: str) -> dict[str, Any] | None:
    """The condition a lookup-table key cell stands for (SEMANTICS.md, Transitions)."""
    cell = cell.strip()
    if column == "age":
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", cell)
        if not match:
            raise ValueError(f"age key {cell!r} is not low-high")
        low, high = int(match.group(1)), int(match.group(2))
        return {
            "condition_type": "And",
            "conditions": [
                {"condition_type": "Age", "operator": ">=", "quantity": low, "unit": "years"},
                {"condition_type": "Age", "operator": "<", "quantity": high + 1, "unit": "years"},
            ],
        }
    if column == "gender":
        return {"condition_type": "Gender", "gender": cell}
    try:
        value: Any = float(cell)
    except ValueError:
        value = cell
    return {"condition_type": "Attribute", "attribute": column, "operator": "==", "value": value}


def _lookup_table(builder, module: ModuleFile, state: str, options: Any) -> list[Branch]:
    key = "lookup_table_transition"
    if not isinstance(options, list) or not options:
        raise builder.error(module, state, key, "expected a non-empty list of options")
    table_name = options[0].get("lookup_table_name")
    targets = [option.get("transition") for option in options]
    rows = read_lookup_table(builder, module, state, table_name)
    branches: list[Branch] = []
    for row_number, row in enumerate(rows, start=2):
        conditions = []
        for column, cell in row.items():
            if column in targets:
                continue
            try:
                conditions.append(_lookup_condition(column, cell))
            except ValueError as problem:
                raise builder.error(
                    module, state, key, f"{table_name} line {row_number}: {problem}"
                ) from None
        condition = (
            {"condition_type": "And", "conditions": conditions}
            if conditions
            else {"condition_type": "True"}
        )
        choices = [
            (builder.target(module, state, key, target), float(row[target]), -1)
            for target in targets
        ]
        branches.append((builder.condition(module, state, key, condition), choices))
    defaults = [
        (
            builder.target(module, state, key, o.get("transition")),
            float(o.get("default_probability", 0)),
            -1,
        )
        for o in options
    ]
    branches.append((-1, defaults))
    return branches


def compile_transition(builder, module: ModuleFile, info) -> list[Branch]:
    d = info.definition
    state = info.name
    present = [key for key in TRANSITION_KEYS if key in d]
    if info.type == "Terminal":
        return []
    if len(present) != 1:
        raise builder.error(
            module,
            state,
            "transition",
            "needs exactly one transition "
            "(direct, distributed, conditional, complex or lookup table)",
        )
    key = present[0]
    value = d[key]
    if key == "direct_transition":
        return [(-1, [(builder.target(module, state, key, value), 1.0, -1)])]
    if key == "distributed_transition":
        return [(-1, _distributed(builder, module, state, key, value))]
    if key == "lookup_table_transition":
        return _lookup_table(builder, module, state, value)
    if not isinstance(value, list) or not value:
        raise builder.error(module, state, key, "expected a non-empty list of options")
    branches: list[Branch] = []
    for option in value:
        condition = (
            builder.condition(module, state, key, option["condition"])
            if "condition" in option
            else -1
        )
        if "distributions" in option:
            choices = _distributed(builder, module, state, key, option["distributions"])
        else:
            choices = [(builder.target(module, state, key, option.get("transition")), 1.0, -1)]
        branches.append((condition, choices))
    return branches


def read_lookup_table(builder, module: ModuleFile, state: str, name: str) -> list[dict[str, str]]:
    path = builder.library.lookup_table(name, module, state)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def encounter_class_code(module: ModuleFile, state: str, builder, value: Any) -> int:
    if value not in ENCOUNTER_CLASSES:
        raise builder.error(
            module,
            state,
            "encounter_class",
            f"{value!r} is not one of {', '.join(ENCOUNTER_CLASSES)}",
        )
    return ENCOUNTER_CLASSES.index(value)
