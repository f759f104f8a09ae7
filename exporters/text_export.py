"""The contract between the run and the text exporters (FHIR, HL7 v2, VistA).

A text exporter turns one chunk of patients' tables into bytes for its files, in bulk.
The run calls `begin` once, `chunk` once per chunk (on worker threads, in parallel, so
it must not mutate shared state), and `end` once with the summed chunk counts. Pieces
are appended to each file in order (begin, chunks, end). `separators[path]` is written
between two consecutive non-empty pieces of that file among begin's and the chunks'
pieces, never before end's piece: for a JSON array, begin writes the head and its
first entries, chunks write entries joined by the separator, end writes the tail.
Because every chunk holds whole patients in id order and nothing in a piece depends on
its chunk's boundaries, the files are byte-identical whatever the chunk size or worker
count.

Chunk tables are Polars frames in Synthea's column layouts plus these columns, which
exporters may rely on:
- patients: every Synthea and SDOH column, plus INDEX (global 0-based patient number,
  Int64) and PHONE (555-01xx number).
- every clinical table: Id (deterministic UUID string, unique in the run).
- observations: REPORT (the reports.Id of its panel, or null).
- reports: Id, DATE, PATIENT, ENCOUNTER, CODE, DESCRIPTION (one row per
  DiagnosticReport/MultiObservation state entered).
The run-wide tables organizations, providers and payers are in `ExportContext`. In a
patients-only run (no modules) only `patients` is present: treat a missing table as empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl


@dataclass(frozen=True)
class ExportContext:
    seed: int
    reference_date: dt.date
    run_id: str  # deterministic from the seed: the same run always has the same id
    organizations: pl.DataFrame
    providers: pl.DataFrame
    payers: pl.DataFrame
    fhir_bundle: str = "single"
    hl7_framing: str = "none"


@dataclass
class TextPiece:
    """What one call produced: bytes per relative output path, plus counts to sum."""

    files: dict[str, bytes] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class TextExporter(Protocol):
    name: str
    separators: Mapping[str, bytes]

    def begin(self, context: ExportContext) -> TextPiece: ...

    def chunk(self, tables: Mapping[str, pl.DataFrame], context: ExportContext) -> TextPiece: ...

    def end(self, context: ExportContext, counts: Mapping[str, int]) -> TextPiece: ...
