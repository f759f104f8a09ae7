"""Code systems: seed vocabularies, the DuckDB build and code lookups.

    from cohortforge.terminology import Terminology
    term = Terminology()                      # terminology.duckdb if built, else the seed
    term.lookup("SNOMED-CT", "44054006")      # 'Diabetes mellitus type 2 (disorder)'
    term.displays("LOINC", codes)             # a whole Arrow/Polars column at once
    term.search("type 2 diabetes")

This package must not import cohortforge.engine (DESIGN.md section 2).
"""

from .build import BuildReport, build_database
from .errors import TerminologyError
from .importers import find_vocabulary_files
from .locations import DB_ENV, default_root, resolve_db_path
from .lookup import Concept, Terminology, displays, get_terminology, lookup, search
from .seed import SeedData, read_seed, seed_dir
from .systems import SYSTEMS, CodeSystem, canonical_system, code_system

__all__ = [
    "DB_ENV",
    "SYSTEMS",
    "BuildReport",
    "CodeSystem",
    "Concept",
    "SeedData",
    "Terminology",
    "TerminologyError",
    "build_database",
    "canonical_system",
    "code_system",
    "default_root",
    "displays",
    "find_vocabulary_files",
    "get_terminology",
    "lookup",
    "read_seed",
    "resolve_db_path",
    "search",
    "seed_dir",
]
