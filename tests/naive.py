"""Reference interpreter for cohortforge modules: slow, per patient, obviously correct.

This is the oracle the Numba kernel is tested against. It is written from
modules/SEMANTICS.md alone (section names are cited as `SEMANTICS "<section>"`), one
patient at a time, one state at a time, with plain Python objects. Clarity beats speed
everywhere here. Where SEMANTICS.md leaves a detail open, the choice made is written in
a comment starting with `Reading:` at that spot, so the kernel can be made to agree.

Entry point: `naive_event_log`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cohortforge.engine.module_loader import ModuleFile, ModuleLibrary
from cohortforge.engine.module_schema import (
    CHILD_OBSERVATION_KEYS,
    COMMON_STATE_KEYS,
    CONDITION_TYPES,
    DISTRIBUTION_KINDS,
    OPERATORS,
    RACE_NAMES,
    SES_HIGH_INCOME_FROM,
    SES_LOW_INCOME_BELOW,
    STATE_FIELDS,
    TRANSITION_KEYS,
    UNIT_SECONDS,
    VITAL_SIGN_LOINC,
)
from cohortforge.engine.streams import stream_key
from cohortforge.kernels.rng import random_uniform
from cohortforge.scenarios.loader import SCENARIO_DIR
from cohortforge.terminology.systems import code_system

DEFAULT_LIFE_TABLE = SCENARIO_DIR / "population" / "life_table.csv"

# SEMANTICS "Advancing a module": more entries than this at one instant stop the module.
MAX_ENTRIES_PER_INSTANT = 1000

# SEMANTICS "Randomness": counter = visit * 64 + slot.
SLOTS_PER_VISIT = 64
SLOT_TRANSITION = 0
SLOT_DURATION = 1
SLOT_VALUE = 2
# SEMANTICS "Randomness": a GAUSSIAN's second uniform is its first slot + 32, so a
# child observation i (first slot 2 + i) uses 34 + i. That allows 30 children.
GAUSSIAN_SECOND_OFFSET = 32
MAX_CHILD_OBSERVATIONS = 30

NATURAL_DEATH_STREAM = "patient.natural_death"
LIFE_TABLE_MAX_AGE = 120
SECONDS_PER_YEAR = UNIT_SECONDS["years"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_SCHEMA: dict[str, Any] = {
    "patient": pl.Int64,
    "time": pl.Int64,
    "kind": pl.Utf8,
    "module": pl.Utf8,
    "state": pl.Utf8,
    "visit": pl.Int32,
    "sub": pl.Int32,
    "value": pl.Float64,
    "encounter_module": pl.Utf8,
    "encounter_state": pl.Utf8,
    "encounter_visit": pl.Int32,
    "reason_module": pl.Utf8,
    "reason_state": pl.Utf8,
}

PATIENT_COLUMNS = ("patient", "birth_time", "gender", "race", "ethnicity", "income")

# SEMANTICS "Actions and the events they record": states that start or end an entry.
# state type -> (entry kind, event kind)
ENTRY_STARTS = {
    "ConditionOnset": ("condition", "condition_onset"),
    "AllergyOnset": ("allergy", "allergy_onset"),
    "MedicationOrder": ("medication", "medication_start"),
    "CarePlanStart": ("careplan", "careplan_start"),
    "Device": ("device", "device_start"),
}
# state type -> (entry kind, event kind, key naming the state that started the entry)
ENTRY_ENDS = {
    "ConditionEnd": ("condition", "condition_end", "condition_onset"),
    "MedicationEnd": ("medication", "medication_end", "medication_order"),
    "CarePlanEnd": ("careplan", "careplan_end", "careplan"),
    "DeviceEnd": ("device", "device_end", "device"),
}
ACTIVE_CONDITION_KINDS = {
    "Active Condition": "condition",
    "Active Medication": "medication",
    "Active CarePlan": "careplan",
    "Active Allergy": "allergy",
}
SES_CATEGORIES = ("Low", "Middle", "High")


# --------------------------------------------------------------------------------------
# Small values
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryHandle:
    """SEMANTICS "Actions ...": an entry is named by (module, state, visit) of its start."""

    module: str
    state: str
    visit: int


@dataclass
class Entry:
    kind: str  # condition, allergy, medication, careplan, device, procedure
    handle: EntryHandle
    codes: tuple[tuple[str, str], ...]
    active: bool


@dataclass(frozen=True)
class Frame:
    """One level of a module's call stack: the state it is in, and that state's visit."""

    module: ModuleFile
    state: str
    visit: int


class Status(Enum):
    RUNNABLE = "runnable"
    GUARD = "guard"  # blocked on a Guard (may also wake itself at an Age/Date threshold)
    WELLNESS = "wellness"  # blocked waiting for the next wellness encounter
    FINISHED = "finished"


class Resume(Enum):
    START = "start"  # enter the module's Initial state
    FOLLOW = "follow"  # follow the current state's transition (after Delay, passed Guard, join)
    GUARD_TEST = "guard_test"  # re-test the current Guard, then follow or block again


@dataclass
class ModuleRun:
    """SEMANTICS "Modules and their order": one module of one patient."""

    index: int
    module: ModuleFile
    stack: list[Frame] = field(default_factory=list)
    status: Status = Status.RUNNABLE
    wake: int | None = None
    resume: Resume = Resume.START
    encounter: EntryHandle | None = None
    # A joined wellness encounter is ended by the module that started it.
    encounter_joined: bool = False

    @property
    def frame(self) -> Frame:
        return self.stack[-1]


def canonical_code(code: dict[str, Any]) -> tuple[str, str]:
    """(system, code) with the system's canonical name, so aliases match each other."""
    return code_system(code["system"]).name, str(code["code"])


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def round_half_away(value: float) -> float:
    """SEMANTICS "Randomness": `"round": true` rounds halves away from zero."""
    # SEMANTICS: halves away from zero, and never -0.0.
    return float(math.copysign(math.floor(abs(value) + 0.5), value)) + 0.0


def duration_seconds(value: float, unit: str) -> int:
    """SEMANTICS "Time": floor(value * unit_seconds), never below 0."""
    if unit not in UNIT_SECONDS:
        raise NotImplementedError(f"unsupported time unit {unit!r}; use {list(UNIT_SECONDS)}")
    return max(0, math.floor(value * UNIT_SECONDS[unit]))


def utc_year(t: int) -> int:
    return (EPOCH + timedelta(seconds=t)).year


def utc_seconds(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0,
                second: int = 0) -> int:
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return (moment - EPOCH) // timedelta(seconds=1)


def compare(lhs: Any, rhs: Any, operator: str) -> bool:
    """SEMANTICS "Conditions": comparisons with nil are false, except `is nil`.

    Reading: numbers compare numerically (ints and floats alike), booleans with booleans,
    strings with strings (ordering operators: code-point order); values of different
    kinds (number vs boolean, string vs number, an entry handle vs anything) are never
    equal: `==` is false, `!=` is true, and ordering operators are false.
    """
    if operator not in OPERATORS:
        raise NotImplementedError(f"unsupported operator {operator!r}; use one of {OPERATORS}")
    if operator == "is nil":
        return lhs is None
    if operator == "is not nil":
        return lhs is not None
    if lhs is None or rhs is None:
        return False
    same_kind = (
        (is_number(lhs) and is_number(rhs))
        or (isinstance(lhs, bool) and isinstance(rhs, bool))
        or (isinstance(lhs, str) and isinstance(rhs, str))
    )
    if not same_kind:
        return operator == "!="
    if is_number(lhs):
        lhs, rhs = float(lhs), float(rhs)
    return {
        "==": lhs == rhs,
        "!=": lhs != rhs,
        "<": lhs < rhs,
        "<=": lhs <= rhs,
        ">": lhs > rhs,
        ">=": lhs >= rhs,
    }[operator]


# --------------------------------------------------------------------------------------
# Module checks: every supported key, nothing else (module_schema.py is the list)
# --------------------------------------------------------------------------------------


def check_condition(condition: Any, where: str) -> None:
    if not isinstance(condition, dict) or "condition_type" not in condition:
        raise NotImplementedError(f"{where}: a condition must be an object with condition_type")
    kind = condition["condition_type"]
    if kind not in CONDITION_TYPES:
        raise NotImplementedError(
            f"{where}: condition type {kind!r} is not supported; use {sorted(CONDITION_TYPES)}"
        )
    if "operator" in condition and condition["operator"] not in OPERATORS:
        raise NotImplementedError(f"{where}: operator {condition['operator']!r} is not supported")
    if kind == "PriorState" and "since" in condition:
        raise NotImplementedError(f"{where}: PriorState 'since' is not supported")
    for child in condition.get("conditions", []):
        check_condition(child, where)
    if kind == "Not":
        check_condition(condition["condition"], where)


def check_distribution(distribution: Any, where: str) -> None:
    if not isinstance(distribution, dict) or distribution.get("kind") not in DISTRIBUTION_KINDS:
        raise NotImplementedError(
            f"{where}: distribution kind must be one of {sorted(DISTRIBUTION_KINDS)}"
        )


def check_module(module: ModuleFile) -> None:
    """Reject what SEMANTICS.md does not define, with the file, state and key."""
    initials = [name for name, state in module.states.items() if state["type"] == "Initial"]
    if len(initials) != 1:
        raise NotImplementedError(f"{module.where()}: needs exactly one Initial state")
    for name, state in module.states.items():
        kind = state["type"]
        if kind not in STATE_FIELDS:
            raise NotImplementedError(
                f"{module.where(name, 'type')}: state type {kind!r} is not supported"
            )
        required, optional = STATE_FIELDS[kind]
        unknown = set(state) - COMMON_STATE_KEYS - required - optional
        if unknown:
            raise NotImplementedError(
                f"{module.where(name)}: unsupported keys {sorted(unknown)} for a {kind} state"
            )
        missing = required - set(state)
        if missing:
            raise NotImplementedError(f"{module.where(name)}: missing keys {sorted(missing)}")
        transitions = [key for key in TRANSITION_KEYS if key in state]
        if kind == "Terminal" and transitions:
            raise NotImplementedError(f"{module.where(name)}: a Terminal has no transition")
        if kind != "Terminal" and len(transitions) != 1:
            raise NotImplementedError(f"{module.where(name)}: needs exactly one transition")
        if kind == "Guard":
            check_condition(state["allow"], module.where(name, "allow"))
        for key in ("conditional_transition", "complex_transition"):
            for option in state.get(key, []):
                if "condition" in option:
                    check_condition(option["condition"], module.where(name, key))
        if "distribution" in state:
            check_distribution(state["distribution"], module.where(name, "distribution"))
        if kind in ("MultiObservation", "DiagnosticReport"):
            if len(state["observations"]) > MAX_CHILD_OBSERVATIONS:
                raise NotImplementedError(
                    f"{module.where(name)}: at most {MAX_CHILD_OBSERVATIONS} observations"
                )
            for child in state["observations"]:
                extra = set(child) - CHILD_OBSERVATION_KEYS
                if extra:
                    raise NotImplementedError(
                        f"{module.where(name, 'observations')}: unsupported keys {sorted(extra)}"
                    )
                if "distribution" in child:
                    check_distribution(child["distribution"], module.where(name, "observations"))


# --------------------------------------------------------------------------------------
# Lookup tables (SEMANTICS "Transitions", lookup_table_transition)
# --------------------------------------------------------------------------------------


class LookupTable:
    """A CSV read once: key columns and one probability column per option."""

    def __init__(self, path: Path, options: list[str]):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            self.columns = [name.strip() for name in reader.fieldnames or []]
            self.rows = [
                {key.strip(): (value or "").strip() for key, value in row.items()}
                for row in reader
            ]
        missing = [name for name in options if name not in self.columns]
        if missing:
            raise NotImplementedError(f"{path}: no probability column for options {missing}")
        self.options = options
        self.keys = [name for name in self.columns if name not in options]

    def probabilities(self, patient: PatientSimulation, t: int) -> list[float] | None:
        for row in self.rows:
            if all(self._matches(key, row[key], patient, t) for key in self.keys):
                return [float(row[name]) for name in self.options]
        return None

    @staticmethod
    def _matches(key: str, cell: str, patient: PatientSimulation, t: int) -> bool:
        if key == "age":
            # Reading: whole years of age are floor((t - birth) / (365 days)), the same
            # 365-day year as every other unit in SEMANTICS "Time".
            low, _, high = cell.partition("-")
            years = (t - patient.birth) // SECONDS_PER_YEAR
            return int(low) <= years <= int(high)
        if key == "gender":
            return cell == patient.gender
        value = patient.attributes.get(key)
        if value is None:
            return False
        cell_number = _parse_float(cell)
        if is_number(value) and cell_number is not None:
            return float(value) == cell_number
        # Reading: "as text" renders booleans the way JSON (and Java) do: true / false.
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return text == cell


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# Natural death (SEMANTICS "Natural death")
# --------------------------------------------------------------------------------------


def read_life_table(path: Path) -> dict[str, list[float]]:
    """q(x) for x = 0, 1, ... by sex ("M", "F") from columns age, male_qx, female_qx."""
    frame = pl.read_csv(path).sort("age")
    ages = frame["age"].to_list()
    if ages != list(range(len(ages))):
        raise ValueError(f"{path}: ages must be 0, 1, 2, ... without gaps")
    return {"M": frame["male_qx"].cast(pl.Float64).to_list(),
            "F": frame["female_qx"].cast(pl.Float64).to_list()}


def natural_death_age(u: float, qx: list[float]) -> float:
    """Age in years: x + (u - F(x)) / (F(x+1) - F(x)) for the first x with F(x+1) > u."""
    cumulative = 0.0  # F(x)
    for x, q in enumerate(qx[:LIFE_TABLE_MAX_AGE]):
        following = cumulative + (1.0 - cumulative) * q  # F(x + 1)
        if following > u:
            return x + (u - cumulative) / (following - cumulative)
        cumulative = following
    return float(LIFE_TABLE_MAX_AGE)


def natural_death_time(seed: int, patient_id: int, birth: int, gender: str,
                       table: dict[str, list[float]]) -> int:
    u = float(random_uniform(np.uint64(stream_key(seed, NATURAL_DEATH_STREAM)),
                             np.uint64(patient_id), np.uint64(0)))
    age = natural_death_age(u, table[gender])
    # Reading: `floor(age * 365 * 86400)` is computed as floor(age * 31536000), i.e. with
    # the seconds of a year as one constant, like every other duration (SEMANTICS "Time").
    return birth + math.floor(age * SECONDS_PER_YEAR)


# --------------------------------------------------------------------------------------
# One patient
# --------------------------------------------------------------------------------------


@dataclass
class DeathRecord:
    time: int
    # The Death state's frame, its encounter and reason; None for natural death.
    frame: Frame | None = None
    encounter: EntryHandle | None = None
    reason: tuple[str, str] | None = None


class PatientSimulation:
    """Runs every module of one patient from birth to the horizon or death."""

    def __init__(self, interpreter: Interpreter, row: dict[str, Any], death_time: int | None):
        self.interpreter = interpreter
        self.library = interpreter.library
        self.id: int = int(row["patient"])
        self.birth: int = int(row["birth_time"])
        self.gender: str = row["gender"]
        self.race: str = row["race"]
        self.ethnicity: str = row["ethnicity"]
        self.income: int | None = row["income"]
        # SEMANTICS "Conditions": nil is an absent key.
        self.attributes: dict[str, Any] = {
            name: value for name, value in row.items()
            if name not in PATIENT_COLUMNS and value is not None
        }
        self.visits: dict[tuple[str, str], int] = {}  # entries so far, per (module, state)
        self.last_entered: dict[tuple[str, str], int] = {}
        self.entries_at_instant: dict[tuple[str, str], tuple[int, int]] = {}
        self.entries: list[Entry] = []  # in start order
        self.entry_by_handle: dict[EntryHandle, Entry] = {}
        # (system, code) of an observation's first code -> (record order, value)
        self.observations: dict[tuple[str, str], tuple[int, Any]] = {}
        self.symptoms: dict[str, float] = {}
        # (start time, handle) of the latest wellness-class encounter.
        self.last_wellness: tuple[int, EntryHandle] | None = None
        self.death = DeathRecord(death_time) if death_time is not None else None
        self.events: list[tuple] = []
        self.runs: list[ModuleRun] = []

    # ---------------------------------------------------------------- scheduling

    @property
    def death_time(self) -> float:
        return self.death.time if self.death is not None else math.inf

    def simulate(self, modules: list[ModuleFile], horizon: int) -> list[tuple]:
        """SEMANTICS "Modules and their order": the patient loop."""
        self.runs = [ModuleRun(m, module, wake=self.birth) for m, module in enumerate(modules)]
        while True:
            due = [
                run for run in self.runs
                if run.wake is not None and run.status in (Status.RUNNABLE, Status.GUARD)
            ]
            if not due:
                break
            run = min(due, key=lambda r: (r.wake, r.index))
            t = run.wake
            if t >= horizon or t >= self.death_time:
                break
            self.advance(run, t)
            # After each advance, every guard-blocked module re-tests its guard now.
            for other in self.runs:
                if other.status is Status.GUARD and self.guard_passes(other, t):
                    other.status, other.wake, other.resume = Status.RUNNABLE, t, Resume.FOLLOW
        self.record_death(horizon)
        return self.events

    def record_death(self, horizon: int) -> None:
        """The one death event, if death comes before the horizon."""
        if self.death is None or self.death.time >= horizon:
            return
        death = self.death
        if death.frame is None:
            # SEMANTICS "Natural death": no state; empty module and state.
            # Reading: "empty" is the empty string (not null), with visit 0.
            self.events.append((self.id, death.time, "death", "", "", 0, 0, math.nan,
                                None, None, None, None, None))
            return
        self.event(death.time, "death", death.frame, encounter=death.encounter,
                   reason=death.reason)

    # ---------------------------------------------------------------- advancing

    def advance(self, run: ModuleRun, t: int) -> None:
        """SEMANTICS "Advancing a module": act, transition, repeat until blocked."""
        if run.resume is Resume.START:
            module = run.module
            initial = next(n for n, s in module.states.items() if s["type"] == "Initial")
            run.stack = [Frame(module, initial, -1)]
            target: str | None = initial
        elif run.resume is Resume.GUARD_TEST:
            if not self.guard_passes(run, t):
                self.block_on_guard(run, t)
                return
            target = self.choose_transition(run, t)
        else:
            target = self.choose_transition(run, t)
        run.status, run.wake = Status.RUNNABLE, None

        while True:
            if target is None:
                # A conditional or complex transition with no option holding.
                self.finish(run)
                return
            if not self.enter(run, target, t):
                return
            if self.act(run, t) != "continue":
                return
            # The current frame may have changed: a CallSubmodule is now in the
            # submodule's Initial, a Terminal has popped back to its CallSubmodule.
            target = self.choose_transition(run, t)

    def enter(self, run: ModuleRun, state_name: str, t: int) -> bool:
        """Enter a state of the current frame's module: count the visit. False = stopped."""
        module = run.frame.module
        if state_name not in module.states:
            raise NotImplementedError(f"{module.where(state_name)}: no such state")
        key = (module.name, state_name)
        instant, count = self.entries_at_instant.get(key, (None, 0))
        count = count + 1 if instant == t else 1
        if count > MAX_ENTRIES_PER_INSTANT:
            # Reading: the 1,001st entry at one instant is neither performed nor counted
            # as a visit; the module finishes (its whole call stack).
            self.finish(run)
            return False
        self.entries_at_instant[key] = (t, count)
        visit = self.visits.get(key, 0)
        self.visits[key] = visit + 1
        self.last_entered[key] = t
        run.stack[-1] = Frame(module, state_name, visit)
        return True

    def finish(self, run: ModuleRun) -> None:
        run.status, run.wake = Status.FINISHED, None

    def block_on_guard(self, run: ModuleRun, t: int) -> None:
        run.status, run.resume = Status.GUARD, Resume.GUARD_TEST
        run.wake = self.next_threshold(self.state(run)["allow"], run.frame.module, t)

    def guard_passes(self, run: ModuleRun, t: int) -> bool:
        return self.test(self.state(run)["allow"], t, run.frame.module)

    @staticmethod
    def state(run: ModuleRun) -> dict[str, Any]:
        return run.frame.module.states[run.frame.state]

    # ---------------------------------------------------------------- actions

    def act(self, run: ModuleRun, t: int) -> str:
        """Perform the current state's action at t.

        Returns "continue" (follow the current frame's transition), "blocked" or
        "finished".
        """
        frame = run.frame
        state = self.state(run)
        kind = state["type"]

        if kind in ("Initial", "Simple"):
            return "continue"

        if kind == "Terminal":
            if len(run.stack) == 1:
                self.finish(run)
                return "finished"
            # The submodule's Terminal pops back; the caller follows the CallSubmodule's
            # transition (with the CallSubmodule state's own visit).
            run.stack.pop()
            return "continue"

        if kind == "CallSubmodule":
            submodule = self.library.load_submodule(state["submodule"], frame.module, frame.state)
            self.interpreter.checked(submodule)
            initial = next(n for n, s in submodule.states.items() if s["type"] == "Initial")
            # Push a return point and enter the submodule's Initial (which does nothing);
            # its transition is followed next.
            run.stack.append(Frame(submodule, initial, -1))
            return "continue" if self.enter(run, initial, t) else "finished"

        if kind == "Delay":
            end = t + self.delay_seconds(state, frame)
            if end > t:
                run.status, run.wake, run.resume = Status.RUNNABLE, end, Resume.FOLLOW
                return "blocked"
            return "continue"

        if kind == "Guard":
            if self.guard_passes(run, t):
                return "continue"
            self.block_on_guard(run, t)
            return "blocked"

        if kind == "SetAttribute":
            self.set_attribute(state, frame)
            return "continue"

        if kind == "Counter":
            self.count(state)
            return "continue"

        if kind == "Encounter":
            return self.encounter(run, state, t)

        if kind == "EncounterEnd":
            self.encounter_end(run, t)
            return "continue"

        if kind in ENTRY_STARTS:
            self.start_entry(run, state, t)
            return "continue"

        if kind in ENTRY_ENDS:
            self.end_entries(run, state, t)
            return "continue"

        if kind == "Observation":
            value = self.observation_value(
                state, frame, SLOT_VALUE, SLOT_VALUE + GAUSSIAN_SECOND_OFFSET
            )
            self.observe(run, state, value, t, sub=0)
            return "continue"

        if kind in ("MultiObservation", "DiagnosticReport"):
            for i, child in enumerate(state["observations"]):
                value = self.observation_value(
                    child, frame, SLOT_VALUE + i, SLOT_VALUE + i + GAUSSIAN_SECOND_OFFSET
                )
                self.observe(run, child, value, t, sub=i)
            if kind == "DiagnosticReport":
                self.event(t, "report", frame, encounter=run.encounter)
            return "continue"

        if kind == "Procedure":
            self.procedure(run, state, t)
            return "continue"

        if kind in ("Immunization", "Vaccine"):
            self.event(t, "immunization", frame, encounter=run.encounter)
            return "continue"

        if kind == "Symptom":
            self.symptom(state, frame)
            return "continue"

        if kind == "Death":
            return self.die(run, state, t)

        raise NotImplementedError(f"{frame.module.where(frame.state)}: state type {kind!r}")

    # Delay ------------------------------------------------------------------------

    def delay_seconds(self, state: dict[str, Any], frame: Frame) -> int:
        """SEMANTICS "Time"/"Randomness": exact, range (UNIFORM) or distribution; slot 1."""
        if "exact" in state:
            exact = state["exact"]
            return duration_seconds(exact["quantity"], exact["unit"])
        if "range" in state:
            low, high = state["range"]["low"], state["range"]["high"]
            value = low + self.uniform(frame, SLOT_DURATION) * (high - low)
            return duration_seconds(value, state["range"]["unit"])
        if "distribution" in state:
            if "unit" not in state:
                raise NotImplementedError(f"{frame.module.where(frame.state)}: needs a unit")
            value = self.sample(
                state["distribution"], frame, SLOT_DURATION, SLOT_DURATION + GAUSSIAN_SECOND_OFFSET
            )
            return duration_seconds(value, state["unit"])
        raise NotImplementedError(
            f"{frame.module.where(frame.state)}: a Delay needs exact, range or distribution"
        )

    # Attributes ----------------------------------------------------------------------

    def set_attribute(self, state: dict[str, Any], frame: Frame) -> None:
        """SEMANTICS "Actions": value, value_attribute, distribution/range, value_code.

        Reading: when several are given, Synthea's precedence applies: range,
        distribution, value_code, value_attribute, value. A range is UNIFORM (slot 2).
        """
        name = state["attribute"]
        if "range" in state:
            low, high = state["range"]["low"], state["range"]["high"]
            value = low + self.uniform(frame, SLOT_VALUE) * (high - low)
        elif "distribution" in state:
            value = self.sample(
                state["distribution"], frame, SLOT_VALUE, SLOT_VALUE + GAUSSIAN_SECOND_OFFSET
            )
        elif "value_code" in state:
            value = str(state["value_code"]["code"])
        elif "value_attribute" in state:
            value = self.attributes.get(state["value_attribute"])
        else:
            value = state.get("value")
        self.set(name, value)

    def set(self, name: str, value: Any) -> None:
        if value is None:
            self.attributes.pop(name, None)
        else:
            self.attributes[name] = value

    def count(self, state: dict[str, Any]) -> None:
        """SEMANTICS "Actions": Counter adds or subtracts amount (default 1).

        Reading: a nil attribute counts as 0 (as in Synthea); the sum keeps the number's
        type (no truncation to an integer, unlike Synthea's int cast).
        """
        name = state["attribute"]
        current = self.attributes.get(name, 0)
        if not is_number(current):
            raise TypeError(f"Counter on attribute {name!r} holding non-number {current!r}")
        amount = state.get("amount", 1)
        if state["action"] == "increment":
            self.attributes[name] = current + amount
        elif state["action"] == "decrement":
            self.attributes[name] = current - amount
        else:
            raise NotImplementedError(f"Counter action {state['action']!r}: increment/decrement")

    # Encounters -------------------------------------------------------------------------

    def encounter(self, run: ModuleRun, state: dict[str, Any], t: int) -> str:
        """SEMANTICS "Actions": start an encounter, or wait for the next wellness one."""
        if state.get("wellness"):
            # Reading (Synthea-like): a wellness encounter that started at this very instant
            # counts as the next one, even if the module that started it ran earlier in
            # this instant (Synthea's encounter module runs first in each time step and
            # later modules join it). So the outcome does not depend on module order
            # within an instant. The latest one started at t is joined.
            if self.last_wellness is not None and self.last_wellness[0] == t:
                run.encounter, run.encounter_joined = self.last_wellness[1], True
                return "continue"
            run.status, run.wake, run.resume = Status.WELLNESS, None, Resume.FOLLOW
            return "blocked"
        frame = run.frame
        handle = EntryHandle(frame.module.name, frame.state, frame.visit)
        # Reading: a new Encounter replaces the module's open encounter without ending it
        # (no encounter_end event for the replaced one).
        run.encounter, run.encounter_joined = handle, False
        # Reading: the encounter_start event belongs to the encounter it starts.
        self.event(t, "encounter_start", frame, encounter=handle,
                   reason=self.reason(state.get("reason"), frame.module))
        if state.get("encounter_class") == "wellness":
            self.last_wellness = (t, handle)
            for other in self.runs:
                if other.status is Status.WELLNESS:
                    other.encounter, other.encounter_joined = handle, True
                    other.status, other.wake, other.resume = Status.RUNNABLE, t, Resume.FOLLOW
        return "continue"

    def encounter_end(self, run: ModuleRun, t: int) -> None:
        """Ends the module's encounter; a joined wellness one is ended by its starter.

        Reading: with no open encounter an EncounterEnd records nothing. Submodules share
        their caller's encounter (one encounter per module, across its call stack).
        """
        if run.encounter is not None and not run.encounter_joined:
            self.event(t, "encounter_end", run.frame, encounter=run.encounter)
        run.encounter, run.encounter_joined = None, False

    # Entries -----------------------------------------------------------------------------

    def start_entry(self, run: ModuleRun, state: dict[str, Any], t: int) -> None:
        """ConditionOnset, AllergyOnset, MedicationOrder, CarePlanStart, Device.

        Reading: every start is a new entry and event, even when an entry with the same
        code is already active (Synthea would reuse an active condition). The optional
        target_encounter of ConditionOnset/AllergyOnset is not used: the entry starts
        when the state is entered, in the module's current encounter.
        """
        frame = run.frame
        kind, event_kind = ENTRY_STARTS[state["type"]]
        codes = [state["code"]] if state["type"] == "Device" else state["codes"]
        # The reason is read before assign_to_attribute changes any attribute.
        reason = self.reason(state.get("reason"), frame.module)
        handle = self.add_entry(kind, frame, codes, active=True)
        if "assign_to_attribute" in state:
            self.set(state["assign_to_attribute"], handle)
        self.event(t, event_kind, frame, encounter=run.encounter, reason=reason)

    def add_entry(self, kind: str, frame: Frame, codes: list[dict[str, Any]],
                  active: bool) -> EntryHandle:
        handle = EntryHandle(frame.module.name, frame.state, frame.visit)
        entry = Entry(kind, handle, tuple(canonical_code(c) for c in codes), active)
        self.entries.append(entry)
        self.entry_by_handle[handle] = entry
        return handle

    def end_entries(self, run: ModuleRun, state: dict[str, Any], t: int) -> None:
        """ConditionEnd, MedicationEnd, CarePlanEnd, DeviceEnd.

        Reading: the three ways are tried in the order SEMANTICS lists them, and only the
        first one present is used: referenced_by_attribute, then the named starting state
        (every active entry it started, in this module file), then codes (every active
        entry whose first code is one of them). Inactive entries are not ended again.
        """
        frame = run.frame
        kind, event_kind, state_key = ENTRY_ENDS[state["type"]]
        active = [entry for entry in self.entries if entry.kind == kind and entry.active]
        if "referenced_by_attribute" in state:
            handle = self.attributes.get(state["referenced_by_attribute"])
            ended = [entry for entry in active if entry.handle == handle]
        elif state_key in state:
            started_by = (frame.module.name, state[state_key])
            ended = [e for e in active if (e.handle.module, e.handle.state) == started_by]
        elif "codes" in state:
            codes = {canonical_code(code) for code in state["codes"]}
            ended = [entry for entry in active if entry.codes[0] in codes]
        else:
            ended = []
        for entry in ended:  # in the order the entries were started
            entry.active = False
            self.event(t, event_kind, frame, encounter=entry.handle)

    def reason(self, name: str | None, module: ModuleFile) -> tuple[str, str] | None:
        """SEMANTICS "Actions": an attribute holding a condition handle, or an entered
        ConditionOnset state of the same module; anything else gives no reason.

        Reading: the attribute is tried first; the state name only when the attribute
        does not hold a condition handle (as Synthea).
        """
        if name is None:
            return None
        return self.reason_by_attribute(name) or self.reason_by_state(name, module)

    def reason_by_attribute(self, name: str | None) -> tuple[str, str] | None:
        value = self.attributes.get(name) if name is not None else None
        entry = self.entry_by_handle.get(value) if isinstance(value, EntryHandle) else None
        if entry is not None and entry.kind == "condition":
            return entry.handle.module, entry.handle.state
        return None

    def reason_by_state(self, name: str | None, module: ModuleFile) -> tuple[str, str] | None:
        state = module.states.get(name) if name is not None else None
        if (
            state is not None
            and state["type"] == "ConditionOnset"
            and self.visits.get((module.name, name), 0) > 0
        ):
            return module.name, name
        return None

    # Observations --------------------------------------------------------------------------

    def observation_value(self, spec: dict[str, Any], frame: Frame, slot: int,
                          gaussian_slot: int) -> Any:
        """The value of one observation: exact, range, distribution, attribute, vital
        sign or value_code (in that order of precedence, as Synthea), else nil."""
        if "exact" in spec:
            return spec["exact"]["quantity"]
        if "range" in spec:
            low, high = spec["range"]["low"], spec["range"]["high"]
            return low + self.uniform(frame, slot) * (high - low)
        if "distribution" in spec:
            return self.sample(spec["distribution"], frame, slot, gaussian_slot)
        if "attribute" in spec:
            return self.attributes.get(spec["attribute"])
        if "vital_sign" in spec:
            return self.attributes.get(self.vital_sign_name(spec["vital_sign"]))
        if "value_code" in spec:
            return str(spec["value_code"]["code"])
        return None

    def observe(self, run: ModuleRun, spec: dict[str, Any], value: Any, t: int, sub: int) -> None:
        """Record one observation event; remember it for Observation/Vital Sign conditions.

        Reading: an observation is known by its first code. The event value is the number
        (booleans, text and codes give NaN). A recorded observation without a value
        still becomes "the most recent" one (so a later Observation condition sees nil).
        """
        first = canonical_code(spec["codes"][0])
        self.observations[first] = (len(self.events), value)
        for name, loinc in VITAL_SIGN_LOINC.items():
            if first == ("LOINC", loinc):
                self.set(name, value)
        number = float(value) if is_number(value) else math.nan
        self.event(t, "observation", run.frame, sub=sub, value=number, encounter=run.encounter)

    @staticmethod
    def vital_sign_name(name: str) -> str:
        if name not in VITAL_SIGN_LOINC:
            raise NotImplementedError(
                f"vital sign {name!r} is not supported; use one of {list(VITAL_SIGN_LOINC)}"
            )
        return name

    # Procedures, symptoms, death --------------------------------------------------------------

    def procedure(self, run: ModuleRun, state: dict[str, Any], t: int) -> None:
        """Record a procedure; its value is the drawn duration in seconds.

        Reading: a Procedure without duration/distribution has value NaN, and a duration
        never blocks the module (only Delay, Guard and wellness Encounter block).
        """
        frame = run.frame
        reason = self.reason(state.get("reason"), frame.module)
        seconds: float = math.nan
        if "duration" in state:
            duration = state["duration"]
            low, high = duration["low"], duration["high"]
            value = low + self.uniform(frame, SLOT_DURATION) * (high - low)
            seconds = float(duration_seconds(value, duration["unit"]))
        elif "distribution" in state:
            if "unit" not in state:
                raise NotImplementedError(f"{frame.module.where(frame.state)}: needs a unit")
            value = self.sample(
                state["distribution"], frame, SLOT_DURATION, SLOT_DURATION + GAUSSIAN_SECOND_OFFSET
            )
            seconds = float(duration_seconds(value, state["unit"]))
        if "assign_to_attribute" in state:
            self.set(state["assign_to_attribute"],
                     self.add_entry("procedure", frame, state["codes"], active=False))
        self.event(t, "procedure", frame, value=seconds, encounter=run.encounter, reason=reason)

    def symptom(self, state: dict[str, Any], frame: Frame) -> None:
        """A severity is drawn (slot 2) and kept; symptoms are not exported."""
        if "exact" in state:
            severity = float(state["exact"]["quantity"])
        elif "range" in state:
            low, high = state["range"]["low"], state["range"]["high"]
            severity = low + self.uniform(frame, SLOT_VALUE) * (high - low)
        else:
            severity = 0.0
        self.symptoms[state["symptom"]] = severity

    def die(self, run: ModuleRun, state: dict[str, Any], t: int) -> str:
        """SEMANTICS "Actions": dies now, or after exact/range (drawn in slot 1).

        Reading: the death event is at the death time, recorded by the Death state with
        the module's encounter when the state ran; its reason is the condition named by
        referenced_by_attribute (a condition handle) or condition_onset (an entered
        ConditionOnset state), as for `reason`. A Death state wins only when strictly
        earlier than the death already known (natural death, or an earlier Death state).
        Dying now stops this module at once; a delayed death lets it continue.
        """
        frame = run.frame
        if "exact" in state:
            delay = duration_seconds(state["exact"]["quantity"], state["exact"]["unit"])
        elif "range" in state:
            low, high = state["range"]["low"], state["range"]["high"]
            value = low + self.uniform(frame, SLOT_DURATION) * (high - low)
            delay = duration_seconds(value, state["range"]["unit"])
        else:
            delay = 0
        reason = self.reason_by_attribute(state.get("referenced_by_attribute")) or (
            self.reason_by_state(state.get("condition_onset"), frame.module)
        )
        if t + delay < self.death_time:
            self.death = DeathRecord(t + delay, frame, run.encounter, reason)
        if self.death_time <= t:
            self.finish(run)
            return "finished"
        return "continue"

    # ---------------------------------------------------------------- transitions

    def choose_transition(self, run: ModuleRun, t: int) -> str | None:
        """SEMANTICS "Transitions": when no conditional/complex option holds, the last
        option is the fallback (DESIGN.md section 5)."""
        frame = run.frame
        state = self.state(run)
        if "direct_transition" in state:
            return state["direct_transition"]
        if "distributed_transition" in state:
            return self.pick(state["distributed_transition"], frame)
        if "conditional_transition" in state:
            for option in state["conditional_transition"]:
                if "condition" not in option or self.test(option["condition"], t, frame.module):
                    return option["transition"]
            return state["conditional_transition"][-1]["transition"]
        if "complex_transition" in state:
            for option in state["complex_transition"]:
                if "condition" not in option or self.test(option["condition"], t, frame.module):
                    if "transition" in option:
                        return option["transition"]
                    return self.pick(option["distributions"], frame)
            fallback = state["complex_transition"][-1]
            if "transition" in fallback:
                return fallback["transition"]
            return self.pick(fallback["distributions"], frame)
        if "lookup_table_transition" in state:
            return self.pick_from_table(state["lookup_table_transition"], frame, t)
        raise NotImplementedError(f"{frame.module.where(frame.state)}: no transition")

    def pick(self, options: list[dict[str, Any]], frame: Frame) -> str:
        probabilities = [self.probability(option["distribution"]) for option in options]
        return self.draw_option([o["transition"] for o in options], probabilities, frame)

    def probability(self, spec: Any) -> float:
        """A number, or {"attribute", "default"} read now.

        Reading: an attribute that is nil or not a number gives the default.
        """
        if isinstance(spec, dict):
            value = self.attributes.get(spec["attribute"])
            return float(value) if is_number(value) else float(spec["default"])
        return float(spec)

    def draw_option(self, names: list[str], probabilities: list[float], frame: Frame) -> str:
        """First option whose cumulative probability exceeds the slot-0 draw, else last."""
        u = self.uniform(frame, SLOT_TRANSITION)
        cumulative = 0.0
        for name, p in zip(names, probabilities, strict=True):
            cumulative += p
            if u < cumulative:
                return name
        return names[-1]

    def pick_from_table(self, options: list[dict[str, Any]], frame: Frame, t: int) -> str:
        names = [option["transition"] for option in options]
        table_names = {option["lookup_table_name"] for option in options}
        if len(table_names) != 1:
            raise NotImplementedError(
                f"{frame.module.where(frame.state)}: options name different lookup tables"
            )
        table = self.interpreter.lookup_table(table_names.pop(), frame, names)
        probabilities = table.probabilities(self, t)
        if probabilities is None:
            probabilities = [float(option["default_probability"]) for option in options]
        return self.draw_option(names, probabilities, frame)

    # ---------------------------------------------------------------- conditions

    def test(self, condition: dict[str, Any], t: int, module: ModuleFile) -> bool:
        """SEMANTICS "Conditions"."""
        kind = condition["condition_type"]
        operator = condition.get("operator")
        if kind == "Age":
            age = (t - self.birth) / self.unit(condition["unit"])
            return compare(age, condition["quantity"], operator)
        if kind == "Date":
            if "year" in condition:
                return compare(utc_year(t), condition["year"], operator)
            return compare(t, self.date_seconds(condition["date"]), operator)
        if kind == "Gender":
            return self.gender == condition["gender"]
        if kind == "Race":
            race = str(condition["race"]).lower()
            if race not in RACE_NAMES:
                raise NotImplementedError(f"race {condition['race']!r} is not supported")
            if race == "hispanic":
                return self.ethnicity == "hispanic"
            return self.race == race
        if kind == "Socioeconomic Status":
            category = condition["category"]
            if category not in SES_CATEGORIES:
                raise NotImplementedError(f"socioeconomic category {category!r}")
            return self.ses_category() == category
        if kind == "Attribute":
            return compare(self.attributes.get(condition["attribute"]), condition.get("value"),
                           operator)
        if kind in ACTIVE_CONDITION_KINDS:
            return self.has_active(ACTIVE_CONDITION_KINDS[kind], condition)
        if kind == "Observation":
            if "codes" not in condition:
                raise NotImplementedError("an Observation condition needs codes")
            return compare(self.latest_observation(condition["codes"]), condition.get("value"),
                           operator)
        if kind == "Vital Sign":
            value = self.attributes.get(self.vital_sign_name(condition["vital_sign"]))
            return compare(value, condition.get("value"), operator)
        if kind == "PriorState":
            return self.prior_state(condition, t, module)
        if kind == "And":
            return all(self.test(c, t, module) for c in condition["conditions"])
        if kind == "Or":
            return any(self.test(c, t, module) for c in condition["conditions"])
        if kind == "Not":
            return not self.test(condition["condition"], t, module)
        if kind == "At Least":
            held = sum(self.test(c, t, module) for c in condition["conditions"])
            return held >= condition["minimum"]
        if kind == "True":
            return True
        if kind == "False":
            return False
        raise NotImplementedError(f"condition type {kind!r} is not supported")

    @staticmethod
    def unit(name: str) -> int:
        if name not in UNIT_SECONDS:
            raise NotImplementedError(f"unsupported time unit {name!r}")
        return UNIT_SECONDS[name]

    @staticmethod
    def date_seconds(date: Any) -> int:
        """Reading: a full `date` is Synthea's object {year, month, day, hour, minute,
        second} (month and day default to 1, the rest to 0), at UTC."""
        if not isinstance(date, dict) or date.get("millisecond", 0):
            raise NotImplementedError(f"Date condition date {date!r}: use {{year, month, day}}")
        return utc_seconds(date["year"], date.get("month", 1), date.get("day", 1),
                           date.get("hour", 0), date.get("minute", 0), date.get("second", 0))

    def ses_category(self) -> str | None:
        if self.income is None:
            return None
        if self.income < SES_LOW_INCOME_BELOW:
            return "Low"
        if self.income >= SES_HIGH_INCOME_FROM:
            return "High"
        return "Middle"

    def has_active(self, kind: str, condition: dict[str, Any]) -> bool:
        """Any active entry of the kind whose first code is one of `codes`, or the entry
        held by referenced_by_attribute (by handle, not by code) is active."""
        if "codes" in condition:
            codes = {canonical_code(code) for code in condition["codes"]}
            return any(e.kind == kind and e.active and e.codes[0] in codes for e in self.entries)
        if "referenced_by_attribute" in condition:
            handle = self.attributes.get(condition["referenced_by_attribute"])
            entry = self.entry_by_handle.get(handle) if isinstance(handle, EntryHandle) else None
            return entry is not None and entry.kind == kind and entry.active
        raise NotImplementedError(f"{condition['condition_type']} needs codes or "
                                  "referenced_by_attribute")

    def latest_observation(self, codes: list[dict[str, Any]]) -> Any:
        """The most recently recorded value among observations of any of the codes."""
        found = [self.observations[c] for c in map(canonical_code, codes) if c in self.observations]
        return max(found, key=lambda pair: pair[0])[1] if found else None

    def prior_state(self, condition: dict[str, Any], t: int, module: ModuleFile) -> bool:
        """PriorState: this patient has entered the named state of this module file.

        SEMANTICS: `within` {quantity, unit} holds when the most recent entry is at most
        that long ago: entered >= t - within.
        """
        key = (module.name, condition["name"])
        if self.visits.get(key, 0) == 0:
            return False
        if "within" not in condition:
            return True
        within = condition["within"]
        window = duration_seconds(within["quantity"], within["unit"])
        return self.last_entered[key] >= t - window

    # ---------------------------------------------------------------- guard wake-ups

    def next_threshold(self, condition: dict[str, Any], module: ModuleFile, t: int) -> int | None:
        """SEMANTICS "Modules and their order": a guard wakes by itself at the next time
        one of its Age or Date thresholds is crossed.

        Reading: the wake time is the first integer second after t at which some Age or
        Date condition anywhere in the guard's condition changes its truth value (for
        `age > 18` that is one second after the 18th birthday, for `age >= 18` the
        birthday itself). It is found by evaluating that very condition around its real
        threshold, so it agrees with `test` exactly.
        """
        best: int | None = None
        for leaf in self.time_leaves(condition):
            for change in self.change_times(leaf, module):
                if change > t and (best is None or change < best):
                    best = change
        return best

    def time_leaves(self, condition: dict[str, Any]) -> list[dict[str, Any]]:
        kind = condition["condition_type"]
        if kind in ("Age", "Date"):
            return [condition]
        children = list(condition.get("conditions", []))
        if kind == "Not":
            children.append(condition["condition"])
        return [leaf for child in children for leaf in self.time_leaves(child)]

    def change_times(self, leaf: dict[str, Any], module: ModuleFile) -> list[int]:
        if leaf["condition_type"] == "Age":
            centres = [self.birth + leaf["quantity"] * self.unit(leaf["unit"])]
        elif "year" in leaf:
            year = int(leaf["year"])
            centres = [utc_seconds(year), utc_seconds(year + 1)]
        else:
            centres = [self.date_seconds(leaf["date"])]
        changes = []
        for centre in centres:
            for tau in range(math.floor(centre) - 2, math.ceil(centre) + 3):
                if self.test(leaf, tau, module) != self.test(leaf, tau - 1, module):
                    changes.append(tau)
        return changes

    # ---------------------------------------------------------------- randomness

    def uniform(self, frame: Frame, slot: int) -> float:
        """SEMANTICS "Randomness": random_uniform(key(state), patient, visit * 64 + slot)."""
        key = self.interpreter.state_key(frame.module.name, frame.state)
        counter = frame.visit * SLOTS_PER_VISIT + slot
        return float(random_uniform(key, np.uint64(self.id), np.uint64(counter)))

    def sample(self, distribution: dict[str, Any], frame: Frame, slot: int,
               gaussian_slot: int) -> float:
        """SEMANTICS "Randomness": the five distribution kinds, then optional rounding."""
        kind = distribution.get("kind")
        p = distribution.get("parameters", {})
        if kind == "EXACT":
            value = float(p["value"])
        elif kind == "UNIFORM":
            value = p["low"] + self.uniform(frame, slot) * (p["high"] - p["low"])
        elif kind == "GAUSSIAN":
            u1 = self.uniform(frame, slot)
            u2 = self.uniform(frame, gaussian_slot)
            z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
            value = p["mean"] + p["standardDeviation"] * z
            if "min" in p:
                value = max(value, p["min"])
            if "max" in p:
                value = min(value, p["max"])
        elif kind == "EXPONENTIAL":
            value = -p["mean"] * math.log(1.0 - self.uniform(frame, slot))
        elif kind == "TRIANGULAR":
            low, mode, high = p["min"], p["mode"], p["max"]
            u = self.uniform(frame, slot)
            # Reading: u < (mode - min) / (max - min) takes the rising side, as Synthea.
            if u < (mode - low) / (high - low):
                value = low + math.sqrt(u * (high - low) * (mode - low))
            else:
                value = high - math.sqrt((1.0 - u) * (high - low) * (high - mode))
        else:
            raise NotImplementedError(
                f"distribution kind {kind!r}; use one of {sorted(DISTRIBUTION_KINDS)}"
            )
        # Reading: clamping comes before rounding.
        if distribution.get("round"):
            value = round_half_away(value)
        return float(value)

    # ---------------------------------------------------------------- events

    def event(self, t: int, kind: str, frame: Frame, *, sub: int = 0, value: float = math.nan,
              encounter: EntryHandle | None = None,
              reason: tuple[str, str] | None = None) -> None:
        """SEMANTICS "The event log": one row."""
        self.events.append((
            self.id, t, kind, frame.module.name, frame.state, frame.visit, sub, value,
            encounter.module if encounter else None,
            encounter.state if encounter else None,
            encounter.visit if encounter else None,
            reason[0] if reason else None,
            reason[1] if reason else None,
        ))


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


class Interpreter:
    """What all patients share: modules, lookup tables, stream keys."""

    def __init__(self, library: ModuleLibrary, seed: int):
        self.library = library
        self.seed = seed
        self._keys: dict[tuple[str, str], np.uint64] = {}
        self._tables: dict[Path, LookupTable] = {}
        self._checked: set[Path] = set()

    def checked(self, module: ModuleFile) -> ModuleFile:
        if module.path not in self._checked:
            check_module(module)
            self._checked.add(module.path)
        return module

    def state_key(self, module_name: str, state_name: str) -> np.uint64:
        """SEMANTICS "Randomness": the stream "module:<module file name>:<state name>"."""
        key = (module_name, state_name)
        if key not in self._keys:
            self._keys[key] = np.uint64(
                stream_key(self.seed, f"module:{module_name}:{state_name}")
            )
        return self._keys[key]

    def lookup_table(self, table_name: str, frame: Frame, options: list[str]) -> LookupTable:
        path = self.library.lookup_table(table_name, frame.module, frame.state)
        if path not in self._tables:
            self._tables[path] = LookupTable(path, options)
        table = self._tables[path]
        if table.options != options:
            raise NotImplementedError(f"{path}: used with different option lists")
        return table


def naive_event_log(
    modules: list[ModuleFile],
    library: ModuleLibrary,
    patients: pl.DataFrame,
    seed: int,
    horizon: int,
    natural_death: bool = True,
    life_table: Path | None = None,
) -> pl.DataFrame:
    """The event log of SEMANTICS "The event log", one patient at a time.

    `modules` run in the given order (index m); submodules come from `library`.
    `patients` has patient, birth_time, gender, race, ethnicity, income; every other
    column is an initial attribute (null = nil). `horizon` is where simulation stops.
    """
    missing = [name for name in PATIENT_COLUMNS if name not in patients.columns]
    if missing:
        raise ValueError(f"patients frame lacks columns {missing}")
    interpreter = Interpreter(library, seed)
    for module in library.with_submodules(modules):
        interpreter.checked(module)
    table = read_life_table(life_table or DEFAULT_LIFE_TABLE) if natural_death else None

    rows: list[tuple] = []
    for row in patients.iter_rows(named=True):
        death_time = None
        if table is not None:
            death_time = natural_death_time(seed, int(row["patient"]), int(row["birth_time"]),
                                            row["gender"], table)
        patient = PatientSimulation(interpreter, row, death_time)
        rows.extend(patient.simulate(modules, horizon))

    frame = pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
    return frame.sort(list(EVENT_SCHEMA))
