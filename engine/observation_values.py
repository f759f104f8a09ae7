"""observations.VALUE as text, in one compiled pass.

A numeric value is written as Polars writes the value rounded to 2 decimals
(`value.round(2).cast(pl.Utf8)`: the shortest decimal that reads back as the same
double, positional up to 1e16); any other row takes its state's coded text. Casting
floats to strings and then choosing per row between two string columns was the largest
single cost of the observations table.

Why the fast path gives Polars' text exactly: when the rounded value r equals
fl(k / 100) for an integer k with |k| < 10**15, the decimal k/100 has at most 15
significant digits, so it reads back as r and no other decimal of at most 15 digits
does (IEEE doubles tell all 15-digit decimals apart); the shortest round-trip text of
r is therefore k/100 with trailing zeros dropped ("5.0", "0.07", "-0.0"). A chunk with
any value outside that range (inf, |value| >= 1e13) is cast by Polars itself.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from cohortforge.kernels.options import JIT_OPTIONS

_FAST_LIMIT = 1e15  # |k| below this: at most 15 significant digits
_MAX_NUMBER_BYTES = 17  # "-" + 13 integer digits + "." + 2 decimals
_ZERO, _DOT, _MINUS = 48, 46, 45


@njit(**JIT_OPTIONS)
def _write_number(r: float, k: int, out: np.ndarray, at: int) -> int:
    """k/100 (k >= 0; negative when r's sign bit is set) as text at out[at:]; returns
    the end. Polars' shortest form: trailing zeros dropped but one decimal kept."""
    if math.copysign(1.0, r) < 0:
        out[at] = _MINUS
        at += 1
    whole = k // 100
    fraction = k - whole * 100
    width = 1
    bound = 10
    while whole >= bound:
        width += 1
        bound *= 10
    end = at + width
    for pos in range(end - 1, at - 1, -1):
        out[pos] = _ZERO + whole % 10
        whole //= 10
    out[end] = _DOT
    out[end + 1] = _ZERO + fraction // 10
    if fraction % 10 == 0:
        return end + 2
    out[end + 2] = _ZERO + fraction % 10
    return end + 3


@njit(**JIT_OPTIONS)
def _format(
    rounded: np.ndarray,
    numeric: np.ndarray,
    text_row: np.ndarray,
    text_offsets: np.ndarray,
    text_data: np.ndarray,
    text_valid: np.ndarray,
    offsets: np.ndarray,
    valid: np.ndarray,
    out: np.ndarray,
) -> bool:
    """Write every row; False (and nothing usable) if a number is off the fast path."""
    at = 0
    for i in range(rounded.size):
        offsets[i] = at
        if numeric[i]:
            r = rounded[i]
            if not math.isfinite(r):
                return False
            k = np.round(r * 100.0)
            if abs(k) >= _FAST_LIMIT or k / 100.0 != r:
                return False
            at = _write_number(r, np.int64(abs(k)), out, at)
            valid[i] = True
        else:
            t = text_row[i]
            if t >= 0 and text_valid[t]:
                start = text_offsets[t]
                length = text_offsets[t + 1] - start
                out[at : at + length] = text_data[start : start + length]
                at += length
                valid[i] = True
    offsets[rounded.size] = at
    return True


def _text_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int64 offsets, bytes, validity) of a (small) string array."""
    texts = texts.cast(pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    n = len(texts)
    _, offsets, data = texts.buffers()
    offsets_np = np.frombuffer(offsets, dtype=np.int64)[texts.offset : texts.offset + n + 1]
    data_np = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    valid = texts.is_valid().to_numpy(zero_copy_only=False).astype(np.bool_)
    return np.ascontiguousarray(offsets_np), data_np, valid


def _polars_values(values: np.ndarray, texts: pl.Series, text_rows: np.ndarray) -> pl.Series:
    """The same column by Polars' own cast, for chunks with numbers off the fast path."""
    with_null = pl.concat([texts, pl.Series([None], dtype=pl.Utf8)])
    value = pl.Series(values)
    text = with_null.gather(np.where(text_rows < 0, texts.len(), text_rows))
    return (
        pl.DataFrame({"value": value, "text": text})
        .select(
            pl.when(pl.col("value").is_not_nan())
            .then(pl.col("value").round(2).cast(pl.Utf8))
            .otherwise(pl.col("text"))
            .alias("VALUE")
        )
        .to_series()
    )


def observation_values(values: np.ndarray, texts: pl.Series, text_rows: np.ndarray) -> pl.Series:
    """VALUE: the number rounded to 2 decimals as Polars writes it, or where the value is
    NaN, texts[text_rows] (null where text_rows is negative or the text is null)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    text_rows = np.ascontiguousarray(text_rows, dtype=np.int64)
    numeric = ~np.isnan(values)
    rounded = pl.Series(values).round(2).to_numpy()
    text_offsets, text_data, text_valid = _text_buffers(texts.to_arrow())
    text_lengths = np.append(np.diff(text_offsets), 0)  # the extra 0: no text (row -1)
    # Room for every row's longest form; pages past the end written are never touched.
    capacity = _MAX_NUMBER_BYTES * int(numeric.sum()) + int(text_lengths[text_rows[~numeric]].sum())
    offsets = np.empty(values.size + 1, dtype=np.int64)
    valid = np.zeros(values.size, dtype=np.bool_)
    data = np.empty(capacity, dtype=np.uint8)
    args = (text_rows, text_offsets, text_data, text_valid, offsets, valid, data)
    if not _format(rounded, numeric, *args):
        return _polars_values(values, texts, text_rows).rename("VALUE")
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    array = pa.LargeStringArray.from_buffers(
        values.size, pa.py_buffer(offsets), pa.py_buffer(data[: offsets[-1]]), validity
    )
    return pl.Series("VALUE", array)
