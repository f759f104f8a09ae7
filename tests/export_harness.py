"""Chunk tables as the text exporters see them, from a real run, for exporter tests.

`export_tables` runs the engine in-process over one chunk (no files written) and
returns the exporters' view of every table (exporters/text_export.py) with the run's
ExportContext. Results are cached per arguments, so several test modules can share a
cohort without simulating it twice.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

from cohortforge.engine.config import RunConfig
from cohortforge.engine.export_view import export_view_chunks
from cohortforge.exporters.text_export import ExportContext


@cache
def _export_tables(
    num_records: int, scenario: str, seed: int, fhir_bundle: str, hl7_framing: str
) -> tuple[dict[str, pl.DataFrame], ExportContext]:
    config = RunConfig(
        num_records=num_records,
        scenario=scenario,
        seed=seed,
        output_dir=Path("unused"),
        fhir=False,
        hl7=False,
        vista=False,
        fhir_bundle=fhir_bundle,
        hl7_framing=hl7_framing,
    )
    chunks, context = export_view_chunks(config, chunk_size=num_records)
    (frames,) = chunks
    return frames, context


def export_tables(
    num_records: int = 200,
    scenario: str = "general_population",
    seed: int = 1,
    fhir_bundle: str = "single",
    hl7_framing: str = "none",
) -> tuple[dict[str, pl.DataFrame], ExportContext]:
    """(tables, context) for patients 0..num_records-1 of a run with the scenario's modules.

    Do not mutate the returned frames (they are cached); Polars frames are immutable
    unless assigned into, so ordinary expressions are safe.
    """
    return _export_tables(num_records, scenario, seed, fhir_bundle, hl7_framing)


def split_tables(
    tables: dict[str, pl.DataFrame], first_patients: int
) -> list[dict[str, pl.DataFrame]]:
    """The chunk tables cut into two chunks at a patient boundary, as the run would
    cut them: the first `first_patients` patients, then the rest."""
    ids = tables["patients"]["Id"]
    head = set(ids[:first_patients].to_list())
    pieces: list[dict[str, pl.DataFrame]] = [{}, {}]
    for name, frame in tables.items():
        key = "Id" if name == "patients" else "PATIENT"
        inside = pl.col(key).is_in(list(head))
        pieces[0][name] = frame.filter(inside)
        pieces[1][name] = frame.filter(~inside)
    return pieces
