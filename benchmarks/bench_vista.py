"""VistA ZWR formatting speed: nodes per second for one 100,000-patient chunk.

The chunk's tables are simulated once in setup; only VistaExporter.chunk (building every
^DPT/^AUPNVSIT/... line of the chunk) is timed. Run with asv, or directly:
`.venv/bin/python -m benchmarks.bench_vista` prints nodes/s.
"""

from __future__ import annotations

import time

from cohortforge.exporters.vista.exporter import NODES_COUNT, VistaExporter

from .export_chunks import chunks_and_context

CHUNK = 100_000


class VistaChunk:
    """One 100,000-patient chunk formatted as ZWR (tables built in setup)."""

    timeout = 900
    number = 1
    repeat = 3

    def setup(self):
        (self.tables,), self.context = chunks_and_context(CHUNK, CHUNK)
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
