"""Lookups: single, batch and search, answered alike by the database and the seed CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cohortforge.terminology import (
    DB_ENV,
    Terminology,
    TerminologyError,
    build_database,
    canonical_system,
    get_terminology,
    lookup,
    read_seed,
)
from cohortforge.terminology_cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "terminology.duckdb"
    build_database(root=tmp_path_factory.mktemp("empty_root"), db_path=db)
    return db


@pytest.fixture(scope="module")
def both(built_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Terminology]:
    missing = tmp_path_factory.mktemp("nodb") / "terminology.duckdb"
    return {"duckdb": Terminology(built_db), "seed": Terminology(missing)}


@pytest.fixture(params=["duckdb", "seed"])
def term(request: pytest.FixtureRequest, both: dict[str, Terminology]) -> Terminology:
    return both[request.param]


def test_backends_are_what_they_claim(both: dict[str, Terminology]) -> None:
    assert both["duckdb"].backend == "duckdb"
    assert both["seed"].backend == "seed"


@pytest.mark.parametrize(("system", "code", "display"), [
    ("SNOMED-CT", "44054006", "Diabetes mellitus type 2 (disorder)"),
    ("http://snomed.info/sct", "59621000", "Essential hypertension (disorder)"),
    ("LOINC", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    ("loinc", "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    ("RxNorm", "860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("ICD10CM", "E11.9", "Type 2 diabetes mellitus without complications"),
    ("CVX", "140", "Influenza, split virus, trivalent, injectable, preservative free"),
    ("HL7 ActCode", "AMB", "ambulatory"),
    ("HL70001", "F", "Female"),
    ("CDCREC", "2106-3", "White"),
    ("NUBC", "01", "Discharged to home or self-care (routine discharge)"),
])
def test_single_lookup(term: Terminology, system: str, code: str, display: str) -> None:
    assert term.lookup(system, code) == display


def test_unknown_code_is_none_and_unknown_system_raises(term: Terminology) -> None:
    assert term.lookup("LOINC", "0000-0") is None
    with pytest.raises(TerminologyError, match="unknown code system 'NOPE'"):
        term.lookup("NOPE", "1")


def test_system_aliases_resolve() -> None:
    for name in ("SNOMED-CT", "SNOMED CT", "snomed_ct", "http://snomed.info/sct", "SCT",
                 "urn:oid:2.16.840.1.113883.6.96"):
        assert canonical_system(name) == "SNOMED CT"
    assert canonical_system("http://hl7.org/fhir/sid/cvx") == "CVX"


def test_every_seed_code_answers_the_same_on_both_backends(both: dict[str, Terminology]) -> None:
    concepts = read_seed().concepts
    for system in sorted(set(concepts["system"].to_pylist())):
        codes = concepts.filter(pa.compute.equal(concepts["system"], system))["code"]
        expected = concepts.filter(pa.compute.equal(concepts["system"], system))["display"]
        for backend in both.values():
            got = backend.displays(system, codes).cast(pa.string())
            assert got.to_pylist() == expected.to_pylist(), (backend.backend, system)


def test_batch_lookup_arrow_polars_dictionary_and_nulls(term: Terminology) -> None:
    codes = ["4548-4", "nope", None, "8480-6", "4548-4"]
    want = ["Hemoglobin A1c/Hemoglobin.total in Blood", None, None,
            "Systolic Blood Pressure", "Hemoglobin A1c/Hemoglobin.total in Blood"]
    arrow = term.displays("LOINC", pa.array(codes))
    assert pa.types.is_dictionary(arrow.type)
    assert arrow.dictionary_decode().to_pylist() == want
    chunked = term.displays("LOINC", pa.chunked_array([codes[:2], codes[2:]]))
    assert chunked.cast(pa.string()).to_pylist() == want
    encoded = term.displays("LOINC", pa.array(codes).dictionary_encode())
    assert encoded.dictionary_decode().to_pylist() == want
    series = term.displays("LOINC", pl.Series("code", codes))
    assert series.name == "code" and series.dtype == pl.String and series.to_list() == want
    large = term.displays("LOINC", pa.array(codes, type=pa.large_string()))
    assert large.dictionary_decode().to_pylist() == want


def test_batch_lookup_takes_integer_codes(term: Terminology) -> None:
    got = term.displays("SNOMED CT", pa.array(np.array([44054006, 1], dtype=np.int64)))
    assert got.dictionary_decode().to_pylist() == ["Diabetes mellitus type 2 (disorder)", None]


def test_icd10cm_map(term: Terminology) -> None:
    assert term.icd10cm("44054006") == "E11.9"
    assert term.icd10cm("185349003") is None  # an encounter, not a condition
    got = term.icd10cm_codes(pl.Series(["59621000", "431857002", "x"]))
    assert got.to_list() == ["I10", "N18.4", None]


def test_search_ranks_and_matches_on_both_backends(both: dict[str, Terminology]) -> None:
    for text, system in [("type 2 diabetes", None), ("hemoglobin a1c", "LOINC"),
                         ("44054006", None), ("asthma", "SNOMED-CT"), ("metformin", None)]:
        results = [b.search(text, system=system, limit=15) for b in both.values()]
        assert results[0] == results[1], text
        assert results[0], text
    best = both["duckdb"].search("essential hypertension (disorder)")[0]
    assert (best.system, best.code) == ("SNOMED CT", "59621000")
    assert both["seed"].search("44054006")[0].code == "44054006"


def test_search_rejects_empty_text_and_bad_limit(term: Terminology) -> None:
    with pytest.raises(TerminologyError, match="search text is empty"):
        term.search("   ")
    with pytest.raises(TerminologyError, match="limit must be at least 1"):
        term.search("asthma", limit=0)


def test_default_location_follows_env(built_db: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DB_ENV, str(built_db))
    assert get_terminology().backend == "duckdb"
    assert lookup("SNOMED-CT", "44054006") == "Diabetes mellitus type 2 (disorder)"
    monkeypatch.setenv(DB_ENV, str(tmp_path / "absent.duckdb"))
    assert get_terminology().backend == "seed"
    assert lookup("SNOMED-CT", "44054006") == "Diabetes mellitus type 2 (disorder)"


def test_not_a_terminology_database(tmp_path: Path) -> None:
    bogus = tmp_path / "terminology.duckdb"
    bogus.write_bytes(b"not a database")
    with pytest.raises(TerminologyError, match="not a cohortforge terminology database"):
        Terminology(bogus)


# ---- CLI -------------------------------------------------------------------------------

def test_cli_lookup_and_search(built_db: Path) -> None:
    result = runner.invoke(app, ["lookup", "SNOMED-CT", "44054006", "--db", str(built_db)])
    assert result.exit_code == 0 and result.output == "Diabetes mellitus type 2 (disorder)\n"
    result = runner.invoke(app, ["search", "hemoglobin a1c", "--system", "LOINC",
                                 "--db", str(built_db)])
    assert result.exit_code == 0
    first = result.output.splitlines()[0]
    assert first == "LOINC\t4548-4\tHemoglobin A1c/Hemoglobin.total in Blood"


def test_cli_unknown_code_exits_1(built_db: Path) -> None:
    result = runner.invoke(app, ["lookup", "LOINC", "0000-0", "--db", str(built_db)])
    assert result.exit_code == 1
    assert "no such code" in result.stderr
    result = runner.invoke(app, ["search", "zzzqqq", "--db", str(built_db)])
    assert result.exit_code == 1 and "no concept matches" in result.stderr


def test_cli_unknown_system_exits_2(built_db: Path) -> None:
    result = runner.invoke(app, ["lookup", "NOPE", "1", "--db", str(built_db)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown code system 'NOPE'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_terminology_does_not_import_the_engine() -> None:
    import subprocess
    import sys

    code = ("import sys, cohortforge.terminology, cohortforge.terminology_cli; "
            "sys.exit(any(m.startswith('cohortforge.engine') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
