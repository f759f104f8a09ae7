"""Finding and reading module files: by name, by path, and from extra module folders.

A module library is an ordered list of roots: the folders given with --modules-dir,
then the package's own modules/ folder. Top-level JSON files are modules; files in
subfolders are submodules, named by their path without ".json" (for example
"medications/maintenance_inhaler"), which is how CallSubmodule refers to them.
Lookup tables live in each root's lookup_tables/ folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import CohortforgeError
from .module_catalog import MODULE_DIR

LOOKUP_TABLE_DIR = "lookup_tables"


class ModuleError(CohortforgeError):
    """A module that cannot be loaded or compiled; names file, state and field."""


@dataclass(frozen=True)
class ModuleFile:
    name: str
    path: Path
    root: Path
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def states(self) -> dict[str, dict[str, Any]]:
        return self.document["states"]

    def where(self, state: str | None = None, key: str | None = None) -> str:
        """`file:state:key` prefix for messages about this module."""
        parts = [str(self.path)]
        if state is not None:
            parts.append(state)
        if key is not None:
            parts.append(key)
        return ":".join(parts)


def _normalise_codes(node: Any) -> Any:
    """Module files may write codes as JSON numbers; every code becomes a string."""
    if isinstance(node, dict):
        fixed = {key: _normalise_codes(value) for key, value in node.items()}
        if "code" in fixed and "system" in fixed and not isinstance(fixed["code"], str):
            fixed["code"] = str(fixed["code"])
        return fixed
    if isinstance(node, list):
        return [_normalise_codes(value) for value in node]
    return node


def read_module_file(path: Path, name: str, root: Path) -> ModuleFile:
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise ModuleError(f"{path}: module file not found") from error
    except orjson.JSONDecodeError as error:
        raise ModuleError(f"{path}: not valid JSON ({error}); fix the syntax") from error
    if not isinstance(document, dict):
        raise ModuleError(f'{path}: expected a JSON object with "name" and "states"')
    states = document.get("states")
    if not isinstance(states, dict) or not states:
        raise ModuleError(f'{path}: states: missing or empty; a module needs a "states" object')
    for state_name, state in states.items():
        if not isinstance(state, dict) or not isinstance(state.get("type"), str):
            raise ModuleError(f'{path}:{state_name}:type: every state needs a "type" string')
    return ModuleFile(name, path, root, _normalise_codes(document))


class ModuleLibrary:
    """Module search path: user folders first, then the package's modules/."""

    def __init__(self, extra_dirs: Sequence[Path] = ()):
        roots = []
        for directory in extra_dirs:
            directory = Path(directory)
            if not directory.is_dir():
                raise ModuleError(
                    f"--modules-dir {directory}: not a directory; "
                    "give a folder of module JSON files"
                )
            roots.append(directory.resolve())
        roots.append(MODULE_DIR)
        self.roots: tuple[Path, ...] = tuple(dict.fromkeys(roots))
        self._cache: dict[Path, ModuleFile] = {}

    def module_names(self) -> dict[str, Path]:
        """Every top-level module name -> file; earlier roots win on a name clash."""
        found: dict[str, Path] = {}
        for root in self.roots:
            for path in sorted(root.glob("*.json")):
                found.setdefault(path.stem, path)
        return found

    def submodule_names(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for root in self.roots:
            for path in sorted(root.rglob("*.json")):
                relative = path.relative_to(root)
                if len(relative.parts) > 1 and relative.parts[0] != LOOKUP_TABLE_DIR:
                    found.setdefault(relative.with_suffix("").as_posix(), path)
        return found

    def _read(self, path: Path, name: str, root: Path) -> ModuleFile:
        path = path.resolve()
        if path not in self._cache:
            self._cache[path] = read_module_file(path, name, root)
        return self._cache[path]

    def load(self, name_or_path: str) -> ModuleFile:
        """A module by name (searched in the roots) or by path to a .json file."""
        candidate = Path(name_or_path)
        if candidate.suffix == ".json":
            if not candidate.is_file():
                raise ModuleError(f"module file {candidate} not found; check the path")
            resolved = candidate.resolve()
            # A file inside a module root keeps that root (for its submodules and
            # lookup tables) and its path name; elsewhere its folder is its root.
            for root in self.roots:
                if resolved.is_relative_to(root):
                    name = resolved.relative_to(root).with_suffix("").as_posix()
                    return self._read(resolved, name, root)
            return self._read(resolved, resolved.stem, resolved.parent)
        names = self.module_names()
        if name_or_path not in names:
            valid = ", ".join(names) or "none"
            raise ModuleError(
                f"unknown module {name_or_path!r}; valid modules: {valid} "
                "(or pass a path to a .json file, or add a folder with --modules-dir)"
            )
        path = names[name_or_path]
        return self._read(path, name_or_path, path.parent)

    def load_submodule(self, name: str, caller: ModuleFile, state: str) -> ModuleFile:
        """CallSubmodule target: a path relative to a module root, without ".json"."""
        search = (caller.root, *self.roots)
        for root in dict.fromkeys(search):
            path = root / f"{name}.json"
            if path.is_file():
                return self._read(path, name, root)
        raise ModuleError(
            f"{caller.where(state, 'submodule')}: submodule {name!r} not found under "
            f"{', '.join(str(r) for r in dict.fromkeys(search))}; "
            "give its path relative to a modules folder, without .json"
        )

    def lookup_table(self, table_name: str, caller: ModuleFile, state: str) -> Path:
        for root in dict.fromkeys((caller.root, *self.roots)):
            path = root / LOOKUP_TABLE_DIR / table_name
            if path.is_file():
                return path
        raise ModuleError(
            f"{caller.where(state, 'lookup_table_transition')}: lookup table {table_name!r} "
            f"not found in any {LOOKUP_TABLE_DIR}/ folder of the module roots"
        )

    def with_submodules(self, modules: Iterable[ModuleFile]) -> list[ModuleFile]:
        """The given modules plus every submodule they call, transitively, in first-use order."""
        return self.submodule_calls(modules)[0]

    def submodule_calls(
        self,
        modules: Iterable[ModuleFile],
        on_missing: Callable[[ModuleFile, str, ModuleError], None] | None = None,
    ) -> tuple[list[ModuleFile], dict[tuple[Path, str], ModuleFile | None]]:
        """Modules plus their submodules (first-use order) and what each CallSubmodule calls.

        A submodule that cannot be loaded raises, unless `on_missing(module, state,
        error)` is given (the linter reports it and goes on); its call maps to None.
        """
        ordered: dict[Path, ModuleFile] = {}
        calls: dict[tuple[Path, str], ModuleFile | None] = {}
        pending = list(modules)
        while pending:
            module = pending.pop(0)
            if module.path in ordered:
                continue
            ordered[module.path] = module
            for state_name, state in module.states.items():
                if state.get("type") != "CallSubmodule" or not isinstance(
                    state.get("submodule"), str
                ):
                    continue
                try:
                    submodule = self.load_submodule(state["submodule"], module, state_name)
                except ModuleError as error:
                    if on_missing is None:
                        raise
                    on_missing(module, state_name, error)
                    calls[(module.path, state_name)] = None
                    continue
                calls[(module.path, state_name)] = submodule
                pending.append(submodule)
        return list(ordered.values()), calls
