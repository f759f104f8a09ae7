"""One chunk of work: patient ids [lo, hi) in; tables, formatted CSV and text pieces out.

It runs on a worker thread (its inputs are self-contained and picklable, so it could
run in another process too), and it does the formatting as well (CSV, FHIR, HL7 v2,
VistA): serialisation is per-chunk work that parallelises.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.exporters.csv_format import csv_body
from cohortforge.exporters.text_export import ExportContext, TextExporter, TextPiece
from cohortforge.scenarios.loader import Scenario

from .care_network import CareNetwork, phone_numbers
from .clinical_tables import ChunkPatients, ChunkTables, ClinicalTableBuilder, death_dates
from .cohort import UNIX_EPOCH, build_patients
from .compile import CompiledModel
from .patient_inputs import build_inputs
from .simulate import run_kernel

# With clinical modules a chunk holds tens of rows per patient (events, then Arrow
# tables, then CSV text), so work units are capped at this many patients whatever
# --chunk-size says; output never depends on the split. 1M all-modules patients, Parquet:
# 8,192 gave 87.4-87.7 s and 2.51-2.70 GB peak RSS, 4,096 gives 87.6 s and 1.89 GB.
MODULE_CHUNK_CAP = 4_096
# FHIR, HL7 v2 and VistA text is a few hundred KB per patient, held per unit until the
# main thread writes it, so units with text exporters are smaller again. 20,000 patients,
# every format (`python -m benchmarks.peak_rss cohortforge generate -n 20000 --seed 3`):
# 4,096 peaked at 9,325-9,708 MiB in 31.0-37.9 s wall (26-31 s of it system time);
# 2,048 at 5,021-5,765 MiB in 21.7-23.3 s; 1,024 at 2,850-3,258 MiB in 22.5-29.3 s;
# 512 at 1,925-1,987 MiB in 23.6-28.4 s. User CPU grows as units shrink (24.2-24.5 s
# at 4,096, 24.6-27.0 at 1,024, 27.2-30.4 at 512).
TEXT_CHUNK_CAP = 1_024


def module_chunk_cap(exporters: tuple[TextExporter, ...]) -> int:
    """Most patients per work unit of a run with modules: fewer when text is exported."""
    return TEXT_CHUNK_CAP if exporters else MODULE_CHUNK_CAP


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
    exporters: tuple[TextExporter, ...] = ()
    export_context: ExportContext | None = None
    export_view: bool = False  # build the text exporters' extra columns and tables


@dataclass
class ChunkResult:
    lo: int
    hi: int
    schemas: dict[str, pa.Schema]
    rows: dict[str, int]
    tables: dict[str, pa.Table] = field(default_factory=dict)  # only when Parquet is wanted
    csv: dict[str, bytes] = field(default_factory=dict)  # only when CSV is wanted
    text: list[TextPiece] = field(default_factory=list)  # one per exporter, in job order
    utilisation: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _simulate(job: ChunkJob, patients: pa.Table) -> tuple[pa.Table, ChunkTables, float]:
    simulation = job.simulation
    assert simulation is not None
    reference_time = (job.reference_date - UNIX_EPOCH).days * 86400
    inputs = build_inputs(simulation.model, patients, job.seed, job.lo, job.hi)
    events, kind_bounds, _flags, used, kernel_seconds = run_kernel(
        simulation.model,
        inputs,
        reference_time,
        simulation.tables.window_start,
        simulation.events_per_patient,
    )
    simulation.events_per_patient = max(simulation.events_per_patient, used)
    network: CareNetwork = simulation.tables.network
    care = network.patient_care(job.seed, job.lo, job.hi, patients)
    clinical = simulation.tables.build(
        events,
        kind_bounds,
        ChunkPatients(inputs.patient_ids, patients["Id"], care, job.export_view),
    )
    death = death_dates(events, kind_bounds, job.hi - job.lo)
    patients = patients.set_column(patients.schema.get_field_index("DEATHDATE"), "DEATHDATE", death)
    return patients, clinical, kernel_seconds


def patients_export_frame(patients: pa.Table, lo: int) -> pl.DataFrame:
    """The patients table as text exporters see it: plus INDEX and PHONE."""
    index = np.arange(lo, lo + patients.num_rows, dtype=np.int64)
    return pl.from_arrow(patients).with_columns(
        pl.Series("INDEX", index), phone_numbers(index).alias("PHONE")
    )


@dataclass
class ChunkTablesOut:
    tables: dict[str, pa.Table]  # Synthea layouts, for CSV and Parquet
    # The text exporters' view (exporters/text_export.py); empty unless job.export_view.
    frames: dict[str, pl.DataFrame]
    utilisation: dict[str, np.ndarray]
    kernel_seconds: float | None


def chunk_tables(job: ChunkJob) -> ChunkTablesOut:
    """Patients and (with modules) clinical tables for the job's patients."""
    patients = build_patients(job.scenario, job.seed, job.lo, job.hi, job.reference_date)
    if job.simulation is None:
        frames = {"patients": patients_export_frame(patients, job.lo)} if job.export_view else {}
        return ChunkTablesOut({"patients": patients}, frames, {}, None)
    patients, clinical, kernel_seconds = _simulate(job, patients)
    # Table-only runs skip the exporters' patients frame (a Polars copy plus INDEX and
    # PHONE); the clinical frames are the tables' own source, so they exist either way.
    frames = (
        {"patients": patients_export_frame(patients, job.lo), **clinical.export_frames()}
        if job.export_view
        else {}
    )
    return ChunkTablesOut(
        tables={"patients": patients, **clinical.synthea_tables()},
        frames=frames,
        utilisation=clinical.utilisation,
        kernel_seconds=kernel_seconds,
    )


def run_chunk(job: ChunkJob) -> ChunkResult:
    started = time.perf_counter()
    out = chunk_tables(job)
    tables = out.tables
    seconds = {} if out.kernel_seconds is None else {"kernel": out.kernel_seconds}
    generated = time.perf_counter()
    csv = {name: csv_body(table) for name, table in tables.items()} if "csv" in job.formats else {}
    formatted = time.perf_counter()
    seconds.update(generate=generated - started, format_csv=formatted - generated)
    text = []
    if job.exporters:
        assert job.export_context is not None
        for exporter in job.exporters:
            exporter_started = time.perf_counter()
            text.append(exporter.chunk(out.frames, job.export_context))
            seconds[f"format_{exporter.name}"] = time.perf_counter() - exporter_started
    return ChunkResult(
        lo=job.lo,
        hi=job.hi,
        schemas={name: table.schema for name, table in tables.items()},
        rows={name: table.num_rows for name, table in tables.items()},
        tables=tables if "parquet" in job.formats else {},
        csv=csv,
        text=text,
        utilisation=out.utilisation,
        seconds=seconds,
    )
