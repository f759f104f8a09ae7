"""A run that cannot fit is refused after its first work unit, and a disk that fills
anyway ends the run with one line, nothing published and nothing of the user's lost."""

from __future__ import annotations

import errno
from collections import namedtuple

import pytest

from cohortforge.engine import disk_space
from cohortforge.engine import runner as runner_module
from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.output_dir import STAGING_PREFIX
from cohortforge.engine.sinks import TableSinks

from .conftest import read_tree
from .test_generate import generate, one_line_error

Usage = namedtuple("Usage", "total used free")


def pretend_free(monkeypatch, free: int) -> None:
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda _path: Usage(free, 0, free))


def test_the_room_check_compares_the_projection_with_the_free_space(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    (staging / "csv").mkdir(parents=True)
    (staging / "csv" / "patients.csv").write_bytes(b"x" * 600)
    (staging / "fhir_bundle.json").write_bytes(b"y" * 400)
    # 1,000 bytes for 10 patients so far: the other 90 need 9,000.
    pretend_free(monkeypatch, 9_000)
    disk_space.check_room_for_the_rest(tmp_path, staging, 10, 90)
    pretend_free(monkeypatch, 8_999)
    with pytest.raises(CohortforgeError, match=r"90 patients need about 9\.0 KB"):
        disk_space.check_room_for_the_rest(tmp_path, staging, 10, 90)
    disk_space.check_room_for_the_rest(tmp_path, staging, 100, 0)  # nothing left to write


def test_a_run_that_cannot_fit_stops_after_its_first_unit(tmp_path, monkeypatch):
    started = []
    real_run_chunk = runner_module.run_chunk

    def counting_run_chunk(job):
        started.append(job.lo)
        return real_run_chunk(job)

    monkeypatch.setattr(runner_module, "run_chunk", counting_run_chunk)
    pretend_free(monkeypatch, 10_000)
    (tmp_path / "mine").mkdir()
    out = tmp_path / "mine" / "out"
    result = generate("-n", "60", "--chunk-size", "20", "--workers", "1", "--output-dir", str(out))
    one_line_error(result, "not enough disk space", "40 patients need about", "per patient")
    assert started == [0]
    assert not out.exists()  # the run created it and published nothing into it
    assert (tmp_path / "mine").is_dir()


def test_a_failed_run_removes_the_parent_folders_it_created(tmp_path, monkeypatch):
    """--output-dir under folders that did not exist: a run that fails removes every
    folder it created (still empty), and none that was there before."""
    pretend_free(monkeypatch, 10_000)
    (tmp_path / "mine").mkdir()
    out = tmp_path / "mine" / "new" / "deeper" / "out"
    result = generate("-n", "60", "--chunk-size", "20", "--workers", "1", "--output-dir", str(out))
    one_line_error(result, "not enough disk space")
    assert not (tmp_path / "mine" / "new").exists()
    assert (tmp_path / "mine").is_dir()


def test_no_space_check_writes_the_whole_run(tmp_path, monkeypatch):
    pretend_free(monkeypatch, 10_000)
    out = tmp_path / "out"
    args = ["-n", "60", "--chunk-size", "20", "--workers", "1", "--output-dir", str(out)]
    result = generate(*args, "--no-space-check", "--output-format", "parquet", "--no-fhir")
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").exists()


def test_a_full_disk_is_one_line_and_keeps_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert generate("-n", "30", "--seed", "1", "--output-dir", str(out)).exit_code == 0
    before = read_tree(out)
    real_write = TableSinks.write
    calls = []

    def write_until_full(self, result):
        calls.append(result.lo)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, result)

    monkeypatch.setattr(TableSinks, "write", write_until_full)
    result = generate(
        "-n", "30", "--seed", "2", "--chunk-size", "10", "--workers", "1",
        "--output-dir", str(out), "--overwrite",
    )  # fmt: skip
    one_line_error(result, "is full", "No space left on device", "nothing was published")
    assert read_tree(out) == before
    assert not any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())


def test_a_full_disk_in_a_shard_says_resume(tmp_path, monkeypatch):
    real_write = TableSinks.write

    def full_in_the_second_shard(self, result):
        if result.lo >= 20:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        real_write(self, result)

    monkeypatch.setattr(TableSinks, "write", full_in_the_second_shard)
    out = tmp_path / "out"
    result = generate(
        "-n", "40", "--shards", "2", "--output-format", "parquet", "--no-fhir", "--no-hl7",
        "--output-dir", str(out),
    )  # fmt: skip
    one_line_error(result, "is full", "quota", "shard 1", "--resume")
    assert (out / "parquet" / "patients" / "part-00000.parquet").exists()


def test_other_write_errors_are_not_reported_as_a_full_disk(tmp_path, monkeypatch):
    def broken(self, result):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(TableSinks, "write", broken)
    result = generate("-n", "10", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert isinstance(result.exception, OSError) and result.exception.errno == errno.EIO
