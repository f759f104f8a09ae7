"""Validated module JSON compiled into flat typed arrays for the state-machine kernel.

Everything the kernel needs is an array indexed by a global state id, branch, choice,
distribution, value spec or condition instruction (see kernels/machine.py); everything
the table builders need (names, codes, units) stays here on the Python side, indexed
the same way. Nothing is generated per module: one kernel runs every model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from cohortforge.kernels import machine_codes as mc
from cohortforge.terminology import TerminologyError, canonical_system

from .compile_conditions import ConditionCompiler, Instruction
from .compile_loops import loop_guarded_states
from .compile_rows import branch_heads, branch_tests, guard_tests, is_flat
from .compile_states import compile_state, compile_transition
from .compile_visits import visit_counted_states
from .fold_routers import fold_routers
from .module_loader import ModuleError, ModuleFile, ModuleLibrary
from .module_schema import (
    DISTRIBUTION_KINDS,
    STATE_FIELDS,
    UNIT_SECONDS,
    VITAL_SIGN_LOINC,
)
from .streams import stream_key

BASELINE_MODULES = ("wellness_encounters", "immunizations")
STATE_KIND = {
    "Initial": mc.S_INITIAL,
    "Terminal": mc.S_TERMINAL,
    "Simple": mc.S_SIMPLE,
    "Guard": mc.S_GUARD,
    "Delay": mc.S_DELAY,
    "SetAttribute": mc.S_SET_ATTRIBUTE,
    "Counter": mc.S_COUNTER,
    "CallSubmodule": mc.S_CALL_SUBMODULE,
    "Encounter": mc.S_ENCOUNTER,
    "EncounterEnd": mc.S_ENCOUNTER_END,
    "ConditionOnset": mc.S_ENTRY_START,
    "AllergyOnset": mc.S_ENTRY_START,
    "MedicationOrder": mc.S_ENTRY_START,
    "CarePlanStart": mc.S_ENTRY_START,
    "Device": mc.S_ENTRY_START,
    "ConditionEnd": mc.S_ENTRY_END,
    "MedicationEnd": mc.S_ENTRY_END,
    "CarePlanEnd": mc.S_ENTRY_END,
    "DeviceEnd": mc.S_ENTRY_END,
    "Observation": mc.S_OBSERVATION,
    "MultiObservation": mc.S_OBSERVATION,
    "DiagnosticReport": mc.S_OBSERVATION,
    "Procedure": mc.S_PROCEDURE,
    "Immunization": mc.S_IMMUNIZATION,
    "Vaccine": mc.S_IMMUNIZATION,
    "Symptom": mc.S_SYMPTOM,
    "Death": mc.S_DEATH,
}
DISTRIBUTION_CODES = {
    "EXACT": mc.D_EXACT,
    "UNIFORM": mc.D_UNIFORM,
    "GAUSSIAN": mc.D_GAUSSIAN,
    "EXPONENTIAL": mc.D_EXPONENTIAL,
    "TRIANGULAR": mc.D_TRIANGULAR,
}
AUX_WIDTH = 6


class KernelModel(NamedTuple):
    """The arrays the kernel reads; see kernels/machine.py for how each is used."""

    state_kind: np.ndarray  # int8[S]
    state_key: np.ndarray  # uint64[S]
    state_aux: np.ndarray  # int32[S, AUX_WIDTH]
    state_num: np.ndarray  # float64[S]
    state_prior_slot: np.ndarray  # int32[S]
    direct_target: np.ndarray  # int32[S]: the target of a plain direct transition, else -1
    branch_start: np.ndarray  # int32[S + 1]
    branch_cond: np.ndarray  # int32[B]
    choice_start: np.ndarray  # int32[B + 1]
    choice_target: np.ndarray  # int32[C]
    choice_prob: np.ndarray  # float64[C]
    choice_prob_attr: np.ndarray  # int32[C]
    dist_kind: np.ndarray  # int8[D]
    dist_params: np.ndarray  # float64[D, 5]
    dist_scale: np.ndarray  # float64[D] (unit seconds for durations, 1 for values)
    dist_round: np.ndarray  # int8[D]
    value_source: np.ndarray  # int8[V]
    value_arg: np.ndarray  # int32[V]
    value_const: np.ndarray  # float64[V]
    value_const_type: np.ndarray  # int8[V]
    value_obs_slot: np.ndarray  # int32[V]
    value_vital_attr: np.ndarray  # int32[V]
    value_rng_slot: np.ndarray  # int32[V]
    value_unread: np.ndarray  # int8[V]: 1 when no condition or value reads what it records
    cond_start: np.ndarray  # int32[NC + 1]
    # The state and branch data above, one row per state and per branch (columns
    # mc.ST_* and mc.BR_*): a state entry or a branch test reads one cache line, not one
    # per array.
    state_row: np.ndarray  # int32[S, mc.ST_WIDTH]
    branch_row: np.ndarray  # int32[B, mc.BR_WIDTH]
    # One row per condition instruction (columns mc.INS_*), so the evaluator reads one
    # cache line per instruction. The exits short-circuit: an operand whose value decides
    # its And/Or jumps there (INS_EXIT, -1 for none) with the stack cut back to the height
    # before the And/Or's first operand (INS_EXIT_TOP) when its value is INS_EXIT_ON.
    ins_code: np.ndarray  # int32[I, mc.INS_WIDTH]
    # Each branch's condition again as one row of numbers, where it is a plain
    # conjunction (engine/compile_rows.py); states with mc.ST_ROWS set use these. After
    # the B branch rows, two rows per Guard with mc.ST_GUARD_ROW set (guard_tests).
    branch_test: np.ndarray  # float64[B + 2G, mc.ROW_WIDTH]
    branch_head: np.ndarray  # float64[B + 2G, mc.HEAD_WIDTH]: what a scan reads first
    ins_x: np.ndarray  # float64[I]
    cond_time_only: np.ndarray  # int8[NC]: 1 when only the time can change the value
    slot_list: np.ndarray  # int32[L]
    module_initial: np.ndarray  # int32[M] initial state of each run module
    # int64[5]: attributes, entry slots, obs slots, prior slots, and 1 when some Guard's
    # condition reads more than the time (else the kernel never re-tests guards).
    sizes: np.ndarray


@dataclass
class StateInfo:
    """What the table builders need to know about one compiled state."""

    module: str
    name: str
    type: str
    definition: dict[str, Any] = field(repr=False)


@dataclass
class CompiledModel:
    kernel: KernelModel
    states: list[StateInfo]
    module_names: list[str]  # run modules, in run order
    attribute_names: list[str]
    texts: list[str]  # interned strings (text attribute values)
    child_observations: dict[int, list[dict[str, Any]]]  # state id -> child observation specs

    def state_index(self, module: str, name: str) -> int:
        for index, info in enumerate(self.states):
            if info.module == module and info.name == name:
                return index
        raise KeyError((module, name))


class ModelBuilder:
    """Accumulates the arrays while walking every state of every module and submodule."""

    def __init__(self, library: ModuleLibrary, seed: int):
        self.library = library
        self.seed = seed
        self.files: list[ModuleFile] = []
        self.state_ids: dict[tuple[str, str], int] = {}
        self.states: list[StateInfo] = []
        self.attributes: dict[str, int] = {}
        self.texts: dict[str, int] = {}
        self.entry_slots: dict[tuple[str, str], int] = {}
        self.observation_slots: dict[tuple[str, str], int] = {}
        self.prior_slots: dict[int, int] = {}
        self.slot_list: list[int] = []
        self.conditions: list[list[Instruction]] = []
        self.distributions: list[tuple[int, list[float], float, int]] = []
        self.values: list[tuple[int, int, float, int, int, int, int]] = []
        self.children: dict[int, list[dict[str, Any]]] = {}

    # -- registries ---------------------------------------------------------------
    def error(
        self, module: ModuleFile, state: str | None, key: str | None, problem: str
    ) -> ModuleError:
        return ModuleError(f"{module.where(state, key)}: {problem}")

    def attribute(self, name: str) -> int:
        return self.attributes.setdefault(name, len(self.attributes))

    def text(self, value: str) -> int:
        return self.texts.setdefault(value, len(self.texts))

    def constant(self, value: Any) -> tuple[int, float]:
        if isinstance(value, bool):
            return mc.T_BOOL, float(value)
        if isinstance(value, int | float):
            return mc.T_NUMBER, float(value)
        if isinstance(value, str):
            return mc.T_TEXT, float(self.text(value))
        raise ValueError(f"unsupported constant {value!r}")

    @staticmethod
    def _code_key(code: Any) -> tuple[str, str]:
        """Entries and observations are matched by (canonical system, code)."""
        if not isinstance(code, dict) or "code" not in code:
            raise ValueError("a code needs system and code")
        system = str(code.get("system", ""))
        # Unknown systems match by their spelling; the linter reports them.
        with contextlib.suppress(TerminologyError):
            system = canonical_system(system)
        return (system, str(code["code"]))

    def entry_slot(self, code: Any) -> int:
        key = self._code_key(code)
        return self.entry_slots.setdefault(key, len(self.entry_slots))

    def observation_slot(self, code: Any) -> int:
        key = self._code_key(code)
        return self.observation_slots.setdefault(key, len(self.observation_slots))

    def code_list(self, slots: list[int]) -> tuple[int, int]:
        start = len(self.slot_list)
        self.slot_list += slots
        return start, len(slots)

    def prior_slot(self, module: ModuleFile, state: str) -> int:
        state_id = self.state_ids[(module.name, state)]
        return self.prior_slots.setdefault(state_id, len(self.prior_slots))

    def condition(self, module: ModuleFile, state: str, key: str, node: Any) -> int:
        program = ConditionCompiler(self, module, state, key).compile(node)
        self.conditions.append(program)
        return len(self.conditions) - 1

    def distribution(
        self, module: ModuleFile, state: str, key: str, spec: Any, scale: float
    ) -> int:
        """A distribution id from `exact`, `range` or `distribution` specs."""
        rounding = 0
        if key == "exact":
            kind, params = mc.D_EXACT, [self._number(module, state, key, spec, "quantity")]
        elif key == "range":
            low = self._number(module, state, key, spec, "low")
            high = self._number(module, state, key, spec, "high")
            if high < low:
                raise self.error(module, state, key, f"high {high} is below low {low}")
            kind, params = mc.D_UNIFORM, [low, high]
        else:
            if not isinstance(spec, dict) or spec.get("kind") not in DISTRIBUTION_KINDS:
                raise self.error(
                    module,
                    state,
                    key,
                    f"distribution kind must be one of {', '.join(sorted(DISTRIBUTION_KINDS))}",
                )
            rounding = int(bool(spec.get("round", False)))
            parameters = spec.get("parameters", {})
            kind = DISTRIBUTION_CODES[spec["kind"]]
            names = {
                mc.D_EXACT: ("value",),
                mc.D_UNIFORM: ("low", "high"),
                mc.D_GAUSSIAN: ("mean", "standardDeviation"),
                mc.D_EXPONENTIAL: ("mean",),
                mc.D_TRIANGULAR: ("min", "mode", "max"),
            }[kind]
            params = [self._number(module, state, key, parameters, name) for name in names]
            if kind == mc.D_GAUSSIAN:
                params += [
                    float(parameters.get("min", -np.inf)),
                    float(parameters.get("max", np.inf)),
                ]
        padded = [*params, *([0.0] * (5 - len(params)))]
        self.distributions.append((kind, padded, scale, rounding))
        return len(self.distributions) - 1

    def _number(self, module: ModuleFile, state: str, key: str, spec: Any, name: str) -> float:
        value = spec.get(name) if isinstance(spec, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(module, state, key, f"needs a numeric {name}")
        return float(value)

    def unit_scale(self, module: ModuleFile, state: str, key: str, unit: Any) -> float:
        if unit not in UNIT_SECONDS:
            raise self.error(
                module, state, key, f"unit {unit!r} is not one of {', '.join(UNIT_SECONDS)}"
            )
        return float(UNIT_SECONDS[unit])

    def value_spec(
        self, module: ModuleFile, state: str, spec: dict[str, Any], rng_slot: int
    ) -> int:
        """One observation value: its source, and the slots it updates."""
        codes = spec.get("codes") or []
        first = codes[0] if codes else None
        obs_slot = self.observation_slot(first) if first else -1
        loinc = (
            first.get("code") if first and "LOINC" in str(first.get("system", "")).upper() else None
        )
        vital_attr = next(
            (self.attribute(name) for name, code in VITAL_SIGN_LOINC.items() if code == loinc), -1
        )
        source, arg, const, const_type = mc.V_NONE, -1, 0.0, mc.T_NIL
        for key in ("exact", "range", "distribution"):
            if key in spec:
                source, arg = (
                    mc.V_DISTRIBUTION,
                    self.distribution(module, state, key, spec[key], 1.0),
                )
                break
        else:
            if "attribute" in spec:
                source, arg = mc.V_ATTRIBUTE, self.attribute(spec["attribute"])
            elif "vital_sign" in spec:
                if spec["vital_sign"] not in VITAL_SIGN_LOINC:
                    raise self.error(
                        module, state, "vital_sign", f"unknown vital sign {spec['vital_sign']!r}"
                    )
                source, arg = mc.V_ATTRIBUTE, self.attribute(spec["vital_sign"])
        self.values.append((source, arg, const, const_type, obs_slot, vital_attr, rng_slot))
        return len(self.values) - 1

    # -- modules ------------------------------------------------------------------
    def register(self, modules: Sequence[ModuleFile]) -> None:
        for module in modules:
            self.files.append(module)
            for name, definition in module.states.items():
                kind = definition.get("type")
                if kind not in STATE_FIELDS:
                    raise self.error(module, name, "type", f"state type {kind!r} is not supported")
                self.state_ids[(module.name, name)] = len(self.states)
                self.states.append(StateInfo(module.name, name, kind, definition))
            if "Initial" not in module.states:
                raise self.error(module, None, "states", "no Initial state; add one")

    def initial(self, module: ModuleFile) -> int:
        return self.state_ids[(module.name, "Initial")]

    def target(self, module: ModuleFile, state: str, key: str, name: Any) -> int:
        if (module.name, name) not in self.state_ids:
            raise self.error(module, state, key, f"transition to unknown state {name!r}")
        return self.state_ids[(module.name, name)]


def _module_of(builder: ModelBuilder, info: StateInfo) -> ModuleFile:
    return next(f for f in builder.files if f.name == info.module)


def _unread_values(values, instructions, builder, aux, kind, choice_attr) -> np.ndarray:
    """Which observation values nothing reads: no Observation condition on their code,
    no attribute read of the vital sign they set. Such values matter only when exported."""
    read_obs: set[int] = set()
    read_attrs: set[int] = {a for a in choice_attr if a >= 0}
    for op, a, _operator, n, _x in instructions:
        if op == mc.C_OBSERVATION:
            read_obs.update(builder.slot_list[int(a) : int(a) + int(n)])
        elif op in (mc.C_ATTRIBUTE, mc.C_ACTIVE_ATTRIBUTE):
            read_attrs.add(int(a))
    read_attrs.update(v[1] for v in values if v[0] == mc.V_ATTRIBUTE)
    copies = (kind == mc.S_SET_ATTRIBUTE) & (aux[:, 1] == mc.V_ATTRIBUTE)
    read_attrs.update(aux[copies, 2].tolist())
    return np.array(
        [int(v[4] not in read_obs and v[5] not in read_attrs) for v in values], dtype=np.int8
    )


LOGIC_OPS = (mc.C_AND, mc.C_OR, mc.C_NOT, mc.C_AT_LEAST)
# What a condition may read and still change its value only when time passes: the patient's
# fixed facts, and Age/Date thresholds (checked for whole seconds below).
STATIC_OPS = (mc.C_TRUE, mc.C_FALSE, mc.C_GENDER, mc.C_RACE, mc.C_SES, *LOGIC_OPS)
ORDERINGS = (mc.OP_LT, mc.OP_LE, mc.OP_GT, mc.OP_GE)


def short_circuit_exits(program: list[Instruction]) -> list[tuple[int, int, int]]:
    """(exit, exit_top, exit_on) per instruction of one postfix program, indices within it.

    Conditions have no side effects, so once an operand of an And is false (of an Or,
    true) the kernel may skip the remaining operands and take that value for the And/Or.
    """
    exits = [(-1, 0, 0)] * len(program)
    pending: list[tuple[int, int]] = []  # (root instruction, stack height before the subtree)
    for index, (op, _a, _operator, n, _x) in enumerate(program):
        if op not in LOGIC_OPS:
            pending.append((index, len(pending)))
            continue
        operands = pending[len(pending) - int(n) :]
        del pending[len(pending) - int(n) :]
        height = operands[0][1]
        if op in (mc.C_AND, mc.C_OR):
            for root, _ in operands:
                exits[root] = (index, height, int(op == mc.C_OR))
        pending.append((index, height))
    return exits


def time_only(program: list[Instruction]) -> bool:
    """Whether the value changes only at the instants kernels/machine.next_threshold finds:
    fixed facts and Age/Date orderings against whole seconds (no attribute, entry,
    observation or prior-state read, no == or != that flips back a second later)."""
    return all(
        op in STATIC_OPS
        or (op in (mc.C_AGE, mc.C_TIME) and operator in ORDERINGS and float(x).is_integer())
        for op, _a, operator, _n, x in program
    )


def _instruction_rows(ins: np.ndarray, exits: list[tuple[int, int, int]]) -> np.ndarray:
    rows = np.zeros((len(exits), mc.INS_WIDTH), dtype=np.int32)
    rows[:, mc.INS_OP] = ins[:, 0]
    rows[:, mc.INS_A] = ins[:, 1]
    rows[:, mc.INS_OPERATOR] = ins[:, 2]
    rows[:, mc.INS_N] = ins[:, 3]
    rows[:, [mc.INS_EXIT, mc.INS_EXIT_TOP, mc.INS_EXIT_ON]] = np.array(exits).reshape(-1, 3)
    return rows


def _guards_read_more_than_time(
    kind: np.ndarray, aux: np.ndarray, cond_time_only: np.ndarray
) -> int:
    """1 when a Guard state's condition reads anything but the time (attributes, entries,
    observations...), so a module blocked on it must be re-tested after every advance."""
    return int((cond_time_only[aux[kind == mc.S_GUARD, 0]] == 0).any())


def _state_rows(
    aux: np.ndarray,
    kind: np.ndarray,
    prior: np.ndarray,
    direct_target: np.ndarray,
    branch_start: np.ndarray,
    use_rows: np.ndarray,
    guard_row: np.ndarray,
) -> np.ndarray:
    """Every state's row of mc.ST_* columns except ST_COUNT (set once branches exist)."""
    rows = np.full((kind.size, mc.ST_WIDTH), -1, dtype=np.int32)
    rows[:, :AUX_WIDTH] = aux
    rows[:, mc.ST_KIND] = kind
    rows[:, mc.ST_PRIOR] = prior
    rows[:, mc.ST_DIRECT] = direct_target
    rows[:, mc.ST_BRANCH_FIRST] = branch_start[:-1]
    rows[:, mc.ST_BRANCH_LAST] = branch_start[1:]
    rows[:, mc.ST_ROWS] = use_rows
    rows[:, mc.ST_GUARD_ROW] = guard_row
    return rows


def _branch_rows(
    branch_cond: list[int],
    cond_start: np.ndarray,
    choice_start: list[int],
    choice_target: list[int],
    choice_attr: list[int],
) -> np.ndarray:
    rows = np.full((len(branch_cond), mc.BR_WIDTH), -1, dtype=np.int32)
    for b, condition in enumerate(branch_cond):
        first, last = choice_start[b], choice_start[b + 1]
        rows[b, mc.BR_COND] = condition
        if condition >= 0:
            rows[b, mc.BR_INS_FIRST] = cond_start[condition]
            rows[b, mc.BR_INS_LAST] = cond_start[condition + 1]
        rows[b, mc.BR_CHOICE_FIRST] = first
        rows[b, mc.BR_CHOICE_LAST] = last
        if last - first == 1 and choice_attr[first] < 0:
            rows[b, mc.BR_TARGET] = choice_target[first]
    return rows


def compile_modules(
    modules: Sequence[ModuleFile], library: ModuleLibrary, seed: int
) -> CompiledModel:
    """Compile the run's modules (in run order) and every submodule they call."""
    builder = ModelBuilder(library, seed)
    files = library.with_submodules(modules)
    builder.register(files)
    state_count = len(builder.states)
    kind = np.zeros(state_count, dtype=np.int8)
    keys = np.zeros(state_count, dtype=np.uint64)
    aux = np.full((state_count, AUX_WIDTH), -1, dtype=np.int32)
    num = np.zeros(state_count, dtype=np.float64)
    branches: list[list[tuple[int, list[tuple[int, float, int]]]]] = []
    for state_id, info in enumerate(builder.states):
        module = _module_of(builder, info)
        kind[state_id] = STATE_KIND[info.type]
        keys[state_id] = stream_key(seed, f"module:{info.module}:{info.name}")
        compile_state(builder, module, info, aux[state_id], num, state_id)
        branches.append(compile_transition(builder, module, info))
    fold_routers(
        branches,
        kind,
        builder.prior_slots,
        lambda condition: condition < 0 or is_flat(builder.conditions[condition]),
    )

    branch_start = np.zeros(state_count + 1, dtype=np.int32)
    branch_cond: list[int] = []
    choice_start = [0]
    choice_target: list[int] = []
    choice_prob: list[float] = []
    choice_attr: list[int] = []
    for state_id, state_branches in enumerate(branches):
        for condition, choices in state_branches:
            branch_cond.append(condition)
            for target, probability, attribute in choices:
                choice_target.append(target)
                choice_prob.append(probability)
                choice_attr.append(attribute)
            choice_start.append(len(choice_target))
        branch_start[state_id + 1] = len(branch_cond)

    prior = np.full(state_count, -1, dtype=np.int32)
    for state_id, slot in builder.prior_slots.items():
        prior[state_id] = slot
    cond_start = np.zeros(len(builder.conditions) + 1, dtype=np.int32)
    instructions: list[Instruction] = []
    exits: list[tuple[int, int, int]] = []
    for index, program in enumerate(builder.conditions):
        start = len(instructions)
        instructions += program
        exits += [
            (exit_at + start if exit_at >= 0 else -1, top, on)
            for exit_at, top, on in short_circuit_exits(program)
        ]
        cond_start[index + 1] = len(instructions)
    ins = (
        np.array(instructions, dtype=np.float64).reshape(-1, 5)
        if instructions
        else np.zeros((0, 5))
    )
    dists = builder.distributions
    values = builder.values
    direct_target = np.array(
        [
            b[0][1][0][0]
            if len(b) == 1 and b[0][0] < 0 and len(b[0][1]) == 1 and b[0][1][0][2] < 0
            else -1
            for b in branches
        ],
        dtype=np.int32,
    )
    branch_test, use_rows = branch_tests(builder.conditions, branch_cond, branch_start)
    guard_rows, guard_row = guard_tests(builder.conditions, kind, aux, len(branch_test))
    branch_test = np.concatenate([branch_test, guard_rows])
    cond_time_only = np.array([time_only(p) for p in builder.conditions], dtype=np.int8)
    kernel = KernelModel(
        state_kind=kind,
        state_key=keys,
        state_aux=aux,
        state_num=num,
        state_prior_slot=prior,
        direct_target=direct_target,
        branch_start=branch_start,
        branch_cond=np.array(branch_cond, dtype=np.int32),
        choice_start=np.array(choice_start, dtype=np.int32),
        choice_target=np.array(choice_target, dtype=np.int32),
        choice_prob=np.array(choice_prob, dtype=np.float64),
        choice_prob_attr=np.array(choice_attr, dtype=np.int32),
        dist_kind=np.array([d[0] for d in dists], dtype=np.int8),
        dist_params=np.array([d[1] for d in dists], dtype=np.float64).reshape(-1, 5),
        dist_scale=np.array([d[2] for d in dists], dtype=np.float64),
        dist_round=np.array([d[3] for d in dists], dtype=np.int8),
        value_source=np.array([v[0] for v in values], dtype=np.int8),
        value_arg=np.array([v[1] for v in values], dtype=np.int32),
        value_const=np.array([v[2] for v in values], dtype=np.float64),
        value_const_type=np.array([v[3] for v in values], dtype=np.int8),
        value_obs_slot=np.array([v[4] for v in values], dtype=np.int32),
        value_vital_attr=np.array([v[5] for v in values], dtype=np.int32),
        value_rng_slot=np.array([v[6] for v in values], dtype=np.int32),
        value_unread=_unread_values(values, instructions, builder, aux, kind, choice_attr),
        cond_start=cond_start,
        state_row=_state_rows(aux, kind, prior, direct_target, branch_start, use_rows, guard_row),
        branch_row=_branch_rows(branch_cond, cond_start, choice_start, choice_target, choice_attr),
        ins_code=_instruction_rows(ins, exits),
        ins_x=ins[:, 4].copy(),
        branch_test=branch_test,
        branch_head=branch_heads(branch_test),
        cond_time_only=cond_time_only,
        slot_list=np.array(builder.slot_list, dtype=np.int32),
        module_initial=np.array([builder.initial(m) for m in modules], dtype=np.int32),
        sizes=np.array(
            [
                max(1, len(builder.attributes)),
                max(1, len(builder.entry_slots)),
                max(1, len(builder.observation_slots)),
                max(1, len(builder.prior_slots)),
                _guards_read_more_than_time(kind, aux, cond_time_only),
            ],
            dtype=np.int64,
        ),
    )
    counted_instants = loop_guarded_states(
        kernel.state_row,
        kernel.branch_row,
        kernel.choice_target,
        kernel.dist_kind,
        kernel.dist_params,
        kernel.dist_scale,
        kernel.dist_round,
        kernel.module_initial,
        mc.MAX_STEPS_PER_INSTANT,
    )
    kernel.state_row[:, mc.ST_COUNT] = mc.COUNT_INSTANT * counted_instants + mc.COUNT_VISITS * (
        visit_counted_states(kernel.state_row, kernel.branch_row)
    )
    return CompiledModel(
        kernel=kernel,
        states=builder.states,
        module_names=[m.name for m in modules],
        attribute_names=list(builder.attributes),
        texts=list(builder.texts),
        child_observations=builder.children,
    )
