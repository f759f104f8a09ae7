"""CSV formatting throughput on real chunk tables: CPU seconds in csv_body.

The tables of a general_population run are simulated once (benchmarks/chunk_pieces.py:
chunk by chunk as a run cuts them) and held in memory; only the
formatting is timed, per table, with Arrow's writer (`csv_body`, what runs use) and
with Polars' (`polars_csv_body`, the reference it must match byte for byte, which is
checked here too). CPU seconds (time.process_time), since machines running these are
shared. Run: `asv run --python=same --quick --bench bench_csv`, or directly:
`.venv/bin/python -m benchmarks.bench_csv [num_patients] [repeats]` (default 20,000
patients, 5 repeats).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import pyarrow as pa

from benchmarks.chunk_pieces import PATIENTS, REPEATS, ChunkPiecesSuite, pieces_for_main
from cohortforge.exporters.csv_format import csv_body, polars_csv_body


def format_tables(
    pieces: dict[str, list[pa.Table]], formatter: Callable[[pa.Table], bytes] = csv_body
) -> dict[str, float]:
    """Format every chunk of every table; CPU seconds per table."""
    seconds = {}
    for name, tables in pieces.items():
        started = time.process_time()
        for table in tables:
            formatter(table)
        seconds[name] = time.process_time() - started
    return seconds


class CsvFormat(ChunkPiecesSuite):
    """csv_body over every table of 20,000 general_population patients."""

    def setup(self):
        super().setup()
        format_tables(self.pieces)  # compiles the formatters' kernels on the first run

    def time_format_all_tables(self):
        format_tables(self.pieces)

    def track_rows_per_cpu_second(self):
        return self.rows / sum(format_tables(self.pieces).values())

    track_rows_per_cpu_second.unit = "rows/s"


def main(patients: int, repeats: int) -> None:
    pieces, rows = pieces_for_main(patients)
    for name, tables in pieces.items():
        for table in tables:
            if csv_body(table) != polars_csv_body(table):
                raise SystemExit(f"{name}: Arrow's and Polars' CSV bytes differ")
    runs = {}
    for label, formatter in (("arrow", csv_body), ("polars", polars_csv_body)):
        runs[label] = [format_tables(pieces, formatter) for _ in range(repeats)]
    print(f"{'table':20s} {'rows':>10s} {'arrow CPU s':>12s} {'polars CPU s':>13s}  (medians)")
    for name in pieces:
        arrow, polars = (statistics.median(run[name] for run in runs[k]) for k in runs)
        print(f"{name:20s} {rows[name]:10,d} {arrow:12.3f} {polars:13.3f}")
    arrow, polars = (statistics.median(sum(run.values()) for run in runs[k]) for k in runs)
    print(f"{'total':20s} {sum(rows.values()):10,d} {arrow:12.3f} {polars:13.3f}")
    print(f"same bytes; {patients:,} patients, median of {repeats}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else PATIENTS,
        int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS,
    )
