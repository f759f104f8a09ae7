"""Terminology rules of the module linter: known codes, and observation units.

Terminology exposes displays but not the UCUM unit of a LOINC code, so the unit comes
from the same source it would: the database's concepts table when one is in use, else
the seed CSVs.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import duckdb

from cohortforge.terminology import Terminology, TerminologyError, canonical_system, read_seed

from .lint_context import ModuleContext
from .lint_schema import NUMERIC_VALUE_KEYS

LOINC = "LOINC"


@cache
def _seed_loinc_units() -> dict[str, str]:
    concepts = read_seed().concepts.select(["system", "code", "ucum_unit"]).to_pylist()
    return {
        row["code"]: row["ucum_unit"]
        for row in concepts
        if row["system"] == LOINC and row["ucum_unit"]
    }


class CodeChecker:
    """Looks codes and LOINC units up once each, however many states use them."""

    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology
        self._known: dict[tuple[str, str], str | None] = {}
        self._units: dict[str, str | None] = {}

    def problem(self, system: str, code: str) -> str | None:
        """Why a code is not usable, or None when the terminology knows it."""
        key = (system, code)
        if key not in self._known:
            self._known[key] = self._problem(system, code)
        return self._known[key]

    def _problem(self, system: str, code: str) -> str | None:
        try:
            canonical_system(system)
        except TerminologyError:
            return f"code system {system!r} is unknown (code {code})"
        if self.terminology.lookup(system, code) is None:
            return (
                f"{system} code {code} is not in the {self.terminology.backend} "
                "terminology; check the code or add it to the terminology"
            )
        return None

    def loinc_unit(self, code: str) -> str | None:
        if code not in self._units:
            self._units[code] = self._loinc_unit(code)
        return self._units[code]

    def _loinc_unit(self, code: str) -> str | None:
        if self.terminology.backend != "duckdb":
            return _seed_loinc_units().get(code)
        with duckdb.connect(str(self.terminology.db_path), read_only=True) as con:
            row = con.execute(
                "SELECT ucum_unit FROM concepts WHERE system = ? AND code = ?", [LOINC, code]
            ).fetchone()
        return row[0] if row and row[0] else None


def _codings(node: Any) -> Iterator[dict[str, Any]]:
    """Every {"system", "code"} object in a state, wherever it sits (conditions too)."""
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and isinstance(node.get("code"), str):
            yield node
        for key, value in node.items():
            if key != "remarks":
                yield from _codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value)


def check_codes(ctx: ModuleContext, checker: CodeChecker, name: str, state: dict[str, Any]) -> None:
    reported: set[str] = set()
    for coding in _codings(state):
        problem = checker.problem(coding["system"], coding["code"])
        if problem is not None and problem not in reported:
            reported.add(problem)
            ctx.error(name, problem)


def check_units(ctx: ModuleContext, checker: CodeChecker, name: str, state: dict[str, Any]) -> None:
    """A numeric observation needs a unit, and it should be its LOINC code's UCUM unit."""
    if state["type"] == "Observation":
        _check_unit(ctx, checker, name, "", state)
    elif state["type"] in ("MultiObservation", "DiagnosticReport"):
        children = state.get("observations")
        for index, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(child, dict):
                _check_unit(ctx, checker, name, f"observations[{index}]: ", child)


def _check_unit(
    ctx: ModuleContext, checker: CodeChecker, name: str, where: str, observation: dict[str, Any]
) -> None:
    if not any(key in observation for key in NUMERIC_VALUE_KEYS):
        return
    unit = observation.get("unit")
    if not unit:
        ctx.error(name, f'{where}numeric observation has no "unit"; give its UCUM unit')
        return
    code = _first_loinc(observation.get("codes"))
    expected = checker.loinc_unit(code) if code is not None else None
    if expected is not None and unit != expected:
        ctx.warning(
            name, f"{where}unit {unit!r} differs from LOINC {code}'s UCUM unit {expected!r}"
        )


def _first_loinc(codes: Any) -> str | None:
    for coding in codes if isinstance(codes, list) else []:
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        try:
            if canonical_system(coding.get("system", "")) == LOINC:
                return coding["code"]
        except TerminologyError:
            continue
    return None
