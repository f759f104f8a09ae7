"""Translate whole columns of codes through a code -> value dictionary.

One hash probe per row inside Arrow (pyarrow.compute.index_in) and a take: no Python per
row. Dictionary-encoded input (how Parquet stores codes) is translated through its small
dictionary only, so it costs almost nothing whatever the row count.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

Column = TypeVar("Column", pa.Array, pa.ChunkedArray, pl.Series)


def _as_codes(values: pa.Array) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    # Integer SNOMED or RxNorm codes, string views: compare as plain strings.
    return pc.cast(values, pa.string())


def _positions(values: pa.Array, keys: pa.Array) -> pa.Array:
    codes = _as_codes(values)
    return pc.index_in(codes, value_set=keys.cast(codes.type))


def _translate_array(values: pa.Array, keys: pa.Array, targets: pa.Array) -> pa.DictionaryArray:
    if pa.types.is_dictionary(values.type):
        translated = pc.take(targets, _positions(values.dictionary, keys))
        return pa.DictionaryArray.from_arrays(values.indices, translated)
    # Values are handed back dictionary-encoded over the (small) target array, so a
    # 10M-row lookup never copies display strings; .dictionary_decode() when needed.
    return pa.DictionaryArray.from_arrays(_positions(values, keys), targets)


def translate(values: Column, keys: pa.Array, targets: pa.Array) -> Column:
    """Map each code in values to targets[i] where keys[i] == code (null when absent).

    Arrow input gives dictionary-encoded Arrow output (nothing copied per row); a Polars
    Series gives a String Series of the same length and name.
    """
    if isinstance(values, pl.Series):
        result = translate(values.to_arrow(), keys, targets)
        return pl.Series(values.name, result.dictionary_decode(), dtype=pl.String)
    if isinstance(values, pa.ChunkedArray):
        index_type = values.type.index_type if pa.types.is_dictionary(values.type) else pa.int32()
        return pa.chunked_array([_translate_array(chunk, keys, targets) for chunk in values.chunks],
                                type=pa.dictionary(index_type, targets.type))
    if isinstance(values, pa.Array):
        return _translate_array(values, keys, targets)
    raise TypeError("expected a pyarrow Array/ChunkedArray or polars Series, "
                    f"got {type(values).__name__}")
