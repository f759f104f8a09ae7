"""Where the terminology database and the full vocabularies live by default."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "TERMINOLOGY_DB_PATH"
DEFAULT_ROOT = Path("data") / "terminology"
DB_NAME = "terminology.duckdb"


def default_root() -> Path:
    """Folder searched for full vocabularies (relative to the working directory, like Synthea)."""
    return DEFAULT_ROOT


def resolve_db_path(db_path: str | os.PathLike[str] | None = None,
                    root: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path wins, then $TERMINOLOGY_DB_PATH, then <root>/terminology.duckdb."""
    if db_path:
        return Path(db_path)
    from_env = os.environ.get(DB_ENV)
    if from_env:
        return Path(from_env)
    return Path(root if root is not None else default_root()) / DB_NAME
