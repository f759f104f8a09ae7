"""Shared test helpers: where ../shared lives, and small cohort runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def shared_dir() -> Path:
    """../shared beside the clone: skipped on a user's machine, required in CI."""
    if SHARED_DIR.is_dir():
        return SHARED_DIR
    if os.environ.get("CI") == "true":
        pytest.fail(f"{SHARED_DIR} is missing; CI must run with ../shared beside the clone")
    pytest.skip(f"{SHARED_DIR} not found (only CI and project machines have ../shared)")


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under root (manifest excluded: it records timings) by relative path."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
