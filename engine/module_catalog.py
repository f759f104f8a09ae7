"""Where the package's modules live, and the one-line description of a module file."""

from __future__ import annotations

from pathlib import Path

import orjson

from cohortforge.modules import __file__ as _modules_init

from .errors import CohortforgeError

MODULE_DIR = Path(_modules_init).resolve().parent


def module_description(path: Path) -> str:
    """The module's `remarks` (or its name) for `cohortforge modules`."""
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise CohortforgeError(f"{path}: not valid JSON ({error}); fix the syntax") from error
    remarks = document.get("remarks") if isinstance(document, dict) else None
    if isinstance(remarks, list):
        remarks = " ".join(str(r) for r in remarks)
    return str(remarks or document.get("name", path.stem)).strip()
