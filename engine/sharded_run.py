"""A sharded run: shards written one after another (or as Dask tasks), resumable.

Each shard runs the ordinary chunk pipeline over its id range into its own staging
folder, then moves its part files into place and is recorded in the progress journal
with checksums. `--resume` verifies the recorded shards and redoes the rest. The
care-network tables (their utilisation summed over every shard) and the manifest come
last, so a manifest still means the whole run completed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import RunConfig
from .disk_space import run_disk_full_as_error
from .errors import CohortforgeError
from .journal import ProgressJournal, files_intact
from .manifest import build_manifest, describe_files
from .output_dir import MANIFEST_NAME, OutputDir
from .runner import (
    ProgressCallback,
    RunPlan,
    RunResult,
    jobs_between,
    plan_run,
    run_parameters,
    write_jobs,
)
from .shards import part_path, shard_ranges
from .sinks import TableSinks
from .utilisation import UtilisationTotals


def fingerprint(config: RunConfig, plan: RunPlan) -> dict[str, Any]:
    """Every parameter that changes the output; chunk size and workers do not."""
    parameters = run_parameters(config, plan)
    for free in ("chunk_size", "workers"):
        parameters.pop(free)
    return parameters


def run_shard(
    config: RunConfig,
    plan: RunPlan,
    shard: int,
    on_chunk_done: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Write shard `shard`'s part files into the output directory; return its record."""
    lo, hi = shard_ranges(config.num_records, config.shards or 1)[shard]
    jobs = jobs_between(config, plan.jobs[0], lo, hi)
    output = OutputDir(config.output_dir, overwrite=False)
    output.make_staging()
    try:
        workers = min(config.workers, len(jobs))
        with run_disk_full_as_error(config.output_dir, shard=shard):
            written = write_jobs(
                plan,
                jobs,
                output,
                workers,
                network_tables=False,
                on_chunk_done=on_chunk_done,
                space_check=config.space_check,
            )
            targets = {staged: part_path(staged, shard) for staged in written.paths}
            files = describe_files(
                {targets[s]: output.staged(s) for s in written.paths},
                threads=workers,
                known={targets[s]: digest for s, digest in written.digests.items()},
            )
        try:
            output.publish_as(targets)
        except OSError as error:
            raise CohortforgeError(
                f"shard {shard} cannot write {error.filename}: {error.strerror}; fix the "
                "path, then rerun the same command with --resume"
            ) from error
    finally:
        output.discard()
    return {
        "shard": shard,
        "lo": lo,
        "hi": hi,
        "files": files,
        "row_counts": written.row_counts,
        "utilisation": {name: c.tolist() for name, c in written.utilisation.counts.items()},
        "seconds": written.seconds,
    }


def run_shard_task(config: RunConfig, shard: int) -> dict[str, Any]:
    """A shard as a self-contained task (for a Dask worker): plan, then write."""
    return run_shard(config, plan_run(config), shard)


def _network_tables(
    config: RunConfig, plan: RunPlan, records: list[dict[str, Any]], output: OutputDir
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """organizations, providers and payers, once, with utilisation over every shard."""
    if plan.simulation is None:
        return {}, {}
    totals = UtilisationTotals()
    for record in records:
        totals.add({name: np.asarray(c) for name, c in record["utilisation"].items()})
    sinks = TableSinks(output, config.formats)
    for name, table in totals.tables(plan.network).items():
        sinks.write_table(name, table)
    targets = {staged: part_path(staged, 0) for staged in sinks.close()}
    files = describe_files({targets[s]: output.staged(s) for s in targets}, threads=config.workers)
    output.publish_as(targets)
    return files, sinks.row_counts


def run_sharded(config: RunConfig, on_chunk_done: ProgressCallback | None = None) -> RunResult:
    started = time.perf_counter()
    plan = plan_run(config)
    seconds: dict[str, float] = {"compile": time.perf_counter() - started}
    root = OutputDir(config.output_dir, config.overwrite)
    root.check_root(resuming=config.resume)
    if config.overwrite and not config.resume:
        root.remove_owned()
    root.remove_stale_staging()
    # Until this run finishes, the directory holds no complete run.
    (config.output_dir / MANIFEST_NAME).unlink(missing_ok=True)
    journal = ProgressJournal(config.output_dir)
    done = journal.start(fingerprint(config, plan), config.resume)
    ranges = shard_ranges(config.num_records, config.shards or 1)
    records = {k: r for k, r in done.items() if files_intact(config.output_dir, r["files"])}
    for k in records:
        if on_chunk_done is not None:
            on_chunk_done(ranges[k][1] - ranges[k][0])
    pending = [k for k in range(len(ranges)) if k not in records]
    reused = sorted(records)

    def completed(record: dict[str, Any]) -> None:
        journal.record(record)
        records[record["shard"]] = record

    if config.scheduler is not None:
        from .dask_shards import run_on_cluster

        run_on_cluster(config, pending, completed, on_chunk_done, ranges)
    else:
        for k in pending:
            completed(run_shard(config, plan, k, on_chunk_done))

    ordered = [records[k] for k in range(len(ranges))]
    output = OutputDir(config.output_dir, overwrite=False)
    output.make_staging()
    try:
        files: dict[str, dict[str, Any]] = {}
        row_counts: dict[str, int] = {}
        for record in ordered:
            files.update(record["files"])
            for name, count in record["row_counts"].items():
                row_counts[name] = row_counts.get(name, 0) + count
            for stage, value in record["seconds"].items():
                seconds[stage] = seconds.get(stage, 0.0) + value
        network_files, network_counts = _network_tables(config, plan, ordered, output)
        files.update(network_files)
        row_counts.update(network_counts)
        seconds["wall"] = time.perf_counter() - started
        parameters = {
            **run_parameters(config, plan),
            "reused_shards": reused,
            "scheduler": config.scheduler,
        }
        manifest = build_manifest(parameters, row_counts, dict(sorted(files.items())), seconds)
        manifest_path = output.write_manifest(manifest)
    finally:
        output.discard()
    return RunResult(config.output_dir, manifest_path, row_counts, sorted(files), seconds)
