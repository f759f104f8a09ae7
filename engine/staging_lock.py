"""Whether a staging folder's run is still alive.

Each run holds an exclusive `flock` on a lock file in its staging folder until it ends.
The kernel drops the lock when the process dies, however it dies (SIGKILL, the OOM
killer), so a lock that another process can take marks a folder that was left behind
and holds nothing anyone will publish.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import BinaryIO

LOCK_NAME = ".lock"


def hold(staging: Path) -> BinaryIO:
    """Lock `staging` for this run; the lock lasts until the returned file is closed.
    On a file system without locks the run goes ahead unlocked (is_abandoned then
    cannot take the lock either, so nothing there is ever judged abandoned)."""
    file = open(staging / LOCK_NAME, "wb")  # noqa: SIM115 - held open for the whole run
    with contextlib.suppress(OSError):
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return file


def is_abandoned(staging: Path) -> bool:
    """True when no live process holds `staging`'s lock. A folder without a lock file
    is being created right now, or is not ours to judge: not abandoned."""
    try:
        file = open(staging / LOCK_NAME, "rb")  # noqa: SIM115 - closed below
    except (FileNotFoundError, NotADirectoryError):
        return False
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live run, or no locks on this file system
            return False
        return True
