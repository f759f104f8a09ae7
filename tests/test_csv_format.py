"""csv_body: Synthea's CSV rules, by Arrow's writer where it can and Polars' where not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from cohortforge.engine.chunk import chunk_tables
from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import plan_run
from cohortforge.exporters import csv_format
from cohortforge.exporters.csv_format import csv_body, polars_csv_body


def test_enum_columns_give_the_same_bytes_as_strings():
    """Clean categories are written as they are, dirty ones (commas, line breaks, outer
    spaces) are cleaned as Synthea's clean() does, nulls stay empty."""
    plain = pl.DataFrame(
        {
            "CODE": ["8302-2", None, "29463-7", "8302-2"],
            "DESCRIPTION": ["Body height", "Pain, severity\r\n0-10", None, " x "],
            "NOTE": ["a,b", "c\nd", "e", None],
            "DATE": [dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)] * 4,
        }
    )
    coded = plain.with_columns(
        pl.col(name).cast(pl.Enum(plain[name].drop_nulls().unique(maintain_order=True)))
        for name in ("CODE", "DESCRIPTION")
    )
    table = coded.to_arrow()
    assert pa.types.is_dictionary(table.schema.field("DESCRIPTION").type)
    expected = (
        b"8302-2,Body height,a b,2020-01-02T03:04:05Z\n"
        b",Pain  severity 0-10,c d,2020-01-02T03:04:05Z\n"
        b"29463-7,,e,2020-01-02T03:04:05Z\n"
        b"8302-2,x,,2020-01-02T03:04:05Z\n"
    )
    assert csv_body(plain.to_arrow()) == expected
    assert csv_body(table) == expected
    # A dictionary without Polars' Enum metadata arrives as a Categorical.
    bare = pa.table(
        {name: table[name] for name in table.column_names},
        schema=pa.schema([pa.field(f.name, f.type) for f in table.schema]),
    )
    assert csv_body(bare) == expected


# --- Arrow's writer (csv_body) against Polars' (polars_csv_body, the reference) -------


def _arrow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make csv_body fail instead of falling back to Polars, so a test proves the Arrow
    path wrote the bytes it compares."""

    def no_fallback(table: pa.Table) -> bytes:
        raise AssertionError("csv_body fell back to Polars")

    monkeypatch.setattr(csv_format, "polars_csv_body", no_fallback)


def _utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


EDGE_TEXT = [
    "plain",
    "a,b",
    "line\r\nbreak\rand\nmore",
    " padded\t",
    "\u00a0no-break space\u3000",  # Unicode spaces at the ends: stripped by Polars
    "caf\u00e9 na\u00efve",  # non-ASCII inside, nothing to clean
    "\u00e9dge\u00e9",  # non-ASCII at both ends, not a space
    "",
    None,
]
EDGE_TIMES = [
    _utc(1970, 1, 1),
    _utc(1969, 12, 31, 23, 59, 59),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),  # fraction dropped
    _utc(1900, 2, 28, 12, 0, 1),
    _utc(2000, 2, 29, 23, 59, 59),
    _utc(2100, 3, 1),
    _utc(1, 1, 1),
    _utc(9999, 12, 31, 23, 59, 59),
    None,
]
EDGE_FLOATS = [0.1, 2.0, -0.0, 1e15, 1e16, 1.5e-7, 123456789.123, float("nan"), None]


def _edge_table() -> pa.Table:
    descriptions = ["Pain, severity", "Pain  severity", " x ", "x", "Body height"]
    n = len(EDGE_TEXT)
    frame = pl.DataFrame(
        {
            "TEXT": EDGE_TEXT,
            # No separators: only the check of each value's ends finds what to clean.
            "UNICODE_ENDS": ["\u00a0a", "b", "c\u3000", "d", "e", "f", "g", "h", "i"],
            "ASCII_ENDS": ["a", "b", "c", "d", "e ", "f", "g", "\th", "i"],
            # Two categories clean to the same text ("Pain  severity"), one to another's.
            "CODED": pl.Series([descriptions[i % 5] for i in range(n - 1)] + [None]).cast(
                pl.Enum(descriptions)
            ),
            "DATE": pl.Series(EDGE_TIMES, dtype=pl.Datetime("us", "UTC")),
            "DAY": [None if t is None else t.date() for t in EDGE_TIMES],
            "VALUE": pl.Series(EDGE_FLOATS, dtype=pl.Float64),
            "COUNT": [None, 0, -1, 2**40, 7, 8, 9, 10, 11],
            "FLAG": [True, False, None, True, False, True, False, True, False],
        }
    )
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def test_arrow_writer_matches_polars_on_edge_values(monkeypatch):
    """Dirty and clean text (ASCII and Unicode spaces at the ends), dictionaries whose
    categories clean to duplicates, timestamps from year 1 to 9999 (before 1970, leap
    days, fractions), dates, floats, integers, booleans and nulls: the same bytes."""
    table = _edge_table()
    expected = polars_csv_body(table)
    _arrow_only(monkeypatch)
    assert csv_body(table) == expected
    lines = expected.decode().splitlines()
    assert lines[0].startswith("plain,a,a,")
    assert lines[1].startswith("a b,b,b,Pain  severity,1969-12-31T23:59:59Z,1969-12-31,2.0,0,false")
    assert lines[6].split(",")[4:6] == ["0001-01-01T00:00:00Z", "0001-01-01"]
    # Sliced (non-zero offset) columns are read from their offset.
    assert csv_body(table.slice(3, 4)) == polars_csv_body(table.slice(3, 4))


def test_arrow_writer_matches_polars_on_real_tables(monkeypatch):
    """Every table of a general_population chunk, as a run writes it."""
    config = RunConfig(
        num_records=300,
        scenario="general_population",
        seed=11,
        output_dir=Path("unused"),
        output_format="csv",
        fhir=False,
        hl7=False,
    )
    tables = chunk_tables(plan_run(config).jobs[0]).tables
    expected = {name: polars_csv_body(table) for name, table in tables.items()}
    assert sum(len(body) for body in expected.values()) > 1_000_000
    _arrow_only(monkeypatch)
    for name, table in tables.items():
        assert csv_body(table) == expected[name], name


def test_values_arrow_cannot_write_unquoted_go_to_polars():
    """A double quote (Arrow refuses it without quoting), a year past 9999 and a column
    type the Arrow path does not handle: written by Polars, unquoted, as before."""
    quoted = pa.table({"TEXT": ['say "hi", then', "ok"], "N": [1, 2]})
    assert csv_body(quoted) == b'say "hi"  then,1\nok,2\n'
    far = pl.DataFrame({"DATE": pl.Series([_utc(2020, 1, 1)], dtype=pl.Datetime("us", "UTC"))})
    far = far.with_columns(pl.col("DATE").dt.offset_by("8000y"))
    assert (
        csv_body(far.to_arrow()) == polars_csv_body(far.to_arrow()) == b"+10020-01-01T00:00:00Z\n"
    )
    times = pa.table({"TIME": pa.array([dt.time(1, 2, 3)])})
    assert csv_body(times) == polars_csv_body(times) == b"01:02:03.000000000\n"
