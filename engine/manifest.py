"""manifest.json: what was asked, what was written (rows and sha256 per file), how long it took."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

VERSIONED_PACKAGES = (
    "cohortforge",
    "numpy",
    "polars",
    "pyarrow",
    "numba",
    "duckdb",
    "orjson",
    "typer",
)


def sha256_file(path: Path, block_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe_files(
    files: dict[str, Path],
    threads: int = 1,
    known: Mapping[str, tuple[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """sha256 and size of each file, keyed by its path relative to the output directory.

    `known`: digests taken while the files were written (engine/streaming_digests.py),
    (sha256, bytes hashed) by the same keys; used where the size on disk agrees. The
    rest (Parquet, which Arrow writes) are hashed here on `threads` threads (a run passes
    its --workers), largest first; hashlib releases the GIL on large buffers.
    """
    known = known or {}
    sizes = {relative: path.stat().st_size for relative, path in files.items()}
    digests = {
        relative: known[relative][0]
        for relative in files
        if relative in known and known[relative][1] == sizes[relative]
    }
    largest_first = sorted((r for r in files if r not in digests), key=lambda r: -sizes[r])
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        hashed = pool.map(lambda relative: sha256_file(files[relative]), largest_first)
        digests.update(zip(largest_first, hashed, strict=True))
    return {
        relative: {"sha256": digests[relative], "bytes": sizes[relative]}
        for relative in sorted(files)
    }


def build_manifest(
    parameters: dict[str, Any],
    row_counts: dict[str, int],
    files: dict[str, dict[str, Any]],
    seconds: dict[str, float],
) -> bytes:
    """The manifest as JSON bytes; `files` comes from describe_files()."""
    document = {
        "cohortforge_manifest_version": 1,
        "parameters": parameters,
        "versions": package_versions(),
        "row_counts": row_counts,
        "files": files,
        "seconds": {stage: round(value, 4) for stage, value in seconds.items()},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
