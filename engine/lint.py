"""The module linter: checks module files against the supported subset before anything runs.

    library = ModuleLibrary([Path("my_modules")])
    findings = lint_modules([library.load("asthma")], library)

Rules live beside this file: lint_schema.py (state keys and values), lint_transitions.py
(transitions, probabilities, conditions, lookup tables), lint_graph.py (Initial,
reachability, dead ends, loops with no delay), lint_codes.py (terminology codes and
observation units). This file selects the modules, runs the rules and judges attributes,
which needs every selected module at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cohortforge.terminology import Terminology, get_terminology

from .lint_codes import CodeChecker, check_codes, check_units
from .lint_context import (
    ERROR,
    MODULE_LEVEL,
    WARNING,
    Finding,
    ModuleContext,
    attributes_set,
)
from .lint_graph import check_initial, check_instant_loops, check_reachable, check_way_out
from .lint_schema import check_state_schema
from .lint_transitions import check_transitions
from .module_loader import (
    LOOKUP_TABLE_DIR,
    ModuleError,
    ModuleFile,
    ModuleLibrary,
    read_module_file,
)
from .module_schema import PATIENT_ATTRIBUTES

__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "lint_modules",
    "lint_selection",
    "load_for_lint",
    "modules_under",
]

# Modules every run includes (modules/SEMANTICS.md), so attributes they set count as set.
BASELINE_MODULES = ("wellness_encounters", "immunizations")

# (caller path, CallSubmodule state) -> the submodule, or None when it could not be loaded.
Calls = dict[tuple[Path, str], ModuleFile | None]


# --- choosing what to lint -----------------------------------------------------------


def modules_under(root: Path) -> list[ModuleFile]:
    """Every module and submodule file in one module root (lookup_tables/ excluded)."""
    root = root.resolve()
    found = []
    for path in sorted(root.rglob("*.json")):
        relative = path.relative_to(root)
        if relative.parts[0] != LOOKUP_TABLE_DIR:
            found.append(read_module_file(path, relative.with_suffix("").as_posix(), root))
    return found


def load_for_lint(library: ModuleLibrary, name_or_path: str) -> ModuleFile:
    """A module by name or path; a file inside a library root keeps that root.

    So a submodule file given by path still finds the lookup tables and submodules of
    its modules folder (ModuleLibrary.load does this for every caller).
    """
    return library.load(name_or_path)


def _expand(
    modules: Iterable[ModuleFile], library: ModuleLibrary, findings: list[Finding] | None
) -> tuple[list[ModuleFile], Calls]:
    """The modules plus every submodule they call, transitively, in first-use order.

    A submodule that cannot be loaded becomes a finding at its CallSubmodule state
    (when findings is given) instead of stopping the lint.
    """

    def report(module: ModuleFile, state: str, error: ModuleError) -> None:
        if findings is not None:
            message = _submodule_message(str(error), module, state)
            findings.append(Finding(module.path, state, ERROR, message))

    return library.submodule_calls(modules, on_missing=report)


def _submodule_message(message: str, module: ModuleFile, state: str) -> str:
    # The loader's message starts with file:state:key, which the finding already says.
    prefix = f"{module.where(state, 'submodule')}: "
    return message.removeprefix(prefix)


def lint_selection(modules: Sequence[ModuleFile], library: ModuleLibrary) -> list[ModuleFile]:
    """The files lint_modules checks: the given modules and their submodules."""
    return _expand(modules, library, None)[0]


# --- running the rules ---------------------------------------------------------------


def lint_modules(
    modules: list[ModuleFile],
    library: ModuleLibrary,
    terminology: Terminology | None = None,
) -> list[Finding]:
    """Every finding for the modules and their submodules, sorted by file then state."""
    findings: list[Finding] = []
    selected, calls = _expand(modules, library, findings)
    checker = CodeChecker(terminology if terminology is not None else get_terminology())
    blocking = _Blocking(calls)
    contexts = [
        _lint_module(ModuleContext(module, library, findings), checker, blocking)
        for module in selected
    ]
    written = set().union(*(attributes_set(m) for m in [*selected, *_baseline(library)]))
    written |= set(PATIENT_ATTRIBUTES)
    for ctx in contexts:
        for state, attribute in dict.fromkeys(ctx.reads):
            if attribute not in written:
                ctx.warning(
                    state, f"attribute {attribute!r} is read but never set by any selected module"
                )
    unique = list(dict.fromkeys(findings))
    # Stable sort: within one state, findings keep the order the rules found them.
    unique.sort(key=lambda f: (str(f.path), f.state != MODULE_LEVEL, f.state))
    return unique


def _lint_module(ctx: ModuleContext, checker: CodeChecker, blocking: _Blocking) -> ModuleContext:
    for name, state in ctx.states.items():
        check_state_schema(ctx, name, state)
        check_transitions(ctx, name, state)
        check_codes(ctx, checker, name, state)
        check_units(ctx, checker, name, state)
    if check_initial(ctx):
        check_reachable(ctx)
    check_way_out(ctx)
    check_instant_loops(ctx, lambda name, state: blocking.state(ctx.module, name, state))
    return ctx


def _baseline(library: ModuleLibrary) -> list[ModuleFile]:
    """The baseline modules in the library and their submodules, when they load.

    They only contribute the attributes they set; a broken baseline module is reported
    when it is itself linted, not here.
    """
    names = library.module_names()
    found = []
    for name in BASELINE_MODULES:
        if name in names:
            try:
                found.append(library.load(name))
            except ModuleError:
                continue
    return _expand(found, library, None)[0]


class _Blocking:
    """Which states can make a module wait: Delay, Guard, a wellness Encounter, or a
    CallSubmodule whose submodule has one of those."""

    def __init__(self, calls: Calls) -> None:
        self._calls = calls
        self._modules: dict[Path, bool] = {}

    def state(self, module: ModuleFile, name: str, state: dict[str, Any]) -> bool:
        kind = state["type"]
        if kind in ("Delay", "Guard"):
            return True
        if kind == "Encounter":
            return state.get("wellness") is True
        if kind == "CallSubmodule":
            submodule = self._calls.get((module.path, name))
            # A submodule that did not load is already an error; do not add a loop error.
            return submodule is None or self.module(submodule)
        return False

    def module(self, module: ModuleFile) -> bool:
        if module.path not in self._modules:
            self._modules[module.path] = False  # a submodule calling itself cannot block by that
            self._modules[module.path] = any(
                self.state(module, name, state) for name, state in module.states.items()
            )
        return self._modules[module.path]
