"""`cohortforge generate` end to end: files, manifest, byte-identical reruns, atomicity."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from cohortforge.cli import app
from cohortforge.engine import chunk as chunk_module
from cohortforge.engine import runner as runner_module
from cohortforge.engine.config import RunConfig
from cohortforge.engine.output_dir import STAGING_PREFIX
from cohortforge.exporters.synthea_columns import CLINICAL_TABLES, NETWORK_TABLES

from .conftest import read_tree

runner = CliRunner()


def generate(*args: str):
    return runner.invoke(app, ["generate", "--quiet", *args])


def test_generate_writes_tables_and_manifest(tmp_path):
    out = tmp_path / "out"
    result = generate("-n", "300", "--seed", "5", "--output-dir", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    csv = pl.read_csv(out / "csv" / "patients.csv", infer_schema=False)
    parquet = pl.read_parquet(out / "parquet" / "patients.parquet")
    assert csv.height == parquet.height == 300
    assert csv.columns == parquet.columns
    assert csv["Id"].to_list() == parquet["Id"].to_list()
    assert csv["BIRTHDATE"].to_list() == parquet["BIRTHDATE"].cast(pl.Utf8).to_list()
    assert parquet.schema["BIRTHDATE"] == pl.Date and parquet.schema["LAT"] == pl.Float64
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["parameters"]["seed"] == 5
    assert manifest["parameters"]["num_records"] == 300
    assert manifest["row_counts"]["patients"] == 300
    tables = {"patients", *CLINICAL_TABLES, *NETWORK_TABLES}
    assert {name for name in manifest["row_counts"] if ":" not in name} == tables
    assert manifest["row_counts"]["fhir:Patient"] == 300
    assert manifest["row_counts"]["encounters"] > 300  # wellness visits at least
    for relative, entry in manifest["files"].items():
        assert hashlib.sha256((out / relative).read_bytes()).hexdigest() == entry["sha256"]
    expected_files = {f"csv/{t}.csv" for t in tables} | {f"parquet/{t}.parquet" for t in tables}
    text_files = {"fhir_bundle.json", "fhir/Patient.ndjson", "fhir/Encounter.ndjson"}
    assert expected_files | text_files <= set(manifest["files"])
    others = set(manifest["files"]) - expected_files - {"fhir_bundle.json"}
    assert all(name.startswith(("fhir/", "hl7/")) for name in others)
    for table in tables:
        rows = pl.read_parquet(out / "parquet" / f"{table}.parquet").height
        assert rows == manifest["row_counts"][table] == pl.read_csv(
            out / "csv" / f"{table}.csv", infer_schema=False
        ).height
    assert manifest["parameters"]["modules"][:2] == ["wellness_encounters", "immunizations"]
    assert {"generate", "kernel", "write", "wall"} <= set(manifest["seconds"])
    assert manifest["versions"]["pyarrow"]
    assert not any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())


def test_csv_follows_synthea_rules(tmp_path):
    out = tmp_path / "out"
    assert (
        generate(
            "-n", "200", "--seed", "8", "--output-dir", str(out), "--output-format", "csv"
        ).exit_code
        == 0
    )
    lines = (out / "csv" / "patients.csv").read_text().split("\n")
    assert lines[0].startswith("Id,BIRTHDATE,DEATHDATE,SSN,")
    assert lines[-1] == "" and len(lines) == 202
    assert all(line.count(",") == lines[0].count(",") for line in lines[:-1])
    assert '"' not in "".join(lines)
    assert not (out / "parquet").exists()


def test_output_format_parquet_only(tmp_path):
    out = tmp_path / "out"
    assert (
        generate(
            "-n", "50", "--seed", "8", "--output-dir", str(out), "--output-format", "parquet"
        ).exit_code
        == 0
    )
    assert (out / "parquet" / "patients.parquet").exists() and not (out / "csv").exists()


def run_tree(tmp_path, name: str, *args: str) -> dict[str, bytes]:
    out = tmp_path / name
    # Tables only: the text formats are checked at a smaller size below.
    tables_only = ("--no-fhir", "--no-hl7")
    result = generate("-n", "9000", "--seed", "11", "--output-dir", str(out), *tables_only, *args)
    assert result.exit_code == 0, result.output
    return read_tree(out)


def test_same_bytes_whatever_the_chunk_size(tmp_path):
    a = run_tree(tmp_path, "a", "--chunk-size", "1000", "--workers", "1")
    b = run_tree(tmp_path, "b", "--chunk-size", "7777", "--workers", "1")
    assert "parquet/observations.parquet" in a and "csv/encounters.csv" in a
    assert a.keys() == b.keys()
    assert a == b


@pytest.mark.parametrize(
    ("args", "sizes"),
    [
        ({"output_format": "both", "fhir": False, "hl7": False}, [4096] * 2 + [1808]),
        ({"output_format": "parquet", "fhir": True, "hl7": False}, [1024] * 9 + [784]),
        ({"output_format": "csv", "fhir": False, "hl7": True}, [1024] * 9 + [784]),
        ({"output_format": "both", "fhir": False, "hl7": False, "chunk_size": 1000}, [1000] * 10),
    ],
)
def test_work_units_are_smaller_when_text_is_exported(args, sizes):
    # engine/chunk.py: FHIR/HL7/VistA text is held per unit, so those runs cut smaller ones.
    config = RunConfig(10_000, "general_population", 1, Path("unused"), **args)
    jobs = runner_module.plan_run(config).jobs
    assert [job.hi - job.lo for job in jobs] == sizes
    assert [job.lo for job in jobs[1:]] == [job.hi for job in jobs[:-1]]


def test_same_bytes_whatever_the_worker_count(tmp_path):
    a = run_tree(tmp_path, "a", "--chunk-size", "3000", "--workers", "1")
    b = run_tree(tmp_path, "b", "--chunk-size", "3000", "--workers", "2")
    assert a == b


@pytest.mark.parametrize(
    "layout", [("--fhir-bundle", "single"), ("--fhir-bundle", "per-patient", "--vista")]
)
def test_text_outputs_do_not_depend_on_chunks_or_workers(tmp_path, layout):
    def tree(name: str, *args: str) -> dict[str, bytes]:
        out = tmp_path / name
        result = generate("-n", "400", "--seed", "4", "--output-dir", str(out), *layout, *args)
        assert result.exit_code == 0, result.output
        return read_tree(out)

    one = tree("one", "--chunk-size", "1000", "--workers", "1")
    many = tree("many", "--chunk-size", "60", "--workers", "2")
    assert "fhir/Patient.ndjson" in one
    assert one == many


def test_first_patients_are_the_same_in_a_larger_run(tmp_path):
    assert generate("-n", "100", "--seed", "3", "--output-dir", str(tmp_path / "s")).exit_code == 0
    assert generate("-n", "200", "--seed", "3", "--output-dir", str(tmp_path / "l")).exit_code == 0
    small = (tmp_path / "s" / "csv" / "patients.csv").read_text().splitlines()
    large = (tmp_path / "l" / "csv" / "patients.csv").read_text().splitlines()
    assert large[: len(small)] == small


def test_different_seeds_differ(tmp_path):
    assert generate("-n", "100", "--seed", "1", "--output-dir", str(tmp_path / "a")).exit_code == 0
    assert generate("-n", "100", "--seed", "2", "--output-dir", str(tmp_path / "b")).exit_code == 0
    assert read_tree(tmp_path / "a") != read_tree(tmp_path / "b")


def test_random_seed_is_printed_and_recorded(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", "-n", "20", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    seed = orjson.loads((out / "manifest.json").read_bytes())["parameters"]["seed"]
    assert f"--seed {seed}" in result.output


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--scenario", "nope"], ["unknown scenario 'nope'", "general_population"]),
        (["--module", "nope"], ["unknown module 'nope'"]),
        (["-n", "0"], ["--num-records must be at least 1"]),
        (["-n", "-5"], ["--num-records must be at least 1"]),
        (["--chunk-size", "0"], ["--chunk-size must be at least 1"]),
        (["--workers", "0"], ["--workers must be at least 1"]),
        (["--output-format", "xml"], ["--output-format 'xml'"]),
        (["--reference-date", "soon"], ["--reference-date 'soon'"]),
        (["--years-of-history", "0"], ["--years-of-history"]),
        (["--seed", "-1"], ["seed -1 is out of range"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, fragments):
    one_line_error(generate("--output-dir", str(tmp_path / "out"), *args), *fragments)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    one_line_error(generate("-n", "5", "--output-dir", str(target)), "is a file")
    assert target.read_text() == "keep me"


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a parent folder should be")
    one_line_error(
        generate("-n", "5", "--output-dir", str(blocker / "out")), "cannot write", "Not a directory"
    )
    # /proc refuses new directories even for root.
    one_line_error(generate("-n", "5", "--output-dir", "/proc/cohortforge-test"), "cannot write")


def test_malformed_scenario_file(tmp_path):
    bad = tmp_path / "bad.toml"
    valid = (Path(__file__).parent / "fixtures" / "scenarios" / "valid.toml").read_text()
    bad.write_text(valid.replace("years_of_history = 10", 'years_of_history = "many"'))
    one_line_error(
        generate("-n", "5", "--scenario", str(bad), "--output-dir", str(tmp_path / "o")),
        str(bad),
        "years_of_history",
    )


def test_non_empty_directory_is_refused_then_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    one_line_error(generate("-n", "5", "--output-dir", str(out)), "not empty", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (
        generate("-n", "5", "--seed", "1", "--output-dir", str(out), "--overwrite").exit_code == 0
    )
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "manifest.json").exists()


def test_failed_run_leaves_previous_outputs_untouched(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert generate("-n", "50", "--seed", "1", "--output-dir", str(out)).exit_code == 0
    before = read_tree(out)
    manifest = (out / "manifest.json").read_bytes()
    real_run_chunk = chunk_module.run_chunk

    def failing_run_chunk(job):
        if job.lo > 0:
            raise OSError("disk full (simulated)")
        return real_run_chunk(job)

    monkeypatch.setattr(runner_module, "run_chunk", failing_run_chunk)
    result = generate(
        "-n",
        "50",
        "--seed",
        "2",
        "--chunk-size",
        "10",
        "--workers",
        "1",
        "--output-dir",
        str(out),
        "--overwrite",
    )
    assert result.exit_code != 0
    assert read_tree(out) == before
    assert (out / "manifest.json").read_bytes() == manifest
    assert not any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())


def test_list_flags_and_listing_commands():
    for args in (["generate", "--list-scenarios"], ["scenarios"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert "pediatric_asthma" in result.output and "general_population" in result.output
    for args in (["generate", "--list-modules"], ["modules"]):
        assert runner.invoke(app, args).exit_code == 0


def test_module_entry_point_runs(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cohortforge",
            "generate",
            "-n",
            "10",
            "--seed",
            "4",
            "--quiet",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "wrote 10 patients" in completed.stdout
