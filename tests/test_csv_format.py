"""csv_body: dictionary (Enum) columns are written exactly as the plain strings."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from cohortforge.exporters.csv_format import csv_body


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
