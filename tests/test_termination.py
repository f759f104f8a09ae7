"""SIGTERM (kill, timeout, a cancelled job) ends a run as Ctrl-C does: the staging folder
goes, nothing is published, and the exit code is 128 + SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from cohortforge.engine.output_dir import STAGING_PREFIX


def test_sigterm_removes_the_staging_folder_and_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "cohortforge", "generate", "-n", "400000", "--seed", "1",
         "--output-format", "parquet", "--no-fhir", "--no-hl7", "--quiet",
         "--output-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # Wait until the run has written Parquet into its staging folder.
        while not list(out.glob(f"{STAGING_PREFIX}*/parquet/*.parquet")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no staged output after 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().splitlines()[-1] == "terminated; nothing was published"
    assert not out.exists()  # the run created it, and removed it with its staging folder
