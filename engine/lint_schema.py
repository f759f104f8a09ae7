"""Schema rules of the module linter: state keys and value types, units and distributions.

Transitions and conditions are in lint_transitions.py. Every rule reads the supported
subset from module_schema.py, so the linter rejects exactly what the engine cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .lint_context import ModuleContext, check_time_unit, is_number, named
from .lint_transitions import check_condition
from .module_schema import (
    CHILD_OBSERVATION_KEYS,
    COMMON_STATE_KEYS,
    DISTRIBUTION_KINDS,
    ENCOUNTER_CLASSES,
    STATE_FIELDS,
    VITAL_SIGN_LOINC,
)

README = "modules/README.md"

# Parameters each distribution kind needs, then the ones it may have. Kept here because
# module_schema.py lists only the kinds.
DISTRIBUTION_PARAMETERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "EXACT": (frozenset({"value"}), frozenset()),
    "UNIFORM": (frozenset({"low", "high"}), frozenset()),
    "GAUSSIAN": (frozenset({"mean", "standardDeviation"}), frozenset({"min", "max"})),
    "EXPONENTIAL": (frozenset({"mean"}), frozenset()),
    "TRIANGULAR": (frozenset({"min", "mode", "max"}), frozenset()),
}

# Value sources of an Observation (or child observation) that give a number, which
# therefore needs a unit; value_code gives a code and needs none.
NUMERIC_VALUE_KEYS = ("exact", "range", "distribution", "attribute", "vital_sign")

# End states name the state that started the entry they end; that state's type.
STARTED_BY = {
    "condition_onset": ("ConditionOnset", "AllergyOnset"),
    "medication_order": ("MedicationOrder",),
    "careplan": ("CarePlanStart",),
    "device": ("Device",),
    "target_encounter": ("Encounter",),
}

TELEMEDICINE = ("none", "possible", "always")

# Each child observation draws from its own RNG slot, 2 to 31 (SEMANTICS.md, Randomness).
MAX_CHILD_OBSERVATIONS = 30

STRING_KEYS = frozenset(
    {
        "submodule",
        "reason",
        "assign_to_attribute",
        "referenced_by_attribute",
        "value_attribute",
        "category",
        "symptom",
        "cause",
        "manufacturer",
        "model",
        "allergy_type",
    }
)
BOOLEAN_KEYS = frozenset({"wellness", "chronic", "addressed", "administration"})


# --- small shared checks -----------------------------------------------------------


def check_coding(ctx: ModuleContext, state: str, where: str, coding: Any) -> None:
    """A code is {"system": ..., "code": ..., "display": ...}; lint_codes checks the values."""
    if (
        not isinstance(coding, dict)
        or not isinstance(coding.get("system"), str)
        or not (isinstance(coding.get("code"), str) and coding["code"])
    ):
        ctx.error(state, f'{where}: expected a code {{"system", "code", "display"}}')


def check_codings(ctx: ModuleContext, state: str, where: str, codes: Any) -> None:
    if not isinstance(codes, list) or not codes:
        ctx.error(state, f"{where}: expected a non-empty list of codes")
        return
    for index, coding in enumerate(codes):
        check_coding(ctx, state, f"{where}[{index}]", coding)


def check_distribution(ctx: ModuleContext, state: str, where: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        ctx.error(state, f'{where}: expected {{"kind": ..., "parameters": {{...}}}}')
        return
    kind = spec.get("kind")
    if not named(kind, DISTRIBUTION_KINDS):
        ctx.error(
            state,
            f"{where}: distribution kind {kind!r} is unknown or unsupported; use one of "
            f"{', '.join(sorted(DISTRIBUTION_KINDS))}",
        )
        return
    for key in sorted(set(spec) - {"kind", "parameters", "round"}):
        ctx.error(state, f"{where}: key {key!r} is unsupported in a distribution")
    if "round" in spec and not isinstance(spec["round"], bool):
        ctx.error(state, f"{where}: round must be true or false")
    parameters = spec.get("parameters")
    if not isinstance(parameters, dict):
        ctx.error(state, f'{where}: {kind} needs a "parameters" object')
        return
    required, optional = DISTRIBUTION_PARAMETERS[kind]
    for key in sorted(required - parameters.keys()):
        ctx.error(state, f"{where}: {kind} distribution is missing parameter {key!r}")
    for key, value in sorted(parameters.items()):
        if key not in required | optional:
            ctx.error(state, f"{where}: parameter {key!r} is unsupported for {kind}")
        elif not is_number(value):
            ctx.error(state, f"{where}: parameter {key!r} must be a number")
    _check_parameter_order(ctx, state, where, kind, parameters)


def _check_parameter_order(
    ctx: ModuleContext, state: str, where: str, kind: str, parameters: dict[str, Any]
) -> None:
    def ordered(*names: str) -> bool:
        values = [parameters.get(name) for name in names]
        return not all(is_number(v) for v in values) or values == sorted(values)

    if kind == "UNIFORM" and not ordered("low", "high"):
        ctx.error(state, f"{where}: UNIFORM low is above high")
    elif kind == "TRIANGULAR" and not ordered("min", "mode", "max"):
        ctx.error(state, f"{where}: TRIANGULAR needs min <= mode <= max")
    elif kind == "GAUSSIAN" and is_number(sd := parameters.get("standardDeviation")) and sd < 0:
        ctx.error(state, f"{where}: GAUSSIAN standardDeviation is negative")
    elif kind == "EXPONENTIAL" and is_number(mean := parameters.get("mean")) and mean <= 0:
        ctx.error(state, f"{where}: EXPONENTIAL mean must be above 0")


def check_exact(ctx: ModuleContext, state: str, value: Any, timed: bool) -> None:
    """`exact`: {"quantity": q} plus a time "unit" where it is a duration."""
    if not isinstance(value, dict) or not is_number(value.get("quantity")):
        ctx.error(state, 'exact: expected {"quantity": <number>}')
        return
    if "unit" in value and timed:
        check_time_unit(ctx, state, "exact", value["unit"])


def check_range(ctx: ModuleContext, state: str, key: str, value: Any, timed: bool) -> None:
    """`range` / `duration`: {"low": a, "high": b} plus a time "unit" where it is a duration."""
    if not isinstance(value, dict) or not (
        is_number(value.get("low")) and is_number(value.get("high"))
    ):
        ctx.error(state, f'{key}: expected {{"low": <number>, "high": <number>}}')
        return
    if value["low"] > value["high"]:
        ctx.error(state, f"{key}: low {value['low']} is above high {value['high']}")
    if "unit" in value and timed:
        check_time_unit(ctx, state, key, value["unit"])


# --- one state -----------------------------------------------------------------------


def check_state_schema(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    """Keys present and allowed for the state's type, and values of a sane type."""
    kind = state["type"]
    fields = STATE_FIELDS.get(kind)
    if fields is None:
        ctx.error(
            name,
            f"state type {kind!r} is unknown or unsupported; the supported types are "
            f"listed in {README}",
        )
        return
    required, optional = fields
    for key in sorted(required - state.keys()):
        ctx.error(name, f"{kind} state is missing required key {key!r}")
    allowed = required | optional | COMMON_STATE_KEYS
    for key in state:
        # Unknown "*_transition" keys get their own message from the transition rules.
        if key not in allowed and not key.endswith("_transition"):
            ctx.error(
                name,
                f"key {key!r} is unsupported on {kind} states; remove it (see {README})",
            )
    for key, value in state.items():
        if key in allowed:
            _check_value(ctx, name, kind, key, value)
    rule = KIND_RULES.get(kind)
    if rule is not None:
        rule(ctx, name, state)


def _check_value(ctx: ModuleContext, name: str, kind: str, key: str, value: Any) -> None:
    timed = kind in ("Delay", "Death", "Procedure")
    if key in STRING_KEYS and not (isinstance(value, str) and value):
        ctx.error(name, f"{key}: expected a non-empty string")
    elif key in BOOLEAN_KEYS and not isinstance(value, bool):
        ctx.error(name, f"{key}: expected true or false")
    elif key in ("codes", "activities"):
        check_codings(ctx, name, key, value)
    elif key in ("code", "value_code", "discharge_disposition"):
        check_coding(ctx, name, key, value)
    elif key == "exact":
        check_exact(ctx, name, value, timed)
    elif key in ("range", "duration"):
        check_range(ctx, name, key, value, timed)
    elif key == "distribution":
        check_distribution(ctx, name, key, value)
    elif key == "unit":
        if timed:
            check_time_unit(ctx, name, "unit", value)
        elif not (isinstance(value, str) and value):
            ctx.error(name, 'unit: expected a UCUM unit string such as "mg/dL"')
    elif key == "allow":
        check_condition(ctx, name, "allow", value)
    else:
        _check_special_value(ctx, name, key, value)


def _check_special_value(ctx: ModuleContext, name: str, key: str, value: Any) -> None:
    if key == "attribute":
        if not (isinstance(value, str) and value):
            ctx.error(name, "attribute: expected a non-empty attribute name")
    elif key in STARTED_BY:
        _check_state_reference(ctx, name, key, value)
    elif key == "encounter_class" and value not in ENCOUNTER_CLASSES:
        ctx.error(
            name,
            f"encounter_class {value!r} is unsupported; use one of {', '.join(ENCOUNTER_CLASSES)}",
        )
    elif key == "telemedicine_possibility" and value not in TELEMEDICINE:
        ctx.error(name, f"telemedicine_possibility must be one of {', '.join(TELEMEDICINE)}")
    elif key == "vital_sign" and not named(value, VITAL_SIGN_LOINC):
        ctx.error(
            name,
            f"vital_sign {value!r} is unknown; use one of {', '.join(VITAL_SIGN_LOINC)}",
        )
    elif key in ("amount", "number_of_observations") and not (
        isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ):
        ctx.error(name, f"{key}: expected a whole number")
    elif key == "value" and not (value is None or isinstance(value, str | bool | int | float)):
        ctx.error(name, "value: expected a number, string, true/false or null")
    elif key == "probability" and not (is_number(value) and 0 <= value <= 1):
        ctx.error(name, "probability: expected a number in [0, 1]")
    elif key == "observations":
        _check_child_observations(ctx, name, value)
    elif key == "prescription":
        _check_prescription(ctx, name, value)


def _check_state_reference(ctx: ModuleContext, name: str, key: str, value: Any) -> None:
    expected = STARTED_BY[key]
    target = ctx.states.get(value) if isinstance(value, str) else None
    if target is None:
        ctx.error(name, f"{key}: names unknown state {value!r}")
    elif target.get("type") not in expected:
        ctx.error(
            name,
            f"{key}: state {value!r} is a {target.get('type')}, expected {' or '.join(expected)}",
        )


def _check_prescription(ctx: ModuleContext, name: str, value: Any) -> None:
    if not isinstance(value, dict):
        ctx.error(name, "prescription: expected an object")
        return
    for part in ("dosage", "duration"):
        inner = value.get(part)
        if isinstance(inner, dict) and "unit" in inner:
            check_time_unit(ctx, name, f"prescription {part}", inner["unit"])


def _check_child_observations(ctx: ModuleContext, name: str, value: Any) -> None:
    if not isinstance(value, list) or not value:
        ctx.error(name, "observations: expected a non-empty list of observations")
        return
    if len(value) > MAX_CHILD_OBSERVATIONS:
        ctx.error(
            name,
            f"observations: {len(value)} observations; at most "
            f"{MAX_CHILD_OBSERVATIONS} are supported",
        )
    for index, child in enumerate(value):
        where = f"observations[{index}]"
        if not isinstance(child, dict):
            ctx.error(name, f"{where}: expected an observation object")
            continue
        for key in child:
            if key not in CHILD_OBSERVATION_KEYS:
                ctx.error(name, f"{where}: key {key!r} is unsupported in a child observation")
        if "codes" not in child:
            ctx.error(name, f"{where}: missing required key 'codes'")
        else:
            check_codings(ctx, name, f"{where}.codes", child["codes"])
        _check_observation_values(ctx, name, where, child)


def _check_observation_values(
    ctx: ModuleContext, name: str, where: str, observation: dict[str, Any]
) -> None:
    sources = [key for key in (*NUMERIC_VALUE_KEYS, "value_code") if key in observation]
    if len(sources) > 1:
        ctx.error(name, f"{where}: give one value source, not {' and '.join(sources)}")
    for key in sources:
        value = observation[key]
        if key == "exact":
            check_exact(ctx, name, value, timed=False)
        elif key == "range":
            check_range(ctx, name, f"{where}.range", value, timed=False)
        elif key == "distribution":
            check_distribution(ctx, name, f"{where}.distribution", value)
        elif key == "value_code":
            check_coding(ctx, name, f"{where}.value_code", value)
        elif key == "attribute":
            ctx.read(name, value)
        elif key == "vital_sign" and not named(value, VITAL_SIGN_LOINC):
            ctx.error(name, f"{where}: vital_sign {value!r} is unknown")


# --- rules that tie several keys of one state type together -----------------------------


def _one_of(
    ctx: ModuleContext, name: str, state: dict[str, Any], keys: tuple[str, ...], needed: bool
) -> list[str]:
    present = [key for key in keys if key in state]
    if len(present) > 1:
        ctx.error(name, f"give one of {', '.join(keys)}, not {' and '.join(present)}")
    elif needed and not present:
        ctx.error(name, f"{state['type']} state needs one of {', '.join(keys)}")
    return present


def _delay_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    present = _one_of(ctx, name, state, ("exact", "range", "distribution"), needed=True)
    _needs_time_unit(ctx, name, state, present)


def _needs_time_unit(
    ctx: ModuleContext, name: str, state: dict[str, Any], present: list[str]
) -> None:
    # A duration's unit sits inside exact/range/duration, or at the state with a distribution.
    for key in present:
        inner = state.get(key)
        has_inner = isinstance(inner, dict) and "unit" in inner
        if not has_inner and "unit" not in state:
            ctx.error(name, f'{key}: missing time unit; add "unit": "days" (or years, ...)')


def _death_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    present = _one_of(ctx, name, state, ("exact", "range"), needed=False)
    _needs_time_unit(ctx, name, state, present)


def _procedure_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    present = _one_of(ctx, name, state, ("duration", "distribution"), needed=False)
    _needs_time_unit(ctx, name, state, present)


def _set_attribute_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    keys = ("value", "value_attribute", "distribution", "value_code", "range")
    _one_of(ctx, name, state, keys, needed=False)
    ctx.read(name, state.get("value_attribute"))


def _counter_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    if state.get("action") not in ("increment", "decrement", None):
        ctx.error(name, f"action {state['action']!r} is unsupported; use increment or decrement")


def _encounter_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    if state.get("wellness") is not True:
        for key in ("encounter_class", "codes"):
            if key not in state:
                ctx.error(name, f"a non-wellness Encounter needs {key!r}")


def _end_rule(reference: str) -> Callable[[ModuleContext, str, dict[str, Any]], None]:
    def rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
        keys = ("referenced_by_attribute", reference, "codes")
        _one_of(ctx, name, state, keys, needed=True)
        ctx.read(name, state.get("referenced_by_attribute"))

    return rule


def _observation_rule(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    sources = [key for key in (*NUMERIC_VALUE_KEYS, "value_code") if key in state]
    if len(sources) > 1:
        ctx.error(name, f"give one value source, not {' and '.join(sources)}")
    ctx.read(name, state.get("attribute"))


def _death_reads(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    _death_rule(ctx, name, state)
    ctx.read(name, state.get("referenced_by_attribute"))


KIND_RULES: dict[str, Callable[[ModuleContext, str, dict[str, Any]], None]] = {
    "Delay": _delay_rule,
    "Death": _death_reads,
    "Procedure": _procedure_rule,
    "SetAttribute": _set_attribute_rule,
    "Counter": _counter_rule,
    "Encounter": _encounter_rule,
    "ConditionEnd": _end_rule("condition_onset"),
    "MedicationEnd": _end_rule("medication_order"),
    "CarePlanEnd": _end_rule("careplan"),
    "DeviceEnd": _end_rule("device"),
    "Observation": _observation_rule,
}
