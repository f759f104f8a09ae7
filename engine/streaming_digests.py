"""sha256 of the files a run writes itself (CSV, FHIR, HL7, VistA), taken as they are written.

The manifest used to hash every file after the writers closed, reading it back: a
serial tail at the end of the run, bound by the largest file (csv/observations.csv is
~25 GB per 1M patients; the 1M CSV + Parquet run spent 14.1 of its 122 s there). Here
the writers hand each block of bytes, in file order, to a thread that feeds one sha256
per file while the run goes on (hashlib releases the GIL on large blocks). Blocks wait
for that thread up to MAX_PENDING_BYTES, then the writer waits, so memory stays bounded.
Parquet files are written by Arrow, not block by block here: they are still hashed from
disk at the end, as is any file whose size on disk differs from the bytes hashed here
(engine/manifest.py, `describe_files`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque

MAX_PENDING_BYTES = 256 * 2**20


class StreamingDigests:
    """Feed `add(relative_path, data)` in each file's write order; `finish()` returns
    {relative_path: (sha256 hex, bytes hashed)}. `close()` stops without a result."""

    def __init__(self, max_pending_bytes: int = MAX_PENDING_BYTES):
        self._max_pending = max_pending_bytes
        self._pending: deque[tuple[str, bytes] | None] = deque()
        self._pending_bytes = 0
        self._changed = threading.Condition()
        self._digests: dict[str, hashlib._Hash] = {}
        self._sizes: dict[str, int] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hash, name="cohortforge-digests", daemon=True)
        self._thread.start()

    def add(self, relative: str, data: bytes) -> None:
        if not data:
            return
        with self._changed:
            # Wait while the queue is full, unless it is empty (one block larger than the
            # bound must still pass) or the thread has stopped on an error.
            while (
                self._pending_bytes + len(data) > self._max_pending
                and self._pending
                and self._error is None
            ):
                self._changed.wait()
            self._pending.append((relative, data))
            self._pending_bytes += len(data)
            self._changed.notify_all()

    def _hash(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                item = self._pending[0]
            if item is None:
                return
            relative, data = item
            try:
                digest = self._digests.get(relative)
                if digest is None:
                    digest = self._digests[relative] = hashlib.sha256()
                    self._sizes[relative] = 0
                digest.update(data)  # outside the lock: the long part, without the GIL
                self._sizes[relative] += len(data)
            except BaseException as error:  # reported by finish(); the run then fails
                self._error = error
            with self._changed:
                self._pending.popleft()
                self._pending_bytes -= len(data)
                self._changed.notify_all()

    def _stop(self) -> None:
        with self._changed:
            self._pending.append(None)
            self._changed.notify_all()
        self._thread.join()

    def finish(self) -> dict[str, tuple[str, int]]:
        """Wait for every block added so far; the digest and size of each file."""
        self._stop()
        if self._error is not None:
            raise self._error
        return {
            relative: (digest.hexdigest(), self._sizes[relative])
            for relative, digest in self._digests.items()
        }

    def close(self) -> None:
        """Stop the thread (after the blocks already added) without a result."""
        if self._thread.is_alive():
            self._stop()
