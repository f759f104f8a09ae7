"""One chunk of work: patient ids [lo, hi) in, Arrow tables and formatted CSV bytes out.

It runs on a worker thread (and can run in another process: its inputs are
self-contained and picklable), and it does the CSV formatting too: serialisation is
per-chunk work that parallelises.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pyarrow as pa

from cohortforge.exporters.csv_format import csv_body
from cohortforge.scenarios.loader import Scenario

from .cohort import build_patients


@dataclass(frozen=True)
class ChunkJob:
    scenario: Scenario
    seed: int
    lo: int
    hi: int
    reference_date: dt.date
    formats: tuple[str, ...]


@dataclass
class ChunkResult:
    lo: int
    hi: int
    schemas: dict[str, pa.Schema]
    rows: dict[str, int]
    tables: dict[str, pa.Table] = field(default_factory=dict)  # only when Parquet is wanted
    csv: dict[str, bytes] = field(default_factory=dict)  # only when CSV is wanted
    seconds: dict[str, float] = field(default_factory=dict)


def run_chunk(job: ChunkJob) -> ChunkResult:
    started = time.perf_counter()
    tables = {
        "patients": build_patients(job.scenario, job.seed, job.lo, job.hi, job.reference_date)
    }
    generated = time.perf_counter()
    csv = {name: csv_body(table) for name, table in tables.items()} if "csv" in job.formats else {}
    formatted = time.perf_counter()
    return ChunkResult(
        lo=job.lo,
        hi=job.hi,
        schemas={name: table.schema for name, table in tables.items()},
        rows={name: table.num_rows for name, table in tables.items()},
        tables=tables if "parquet" in job.formats else {},
        csv=csv,
        seconds={"generate": generated - started, "format_csv": formatted - generated},
    )
