"""Conditions (Synthea's `condition` objects) compiled to postfix instruction lists."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from cohortforge.kernels import machine_codes as mc

from .module_schema import (
    CONDITION_TYPES,
    OPERATORS,
    RACE_NAMES,
    UNIT_SECONDS,
    VITAL_SIGN_LOINC,
)

if TYPE_CHECKING:
    from .compile import ModelBuilder

OPERATOR_CODES = dict(zip(OPERATORS, range(len(OPERATORS)), strict=True))
SES_CODES = {"low": 0, "middle": 1, "high": 2}
ENTRY_OF_ACTIVE = {
    "Active Condition": mc.ENTRY_CONDITION,
    "Active Medication": mc.ENTRY_MEDICATION,
    "Active CarePlan": mc.ENTRY_CAREPLAN,
    "Active Allergy": mc.ENTRY_ALLERGY,
}
Instruction = tuple[int, int, int, int, float]  # op, a, operator, n, x


def epoch_seconds(
    year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0
) -> int:
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    return int(moment.timestamp())


class ConditionCompiler:
    """Compiles one condition tree; `where` prefixes every error message."""

    def __init__(self, builder: ModelBuilder, module: Any, state: str, field: str):
        self.builder = builder
        self.module = module
        self.state = state
        self.field = field

    def fail(self, problem: str) -> Exception:
        return self.builder.error(self.module, self.state, self.field, problem)

    def operator(self, node: dict[str, Any]) -> int:
        operator = node.get("operator")
        if operator not in OPERATOR_CODES:
            raise self.fail(
                f"operator {operator!r} is not supported; use one of {', '.join(OPERATORS)}"
            )
        return OPERATOR_CODES[operator]

    def compile(self, node: Any) -> list[Instruction]:
        if not isinstance(node, dict) or "condition_type" not in node:
            raise self.fail("expected a condition object with a condition_type")
        kind = node["condition_type"]
        if kind not in CONDITION_TYPES:
            raise self.fail(f"condition type {kind!r} is not supported")
        return getattr(self, "_" + kind.lower().replace(" ", "_"))(node)

    def _nested(self, node: dict[str, Any]) -> tuple[list[Instruction], int]:
        children = node.get("conditions")
        if not isinstance(children, list) or not children:
            raise self.fail(f"{node['condition_type']} needs a non-empty conditions list")
        program: list[Instruction] = []
        for child in children:
            program += self.compile(child)
        return program, len(children)

    def _and(self, node):
        program, n = self._nested(node)
        return [*program, (mc.C_AND, 0, 0, n, 0.0)]

    def _or(self, node):
        program, n = self._nested(node)
        return [*program, (mc.C_OR, 0, 0, n, 0.0)]

    def _at_least(self, node):
        program, n = self._nested(node)
        minimum = node.get("minimum")
        if not isinstance(minimum, int):
            raise self.fail("At Least needs an integer minimum")
        return [*program, (mc.C_AT_LEAST, minimum, 0, n, 0.0)]

    def _not(self, node):
        child = node.get("condition")
        return [*self.compile(child), (mc.C_NOT, 0, 0, 1, 0.0)]

    def _true(self, node):
        return [(mc.C_TRUE, 0, 0, 0, 0.0)]

    def _false(self, node):
        return [(mc.C_FALSE, 0, 0, 0, 0.0)]

    def _age(self, node):
        unit = node.get("unit", "years")
        if unit not in UNIT_SECONDS:
            raise self.fail(f"unit {unit!r} is not one of {', '.join(UNIT_SECONDS)}")
        quantity = node.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int | float):
            raise self.fail("Age needs a numeric quantity")
        return [(mc.C_AGE, 0, self.operator(node), 0, float(quantity) * UNIT_SECONDS[unit])]

    def _gender(self, node):
        gender = node.get("gender")
        if gender not in ("M", "F"):
            raise self.fail(f'gender must be "M" or "F", got {gender!r}')
        return [(mc.C_GENDER, int(gender == "M"), 0, 0, 0.0)]

    def _race(self, node):
        race = str(node.get("race", "")).lower()
        if race not in RACE_NAMES:
            raise self.fail(f"race {node.get('race')!r} is not one of {', '.join(RACE_NAMES)}")
        return [(mc.C_RACE, RACE_NAMES[race], 0, 0, 0.0)]

    def _socioeconomic_status(self, node):
        category = str(node.get("category", "")).lower()
        if category not in SES_CODES:
            raise self.fail("Socioeconomic Status category must be Low, Middle or High")
        return [(mc.C_SES, SES_CODES[category], 0, 0, 0.0)]

    def _attribute(self, node):
        name = node.get("attribute")
        if not isinstance(name, str):
            raise self.fail("Attribute needs an attribute name")
        return [self._compare(mc.C_ATTRIBUTE, self.builder.attribute(name), node)]

    def _vital_sign(self, node):
        name = node.get("vital_sign")
        if name not in VITAL_SIGN_LOINC:
            raise self.fail(f"vital sign {name!r} is not one of {', '.join(VITAL_SIGN_LOINC)}")
        return [self._compare(mc.C_ATTRIBUTE, self.builder.attribute(name), node)]

    def _compare(self, op: int, slot: int, node: dict[str, Any]) -> Instruction:
        operator = self.operator(node)
        if operator in (mc.OP_IS_NIL, mc.OP_NOT_NIL):
            return (op, slot, operator, mc.T_NIL, 0.0)
        if "value" not in node:
            raise self.fail(f"operator {node['operator']!r} needs a value")
        try:
            value_type, value = self.builder.constant(node["value"])
        except ValueError as problem:
            raise self.fail(f"value: {problem}") from None
        if value_type == mc.T_TEXT and operator not in (mc.OP_EQ, mc.OP_NE):
            raise self.fail("text values can only be compared with == or !=")
        return (op, slot, operator, value_type, value)

    def _active(self, node, entry_kind: int):
        if "referenced_by_attribute" in node:
            slot = self.builder.attribute(node["referenced_by_attribute"])
            return [(mc.C_ACTIVE_ATTRIBUTE, slot, 0, 0, 0.0)]
        codes = node.get("codes")
        if not isinstance(codes, list) or not codes:
            raise self.fail(f"{node['condition_type']} needs codes or referenced_by_attribute")
        start, count = self.builder.code_list([self.builder.entry_slot(c) for c in codes])
        return [(mc.C_ACTIVE_CODES, start, entry_kind, count, 0.0)]

    def _active_condition(self, node):
        return self._active(node, mc.ENTRY_CONDITION)

    def _active_medication(self, node):
        return self._active(node, mc.ENTRY_MEDICATION)

    def _active_careplan(self, node):
        return self._active(node, mc.ENTRY_CAREPLAN)

    def _active_allergy(self, node):
        return self._active(node, mc.ENTRY_ALLERGY)

    def _observation(self, node):
        codes = node.get("codes")
        if not isinstance(codes, list) or not codes:
            raise self.fail("Observation condition needs codes")
        start, count = self.builder.code_list([self.builder.observation_slot(c) for c in codes])
        operator = self.operator(node)
        if operator in (mc.OP_IS_NIL, mc.OP_NOT_NIL):
            return [(mc.C_OBSERVATION, start, operator, count, 0.0)]
        value = node.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail("Observation condition compares numbers; give a numeric value")
        return [(mc.C_OBSERVATION, start, operator, count, float(value))]

    def _priorstate(self, node):
        name = node.get("name")
        states = self.module.states
        if name not in states:
            raise self.fail(f"PriorState names unknown state {name!r}")
        slot = self.builder.prior_slot(self.module, name)
        within = -1.0
        if "within" in node:
            spec = node["within"]
            unit = spec.get("unit", "years") if isinstance(spec, dict) else None
            if unit not in UNIT_SECONDS or not isinstance(spec.get("quantity"), int | float):
                raise self.fail("PriorState within needs {quantity, unit}")
            within = float(spec["quantity"]) * UNIT_SECONDS[unit]
        return [(mc.C_PRIOR_STATE, slot, 0, 0, within)]

    def _date(self, node):
        operator = self.operator(node)
        if "year" in node:
            year = int(node["year"])
            start, end = epoch_seconds(year), epoch_seconds(year + 1)
        elif isinstance(node.get("date"), dict):
            d = node["date"]
            start = epoch_seconds(
                int(d["year"]),
                int(d.get("month", 1)),
                int(d.get("day", 1)),
                int(d.get("hour", 0)),
                int(d.get("minute", 0)),
                int(d.get("second", 0)),
            )
            end = start + 1
        else:
            raise self.fail("Date needs a year or a date {year, month, day, ...}")
        # year(t) op Y as comparisons of t with the first instants of Y and Y + 1.
        lt = (mc.C_TIME, 0, mc.OP_LT, 0, float(start))
        ge = (mc.C_TIME, 0, mc.OP_GE, 0, float(start))
        lt_end = (mc.C_TIME, 0, mc.OP_LT, 0, float(end))
        ge_end = (mc.C_TIME, 0, mc.OP_GE, 0, float(end))
        programs = {
            mc.OP_LT: [lt],
            mc.OP_LE: [lt_end],
            mc.OP_GT: [ge_end],
            mc.OP_GE: [ge],
            mc.OP_EQ: [ge, lt_end, (mc.C_AND, 0, 0, 2, 0.0)],
            mc.OP_NE: [lt, ge_end, (mc.C_OR, 0, 0, 2, 0.0)],
        }
        if operator not in programs:
            raise self.fail("Date supports ==, !=, <, <=, >, >=")
        return programs[operator]
