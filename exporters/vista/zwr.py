"""ZWR line assembly: the two header lines, FileMan nodes, and patient-major ordering.

`mupip load -format=zwr` always skips the first two lines of a file, so the export starts
with the two lines `mupip extract` writes: a label, then `DD-MON-YYYY  HH:MM:SS ZWR`
(a line 2 of just "ZWR" is rejected). Source: GT.M V7.0 tests in
/work/shared/reference/vista_fileman_notes.md section 1, and the VistA-M exports
(`Packages/Registration/Globals/2+PATIENT.zwr`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import polars as pl

from .mstring import quote_m_string

HEADER_LABEL = "cohortforge VistA globals export"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Every node frame a file builder returns has columns key and line. The run's bytes must
# not depend on chunk boundaries, so lines are ordered by patient first (dfn), then by
# kind (node type of a file), then by a per-patient sequence (seq): the concatenation of
# two chunks equals one big chunk. The three are packed into one integer sort key.
_SEQ_BITS = 17  # seq < 2**17 = 131072 > IEN_BLOCK
_KIND_BITS = 7  # kind < 128


def header_lines(reference_date: dt.date) -> bytes:
    """The two header lines; the date is the run's reference date, so output is reproducible."""
    stamp = f"{reference_date.day:02d}-{_MONTHS[reference_date.month - 1]}-{reference_date.year}"
    return f"{HEADER_LABEL}\n{stamp}  00:00:00 ZWR\n".encode("ascii")


def pieces(parts: Sequence[pl.Expr | None]) -> pl.Expr:
    """A FileMan node value: parts joined by "^" (None or null = empty piece), trailing
    empty pieces dropped. Parts must already be sanitized (no "^")."""
    filled = [pl.lit("") if part is None else part.fill_null("") for part in parts]
    return pl.concat_str(filled, separator="^").str.strip_chars_end("^")


def node_line(root: str, subscripts: Sequence[pl.Expr | str], value: pl.Expr) -> pl.Expr:
    """`root(sub1,sub2,...)="value"`. root is like "^DPT("; str subscripts are literal M
    text, expression subscripts are already formatted (m_subscript). The value is always
    written as a quoted string, as `mupip extract` writes every value, so a load/extract
    round trip gives back the same text."""
    items: list[pl.Expr] = [pl.lit(root)]
    for index, subscript in enumerate(subscripts):
        if index:
            items.append(pl.lit(","))
        items.append(pl.lit(subscript) if isinstance(subscript, str) else subscript)
    items.append(pl.lit(")="))
    items.append(quote_m_string(value))
    return pl.concat_str(items)


def node_frame(frame: pl.DataFrame, kind: int, line: pl.Expr, seq: pl.Expr) -> pl.DataFrame:
    """The (key, line) frame of one node type; seq orders the nodes within a patient."""
    if not 0 <= kind < 2**_KIND_BITS:
        raise ValueError(f"node kind {kind} out of range")
    key = (
        pl.col("dfn").cast(pl.UInt64) * pl.lit(2 ** (_KIND_BITS + _SEQ_BITS), pl.UInt64)
        + pl.lit(kind * 2**_SEQ_BITS, pl.UInt64)
        + seq.cast(pl.UInt64)
    )
    return frame.select(key.alias("key"), line.alias("line"))


def assemble(frames: Sequence[pl.DataFrame]) -> tuple[bytes, int]:
    """All node frames of a chunk as ZWR bytes (one node per line) and the node count."""
    frames = [frame for frame in frames if frame.height]
    if not frames:
        return b"", 0
    nodes = pl.concat(frames, how="vertical").sort("key").select("line")
    # Polars' CSV writer with quoting off writes each line verbatim plus "\n", in
    # parallel: faster than joining into one Python string and encoding it.
    buffer = io.BytesIO()
    nodes.write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    return buffer.getvalue(), nodes.height
