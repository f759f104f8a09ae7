"""Chunk tables for the text-exporter benchmarks: simulated once, held in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cohortforge.engine.chunk import chunk_tables
from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import plan_run
from cohortforge.engine.text_outputs import export_context
from cohortforge.exporters.text_export import ExportContext


def chunks_and_context(
    num_records: int,
    chunk_size: int,
    tables: Sequence[str] | None = None,
    scenario: str = "general_population",
    seed: int = 1,
) -> tuple[list[dict[str, pl.DataFrame]], ExportContext]:
    """The exporters' view of each `chunk_size`-patient chunk of a run (only `tables`
    when given, to save memory), and the run's ExportContext."""
    config = RunConfig(
        num_records=num_records,
        scenario=scenario,
        seed=seed,
        output_dir=Path("unused"),
        fhir=False,
        hl7=False,
        vista=False,
    )
    plan = plan_run(config)
    chunks = []
    for lo in range(0, num_records, chunk_size):
        hi = min(lo + chunk_size, num_records)
        job = dataclasses.replace(plan.jobs[0], lo=lo, hi=hi, export_view=True)
        frames = chunk_tables(job).frames
        chunks.append({n: f for n, f in frames.items() if tables is None or n in tables})
    return chunks, export_context(config, plan.network, plan.reference_date)
