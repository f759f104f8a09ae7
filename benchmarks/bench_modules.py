"""The module engine at scale, to Parquet, through the real CLI: wall time, peak RSS,
kernel and write seconds, clinical rows.

Issue targets on the project's 2-core machine: 1,000,000 patients in at most 60 s wall,
peak RSS at most 3 GB (kernel time no more than the Parquet write time for the engine).
Two suites, each the command documented in the README ("Benchmarks"):

- `ModulesRun`: the baseline modules plus the Synthea conformance modules (needs
  ../shared/conformance beside the clone; they are not shipped):

    python -m benchmarks.peak_rss cohortforge generate -n 1000000 \\
        --scenario benchmarks/scenarios/conformance.toml \\
        --modules-dir ../shared/conformance/synthea_modules \\
        --output-format parquet --no-fhir --no-hl7 --seed 1 --output-dir /tmp/bench \\
        --overwrite --quiet

- `ClinicalModulesRun`: general_population with the seven clinical modules (the
  clinical-modules issue's figure):

    python -m benchmarks.peak_rss cohortforge generate -n 1000000 --seed 1 \\
        --output-format parquet --no-fhir --no-hl7 --output-dir /tmp/gp1m --overwrite --quiet
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import orjson

from .peak_rss import peak_rss_bytes

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "benchmarks" / "scenarios" / "conformance.toml"
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "synthea_modules"


def _run(num_records: int, arguments: list[str]) -> dict[str, float]:
    """One `generate` of `num_records` patients to Parquet with the scenario `arguments`;
    what the suites track."""
    workdir = Path(tempfile.mkdtemp(prefix="cohortforge-modules-"))
    try:
        out = workdir / "out"
        command = [
            sys.executable,
            "-m",
            "cohortforge",
            "generate",
            "-n",
            str(num_records),
            *arguments,
            "--output-format",
            "parquet",
            "--seed",
            "1",
            "--output-dir",
            str(out),
            "--overwrite",
            "--no-fhir",
            "--no-hl7",
            "--quiet",
        ]
        rss, wall = peak_rss_bytes(command)
        manifest = orjson.loads((out / "manifest.json").read_bytes())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = sum(n for table, n in manifest["row_counts"].items() if table != "patients")
    return {
        "wall": wall,
        "peak_rss_mib": rss / 2**20,
        "kernel": manifest["seconds"]["kernel"],
        "write": manifest["seconds"]["write"],
        "rows_per_patient": rows / num_records,
        "rows_per_second": rows / wall,
    }


class ModulesRun:
    """Each size is run once (`setup_cache`) and every figure is read from that run."""

    params = (100_000, 1_000_000)
    param_names = ("num_records",)
    timeout = 1800
    number = 1
    repeat = 1

    # asv keys the cache by where setup_cache is defined, so a subclass that inherited
    # it would be handed this class's runs: each suite defines its own.
    def setup_cache(self):
        if not CONFORMANCE.is_dir():
            return {}  # setup() then skips every benchmark
        arguments = ["--scenario", str(SCENARIO), "--modules-dir", str(CONFORMANCE)]
        return {n: _run(n, arguments) for n in self.params}

    setup_cache.timeout = 3600

    def setup(self, runs, num_records):
        if num_records not in runs:
            raise NotImplementedError(f"{CONFORMANCE} not found")  # asv skips the benchmark

    def track_wall_seconds(self, runs, num_records):
        return runs[num_records]["wall"]

    track_wall_seconds.unit = "seconds"

    def track_peak_rss_mib(self, runs, num_records):
        return runs[num_records]["peak_rss_mib"]

    track_peak_rss_mib.unit = "MiB"

    def track_kernel_seconds(self, runs, num_records):
        return runs[num_records]["kernel"]

    track_kernel_seconds.unit = "seconds"

    def track_write_seconds(self, runs, num_records):
        return runs[num_records]["write"]

    track_write_seconds.unit = "seconds"

    def track_clinical_rows_per_patient(self, runs, num_records):
        return runs[num_records]["rows_per_patient"]

    track_clinical_rows_per_patient.unit = "rows"

    def track_clinical_rows_per_second(self, runs, num_records):
        return runs[num_records]["rows_per_second"]

    track_clinical_rows_per_second.unit = "rows/s"


class ClinicalModulesRun(ModulesRun):
    """general_population (the default scenario) with its seven clinical modules."""

    def setup_cache(self):
        return {n: _run(n, []) for n in self.params}

    setup_cache.timeout = 3600
