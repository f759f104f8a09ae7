"""Build terminology.duckdb from the seed plus any full vocabularies under a root folder.

The database is written to a temporary file beside the target and renamed into place only
once it is complete, so an interrupted or failed build leaves the previous database as it
was. A fingerprint of the inputs makes repeated builds no-ops.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .errors import TerminologyError
from .importers import IMPORTERS, VocabularyFile, find_vocabulary_files
from .locations import default_root, resolve_db_path
from .seed import SeedData, read_seed

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class BuildReport:
    db_path: Path
    rebuilt: bool
    """False when the database was already up to date and was left alone."""
    concepts: int
    map_rows: int
    seconds: float
    by_source: dict[str, int] = field(default_factory=dict)
    """Concepts contributed by the seed and by each vocabulary file (after precedence)."""


def _fingerprint(seed: SeedData, vocabularies: list[VocabularyFile]) -> str:
    digest = hashlib.sha256(f"schema {SCHEMA_VERSION}\n".encode())
    for path in seed.files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    # Full vocabularies are gigabytes: their identity is path, size and mtime, not content.
    for vocab in vocabularies:
        stat = vocab.path.stat()
        identity = f"{vocab.kind} {vocab.path.resolve()} {stat.st_size} {stat.st_mtime_ns}\n"
        digest.update(identity.encode())
    return digest.hexdigest()


def stored_fingerprint(db_path: Path) -> str | None:
    """The fingerprint a database was built with; None if it is missing or unreadable."""
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def _write(target: Path, seed: SeedData, vocabularies: list[VocabularyFile],
           fingerprint: str) -> tuple[int, int, dict[str, int]]:
    by_source: dict[str, int] = {"seed": seed.concepts.num_rows}
    with duckdb.connect(str(target)) as con:
        con.register("seed_concepts", seed.concepts)
        con.register("seed_map", seed.icd10cm_map)
        con.execute("CREATE TEMP TABLE merged AS SELECT * FROM seed_concepts")
        for index, vocab in enumerate(vocabularies):
            staged = f"vocabulary_{index}"
            IMPORTERS[vocab.kind](con, vocab.path, staged)
            # Earlier sources win: the seed defines what cohortforge emits, full
            # vocabularies only add codes the seed does not have.
            before = con.execute("SELECT count(*) FROM merged").fetchone()[0]
            con.execute(
                "INSERT INTO merged SELECT s.system, s.code, s.display, s.ucum_unit, "
                "s.loinc_class, s.tty, s.source FROM (SELECT DISTINCT ON (system, code) * "
                f"FROM {staged} ORDER BY system, code, source_line) s "
                "ANTI JOIN merged m ON m.system = s.system AND m.code = s.code"
            )
            after = con.execute("SELECT count(*) FROM merged").fetchone()[0]
            by_source[str(vocab.path)] = after - before
        # Sorted storage lets point lookups prune by zone maps without an index to build.
        con.execute("CREATE TABLE concepts AS SELECT * FROM merged ORDER BY system, code")
        con.execute("CREATE TABLE snomed_icd10cm_map AS "
                    "SELECT * FROM seed_map ORDER BY snomed_code")
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.executemany("INSERT INTO meta VALUES (?, ?)", [
            ["schema_version", SCHEMA_VERSION], ["fingerprint", fingerprint],
            ["by_source", json.dumps(by_source, sort_keys=True)],
        ])
        concepts = con.execute("SELECT count(*) FROM concepts").fetchone()[0]
        map_rows = con.execute("SELECT count(*) FROM snomed_icd10cm_map").fetchone()[0]
        con.execute("CHECKPOINT")
    return concepts, map_rows, by_source


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def build_database(root: str | os.PathLike[str] | None = None,
                   db_path: str | os.PathLike[str] | None = None, *, rebuild: bool = False,
                   seed_directory: str | os.PathLike[str] | None = None) -> BuildReport:
    """Build (or confirm up to date) the terminology database; see module docstring."""
    started = time.perf_counter()
    if root is not None and not Path(root).is_dir():
        raise TerminologyError(f"{root}: --root folder not found; create it or pass the folder "
                               "holding CONCEPT.csv / Loinc.csv")
    root_dir = Path(root) if root is not None else default_root()
    target = resolve_db_path(db_path, root_dir)
    # Validate every input before the target is touched: a bad input must not cost the
    # user a working database.
    seed = read_seed(Path(seed_directory) if seed_directory is not None else None)
    vocabularies = find_vocabulary_files(root_dir) if root_dir.is_dir() else []
    fingerprint = _fingerprint(seed, vocabularies)
    if target.exists() and not rebuild and stored_fingerprint(target) == fingerprint:
        with duckdb.connect(str(target), read_only=True) as con:
            concepts = con.execute("SELECT count(*) FROM concepts").fetchone()[0]
            map_rows = con.execute("SELECT count(*) FROM snomed_icd10cm_map").fetchone()[0]
            by_source = json.loads(con.execute(
                "SELECT value FROM meta WHERE key = 'by_source'").fetchone()[0])
        return BuildReport(target, False, concepts, map_rows,
                           time.perf_counter() - started, by_source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TerminologyError(f"{target.parent}: cannot create folder ({exc.strerror}); "
                               "pass a writable --db path") from None
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(temporary)
    try:
        concepts, map_rows, by_source = _write(temporary, seed, vocabularies, fingerprint)
        os.replace(temporary, target)
    except duckdb.Error as exc:
        _remove(temporary)
        message = str(exc).splitlines()[0]
        raise TerminologyError(f"{target}: database build failed ({message}); the previous "
                               "database was left untouched") from None
    except BaseException:
        _remove(temporary)
        raise
    return BuildReport(target, True, concepts, map_rows, time.perf_counter() - started, by_source)
