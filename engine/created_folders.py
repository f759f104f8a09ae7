"""Folders a command creates for its output, removed again if it fails before writing
anything into them (engine/output_dir.py for runs, engine/staged_folder.py for reports)."""

from __future__ import annotations

from pathlib import Path


def missing_folders(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first: what
    `mkdir(parents=True)` is about to create."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def remove_empty(created: list[Path]) -> None:
    """Remove the `missing_folders` a command created, deepest first, while empty."""
    for folder in created:
        if not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()
