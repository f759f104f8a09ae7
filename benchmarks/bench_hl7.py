"""HL7 v2.5.1 export speed: messages formatted per second for 100,000 patients.

The patients' tables are simulated once in setup (in process, as the run does, in
10,000-patient chunks) and only the formatting (Hl7Exporter.chunk on each chunk) is
timed. The chunks are 10,000 patients because one 100,000-patient chunk of HL7 text is
about 8 GB (some 7 million messages), more than this machine's memory. Run: `asv run
--python=same --quick --bench bench_hl7`, or directly: `.venv/bin/python -m
benchmarks.bench_hl7`.
"""

from __future__ import annotations

import time
from pathlib import Path

from cohortforge.engine.chunk import chunk_tables
from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import plan_run
from cohortforge.engine.text_outputs import export_context
from cohortforge.exporters.hl7.exporter import Hl7Exporter

PATIENTS = 100_000
CHUNK = 10_000
# The tables the HL7 exporter reads; the others are dropped to save memory.
USED_TABLES = ("patients", "encounters", "conditions", "allergies", "observations", "reports")


def chunks_and_context(num_records: int, chunk_size: int, scenario: str = "general_population",
                       seed: int = 1):
    """The exporters' view of every chunk of a run, and its ExportContext."""
    config = RunConfig(
        num_records=num_records, scenario=scenario, seed=seed, output_dir=Path("unused"),
        fhir=False, hl7=False, vista=False, chunk_size=chunk_size,
    )
    plan = plan_run(config)
    chunks = []
    for job in plan.jobs:
        frames = chunk_tables(job).frames
        chunks.append({name: frames[name] for name in USED_TABLES if name in frames})
    return chunks, export_context(config, plan.network, plan.reference_date)


def _messages(piece) -> int:
    return piece.counts["hl7_adt_messages"] + piece.counts["hl7_oru_messages"]


def format_all(exporter: Hl7Exporter, chunks, context) -> int:
    """Format every chunk (output dropped as it is made); the number of messages."""
    return sum(_messages(exporter.chunk(tables, context)) for tables in chunks)


class Hl7Export:
    """Hl7Exporter.chunk over 100,000 patients (general_population, all its modules)."""

    timeout = 3600
    number = 1
    repeat = 1

    def setup(self):
        self.chunks, self.context = chunks_and_context(PATIENTS, CHUNK)
        self.exporter = Hl7Exporter()
        self.exporter.chunk(self.chunks[0], self.context)  # terminology loaded

    def time_format_hl7_100k(self):
        format_all(self.exporter, self.chunks, self.context)

    def track_messages_per_second(self):
        start = time.perf_counter()
        messages = format_all(self.exporter, self.chunks, self.context)
        return messages / (time.perf_counter() - start)

    track_messages_per_second.unit = "messages/s"


if __name__ == "__main__":
    bench = Hl7Export()
    started = time.perf_counter()
    bench.setup()
    print(f"setup (simulate {PATIENTS:,} patients): {time.perf_counter() - started:.1f} s")
    start = time.perf_counter()
    total = format_all(bench.exporter, bench.chunks, bench.context)
    seconds = time.perf_counter() - start
    print(f"{total:,} messages in {seconds:.1f} s: {total / seconds:,.0f} messages/s")
