"""Per-state facts the table builders join onto events: codes, descriptions, units.

Built once per compiled model with a Python loop over states (hundreds, not patients);
descriptions come from the terminology so every exported display is the official one,
falling back to the module's own display for codes the terminology lacks (the linter
reports those as errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from cohortforge.terminology import TerminologyError, canonical_system, get_terminology

from .compile import CompiledModel

# Synthea's CSV spelling of each system (CSVExporter writes "SNOMED-CT").
CSV_SYSTEM = {"SNOMED CT": "SNOMED-CT"}


@dataclass(frozen=True)
class StateCatalog:
    states: pl.DataFrame  # one row per state id
    observations: pl.DataFrame  # one row per (state, sub) observation
    activities: pl.DataFrame  # care-plan activities: state, SYSTEM, CODE, DESCRIPTION


def _coding(code: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(code, dict):
        return None, None, None
    raw_system = str(code.get("system", ""))
    number = str(code.get("code", ""))
    try:
        system = canonical_system(raw_system)
    except TerminologyError:
        system = raw_system
    display = get_terminology().lookup(system, number) if system else None
    return CSV_SYSTEM.get(system, system), number, display or code.get("display")


def _first(definition: dict[str, Any], key: str = "codes") -> Any:
    codes = definition.get(key)
    if key == "code":
        return codes
    return codes[0] if isinstance(codes, list) and codes else None


def _reactions(definition: dict[str, Any]) -> list[Any]:
    reactions = definition.get("reactions") or []
    flat = []
    for reaction in reactions[:2]:
        _, code, display = _coding(reaction.get("reaction"))
        severity = None
        possible = reaction.get("possible_severities") or []
        if possible:
            severity = str(possible[0].get("level", "")).upper() or None
        flat += [code, display, severity]
    return flat + [None] * (6 - len(flat))


def build_state_catalog(model: CompiledModel) -> StateCatalog:
    rows = []
    observations = []
    activities = []
    for index, info in enumerate(model.states):
        d = info.definition
        first = _first(d, "code" if info.type == "Device" else "codes")
        system, code, description = _coding(first)
        reaction = _reactions(d) if info.type == "AllergyOnset" else [None] * 6
        rows.append(
            {
                "state": index,
                "SYSTEM": system,
                "CODE": code,
                "DESCRIPTION": description,
                "ENCOUNTERCLASS": d.get("encounter_class"),
                "ALLERGY_TYPE": d.get("allergy_type", "allergy")
                if info.type == "AllergyOnset"
                else None,
                "ALLERGY_CATEGORY": d.get("category") if info.type == "AllergyOnset" else None,
                "REACTION1": reaction[0],
                "DESCRIPTION1": reaction[1],
                "SEVERITY1": reaction[2],
                "REACTION2": reaction[3],
                "DESCRIPTION2": reaction[4],
                "SEVERITY2": reaction[5],
            }
        )
        children = [d] if info.type == "Observation" else model.child_observations.get(index, [])
        for sub, child in enumerate(children):
            _, child_code, child_description = _coding(_first(child))
            value_code = child.get("value_code")
            numeric = not isinstance(value_code, dict)
            observations.append(
                {
                    "state": index,
                    "sub": sub,
                    "CODE": child_code,
                    "DESCRIPTION": child_description,
                    "CATEGORY": child.get("category", d.get("category")),
                    "UNITS": child.get("unit"),
                    "TYPE": "numeric" if numeric else "text",
                    "VALUE_TEXT": None if numeric else _coding(value_code)[2],
                }
            )
        for activity in d.get("activities") or []:
            a_system, a_code, a_description = _coding(activity)
            activities.append(
                {"state": index, "SYSTEM": a_system, "CODE": a_code, "DESCRIPTION": a_description}
            )
    schema_states = {key: pl.Utf8 for key in rows[0] if key != "state"} if rows else {}
    return StateCatalog(
        states=pl.DataFrame(rows, schema={"state": pl.Int32, **schema_states}),
        observations=pl.DataFrame(
            observations,
            schema={
                "state": pl.Int32,
                "sub": pl.Int32,
                "CODE": pl.Utf8,
                "DESCRIPTION": pl.Utf8,
                "CATEGORY": pl.Utf8,
                "UNITS": pl.Utf8,
                "TYPE": pl.Utf8,
                "VALUE_TEXT": pl.Utf8,
            },
        ),
        activities=pl.DataFrame(
            activities,
            schema={"state": pl.Int32, "SYSTEM": pl.Utf8, "CODE": pl.Utf8, "DESCRIPTION": pl.Utf8},
        ),
    )
