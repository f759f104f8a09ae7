"""terminology build: seed + full vocabularies, idempotence, atomicity, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cohortforge.terminology import (
    Terminology,
    TerminologyError,
    build_database,
    find_vocabulary_files,
    read_seed,
    seed_dir,
)
from cohortforge.terminology_cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terminology"
OMOP_HEADER = ("concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\t"
               "standard_concept\tconcept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason\n")
runner = CliRunner()


def _row(code: str, name: str, vocabulary: str = "SNOMED", invalid: str = "") -> str:
    fields = ["1", name, "Condition", vocabulary, "Clinical Finding", "S", code, "20020131",
              "20991231", invalid]
    return "\t".join(fields) + "\n"


@pytest.fixture
def vocab_root(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "terminology"
    shutil.copytree(FIXTURES, root)
    return root


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    shutil.copytree(seed_dir(), folder)
    return folder


def test_build_from_seed_is_fast_and_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    first = build_database(root=tmp_path, db_path=db)
    assert first.rebuilt and first.concepts == read_seed().concepts.num_rows
    assert first.seconds < 2.0
    stamp = db.stat().st_mtime_ns
    second = build_database(root=tmp_path, db_path=db)
    assert not second.rebuilt and db.stat().st_mtime_ns == stamp
    assert second.concepts == first.concepts
    third = build_database(root=tmp_path, db_path=db, rebuild=True)
    assert third.rebuilt


def test_importers_add_codes_and_the_seed_wins(vocab_root: Path, tmp_path: Path) -> None:
    files = find_vocabulary_files(vocab_root)
    assert [f.kind for f in files] == ["loinc", "omop"]  # LOINC's own table outranks OMOP's
    db = tmp_path / "t.duckdb"
    report = build_database(root=vocab_root, db_path=db)
    term = Terminology(db)
    # New codes from each importer.
    assert term.lookup("LOINC", "14771-0") == "Fasting glucose [Moles/volume] in Serum or Plasma"
    assert term.lookup("SNOMED CT", "40930008") == "Hypothyroidism"
    assert term.lookup("RxNorm", "6809") == "metformin"
    # The seed's display stands where OMOP names the same code differently.
    assert term.lookup("SNOMED CT", "59621000") == "Essential hypertension (disorder)"
    # WHO ICD10 rows and non-emitted vocabularies are skipped, ICD10CM ones kept.
    assert term.lookup("ICD-10-CM", "I10") == "Essential (primary) hypertension"
    seed_rows = read_seed().concepts.num_rows
    assert report.concepts == seed_rows + 3
    assert report.by_source["seed"] == seed_rows
    with duckdb.connect(str(db), read_only=True) as con:
        attrs = con.execute("SELECT ucum_unit, loinc_class FROM concepts "
                            "WHERE system = 'LOINC' AND code = '14771-0'").fetchone()
        tty = con.execute("SELECT tty FROM concepts WHERE system = 'RxNorm' AND code = '6809'"
                          ).fetchone()
    assert attrs == ("mmol/L", "CHEM")
    assert tty == ("IN",)


def test_cli_build_maps_refresh_workflow(vocab_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    result = runner.invoke(app, ["build", "--root", str(vocab_root), "--rebuild-db",
                                 "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"built {db}")
    result = runner.invoke(app, ["build", "--root", str(vocab_root), "--db", str(db)])
    assert result.exit_code == 0 and "up to date" in result.output


def test_build_uses_env_db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env" / "terminology.duckdb"
    monkeypatch.setenv("TERMINOLOGY_DB_PATH", str(target))
    report = build_database(root=tmp_path)
    assert report.db_path == target and target.is_file()


def test_omop_deprecated_rows_and_quotes(tmp_path: Path) -> None:
    root = tmp_path / "vocab"
    root.mkdir()
    (root / "CONCEPT.csv").write_text(
        OMOP_HEADER + _row("900000001", 'Lesion of 2" diameter')
        + _row("900000002", "Retired", invalid="D")
    )
    db = tmp_path / "t.duckdb"
    build_database(root=root, db_path=db)
    term = Terminology(db)
    assert term.lookup("SNOMED CT", "900000001") == 'Lesion of 2" diameter'
    assert term.lookup("SNOMED CT", "900000002") is None


# ---- bad input: clear one-line errors, and the previous database survives -------------------

@pytest.fixture
def empty_root(tmp_path: Path) -> Path:
    root = tmp_path / "empty_root"
    root.mkdir()
    return root


@pytest.fixture
def good_db(tmp_path: Path, empty_root: Path) -> Path:
    db = tmp_path / "db" / "good.duckdb"
    build_database(root=empty_root, db_path=db)
    return db


def _assert_untouched(db: Path, before: bytes) -> None:
    assert db.read_bytes() == before
    assert Terminology(db).lookup("SNOMED CT", "44054006") == "Diabetes mellitus type 2 (disorder)"
    assert not [p for p in db.parent.iterdir() if p.name.endswith(".tmp")]


def test_malformed_omop_row_names_file_and_line(tmp_path: Path, good_db: Path) -> None:
    root = tmp_path / "vocab"
    root.mkdir()
    concept = root / "CONCEPT.csv"
    concept.write_text(OMOP_HEADER + _row("900000001", "Fine") + "2\tShort row\tCondition\n")
    before = good_db.read_bytes()
    with pytest.raises(TerminologyError, match=rf"^{concept}:3: malformed row"):
        build_database(root=root, db_path=good_db, rebuild=True)
    _assert_untouched(good_db, before)


def test_conflicting_displays_in_a_vocabulary(tmp_path: Path, good_db: Path) -> None:
    root = tmp_path / "vocab"
    root.mkdir()
    concept = root / "CONCEPT.csv"
    concept.write_text(OMOP_HEADER + _row("900000001", "One") + _row("900000001", "Two"))
    before = good_db.read_bytes()
    message = rf"{concept}:3: SNOMED CT 900000001 has a different display than line 2"
    with pytest.raises(TerminologyError, match=message):
        build_database(root=root, db_path=good_db, rebuild=True)
    _assert_untouched(good_db, before)


def test_vocabulary_missing_columns(tmp_path: Path, good_db: Path) -> None:
    root = tmp_path / "vocab"
    root.mkdir()
    (root / "Loinc.csv").write_text('"LOINC_NUM","COMPONENT"\n"4548-4","Hemoglobin A1c"\n')
    message = r"Loinc.csv:1: header lacks LONG_COMMON_NAME, CLASS, STATUS"
    with pytest.raises(TerminologyError, match=message):
        build_database(root=root, db_path=good_db, rebuild=True)


def test_cli_build_error_exits_2_and_keeps_database(tmp_path: Path, good_db: Path) -> None:
    root = tmp_path / "vocab"
    root.mkdir()
    (root / "CONCEPT.csv").write_text(OMOP_HEADER + "bad\trow\n")
    before = good_db.read_bytes()
    result = runner.invoke(app, ["build", "--root", str(root), "--rebuild-db",
                                 "--db", str(good_db)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "CONCEPT.csv:2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    _assert_untouched(good_db, before)


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TerminologyError, match="--root folder not found"):
        build_database(root=tmp_path / "nowhere", db_path=tmp_path / "t.duckdb")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: (d / "cvx.csv").unlink() or (d / "snomed_icd10cm_map.csv").unlink(),
     r"snomed_icd10cm_map.csv: file not found"),
    (lambda d: _append(d / "loinc.csv", "LOINC,4548-4,Other display,%,CHEM,test\n"),
     r"loinc.csv:\d+: LOINC 4548-4 has display 'Other display' but loinc.csv:\d+ gives"),
    (lambda d: _append(d / "cvx.csv", "Klingon,1,Display,test\n"),
     r"cvx.csv:\d+: unknown code system 'Klingon'"),
    (lambda d: _append(d / "cvx.csv", "CVX,999,\"unterminated,test\n"),
     r"cvx.csv:\d+: (malformed CSV|expected 4 fields)"),
    (lambda d: _append(d / "cvx.csv", "CVX,998,too,many,fields\n"),
     r"cvx.csv:\d+: expected 4 fields, found 5"),
    (lambda d: _append(d / "cvx.csv", "CVX,,Empty code,test\n"),
     r"cvx.csv:\d+: code is empty"),
    (lambda d: _append(d / "snomed_icd10cm_map.csv", "44054006,E11.65,conflict\n"),
     r"snomed_icd10cm_map.csv:\d+: SNOMED CT 44054006 maps to E11.65 "
     r"but line \d+ maps it to E11.9"),
    (lambda d: _append(d / "snomed_icd10cm_map.csv", "185349003,Z99.99,x\n"),
     r"ICD-10-CM Z99.99 is not in the seed"),
])
def test_bad_seed_is_rejected_and_database_kept(seed_copy: Path, good_db: Path, tmp_path: Path,
                                                empty_root: Path, edit, message: str) -> None:
    edit(seed_copy)
    before = good_db.read_bytes()
    with pytest.raises(TerminologyError, match=message) as caught:
        build_database(root=empty_root, db_path=good_db, rebuild=True, seed_directory=seed_copy)
    assert "\n" not in str(caught.value)
    _assert_untouched(good_db, before)
    with pytest.raises(TerminologyError, match=message):  # the CSV fallback validates alike
        Terminology(tmp_path / "absent.duckdb", seed_directory=seed_copy)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_interrupted_build_leaves_previous_database(good_db: Path, empty_root: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import cohortforge.terminology.build as build_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C arrived after the new file was written

    before = good_db.read_bytes()
    monkeypatch.setattr(build_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        build_database(root=empty_root, db_path=good_db, rebuild=True)
    _assert_untouched(good_db, before)
