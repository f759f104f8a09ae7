"""What the module linter's rules share: the finding type and one module's lint context."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .module_loader import ModuleFile, ModuleLibrary
from .module_schema import TRANSITION_KEYS, UNIT_SECONDS

ERROR = "error"
WARNING = "warning"
MODULE_LEVEL = "-"  # the `state` of findings about the whole file


@dataclass(frozen=True)
class Finding:
    path: Path
    state: str
    severity: str  # "error" or "warning"
    message: str


@dataclass
class ModuleContext:
    """One module being linted: where its findings and attribute reads go."""

    module: ModuleFile
    library: ModuleLibrary
    findings: list[Finding]
    # (state, attribute) for every read, so "read but never set" can be judged once every
    # selected module has been seen.
    reads: list[tuple[str, str]] = field(default_factory=list)

    @property
    def states(self) -> dict[str, dict[str, Any]]:
        return self.module.states

    def error(self, state: str, message: str) -> None:
        self.findings.append(Finding(self.module.path, state, ERROR, message))

    def warning(self, state: str, message: str) -> None:
        self.findings.append(Finding(self.module.path, state, WARNING, message))

    def read(self, state: str, attribute: Any) -> None:
        if isinstance(attribute, str) and attribute:
            self.reads.append((state, attribute))


def check_time_unit(ctx: ModuleContext, state: str, where: str, unit: Any) -> None:
    if not named(unit, UNIT_SECONDS):
        ctx.error(
            state,
            f"{where}: time unit {unit!r} is not supported; use one of {', '.join(UNIT_SECONDS)}",
        )


def named(value: Any, names: Iterable[str]) -> bool:
    """Whether value is one of the names; safe for any JSON value (lists are unhashable)."""
    return isinstance(value, str) and value in names


def is_number(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int; they are not numbers here.
    return isinstance(value, int | float) and not isinstance(value, bool)


def transition_targets(state: dict[str, Any]) -> list[str]:
    """Every state name a state's transitions can lead to, whatever their shape."""
    targets: list[str] = []
    for key in TRANSITION_KEYS:
        value = state.get(key)
        if isinstance(value, str):
            targets.append(value)
        elif isinstance(value, list):
            for option in value:
                if not isinstance(option, dict):
                    continue
                if isinstance(option.get("transition"), str):
                    targets.append(option["transition"])
                inner_options = option.get("distributions")
                for inner in inner_options if isinstance(inner_options, list) else ():
                    if isinstance(inner, dict) and isinstance(inner.get("transition"), str):
                        targets.append(inner["transition"])
    return targets


def attributes_set(module: ModuleFile) -> set[str]:
    """Attributes a module writes: SetAttribute, Counter and any assign_to_attribute."""
    written: set[str] = set()
    for state in module.states.values():
        if state.get("type") in ("SetAttribute", "Counter") and isinstance(
            state.get("attribute"), str
        ):
            written.add(state["attribute"])
        if isinstance(state.get("assign_to_attribute"), str):
            written.add(state["assign_to_attribute"])
    return written
