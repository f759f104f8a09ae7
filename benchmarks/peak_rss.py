"""Peak resident memory of a command and all its child processes, sampled from /proc.

asv's peakmem_ sees only its own process; a run with worker processes needs the whole
tree, so this polls every 20 ms and keeps the largest sum of RSS it saw.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(current)
    return total


def peak_rss_bytes(command: list[str], interval: float = 0.02) -> tuple[int, float]:
    """Run `command`; return (peak RSS of its process tree in bytes, wall seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(interval)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    return peak, time.perf_counter() - started


if __name__ == "__main__":
    rss, seconds = peak_rss_bytes(sys.argv[1:])
    print(f"peak RSS {rss / 2**20:.0f} MiB, wall {seconds:.2f} s")
