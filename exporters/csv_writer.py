"""Streaming CSV: the header once, then each chunk's rows appended in order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from .csv_format import csv_header


class CsvTableWriter:
    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.rows_written = 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(csv_header(schema))

    def write(self, body: bytes, rows: int) -> None:
        """Append rows already formatted by csv_format.csv_body (done in the worker)."""
        self._file.write(body)
        self.rows_written += rows

    def close(self) -> None:
        self._file.close()
