"""Parquet write throughput on real chunk tables: CPU seconds in ParquetTableWriter.

The tables of a general_population run (patients and every clinical table, in
Synthea's layouts) are simulated once in setup, chunk by chunk exactly as a run cuts
them (4,096 patients per work unit with modules), and held in memory; only the
writers are timed: one ParquetTableWriter per table, fed the chunks in order, then
closed, into a temporary directory, as TableSinks does on a run's main thread.
CPU seconds (time.process_time) rather than wall time, because machines running
these are shared. Run: `asv run --python=same --quick --bench bench_parquet`, or
directly: `.venv/bin/python -m benchmarks.bench_parquet [num_patients] [repeats]`
(default 20,000 patients, 5 repeats: about 3.9M rows, 1/50 of a 1M-patient run).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from benchmarks.chunk_pieces import PATIENTS, REPEATS, ChunkPiecesSuite, pieces_for_main
from cohortforge.exporters.parquet_writer import ParquetTableWriter


def write_tables(pieces: dict[str, list[pa.Table]], directory: Path) -> dict[str, float]:
    """Write every table with ParquetTableWriter; CPU seconds per table."""
    seconds = {}
    for name, tables in pieces.items():
        started = time.process_time()
        writer = ParquetTableWriter(directory / f"{name}.parquet", tables[0].schema)
        for table in tables:
            writer.write(table)
        writer.close()
        seconds[name] = time.process_time() - started
    return seconds


class ParquetWrite(ChunkPiecesSuite):
    """ParquetTableWriter over every table of 20,000 general_population patients."""

    def setup(self):
        super().setup()
        self.directory = Path(tempfile.mkdtemp(prefix="cohortforge-parquet-"))
        write_tables(self.pieces, self.directory)  # warm the allocator and page cache

    def teardown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def time_write_all_tables(self):
        write_tables(self.pieces, self.directory)

    def track_rows_per_cpu_second(self):
        return self.rows / sum(write_tables(self.pieces, self.directory).values())

    def track_megabytes_written(self):
        write_tables(self.pieces, self.directory)
        return sum(p.stat().st_size for p in self.directory.glob("*.parquet")) / 1e6

    track_rows_per_cpu_second.unit = "rows/s"
    track_megabytes_written.unit = "MB"


def main(patients: int, repeats: int) -> None:
    pieces, rows = pieces_for_main(patients)
    directory = Path(tempfile.mkdtemp(prefix="cohortforge-parquet-"))
    try:
        write_tables(pieces, directory)  # warm-up, not counted
        runs = [write_tables(pieces, directory) for _ in range(repeats)]
        print(f"{'table':20s} {'rows':>10s} {'CPU s min':>10s} {'median':>8s} {'MB':>8s}")
        for name in pieces:
            values = [run[name] for run in runs]
            size = (directory / f"{name}.parquet").stat().st_size / 1e6
            print(
                f"{name:20s} {rows[name]:10,d} {min(values):10.3f} "
                f"{statistics.median(values):8.3f} {size:8.2f}"
            )
        totals = [sum(run.values()) for run in runs]
        size = sum(p.stat().st_size for p in directory.glob("*.parquet")) / 1e6
        print(
            f"{'total':20s} {sum(rows.values()):10,d} {min(totals):10.3f} "
            f"{statistics.median(totals):8.3f} {size:8.2f}"
        )
        print(
            f"{sum(rows.values()) / statistics.median(totals) / 1e6:.2f}M rows per CPU second "
            f"(median of {repeats})"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else PATIENTS,
        int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS,
    )
