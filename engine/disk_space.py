"""Running out of disk: refused early when the rest of a run cannot fit, and reported in
one line (not a traceback) when the disk fills anyway.

Output size depends on the formats and modules by two orders of magnitude (1M
all-modules patients: 2.3 GB of Parquet; every format, the default, about 380-415 KB of
text per patient, so ~400 GB), so it is measured rather than guessed: after a run's
first work unit is written, the bytes staged so far per patient, times the patients
still to come, are compared with the space left on the output's file system.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .errors import CohortforgeError

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
FEWER_OUTPUTS = (
    "free some space, choose another --output-dir, or write fewer outputs "
    "(for example --output-format parquet --no-fhir --no-hl7)"
)


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def staged_bytes(directory: Path) -> int:
    """Bytes of every file under `directory` (a run's staging folder)."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def check_room_for_the_rest(
    root: Path, staging: Path, patients_written: int, patients_left: int
) -> None:
    """Raise if the patients left, at the staged bytes per patient so far, need more
    space than the file system holding `staging` has free."""
    if patients_written <= 0 or patients_left <= 0:
        return
    per_patient = staged_bytes(staging) / patients_written
    needed = per_patient * patients_left
    free = shutil.disk_usage(staging).free
    if needed > free:
        raise CohortforgeError(
            f"not enough disk space for {root}: the remaining {patients_left:,} patients need "
            f"about {human_size(needed)} ({human_size(per_patient)} per patient so far) and "
            f"{human_size(free)} is free; {FEWER_OUTPUTS}"
        )


@contextmanager
def disk_full_as_error(root: Path, outcome: str, remedy: str) -> Iterator[None]:
    """A full disk or exhausted quota inside the block becomes a CohortforgeError that
    says what happened (`outcome`) and what to do (`remedy`)."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        raise CohortforgeError(
            f"the disk holding {root} is full ({os.strerror(error.errno)}): {outcome}; {remedy}"
        ) from error


def run_disk_full_as_error(root: Path, *, shard: int | None = None) -> AbstractContextManager[None]:
    """disk_full_as_error for a run; a shard's message says that --resume keeps the
    shards already published."""
    outcome = (
        "the run stopped and nothing was published"
        if shard is None
        else f"shard {shard} stopped; rerun the same command with --resume once there is "
        "room (finished shards are kept)"
    )
    return disk_full_as_error(root, outcome, FEWER_OUTPUTS)
