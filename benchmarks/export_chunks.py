"""Chunk tables for the text-exporter benchmarks: simulated once, held in memory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cohortforge.engine.config import RunConfig
from cohortforge.engine.export_view import export_view_chunks
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
    )
    chunks, context = export_view_chunks(config, chunk_size)
    kept = [{n: f for n, f in frames.items() if tables is None or n in tables} for frames in chunks]
    return kept, context
