"""One chunk of work: patient ids [lo, hi) in, Arrow tables and formatted CSV bytes out.

It runs on a worker thread (its inputs are self-contained and picklable, so it could
run in another process too), and it does the CSV formatting as well: serialisation is
per-chunk work that parallelises.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pyarrow as pa

from cohortforge.exporters.csv_format import csv_body
from cohortforge.scenarios.loader import Scenario

from .clinical_tables import ChunkPatients, ClinicalTableBuilder, death_dates
from .cohort import UNIX_EPOCH, build_patients
from .compile import CompiledModel
from .patient_inputs import build_inputs
from .simulate import run_kernel

# With clinical modules a chunk holds tens of rows per patient (events, then Arrow
# tables, then CSV text), so work units are capped at this many patients whatever
# --chunk-size says; output never depends on the split.
MODULE_CHUNK_CAP = 8_192


@dataclass
class Simulation:
    """The compiled modules and what turns their events into tables; shared by chunks."""

    model: CompiledModel
    tables: ClinicalTableBuilder
    events_per_patient: float = 64.0  # adaptive buffer estimate; never changes the output


@dataclass(frozen=True)
class ChunkJob:
    scenario: Scenario
    seed: int
    lo: int
    hi: int
    reference_date: dt.date
    formats: tuple[str, ...]
    simulation: Simulation | None = None


@dataclass
class ChunkResult:
    lo: int
    hi: int
    schemas: dict[str, pa.Schema]
    rows: dict[str, int]
    tables: dict[str, pa.Table] = field(default_factory=dict)  # only when Parquet is wanted
    csv: dict[str, bytes] = field(default_factory=dict)  # only when CSV is wanted
    seconds: dict[str, float] = field(default_factory=dict)


def _simulate(job: ChunkJob, patients: pa.Table) -> tuple[pa.Table, dict[str, pa.Table], float]:
    simulation = job.simulation
    assert simulation is not None
    reference_time = (job.reference_date - UNIX_EPOCH).days * 86400
    inputs = build_inputs(simulation.model, patients, job.seed, job.lo, job.hi)
    events, _flags, used, kernel_seconds = run_kernel(
        simulation.model,
        inputs,
        reference_time,
        simulation.tables.window_start,
        simulation.events_per_patient,
    )
    simulation.events_per_patient = max(simulation.events_per_patient, used)
    clinical = simulation.tables.build(events, ChunkPatients(inputs.patient_ids, patients["Id"]))
    death = death_dates(events, job.hi - job.lo)
    patients = patients.set_column(patients.schema.get_field_index("DEATHDATE"), "DEATHDATE", death)
    return patients, clinical, kernel_seconds


def run_chunk(job: ChunkJob) -> ChunkResult:
    started = time.perf_counter()
    patients = build_patients(job.scenario, job.seed, job.lo, job.hi, job.reference_date)
    tables = {"patients": patients}
    seconds = {}
    if job.simulation is not None:
        patients, clinical, seconds["kernel"] = _simulate(job, patients)
        tables = {"patients": patients, **clinical}
    generated = time.perf_counter()
    csv = {name: csv_body(table) for name, table in tables.items()} if "csv" in job.formats else {}
    formatted = time.perf_counter()
    seconds.update(generate=generated - started, format_csv=formatted - generated)
    return ChunkResult(
        lo=job.lo,
        hi=job.hi,
        schemas={name: table.schema for name, table in tables.items()},
        rows={name: table.num_rows for name, table in tables.items()},
        tables=tables if "parquet" in job.formats else {},
        csv=csv,
        seconds=seconds,
    )
