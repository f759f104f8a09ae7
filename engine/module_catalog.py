"""Which clinical modules exist: one JSON file per module in the modules folder."""

from __future__ import annotations

from pathlib import Path

import orjson

from cohortforge.modules import __file__ as _modules_init

from .errors import CohortforgeError

MODULE_DIR = Path(_modules_init).resolve().parent


def module_paths(directory: Path = MODULE_DIR) -> dict[str, Path]:
    """Module name -> file for the top-level JSON files (submodules live in subfolders)."""
    return {path.stem: path for path in sorted(directory.glob("*.json"))}


def module_description(path: Path) -> str:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise CohortforgeError(f"{path}: not valid JSON ({error}); fix the syntax") from error
    remarks = document.get("remarks") if isinstance(document, dict) else None
    if isinstance(remarks, list):
        remarks = " ".join(str(r) for r in remarks)
    return str(remarks or document.get("name", path.stem)).strip()


def check_module_names(names: list[str] | tuple[str, ...], where: str) -> None:
    """Fail with the list of valid names when a module does not exist."""
    known = module_paths()
    for name in names:
        if name not in known:
            valid = ", ".join(known) or "none yet (the module engine adds them)"
            raise CohortforgeError(f"{where}: unknown module {name!r}; valid modules: {valid}")
