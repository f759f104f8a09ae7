"""Code systems: seed vocabularies, the DuckDB build and lookups."""
