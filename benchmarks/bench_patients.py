"""The patients table: build speed per chunk, whole-run wall time, and peak memory.

Run: `asv run --python=same --quick` (smoke) or `make bench`. The whole-run figures
go through the real CLI in a subprocess so worker processes are counted.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from cohortforge.engine.cohort import build_patients
from cohortforge.exporters.csv_format import csv_body
from cohortforge.scenarios.loader import load_scenario

from .peak_rss import peak_rss_bytes

CHUNK = 100_000


def _generate_command(num_records: int, output_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cohortforge",
        "generate",
        "--num-records",
        str(num_records),
        "--scenario",
        "general_population",
        "--seed",
        "1",
        "--output-format",
        "both",
        "--output-dir",
        str(output_dir),
        "--overwrite",
        "--no-fhir",
        "--no-hl7",
        "--quiet",
    ]


class PatientChunk:
    """One 100,000-patient chunk, in process (JIT warmed up in setup)."""

    def setup(self):
        self.scenario = load_scenario("general_population")
        build_patients(self.scenario, 1, 0, 1000, self.scenario.reference_date)
        self.table = build_patients(self.scenario, 1, 0, CHUNK, self.scenario.reference_date)

    def time_build_patients_100k(self):
        build_patients(self.scenario, 1, 0, CHUNK, self.scenario.reference_date)

    def time_format_csv_100k(self):
        csv_body(self.table)

    def peakmem_build_patients_100k(self):
        build_patients(self.scenario, 1, 0, CHUNK, self.scenario.reference_date)


class GenerateRun:
    """Whole CLI runs, both formats, all cores: wall seconds and peak RSS of the process tree."""

    params = (1_000_000, 4_000_000)
    param_names = ("num_records",)
    timeout = 600
    number = 1
    repeat = 1
    unit = "MiB"

    def setup(self, num_records):
        self.workdir = Path(tempfile.mkdtemp(prefix="cohortforge-bench-"))
        self.result = peak_rss_bytes(_generate_command(num_records, self.workdir / "out"))

    def teardown(self, num_records):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def track_wall_seconds(self, num_records):
        return self.result[1]

    track_wall_seconds.unit = "seconds"

    def track_peak_rss_mib(self, num_records):
        return self.result[0] / 2**20

    track_peak_rss_mib.unit = "MiB"
