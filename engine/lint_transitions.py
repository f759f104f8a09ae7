"""Transition and condition rules of the module linter."""

from __future__ import annotations

import csv
import re
from typing import Any

from .lint_context import ModuleContext, check_time_unit, is_number, named
from .module_loader import ModuleError
from .module_schema import (
    CONDITION_TYPES,
    OPERATORS,
    RACE_NAMES,
    TRANSITION_KEYS,
    VITAL_SIGN_LOINC,
)

README = "modules/README.md"
# Probabilities are decimal fractions written by people; 0.1 + 0.2 must not read as > 1.
TOLERANCE = 1e-9

# Condition type -> (required keys, optional keys), besides condition_type and remarks.
# Kept here because module_schema.py lists only the type names.
CONDITION_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Age": (frozenset({"operator", "quantity", "unit"}), frozenset()),
    "Gender": (frozenset({"gender"}), frozenset()),
    "Race": (frozenset({"race"}), frozenset()),
    "Socioeconomic Status": (frozenset({"category"}), frozenset()),
    "Attribute": (frozenset({"attribute", "operator"}), frozenset({"value"})),
    "Active Condition": (frozenset(), frozenset({"codes", "referenced_by_attribute"})),
    "Active Medication": (frozenset(), frozenset({"codes", "referenced_by_attribute"})),
    "Active CarePlan": (frozenset(), frozenset({"codes", "referenced_by_attribute"})),
    "Active Allergy": (frozenset(), frozenset({"codes", "referenced_by_attribute"})),
    "Observation": (frozenset({"operator", "codes"}), frozenset({"value"})),
    "Vital Sign": (frozenset({"vital_sign", "operator", "value"}), frozenset()),
    "PriorState": (frozenset({"name"}), frozenset({"within"})),
    "Date": (frozenset({"operator"}), frozenset({"year", "date"})),
    "And": (frozenset({"conditions"}), frozenset()),
    "Or": (frozenset({"conditions"}), frozenset()),
    "Not": (frozenset({"condition"}), frozenset()),
    "At Least": (frozenset({"minimum", "conditions"}), frozenset()),
    "True": (frozenset(), frozenset()),
    "False": (frozenset(), frozenset()),
}
NIL_OPERATORS = ("is nil", "is not nil")
SES_CATEGORIES = ("Low", "Middle", "High")
OPTION_KEYS = {
    "distributed_transition": frozenset({"transition", "distribution", "remarks"}),
    "conditional_transition": frozenset({"transition", "condition", "remarks"}),
    "complex_transition": frozenset({"transition", "distributions", "condition", "remarks"}),
    "lookup_table_transition": frozenset(
        {"transition", "default_probability", "lookup_table_name", "remarks"}
    ),
}
# Lookup-table key columns read from the patient rather than from an attribute.
DEMOGRAPHIC_COLUMNS = ("age", "gender")


# --- conditions --------------------------------------------------------------------


def check_condition(ctx: ModuleContext, state: str, where: str, condition: Any) -> None:
    if not isinstance(condition, dict) or not isinstance(condition.get("condition_type"), str):
        ctx.error(state, f'{where}: expected a condition with a "condition_type"')
        return
    kind = condition["condition_type"]
    fields = CONDITION_FIELDS.get(kind) if kind in CONDITION_TYPES else None
    if fields is None:
        ctx.error(
            state,
            f"{where}: condition type {kind!r} is unknown or unsupported; the supported "
            f"types are listed in {README}",
        )
        return
    required, optional = fields
    for key in sorted(required - condition.keys()):
        ctx.error(state, f"{where}: {kind} condition is missing required key {key!r}")
    for key in condition:
        if key not in required | optional | {"condition_type", "remarks"}:
            ctx.error(state, f"{where}: key {key!r} is unsupported in {kind} conditions")
    if "operator" in condition:
        _check_operator(ctx, state, where, kind, condition)
    _check_condition_values(ctx, state, where, kind, condition)


def _check_operator(
    ctx: ModuleContext, state: str, where: str, kind: str, condition: dict[str, Any]
) -> None:
    operator = condition["operator"]
    if operator not in OPERATORS:
        ctx.error(
            state,
            f"{where}: operator {operator!r} is unsupported; use one of {', '.join(OPERATORS)}",
        )
    elif operator in NIL_OPERATORS:
        if kind in ("Date", "Age"):
            ctx.error(state, f"{where}: {kind} cannot use {operator!r}")
    elif kind in ("Attribute", "Observation", "Vital Sign"):
        _check_compared_value(ctx, state, where, kind, operator, condition)


def _check_compared_value(
    ctx: ModuleContext, state: str, where: str, kind: str, operator: str, condition: dict[str, Any]
) -> None:
    """The value compared with: numbers everywhere, text and true/false for attributes."""
    if "value" not in condition:
        ctx.error(state, f'{where}: operator {operator!r} needs a "value" to compare with')
        return
    value = condition["value"]
    if kind == "Attribute" and isinstance(value, str | bool):
        # Text has no order: the engine compares it with == and != only.
        if isinstance(value, str) and operator not in ("==", "!="):
            ctx.error(state, f"{where}: text values can only be compared with == or !=")
    elif kind == "Attribute" and not is_number(value):
        ctx.error(state, f"{where}: value must be a number, text or true/false")
    elif kind != "Attribute" and not is_number(value):
        ctx.error(state, f'{where}: {kind} compares numbers; give a numeric "value"')


def _check_condition_values(
    ctx: ModuleContext, state: str, where: str, kind: str, condition: dict[str, Any]
) -> None:
    if kind in ("And", "Or", "At Least"):
        children = condition.get("conditions")
        if not isinstance(children, list) or not children:
            ctx.error(state, f'{where}: {kind} needs a non-empty "conditions" list')
            children = []
        for index, child in enumerate(children):
            check_condition(ctx, state, f"{where}.conditions[{index}]", child)
        if kind == "At Least" and not isinstance(condition.get("minimum"), int):
            ctx.error(state, f'{where}: At Least needs a whole-number "minimum"')
    elif kind == "Not" and "condition" in condition:
        check_condition(ctx, state, f"{where}.condition", condition["condition"])
    elif kind == "Attribute":
        ctx.read(state, condition.get("attribute"))
    elif kind.startswith("Active "):
        _check_entry_condition(ctx, state, where, kind, condition)
    elif kind == "Observation":
        _check_codes_list(ctx, state, where, condition.get("codes"))
    else:
        _check_simple_condition(ctx, state, where, kind, condition)


def _check_entry_condition(
    ctx: ModuleContext, state: str, where: str, kind: str, condition: dict[str, Any]
) -> None:
    present = [key for key in ("codes", "referenced_by_attribute") if key in condition]
    if len(present) != 1:
        ctx.error(state, f'{where}: {kind} needs one of "codes" or "referenced_by_attribute"')
    ctx.read(state, condition.get("referenced_by_attribute"))
    if "codes" in condition:
        _check_codes_list(ctx, state, where, condition["codes"])


def _check_codes_list(ctx: ModuleContext, state: str, where: str, codes: Any) -> None:
    if not (isinstance(codes, list) and codes):
        ctx.error(state, f"{where}: codes: expected a non-empty list of codes")


def _check_simple_condition(
    ctx: ModuleContext, state: str, where: str, kind: str, condition: dict[str, Any]
) -> None:
    if kind == "Age":
        if not is_number(condition.get("quantity")):
            ctx.error(state, f"{where}: Age quantity must be a number")
        check_time_unit(ctx, state, where, condition.get("unit"))
    elif kind == "Gender" and condition.get("gender") not in ("M", "F"):
        ctx.error(state, f'{where}: gender must be "M" or "F"')
    elif kind == "Race" and str(condition.get("race", "")).lower() not in RACE_NAMES:
        ctx.error(
            state,
            f"{where}: race {condition.get('race')!r} is unknown; use one of "
            f"{', '.join(name.title() for name in RACE_NAMES)}",
        )
    elif kind == "Socioeconomic Status" and str(condition.get("category")).title() not in (
        SES_CATEGORIES
    ):
        ctx.error(state, f"{where}: category must be one of {', '.join(SES_CATEGORIES)}")
    elif kind == "Vital Sign" and not named(condition.get("vital_sign"), VITAL_SIGN_LOINC):
        ctx.error(
            state,
            f"{where}: vital_sign {condition.get('vital_sign')!r} is unknown; "
            f"use one of {', '.join(VITAL_SIGN_LOINC)}",
        )
    elif kind == "PriorState":
        _check_prior_state(ctx, state, where, condition)
    elif kind == "Date":
        _check_date(ctx, state, where, condition)


def _check_date(ctx: ModuleContext, state: str, where: str, condition: dict[str, Any]) -> None:
    date = condition.get("date")
    if "year" in condition:
        valid = isinstance(condition["year"], int) and "date" not in condition
    else:
        valid = isinstance(date, dict) and isinstance(date.get("year"), int)
    if not valid:
        ctx.error(
            state, f'{where}: Date needs a whole-number "year" or a "date" object with a "year"'
        )


def _check_prior_state(
    ctx: ModuleContext, state: str, where: str, condition: dict[str, Any]
) -> None:
    if not named(condition.get("name"), ctx.states):
        ctx.error(state, f"{where}: PriorState names unknown state {condition.get('name')!r}")
    within = condition.get("within")
    if within is not None:
        if not isinstance(within, dict) or not is_number(within.get("quantity")):
            ctx.error(state, f'{where}: within: expected {{"quantity": n, "unit": ...}}')
        else:
            check_time_unit(ctx, state, f"{where}.within", within.get("unit"))


# --- transitions -------------------------------------------------------------------


def check_transitions(ctx: ModuleContext, name: str, state: dict[str, Any]) -> None:
    """Transition keys, option shapes, probabilities and target states."""
    for key in state:
        if key.endswith("_transition") and key not in TRANSITION_KEYS:
            ctx.error(
                name,
                f"transition type {key!r} is unknown or unsupported; use one of "
                f"{', '.join(TRANSITION_KEYS)}",
            )
    present = [key for key in TRANSITION_KEYS if key in state]
    if len(present) > 1:
        ctx.error(name, f"give one transition, not {' and '.join(present)}")
    for key in present:
        if key == "direct_transition":
            _check_target(ctx, name, key, state[key])
        elif _check_options(ctx, name, key, state[key]):
            OPTION_CHECKS[key](ctx, name, state[key])


def _check_target(ctx: ModuleContext, name: str, where: str, target: Any) -> None:
    if not isinstance(target, str):
        ctx.error(name, f"{where}: expected the name of a state")
    elif target not in ctx.states:
        ctx.error(name, f"{where}: transition to unknown state {target!r}")


def _check_options(
    ctx: ModuleContext, name: str, where: str, options: Any, kind: str | None = None
) -> bool:
    """A non-empty list of option objects with only the keys options of this kind have."""
    if (
        not isinstance(options, list)
        or not options
        or not all(isinstance(option, dict) for option in options)
    ):
        ctx.error(name, f"{where}: expected a non-empty list of options")
        return False
    allowed = OPTION_KEYS[kind or where]
    for index, option in enumerate(options):
        for extra in sorted(option.keys() - allowed):
            ctx.error(name, f"{where}[{index}]: key {extra!r} is unsupported here")
    return True


def _check_distributed(
    ctx: ModuleContext,
    name: str,
    options: list[dict[str, Any]],
    where: str = "distributed_transition",
) -> None:
    for index, option in enumerate(options):
        _check_target(ctx, name, f"{where}[{index}]", option.get("transition"))
    check_probabilities(ctx, name, where, [option.get("distribution") for option in options])


def _check_conditional(ctx: ModuleContext, name: str, options: list[dict[str, Any]]) -> None:
    for index, option in enumerate(options):
        where = f"conditional_transition[{index}]"
        _check_target(ctx, name, where, option.get("transition"))
        if "condition" in option:
            check_condition(ctx, name, f"{where}.condition", option["condition"])


def _check_complex(ctx: ModuleContext, name: str, options: list[dict[str, Any]]) -> None:
    for index, option in enumerate(options):
        where = f"complex_transition[{index}]"
        if "condition" in option:
            check_condition(ctx, name, f"{where}.condition", option["condition"])
        if ("transition" in option) == ("distributions" in option):
            ctx.error(name, f'{where}: give either "transition" or "distributions"')
        elif "transition" in option:
            _check_target(ctx, name, where, option["transition"])
        elif _check_options(
            ctx, name, f"{where}.distributions", option["distributions"], "distributed_transition"
        ):
            _check_distributed(ctx, name, option["distributions"], f"{where}.distributions")


def check_probabilities(ctx: ModuleContext, name: str, where: str, values: list[Any]) -> None:
    """Each probability in [0, 1] and their sum at most 1 (the rest goes to the last option).

    A probability may be {"attribute": name, "default": p}: read at run time, so only the
    default can be checked here.
    """
    total = 0.0
    for index, value in enumerate(values):
        if isinstance(value, dict) and set(value) <= {"attribute", "default"}:
            ctx.read(name, value.get("attribute"))
            value = value.get("default")
        if not is_number(value):
            ctx.error(
                name,
                f"{where}[{index}]: probability must be a number or "
                '{"attribute": name, "default": p}',
            )
            continue
        if not 0 <= value <= 1:
            ctx.error(name, f"{where}[{index}]: probability {value} is outside [0, 1]")
        total += value
    if total > 1 + TOLERANCE:
        ctx.error(name, f"{where}: probabilities sum to {total:g}, above 1")


def _check_lookup_table(ctx: ModuleContext, name: str, options: list[dict[str, Any]]) -> None:
    where = "lookup_table_transition"
    for index, option in enumerate(options):
        _check_target(ctx, name, f"{where}[{index}]", option.get("transition"))
    check_probabilities(
        ctx,
        name,
        f"{where} default_probability",
        [option.get("default_probability") for option in options],
    )
    tables = [option.get("lookup_table_name") for option in options]
    table = tables[0]
    if not isinstance(table, str) or any(other != table for other in tables):
        ctx.error(name, f"{where}: every option must name the same lookup_table_name")
        return
    try:
        path = ctx.library.lookup_table(table, ctx.module, name)
    except ModuleError:
        ctx.error(
            name,
            f"{where}: lookup table {table!r} not found in any lookup_tables/ "
            "folder of the module roots (add its folder with --modules-dir)",
        )
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if row]
    header = rows[0] if rows else []
    targets = [option.get("transition") for option in options]
    for target in targets:
        if target not in header:
            ctx.error(name, f"{where}: lookup table {table!r} has no column for {target!r}")
    for column in header:
        # Key columns other than age and gender are matched against attributes.
        if column not in targets and column not in DEMOGRAPHIC_COLUMNS:
            ctx.read(name, column)
    for line, row in enumerate(rows[1:], start=2):
        problem = _lookup_row_problem(header, row, targets)
        if problem is not None:
            ctx.error(name, f"{where}: lookup table {table!r} line {line}: {problem}")


def _lookup_row_problem(header: list[str], row: list[str], targets: list[Any]) -> str | None:
    """What is wrong with one data row of a lookup table, or None."""
    if len(row) != len(header):
        return f"expected {len(header)} cells, found {len(row)}"
    total = 0.0
    for column, cell in zip(header, row, strict=True):
        if column == "age" and not re.fullmatch(r"\d+\s*-\s*\d+", cell):
            return f"age {cell!r} is not low-high in whole years, e.g. 18-64"
        if column == "gender" and cell not in ("M", "F"):
            return f"gender {cell!r} is not M or F"
        if column in targets:
            try:
                probability = float(cell)
            except ValueError:
                return f"probability {cell!r} for {column!r} is not a number"
            if not 0 <= probability <= 1:
                return f"probability {cell} for {column!r} is outside [0, 1]"
            total += probability
    if total > 1 + TOLERANCE:
        return f"probabilities sum to {total:g}, above 1"
    return None


OPTION_CHECKS = {
    "distributed_transition": _check_distributed,
    "conditional_transition": _check_conditional,
    "complex_transition": _check_complex,
    "lookup_table_transition": _check_lookup_table,
}
