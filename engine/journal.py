"""The progress journal of a sharded run: which shards are complete, with checksums.

One JSON object per line: first the run's fingerprint (every parameter that changes the
output), then one record per completed shard (its files with sha256 and size, row
counts, care-network utilisation). A shard's record is appended and fsynced only after
its files are in place, so a record always describes finished files; a line cut short by
a crash is ignored and that shard is redone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from .errors import CohortforgeError
from .manifest import sha256_file
from .output_dir import PROGRESS_JOURNAL


class ProgressJournal:
    def __init__(self, root: Path):
        self.path = Path(root) / PROGRESS_JOURNAL

    def start(self, fingerprint: dict[str, Any], resume: bool) -> dict[int, dict[str, Any]]:
        """Begin a fresh journal, or read and check the one being resumed; return the
        records of completed shards, by shard number."""
        if not resume:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(orjson.dumps({"fingerprint": fingerprint}) + b"\n", mode="wb")
            return {}
        if not self.path.exists():
            raise CohortforgeError(
                f"nothing to resume in {self.path.parent}: no {PROGRESS_JOURNAL}; "
                "run without --resume to start a new run"
            )
        lines = self.path.read_bytes().splitlines()
        head = _parse(lines[0]) if lines else None
        if head is None or head.get("fingerprint") != fingerprint:
            raise CohortforgeError(
                f"the run in {self.path.parent} was started with other parameters; resume it "
                "with the same options, or start over with --overwrite and without --resume"
            )
        records = {}
        for line in lines[1:]:
            record = _parse(line)
            if record is not None:
                records[record["shard"]] = record
        return records

    def record(self, record: dict[str, Any]) -> None:
        self._write(orjson.dumps(record) + b"\n", mode="ab")

    def _write(self, data: bytes, mode: str) -> None:
        with open(self.path, mode) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def files_intact(root: Path, files: dict[str, dict[str, Any]]) -> bool:
    """True when every file is present with the recorded size and sha256."""
    for relative, entry in files.items():
        path = Path(root) / relative
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
        if sha256_file(path) != entry["sha256"]:
            return False
    return True
