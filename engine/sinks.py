"""Per-table and per-text-file writers for one run, opened when their first piece arrives."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pyarrow as pa

from cohortforge.exporters.csv_format import csv_body
from cohortforge.exporters.csv_writer import CsvTableWriter
from cohortforge.exporters.parquet_writer import ParquetTableWriter
from cohortforge.exporters.text_export import TextPiece

from .chunk import ChunkResult
from .output_dir import OutputDir
from .streaming_digests import StreamingDigests


class TableSinks:
    """`digests`, when given, hashes the CSV files as they are written."""

    def __init__(
        self,
        output: OutputDir,
        formats: tuple[str, ...],
        digests: StreamingDigests | None = None,
    ):
        self.output = output
        self.formats = formats
        self.digests = digests
        self.csv: dict[str, CsvTableWriter] = {}
        self.parquet: dict[str, ParquetTableWriter] = {}
        self.row_counts: dict[str, int] = {}

    def write(self, result: ChunkResult) -> None:
        for name, rows in result.rows.items():
            self._write(
                name,
                result.schemas[name],
                rows,
                result.csv.get(name),
                result.tables.get(name),
            )

    def write_table(self, name: str, table: pa.Table) -> None:
        """A run-wide table written whole (organizations, providers, payers)."""
        body = csv_body(table) if "csv" in self.formats else None
        self._write(name, table.schema, table.num_rows, body, table)

    def _write(
        self, name: str, schema: pa.Schema, rows: int, body: bytes | None, table: pa.Table | None
    ) -> None:
        self.row_counts[name] = self.row_counts.get(name, 0) + rows
        if "csv" in self.formats:
            if name not in self.csv:
                relative = f"csv/{name}.csv"
                written = None if self.digests is None else partial(self.digests.add, relative)
                self.csv[name] = CsvTableWriter(self.output.staged(relative), schema, written)
            assert body is not None
            self.csv[name].write(body, rows)
        if "parquet" in self.formats:
            if name not in self.parquet:
                path = self.output.staged(f"parquet/{name}.parquet")
                self.parquet[name] = ParquetTableWriter(path, schema)
            assert table is not None
            self.parquet[name].write(table)

    def close(self) -> list[str]:
        """Close every writer; return the relative paths written."""
        for writer in [*self.csv.values(), *self.parquet.values()]:
            writer.close()
        return [f"csv/{n}.csv" for n in self.csv] + [f"parquet/{n}.parquet" for n in self.parquet]


class TextSinks:
    """Appends text pieces to their files in arrival order (begin, chunks, end).

    Files are opened per piece rather than held open, so a layout with one file per
    patient never runs out of file handles.
    """

    def __init__(
        self,
        output: OutputDir,
        separators: Mapping[str, bytes],
        digests: StreamingDigests | None = None,
    ):
        self.output = output
        self.separators = separators
        self.digests = digests  # when given, hashes each file as it is written
        self._paths: dict[str, None] = {}  # an ordered set: one file per patient is possible
        self._has_content: set[str] = set()
        self.counts: dict[str, int] = {}

    def write(self, piece: TextPiece, *, closing: bool = False) -> None:
        for name, count in piece.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for relative, data in piece.files.items():
            self._paths.setdefault(relative)
            if not data:
                continue
            separator = self.separators.get(relative, b"")
            with open(self.output.staged(relative), "ab") as file:
                if separator and not closing and relative in self._has_content:
                    file.write(separator)
                    if self.digests is not None:
                        self.digests.add(relative, separator)
                file.write(data)
                if self.digests is not None:
                    self.digests.add(relative, data)
            self._has_content.add(relative)

    @property
    def paths(self) -> list[str]:
        return list(self._paths)
