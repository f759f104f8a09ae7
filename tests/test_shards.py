"""Sharded runs: part files equal the single-file run, resume after SIGKILL, faults."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from cohortforge.cli import app
from cohortforge.engine.config import RunConfig
from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.output_dir import PROGRESS_JOURNAL
from cohortforge.engine.runner import run
from cohortforge.engine.shards import part_path, shard_ranges

TABLES = ("patients", "encounters", "observations", "medications", "organizations")


def _config(out: Path, **overrides) -> RunConfig:
    values = dict(
        num_records=600,
        scenario="general_population",
        seed=11,
        output_dir=out,
        fhir=False,
        hl7=False,
    )
    return RunConfig(**{**values, **overrides})


def _data_files(root: Path) -> dict[str, bytes]:
    """Every output file except the manifest and journal (they hold timings)."""
    skipped = {"manifest.json", PROGRESS_JOURNAL}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skipped
    }


def test_shard_ranges_cover_every_id_once():
    assert shard_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    ranges = shard_ranges(1_000_003, 7)
    assert ranges[0][0] == 0 and ranges[-1][1] == 1_000_003
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert part_path("parquet/encounters.parquet", 3) == "parquet/encounters/part-00003.parquet"
    assert part_path("fhir_bundle.json", 0) == "fhir_bundle/part-00000.json"


def test_parts_read_back_equal_the_single_file_run(tmp_path):
    run(_config(tmp_path / "single"))
    run(_config(tmp_path / "sharded", shards=3, chunk_size=150))
    for table in TABLES:
        single = pl.read_parquet(tmp_path / "single" / "parquet" / f"{table}.parquet")
        parts = sorted((tmp_path / "sharded" / "parquet" / table).glob("part-*.parquet"))
        expected_parts = 1 if table == "organizations" else 3
        assert len(parts) == expected_parts
        glob = str(tmp_path / "sharded" / "parquet" / table / "*.parquet")
        assert pl.read_parquet(glob).equals(single)
        csv_glob = str(tmp_path / "sharded" / "csv" / table / "*.csv")
        single_csv = pl.read_csv(tmp_path / "single" / "csv" / f"{table}.csv", infer_schema=False)
        assert pl.read_csv(csv_glob, infer_schema=False).equals(single_csv)
    count = duckdb.sql(
        f"select count(*) from read_parquet('{tmp_path}/sharded/parquet/encounters/*.parquet')"
    ).fetchall()[0][0]
    manifest = orjson.loads((tmp_path / "sharded" / "manifest.json").read_bytes())
    assert count == manifest["row_counts"]["encounters"]
    assert manifest["parameters"]["shards"] == 3
    assert set(manifest["files"]) == set(_data_files(tmp_path / "sharded"))


def test_sharded_bytes_do_not_depend_on_chunks_or_workers(tmp_path):
    text = dict(num_records=300, fhir=True, hl7=True, vista=True)
    run(_config(tmp_path / "a", shards=2, chunk_size=1000, workers=1, **text))
    run(_config(tmp_path / "b", shards=2, chunk_size=77, workers=2, **text))
    files = _data_files(tmp_path / "a")
    assert "fhir/Patient/part-00001.ndjson" in files and "vista/globals/part-00000.zwr" in files
    assert files == _data_files(tmp_path / "b")


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    args = ["-n", "6000", "--seed", "5", "--shards", "6", "--output-format", "parquet",
            "--no-fhir", "--no-hl7", "--quiet"]  # fmt: skip
    command = [sys.executable, "-m", "cohortforge", "generate", *args]
    out = tmp_path / "killed"
    process = subprocess.Popen([*command, "--output-dir", str(out)])
    journal = out / PROGRESS_JOURNAL
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and len(journal.read_bytes().splitlines()) >= 3:  # 2 shards done
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists()
    subprocess.run([*command, "--output-dir", str(out), "--resume"], check=True)
    subprocess.run([*command, "--output-dir", str(tmp_path / "whole")], check=True)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert len(manifest["parameters"]["reused_shards"]) >= 2
    assert _data_files(out) == _data_files(tmp_path / "whole")
    assert not [p for p in out.iterdir() if p.name.startswith(".cohortforge-staging")]


def test_failed_shard_keeps_the_others_and_resume_completes(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    base = ["generate", "--quiet", "-n", "600", "--seed", "8", "--shards", "3",
            "--output-format", "parquet", "--output-dir", str(out)]  # fmt: skip
    assert runner.invoke(app, base).exit_code == 0
    reference = _data_files(out)
    # Shard 1's encounters file becomes unwritable: a folder stands in its place.
    blocked = out / "parquet" / "encounters" / "part-00001.parquet"
    blocked.unlink()
    blocked.mkdir()
    (blocked / "keep").write_text("x")
    failed = runner.invoke(app, [*base, "--resume"])
    assert failed.exit_code == 2
    assert "shard 1" in failed.output and "--resume" in failed.output
    assert len(failed.output.strip().splitlines()) == 1
    assert not (out / "manifest.json").exists()
    assert (out / "parquet" / "encounters" / "part-00000.parquet").exists()
    (blocked / "keep").unlink()
    blocked.rmdir()
    assert runner.invoke(app, [*base, "--resume"]).exit_code == 0
    assert _data_files(out) == reference


def test_resume_refuses_other_parameters(tmp_path):
    out = tmp_path / "out"
    run(_config(out, shards=2, num_records=100))
    with pytest.raises(CohortforgeError, match="other parameters"):
        run(_config(out, shards=2, num_records=100, seed=12, resume=True))
    with pytest.raises(CohortforgeError, match="nothing to resume"):
        run(_config(tmp_path / "empty", shards=2, num_records=100, resume=True))
    with pytest.raises(CohortforgeError, match="--shards"):
        _config(out, resume=True)
