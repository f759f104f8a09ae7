"""The module engine at scale: general_population with the baseline modules and the
Synthea conformance modules, to Parquet, through the real CLI.

Issue targets on the project's 2-core machine: 1,000,000 patients in at most 60 s wall,
peak RSS at most 3 GB, kernel time no more than the Parquet write time. Needs
../shared/conformance beside the clone (the conformance modules are not shipped).
Documented command (README, "Benchmarks"):

    python -m benchmarks.peak_rss cohortforge generate -n 1000000 \\
        --scenario benchmarks/scenarios/conformance.toml \\
        --modules-dir ../shared/conformance/synthea_modules \\
        --output-format parquet --no-fhir --no-hl7 --seed 1 --output-dir /tmp/bench \\
        --overwrite --quiet
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


class ModulesRun:
    params = (100_000, 1_000_000)
    param_names = ("num_records",)
    timeout = 1800
    number = 1
    repeat = 1

    def setup(self, num_records):
        if not CONFORMANCE.is_dir():
            raise NotImplementedError(f"{CONFORMANCE} not found")  # asv skips the benchmark
        self.workdir = Path(tempfile.mkdtemp(prefix="cohortforge-modules-"))
        out = self.workdir / "out"
        command = [
            sys.executable,
            "-m",
            "cohortforge",
            "generate",
            "-n",
            str(num_records),
            "--scenario",
            str(SCENARIO),
            "--modules-dir",
            str(CONFORMANCE),
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
        self.rss, self.wall = peak_rss_bytes(command)
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        self.seconds = manifest["seconds"]
        rows = sum(n for table, n in manifest["row_counts"].items() if table != "patients")
        self.rows_per_patient = rows / num_records
        self.rows_per_second = rows / self.wall

    def teardown(self, num_records):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def track_wall_seconds(self, num_records):
        return self.wall

    track_wall_seconds.unit = "seconds"

    def track_peak_rss_mib(self, num_records):
        return self.rss / 2**20

    track_peak_rss_mib.unit = "MiB"

    def track_kernel_seconds(self, num_records):
        return self.seconds["kernel"]

    track_kernel_seconds.unit = "seconds"

    def track_write_seconds(self, num_records):
        return self.seconds["write"]

    track_write_seconds.unit = "seconds"

    def track_clinical_rows_per_patient(self, num_records):
        return self.rows_per_patient

    track_clinical_rows_per_patient.unit = "rows"

    def track_clinical_rows_per_second(self, num_records):
        return self.rows_per_second

    track_clinical_rows_per_second.unit = "rows/s"
