"""Import the full vocabularies users already hold, straight into DuckDB.

A full OMOP CONCEPT.csv has millions of rows, so rows are never touched in Python:
DuckDB reads the file and every check below is a query. Malformed rows are caught with
DuckDB's reject tables, which keep the physical line number for the error message.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .errors import TerminologyError

# OMOP vocabulary_id -> canonical system. Vocabularies not listed (RxNorm Extension, ICD10,
# Read, ...) are not real codes of a system cohortforge emits, so they are skipped.
OMOP_VOCABULARIES = {
    "SNOMED": "SNOMED CT",
    "LOINC": "LOINC",
    "RxNorm": "RxNorm",
    "ICD10CM": "ICD-10-CM",
    "CVX": "CVX",
    "UCUM": "UCUM",
}
OMOP_COLUMNS = ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                "standard_concept", "concept_code", "valid_start_date", "valid_end_date",
                "invalid_reason")
# OMOP concept_class_id for RxNorm -> RxNorm term type (TTY).
OMOP_RXNORM_TTY = {
    "Ingredient": "IN", "Precise Ingredient": "PIN", "Multiple Ingredients": "MIN",
    "Brand Name": "BN", "Dose Form": "DF", "Clinical Drug Comp": "SCDC",
    "Branded Drug Comp": "SBDC", "Clinical Drug Form": "SCDF", "Branded Drug Form": "SBDF",
    "Clinical Drug": "SCD", "Quant Clinical Drug": "SCD", "Branded Drug": "SBD",
    "Quant Branded Drug": "SBD", "Clinical Pack": "GPCK", "Branded Pack": "BPCK",
}
LOINC_COLUMNS = ("LOINC_NUM", "LONG_COMMON_NAME", "CLASS", "STATUS")
# Loinc.csv statuses that still name a usable code; DEPRECATED ones are left out.
LOINC_STATUSES = ("ACTIVE", "TRIAL", "DISCOURAGED")


@dataclass(frozen=True)
class VocabularyFile:
    kind: str
    """'omop' or 'loinc'."""
    path: Path


def find_vocabulary_files(root: Path) -> list[VocabularyFile]:
    """CONCEPT.csv and Loinc.csv anywhere under root, in a stable order.

    Loinc.csv is LOINC's own release and wins over the LOINC rows of an OMOP export, so it
    is listed (and therefore merged) first.
    """
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.name.lower()
        if name == "loinc.csv":
            found.append(VocabularyFile("loinc", path))
        elif name == "concept.csv":
            found.append(VocabularyFile("omop", path))
    return sorted(found, key=lambda f: (f.kind != "loinc", str(f.path)))


def _header(path: Path, delimiter: str, quoting: int) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle, delimiter=delimiter, quoting=quoting), None)
    if not header:
        raise TerminologyError(f"{path}:1: file is empty; expected a header row")
    return [name.strip() for name in header]


def _check_columns(path: Path, header: Sequence[str], required: Sequence[str], kind: str) -> None:
    missing = [name for name in required if name not in header]
    if missing:
        raise TerminologyError(
            f"{path}:1: header lacks {', '.join(missing)}; expected {kind} columns "
            f"({', '.join(required)})"
        )


def _stage(con: duckdb.DuckDBPyConnection, table: str, path: Path, header: Sequence[str],
           options: str) -> None:
    """Load a delimited file as all-VARCHAR columns named by its header; fail on bad rows.

    source_line counts records from the header (line 1); it is the physical line number
    unless a quoted field spans lines (Loinc.csv descriptions can).
    """
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in header) + "}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS "
        f"SELECT *, row_number() OVER () + 1 AS source_line FROM read_csv(?, header=true, "
        f"auto_detect=false, columns={columns}, {options}, store_rejects=true, "
        f"rejects_table='{table}_rejects', rejects_scan='{table}_scans')",
        [str(path)],
    )
    bad = con.execute(f"SELECT line, error_message FROM {table}_rejects ORDER BY line LIMIT 1"
                      ).fetchone()
    if bad is not None:
        raise TerminologyError(f"{path}:{bad[0]}: malformed row ({bad[1]}); "
                               "fix or remove that line")


def _check_conflicts(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    row = con.execute(
        f"SELECT system, code, min(source_line), max(source_line) FROM {table} "
        "GROUP BY system, code HAVING count(DISTINCT display) > 1 ORDER BY 3 LIMIT 1"
    ).fetchone()
    if row is not None:
        system, code, first, second = row
        raise TerminologyError(
            f"{path}:{second}: {system} {code} has a different display than line {first}; "
            "a code needs one display, so remove one of the rows"
        )
    empty = con.execute(
        f"SELECT min(source_line) FROM {table} WHERE code IS NULL OR display IS NULL "
        "OR trim(code) = '' OR trim(display) = ''"
    ).fetchone()[0]
    if empty is not None:
        raise TerminologyError(f"{path}:{empty}: empty code or display; "
                               "fill it in or remove the line")


def import_omop_concepts(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> int:
    """Stage valid concepts of an OHDSI vocabulary export (tab-separated, unquoted)."""
    header = _header(path, "\t", csv.QUOTE_NONE)
    _check_columns(path, header, OMOP_COLUMNS, "OMOP CONCEPT.csv")
    # Athena exports are not quoted: a '"' inside concept_name is a literal character.
    _stage(con, f"{table}_raw", path, header, "delim='\t', quote='', escape=''")
    cases = " ".join(f"WHEN '{vocab}' THEN '{system}'"
                     for vocab, system in OMOP_VOCABULARIES.items())
    tty = " ".join(f"WHEN '{klass}' THEN '{term}'" for klass, term in OMOP_RXNORM_TTY.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT CASE vocabulary_id {cases} END AS system, "
        "concept_code AS code, concept_name AS display, NULL::VARCHAR AS ucum_unit, "
        # OMOP's concept_class_id for LOINC is not LOINC's CLASS, so it is not carried over.
        "NULL::VARCHAR AS loinc_class, "
        f"CASE WHEN vocabulary_id = 'RxNorm' THEN CASE concept_class_id {tty} END END AS tty, "
        f"'omop' AS source, source_line FROM {table}_raw "
        f"WHERE vocabulary_id IN ({', '.join(repr(v) for v in OMOP_VOCABULARIES)}) "
        "AND coalesce(invalid_reason, '') = ''"
    )
    _check_conflicts(con, table, path)
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def import_loinc_table(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> int:
    """Stage LOINC's own Loinc.csv (comma-separated, double-quoted)."""
    header = _header(path, ",", csv.QUOTE_MINIMAL)
    _check_columns(path, header, LOINC_COLUMNS, "Loinc.csv")
    _stage(con, f"{table}_raw", path, header, "delim=',', quote='\"', escape='\"'")
    unit = "EXAMPLE_UCUM_UNITS" if "EXAMPLE_UCUM_UNITS" in header else "NULL"
    statuses = ", ".join(repr(s) for s in LOINC_STATUSES)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT 'LOINC' AS system, LOINC_NUM AS code, "
        f"LONG_COMMON_NAME AS display, nullif({unit}, '') AS ucum_unit, "
        "nullif(CLASS, '') AS loinc_class, NULL::VARCHAR AS tty, 'loinc' AS source, source_line "
        f"FROM {table}_raw WHERE upper(coalesce(STATUS, 'ACTIVE')) IN ({statuses})"
    )
    _check_conflicts(con, table, path)
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


IMPORTERS = {"omop": import_omop_concepts, "loinc": import_loinc_table}
