"""VistA ZWR formatting speed: nodes per second for one 100,000-patient chunk.

The chunk's tables are simulated once in setup; only VistaExporter.chunk (building every
^DPT/^AUPNVSIT/... line of the chunk) is timed. Run with asv, or directly:
`.venv/bin/python -m benchmarks.bench_vista` prints nodes/s.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import polars as pl

from cohortforge.engine.chunk import chunk_tables
from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import plan_run
from cohortforge.engine.text_outputs import export_context
from cohortforge.exporters.text_export import ExportContext
from cohortforge.exporters.vista.exporter import NODES_COUNT, VistaExporter

CHUNK = 100_000


def _chunk_tables(num_records: int) -> tuple[dict[str, pl.DataFrame], ExportContext]:
    config = RunConfig(num_records=num_records, scenario="general_population", seed=1,
                       output_dir=Path("unused"), fhir=False, hl7=False, vista=False)
    plan = plan_run(config)
    job = dataclasses.replace(plan.jobs[0], lo=0, hi=num_records)
    return chunk_tables(job).frames, export_context(config, plan.network, plan.reference_date)


class VistaChunk:
    """One 100,000-patient chunk formatted as ZWR (tables built in setup)."""

    timeout = 900
    number = 1
    repeat = 3

    def setup(self):
        self.tables, self.context = _chunk_tables(CHUNK)
        self.exporter = VistaExporter()
        small = {name: frame.head(1000) for name, frame in self.tables.items()}
        self.exporter.chunk(small, self.context)  # load the terminology map outside timing

    def time_format_zwr_100k(self):
        self.exporter.chunk(self.tables, self.context)

    def track_nodes_per_second(self):
        started = time.perf_counter()
        piece = self.exporter.chunk(self.tables, self.context)
        return piece.counts[NODES_COUNT] / (time.perf_counter() - started)

    track_nodes_per_second.unit = "nodes/s"


if __name__ == "__main__":
    bench = VistaChunk()
    began = time.perf_counter()
    bench.setup()
    print(f"setup (simulate {CHUNK:,} patients): {time.perf_counter() - began:.1f} s")
    for _ in range(2):
        started = time.perf_counter()
        piece = bench.exporter.chunk(bench.tables, bench.context)
        seconds = time.perf_counter() - started
        nodes = piece.counts[NODES_COUNT]
        print(f"{nodes:,} nodes, {len(piece.files['vista/globals.zwr']):,} bytes in "
              f"{seconds:.2f} s: {nodes / seconds:,.0f} nodes/s")
