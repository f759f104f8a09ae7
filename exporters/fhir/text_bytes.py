"""Turning a string column into one bytes object without a Python loop."""

from __future__ import annotations

import io

import polars as pl


def concatenated(texts: pl.Series, terminator: str = "") -> bytes:
    """Every value of a string column followed by `terminator`, as UTF-8 bytes (a null
    value writes only the terminator).

    Polars' CSV writer with quoting off writes each value verbatim, in parallel and in
    one pass; it measured faster here than `str.join` or Arrow's buffers.
    """
    if texts.len() == 0:
        return b""
    buffer = io.BytesIO()
    texts.to_frame("text").write_csv(
        buffer, include_header=False, quote_style="never", line_terminator=terminator
    )
    return buffer.getvalue()
