"""Scale-out: sharded whole runs through the real CLI, wall seconds and peak RSS.

Issue targets: peak RSS of a 4M-patient run within 10% of a 1M-patient run (memory is
bounded by the chunk, not by --num-records), and a 10M-patient sharded run on one
machine. Documented commands (README, "Benchmarks"):

    python -m benchmarks.peak_rss cohortforge generate -n 10000000 --shards 10 \\
        --scenario benchmarks/scenarios/baseline_only.toml --output-format parquet \\
        --no-fhir --no-hl7 --seed 1 --output-dir /tmp/bench10m --overwrite --quiet
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .bench_patients import GenerateRun
from .peak_rss import peak_rss_bytes

ROOT = Path(__file__).resolve().parents[1]


def sharded_command(num_records: int, shards: int, scenario: str, output_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "cohortforge", "generate", "-n", str(num_records),
        "--shards", str(shards), "--scenario", scenario, "--output-format", "parquet",
        "--no-fhir", "--no-hl7", "--seed", "1", "--output-dir", str(output_dir),
        "--overwrite", "--quiet",
    ]  # fmt: skip


class ShardedPatientsRun(GenerateRun):
    """Baseline-modules sharded runs: memory must stay flat as N grows (one shard per
    million patients)."""

    params = (1_000_000, 4_000_000, 10_000_000)
    timeout = 3600

    def setup(self, num_records):
        self.workdir = Path(tempfile.mkdtemp(prefix="cohortforge-scale-"))
        shards = max(1, num_records // 1_000_000)
        scenario = str(ROOT / "benchmarks" / "scenarios" / "baseline_only.toml")
        command = sharded_command(num_records, shards, scenario, self.workdir / "out")
        self.result = peak_rss_bytes(command)


class ShardedModulesRun(ShardedPatientsRun):
    """general_population with all its modules, sharded: flat memory with the kernel."""

    params = (100_000, 400_000)

    def setup(self, num_records):
        self.workdir = Path(tempfile.mkdtemp(prefix="cohortforge-scale-"))
        command = sharded_command(num_records, 4, "general_population", self.workdir / "out")
        self.result = peak_rss_bytes(command)
