"""HL7 v2.5.1 export speed: messages formatted per second for 100,000 patients.

The patients' tables are simulated once in setup (in process, as the run does, in
10,000-patient chunks) and only the formatting (Hl7Exporter.chunk on each chunk) is
timed. The chunks are 10,000 patients because one 100,000-patient chunk of HL7 text is
about 8 GB (some 7 million messages), more than this machine's memory. Run: `asv run
--python=same --quick --bench bench_hl7`, or directly: `.venv/bin/python -m
benchmarks.bench_hl7 [num_patients]`.
"""

from __future__ import annotations

import sys
import time

from cohortforge.exporters.hl7.exporter import Hl7Exporter

from .export_chunks import chunks_and_context

PATIENTS = 100_000
CHUNK = 10_000
# The tables the HL7 exporter reads; the others are dropped to save memory.
USED_TABLES = ("patients", "encounters", "conditions", "allergies", "observations", "reports")


def _messages(piece) -> int:
    return piece.counts["hl7_adt_messages"] + piece.counts["hl7_oru_messages"]


def format_all(exporter: Hl7Exporter, chunks, context) -> int:
    """Format every chunk (output dropped as it is made); the number of messages."""
    return sum(_messages(exporter.chunk(tables, context)) for tables in chunks)


class Hl7Export:
    """Hl7Exporter.chunk over 100,000 patients (general_population, all its modules)."""

    patients = PATIENTS
    timeout = 3600
    number = 1
    repeat = 1

    def setup(self):
        self.chunks, self.context = chunks_and_context(self.patients, CHUNK, USED_TABLES)
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
    bench.patients = int(sys.argv[1]) if len(sys.argv) > 1 else PATIENTS
    started = time.perf_counter()
    bench.setup()
    print(f"setup (simulate {bench.patients:,} patients): {time.perf_counter() - started:.1f} s")
    start = time.perf_counter()
    total = format_all(bench.exporter, bench.chunks, bench.context)
    seconds = time.perf_counter() - start
    print(f"{total:,} messages in {seconds:.1f} s: {total / seconds:,.0f} messages/s")
