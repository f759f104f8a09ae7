"""SIGTERM (kill, timeout, a cancelled job) ends a run as Ctrl-C does: the staging folder
goes, nothing is published, and the exit code is 128 + SIGTERM. A run killed outright
(SIGKILL) cannot clean up; the next run into the same directory removes its folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from cohortforge.cli import app
from cohortforge.engine import staging_lock
from cohortforge.engine.output_dir import STAGING_PREFIX


def start_run(out, *extra: str) -> subprocess.Popen:
    """A 400,000-patient Parquet run in a subprocess, stopped once it has staged Parquet."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cohortforge", "generate", "-n", "400000", "--seed", "1",
         "--output-format", "parquet", "--no-fhir", "--no-hl7", "--quiet",
         "--output-dir", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(out.glob(f"{STAGING_PREFIX}*/parquet/*.parquet")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no staged output: {process.communicate()}")
        time.sleep(0.05)
    return process


def test_sigterm_removes_the_staging_folder_and_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    process = start_run(out)
    try:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().splitlines()[-1] == "terminated; nothing was published"
    assert not out.exists()  # the run created it, and removed it with its staging folder


def test_the_next_run_removes_what_a_killed_run_left(tmp_path):
    out = tmp_path / "out"
    process = start_run(out)
    process.kill()  # SIGKILL: no clean-up at all
    process.communicate(timeout=60)
    left = list(out.glob(f"{STAGING_PREFIX}*"))
    assert len(left) == 1 and staging_lock.is_abandoned(left[0])
    # A live run's folder (its lock held, as by a run still going) must stay.
    live = out / f"{STAGING_PREFIX}live"
    live.mkdir()
    lock = staging_lock.hold(live)
    try:
        assert not staging_lock.is_abandoned(live)
        args = ["generate", "-n", "20", "--quiet", "--output-format", "parquet", "--no-fhir"]
        result = CliRunner().invoke(app, [*args, "--output-dir", str(out)])
        assert result.exit_code == 0, result.output
        assert not left[0].exists()
        assert live.is_dir() and (out / "manifest.json").is_file()
    finally:
        lock.close()
    assert staging_lock.is_abandoned(live)  # its lock went with the file


def test_a_folder_without_a_lock_file_is_not_judged(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not staging_lock.is_abandoned(tmp_path / "empty")
    assert not staging_lock.is_abandoned(tmp_path / "missing")
