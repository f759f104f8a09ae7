"""The tables of a general_population run, chunk by chunk, for the writer benchmarks.

benchmarks/bench_parquet.py and benchmarks/bench_csv.py time what a run does with its
tables (write Parquet, format CSV) without the simulation: the pieces are made once, as
a run cuts them (4,096 patients per work unit with modules), and held in memory.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa

from cohortforge.engine.chunk import chunk_tables
from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import plan_run

PATIENTS = 20_000  # about 3.8M rows, 1/50 of a 1M-patient run
REPEATS = 5


def run_chunk_tables(num_records: int, seed: int = 1) -> dict[str, list[pa.Table]]:
    """Each table's pieces, one per chunk job of a general_population Parquet run."""
    config = RunConfig(
        num_records=num_records,
        scenario="general_population",
        seed=seed,
        output_dir=Path("unused"),
        output_format="parquet",
        fhir=False,
        hl7=False,
    )
    pieces: dict[str, list[pa.Table]] = {}
    for job in plan_run(config).jobs:
        for name, table in chunk_tables(job).tables.items():
            pieces.setdefault(name, []).append(table)
    return pieces


class ChunkPiecesSuite:
    """asv settings and setup shared by the suites over `run_chunk_tables` pieces: CPU
    seconds of this process (machines running these are shared), three repeats."""

    timeout = 3600
    number = 1
    repeat = 3
    timer = time.process_time
    patients = PATIENTS

    def setup(self):
        self.pieces = run_chunk_tables(self.patients)
        self.rows = sum(t.num_rows for tables in self.pieces.values() for t in tables)


def pieces_for_main(patients: int) -> tuple[dict[str, list[pa.Table]], dict[str, int]]:
    """`run_chunk_tables` for a benchmark's command line: the pieces and rows per table,
    after printing how long the simulation took."""
    started = time.perf_counter()
    pieces = run_chunk_tables(patients)
    rows = {name: sum(t.num_rows for t in tables) for name, tables in pieces.items()}
    print(
        f"setup (simulate {patients:,} patients, {len(next(iter(pieces.values())))} chunks, "
        f"{sum(rows.values()):,} rows): {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return pieces, rows
