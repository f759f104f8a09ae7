"""A table's columns as the text Arrow's CSV writer prints, by Synthea's CSV rules.

exporters/csv_format.py writes with Arrow's CSV writer when every column can be made
exact here, and with Polars' writer (the reference for these rules) otherwise:

- text: cleaned as Synthea's clean() does (`csv_rules.cleaned`) only where a column
  could need it: a separator (`,`, CR, LF) anywhere, or a whitespace byte (or any
  non-ASCII byte, which might belong to a Unicode space) at either end of a value.
  UUIDs, codes and most names need nothing, and one compiled pass over the bytes is
  several times cheaper than the regex pass.
- dictionary (Enum) columns: the same rules applied to the dictionary, not the rows.
- timestamps: formatted by exporters/timestamp_text.py; float64: Polars' own text
  (`cast(pl.String)`, the same digits its CSV writer prints); integers, booleans and
  dates: as Arrow prints them, which is the same text.

A value with a double quote cannot be written unquoted by Arrow, so such a table (and
any column of another type) returns None and goes to Polars.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from cohortforge.kernels.options import JIT_OPTIONS

from .arrow_types import is_text
from .csv_rules import cleaned
from .timestamp_text import timestamp_strings

# What a text column's bytes say about it (`_scan`).
CLEAN, NEEDS_CLEANING, HAS_QUOTE = 0, 1, 2
_COMMA, _LINE_FEED, _QUOTE = 44, 10, 34
_SPACE, _TAB, _CARRIAGE_RETURN, _FIRST_NON_ASCII = 32, 9, 13, 0x80


@njit(**JIT_OPTIONS)
def _may_be_space(byte: np.uint8) -> bool:
    """ASCII whitespace (tab to carriage return, space), or a byte of a multi-byte
    character, which might be a Unicode space: such values go to the exact cleaning."""
    return byte == _SPACE or (_TAB <= byte <= _CARRIAGE_RETURN) or byte >= _FIRST_NON_ASCII


@njit(**JIT_OPTIONS)
def _scan(offsets: np.ndarray, data: np.ndarray) -> int:
    """HAS_QUOTE if any byte is a double quote; else NEEDS_CLEANING if any is a comma,
    CR or LF, or a value may start or end with whitespace; else CLEAN. The byte loop
    has no early exit so that it compiles to vector compares (0.3 ns a byte; two
    Polars searches took 0.5 ns on UUIDs and 10 ns a row on short values)."""
    separator = 0  # integers, not booleans: bool |= compiles to branches
    quote = 0
    for at in range(offsets[0], offsets[-1]):
        byte = data[at]
        separator |= (byte == _COMMA) | (byte == _CARRIAGE_RETURN) | (byte == _LINE_FEED)
        quote |= byte == _QUOTE
    if quote:
        return HAS_QUOTE
    if separator:
        return NEEDS_CLEANING
    for row in range(offsets.size - 1):
        start, end = offsets[row], offsets[row + 1]
        if end > start and (_may_be_space(data[start]) or _may_be_space(data[end - 1])):
            return NEEDS_CLEANING
    return CLEAN


def _large_strings(column: pa.Array) -> pa.LargeStringArray:
    return column if pa.types.is_large_string(column.type) else column.cast(pa.large_string())


def scan_text(column: pa.LargeStringArray) -> int:
    """CLEAN, NEEDS_CLEANING or HAS_QUOTE (`_scan`) for a large_string column."""
    _, offsets, data = column.buffers()
    if data is None or len(column) == 0:
        return CLEAN
    first = column.offset
    bounds = np.frombuffer(offsets, dtype=np.int64)[first : first + len(column) + 1]
    return _scan(bounds, np.frombuffer(data, dtype=np.uint8))


def _clean_text(column: pa.Array) -> pa.LargeStringArray | None:
    """Text with Synthea's cleaning applied where needed; None when a value has a quote."""
    text = _large_strings(column)
    verdict = scan_text(text)
    if verdict == CLEAN:
        return text
    if verdict == HAS_QUOTE:
        return None
    series = pl.from_arrow(text)
    assert isinstance(series, pl.Series)
    return _large_strings(series.to_frame().select(cleaned(pl.first())).to_series().to_arrow())


def _clean_dictionary(column: pa.DictionaryArray) -> pa.DictionaryArray | None:
    values = _clean_text(column.dictionary)
    if values is None:
        return None
    return pa.DictionaryArray.from_arrays(column.indices, values)


def csv_text_column(column: pa.Array) -> pa.Array | None:
    """`column` ready for Arrow's CSV writer, or None when only Polars can write it."""
    data_type = column.type
    if is_text(data_type):
        return _clean_text(column)
    if pa.types.is_dictionary(data_type) and is_text(data_type.value_type):
        return _clean_dictionary(column)
    if pa.types.is_timestamp(data_type):
        return timestamp_strings(column)  # None (to Polars) for other zones
    if pa.types.is_float64(data_type):
        series = pl.from_arrow(column)
        assert isinstance(series, pl.Series)
        return _large_strings(series.cast(pl.String).to_arrow())
    if (
        pa.types.is_integer(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_date32(data_type)
    ):
        return column
    return None
