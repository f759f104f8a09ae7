"""Per-table writers for one run, opened lazily when a table's first chunk arrives."""

from __future__ import annotations

from cohortforge.exporters.csv_writer import CsvTableWriter
from cohortforge.exporters.parquet_writer import ParquetTableWriter

from .chunk import ChunkResult
from .output_dir import OutputDir


class TableSinks:
    def __init__(self, output: OutputDir, formats: tuple[str, ...]):
        self.output = output
        self.formats = formats
        self.csv: dict[str, CsvTableWriter] = {}
        self.parquet: dict[str, ParquetTableWriter] = {}
        self.row_counts: dict[str, int] = {}

    def write(self, result: ChunkResult) -> None:
        for name, rows in result.rows.items():
            self.row_counts[name] = self.row_counts.get(name, 0) + rows
            schema = result.schemas[name]
            if "csv" in self.formats:
                if name not in self.csv:
                    self.csv[name] = CsvTableWriter(self.output.staged(f"csv/{name}.csv"), schema)
                self.csv[name].write(result.csv[name], rows)
            if "parquet" in self.formats:
                if name not in self.parquet:
                    path = self.output.staged(f"parquet/{name}.parquet")
                    self.parquet[name] = ParquetTableWriter(path, schema)
                self.parquet[name].write(result.tables[name])

    def close(self) -> list[str]:
        """Close every writer; return the relative paths written."""
        for writer in [*self.csv.values(), *self.parquet.values()]:
            writer.close()
        return [f"csv/{n}.csv" for n in self.csv] + [f"parquet/{n}.parquet" for n in self.parquet]
