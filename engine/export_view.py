"""The text exporters' view of a run, chunk by chunk, without writing anything.

For exporter tests and benchmarks: the same tables a run hands its exporters
(exporters/text_export.py), cut into chunks of any size, with the run's ExportContext.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import polars as pl

from cohortforge.exporters.text_export import ExportContext

from .chunk import chunk_tables
from .config import RunConfig
from .runner import plan_run
from .text_outputs import export_context


def export_view_chunks(
    config: RunConfig, chunk_size: int
) -> tuple[Iterator[dict[str, pl.DataFrame]], ExportContext]:
    """(chunks of `chunk_size` patients, built lazily as they are iterated; the context).

    The module work-unit cap does not apply: a chunk here may hold any number of
    patients. The output formats and exporters named in `config` play no part.
    """
    plan = plan_run(config)
    template = dataclasses.replace(plan.jobs[0], export_view=True)

    def chunks() -> Iterator[dict[str, pl.DataFrame]]:
        for lo in range(0, config.num_records, chunk_size):
            hi = min(lo + chunk_size, config.num_records)
            yield chunk_tables(dataclasses.replace(template, lo=lo, hi=hi)).frames

    return chunks(), export_context(config, plan.network, plan.reference_date)
