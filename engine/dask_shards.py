"""Shards as tasks on an existing Dask distributed cluster (`--scheduler tcp://host:port`).

Workers need cohortforge installed and the output directory on a path they all share;
each task plans and writes one shard exactly as a local run would, so the files are the
same bytes. Records come back to this process, which keeps the progress journal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .config import RunConfig
from .errors import CohortforgeError
from .runner import ProgressCallback
from .sharded_run import run_shard_task


def run_on_cluster(
    config: RunConfig,
    shards: list[int],
    completed: Callable[[dict[str, Any]], None],
    on_chunk_done: ProgressCallback | None,
    ranges: list[tuple[int, int]],
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as error:
        raise CohortforgeError(
            "--scheduler needs Dask distributed; install it with: pip install 'cohortforge[dask]'"
        ) from error
    if not shards:
        return
    try:
        client = Client(config.scheduler, timeout="10s")
    except OSError as error:
        raise CohortforgeError(
            f"cannot reach the Dask scheduler at {config.scheduler}: {error}; check the address"
        ) from error
    # Task keys only need to be unique on the cluster; they never reach the output.
    run_key = uuid.uuid4().hex[:12]
    with client:
        futures = {
            client.submit(run_shard_task, config, k, key=f"cohortforge-{run_key}-shard-{k}"): k
            for k in shards
        }
        try:
            for future in as_completed(futures):
                shard = futures[future]
                try:
                    record = future.result()
                except CohortforgeError:
                    raise
                except Exception as error:
                    raise CohortforgeError(
                        f"shard {shard} failed on the cluster: {error}; the finished shards "
                        "are kept, rerun the same command with --resume"
                    ) from error
                completed(record)
                if on_chunk_done is not None:
                    lo, hi = ranges[shard]
                    on_chunk_done(hi - lo)
        finally:
            for future in futures:
                future.cancel()
