"""Code lookups: one code, a whole column of codes, or a text search.

Answers come from terminology.duckdb when it exists and from the seed CSVs otherwise.
Both backends share the column translation (batch.py) and the search ranking below, so a
seed code gets the same answer whichever backend serves it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .batch import Column, translate
from .errors import TerminologyError
from .locations import resolve_db_path
from .seed import read_seed
from .systems import canonical_system

DEFAULT_SEARCH_LIMIT = 20


@dataclass(frozen=True, order=True)
class Concept:
    system: str
    code: str
    display: str


class _Backend(Protocol):
    name: str

    def display(self, system: str, code: str) -> str | None: ...
    def dictionary(self, system: str) -> tuple[pa.Array, pa.Array]: ...
    def icd10cm_dictionary(self) -> tuple[pa.Array, pa.Array]: ...
    def search(self, query: str, words: list[str], system: str | None,
               limit: int) -> list[Concept]: ...


def _rank(query: str, code: str, display: str) -> int:
    # Mirrored by the CASE expression in _DuckDBBackend.search: change both together.
    lowered = display.lower()
    if code.lower() == query:
        return 0
    if lowered == query:
        return 1
    return 2 if lowered.startswith(query) else 3


class _SeedBackend:
    name = "seed"

    def __init__(self, seed_directory: Path | None) -> None:
        seed = read_seed(seed_directory)
        self._concepts = seed.concepts
        self._map = seed.icd10cm_map
        columns = self._concepts.select(["system", "code", "display"]).to_pydict()
        self._rows = list(zip(columns["system"], columns["code"], columns["display"], strict=True))
        self._by_key = {(s, c): d for s, c, d in self._rows}

    def display(self, system: str, code: str) -> str | None:
        return self._by_key.get((system, code))

    def dictionary(self, system: str) -> tuple[pa.Array, pa.Array]:
        rows = self._concepts.filter(pc.equal(self._concepts["system"], system))
        return rows["code"].combine_chunks(), rows["display"].combine_chunks()

    def icd10cm_dictionary(self) -> tuple[pa.Array, pa.Array]:
        return (self._map["snomed_code"].combine_chunks(),
                self._map["icd10cm_code"].combine_chunks())

    def search(self, query: str, words: list[str], system: str | None,
               limit: int) -> list[Concept]:
        hits = [
            (_rank(query, code, display), len(display), sys_name, code, display)
            for sys_name, code, display in self._rows
            if (system is None or sys_name == system)
            and (code.lower() == query or all(w in display.lower() for w in words))
        ]
        hits.sort()
        return [Concept(s, c, d) for _, _, s, c, d in hits[:limit]]


def _arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # DuckDB 2 renamed the Arrow export; pyproject allows DuckDB 1.x too.
    export = getattr(relation, "to_arrow_table", None) or relation.arrow
    return export()


class _DuckDBBackend:
    name = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._con = duckdb.connect(str(path), read_only=True)
            self._con.execute("SELECT 1 FROM concepts LIMIT 0")
            self._con.execute("SELECT 1 FROM snomed_icd10cm_map LIMIT 0")
        except duckdb.Error:
            raise TerminologyError(
                f"{path}: not a cohortforge terminology database; rebuild it with "
                "'cohortforge terminology build --rebuild-db'"
            ) from None
        # One connection, many threads: DuckDB connections are not safe to share unguarded.
        self._lock = threading.Lock()

    def _query(self, sql: str, params: list[object]) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._con.cursor().execute(sql, params)

    def _relation(self, sql: str, params: list[object]) -> duckdb.DuckDBPyRelation:
        with self._lock:
            return self._con.cursor().sql(sql, params=params)

    def display(self, system: str, code: str) -> str | None:
        row = self._query("SELECT display FROM concepts WHERE system = ? AND code = ?",
                          [system, code]).fetchone()
        return row[0] if row else None

    def dictionary(self, system: str) -> tuple[pa.Array, pa.Array]:
        table = _arrow(self._relation(
            "SELECT code, display FROM concepts WHERE system = ? ORDER BY code", [system]))
        return table["code"].combine_chunks(), table["display"].combine_chunks()

    def icd10cm_dictionary(self) -> tuple[pa.Array, pa.Array]:
        table = _arrow(self._relation(
            "SELECT snomed_code, icd10cm_code FROM snomed_icd10cm_map ORDER BY snomed_code", []))
        return table["snomed_code"].combine_chunks(), table["icd10cm_code"].combine_chunks()

    def search(self, query: str, words: list[str], system: str | None,
               limit: int) -> list[Concept]:
        word_filter = " AND ".join("contains(lower(display), ?)" for _ in words)
        sql = (
            "SELECT system, code, display FROM concepts "
            "WHERE (? IS NULL OR system = ?) AND (lower(code) = ? OR (" + word_filter + ")) "
            "ORDER BY CASE WHEN lower(code) = ? THEN 0 WHEN lower(display) = ? THEN 1 "
            "WHEN starts_with(lower(display), ?) THEN 2 ELSE 3 END, "
            "length(display), system, code LIMIT ?"
        )
        params: list[object] = [system, system, query, *words, query, query, query, limit]
        return [Concept(*row) for row in self._query(sql, params).fetchall()]


class Terminology:
    """Lookups against the terminology database, or the seed CSVs when there is none."""

    def __init__(self, db_path: str | os.PathLike[str] | None = None, *,
                 seed_directory: str | os.PathLike[str] | None = None) -> None:
        path = resolve_db_path(db_path)
        self.db_path = path
        self._backend: _Backend = (
            _DuckDBBackend(path) if path.is_file()
            else _SeedBackend(Path(seed_directory) if seed_directory is not None else None)
        )
        self._dictionaries: dict[str, tuple[pa.Array, pa.Array]] = {}
        self._dict_lock = threading.Lock()

    @property
    def backend(self) -> str:
        """'duckdb' or 'seed': where the answers come from."""
        return self._backend.name

    def _dictionary(self, key: str, load) -> tuple[pa.Array, pa.Array]:
        with self._dict_lock:
            if key not in self._dictionaries:
                self._dictionaries[key] = load()
            return self._dictionaries[key]

    def lookup(self, system: str, code: str) -> str | None:
        """Official display of one code; None if the system has no such code."""
        return self._backend.display(canonical_system(system), str(code).strip())

    def displays(self, system: str, codes: Column) -> Column:
        """Displays for a whole column of codes of one system (null where unknown).

        Arrow in, dictionary-encoded Arrow out; Polars Series in, String Series out.
        """
        name = canonical_system(system)
        keys, values = self._dictionary(name, lambda: self._backend.dictionary(name))
        return translate(codes, keys, values)

    def icd10cm(self, snomed_code: str) -> str | None:
        """Default ICD-10-CM target of a SNOMED CT condition code (NLM map, adult context)."""
        keys, values = self._dictionary("\0map", self._backend.icd10cm_dictionary)
        found = pc.index_in(pa.array([str(snomed_code).strip()]), value_set=keys)[0]
        return values[found.as_py()].as_py() if found.is_valid else None

    def icd10cm_codes(self, snomed_codes: Column) -> Column:
        """ICD-10-CM targets for a whole column of SNOMED CT codes (null where unmapped)."""
        keys, values = self._dictionary("\0map", self._backend.icd10cm_dictionary)
        return translate(snomed_codes, keys, values)

    def search(self, text: str, *, system: str | None = None,
               limit: int = DEFAULT_SEARCH_LIMIT) -> list[Concept]:
        """Concepts whose display holds every word of text (or whose code is text).

        Best first: exact code, exact display, display starting with text, then shorter
        displays; ties broken by system and code so the order is stable.
        """
        query = " ".join(text.lower().split())
        if not query:
            raise TerminologyError("search text is empty; give at least one word")
        if limit < 1:
            raise TerminologyError(f"search limit must be at least 1, got {limit}")
        name = canonical_system(system) if system is not None else None
        return self._backend.search(query, query.split(), name, limit)


@lru_cache(maxsize=4)
def _cached(path: Path, exists: bool, mtime_ns: int) -> Terminology:
    del exists, mtime_ns  # part of the cache key only: a rebuilt database is reopened
    return Terminology(path)


def get_terminology(db_path: str | os.PathLike[str] | None = None) -> Terminology:
    """A shared Terminology for the resolved database path, reopened when the file changes."""
    path = resolve_db_path(db_path)
    stat = path.stat() if path.is_file() else None
    return _cached(path, stat is not None, stat.st_mtime_ns if stat else 0)


def lookup(system: str, code: str) -> str | None:
    """Display of one code via the default terminology (database or seed)."""
    return get_terminology().lookup(system, code)


def displays(system: str, codes: Column) -> Column:
    """Displays of a column of codes via the default terminology (database or seed)."""
    return get_terminology().displays(system, codes)


def search(text: str, *, system: str | None = None,
           limit: int = DEFAULT_SEARCH_LIMIT) -> list[Concept]:
    """Text search via the default terminology (database or seed)."""
    return get_terminology().search(text, system=system, limit=limit)
