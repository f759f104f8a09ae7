"""Shards: a run's patient ids cut into K contiguous ranges, each written as part files.

A sharded run writes every output file of the unsharded layout as a folder of parts,
`parquet/encounters.parquet` becoming `parquet/encounters/part-00003.parquet`: the
Hive-style dataset layout that DuckDB and Polars read with a glob. Shard k holds the
patients of range k, so the parts in order hold exactly the unsharded rows.
"""

from __future__ import annotations

import itertools
from pathlib import PurePosixPath

# Files already one per patient keep their names: they cannot collide across shards.
UNSHARDED_PREFIXES = ("fhir/bundles/",)


def shard_ranges(num_records: int, shards: int) -> list[tuple[int, int]]:
    """K contiguous id ranges [lo, hi) of near-equal size covering [0, num_records)."""
    edges = [num_records * k // shards for k in range(shards + 1)]
    return list(itertools.pairwise(edges))


def part_path(relative: str, shard: int) -> str:
    """Where shard `shard` writes the file the unsharded layout calls `relative`."""
    if relative.startswith(UNSHARDED_PREFIXES):
        return relative
    path = PurePosixPath(relative)
    return str(path.parent / path.stem / f"part-{shard:05d}{path.suffix}")
