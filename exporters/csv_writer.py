"""Streaming CSV: the header once, then each chunk's rows appended in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from .csv_format import csv_header


class CsvTableWriter:
    """`written`, when given, sees every block of bytes in file order (the run's
    checksums, engine/streaming_digests.py)."""

    def __init__(
        self, path: Path, schema: pa.Schema, written: Callable[[bytes], None] | None = None
    ):
        self.path = Path(path)
        self.rows_written = 0
        self._written = written
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._append(csv_header(schema))

    def _append(self, data: bytes) -> None:
        self._file.write(data)
        if self._written is not None:
            self._written(data)

    def write(self, body: bytes, rows: int) -> None:
        """Append rows already formatted by csv_format.csv_body (done in the worker)."""
        self._append(body)
        self.rows_written += rows

    def close(self) -> None:
        self._file.close()
