"""Writing JSON text for a whole column at once, with FHIR's rules on absent values.

A resource is written by one flat `pl.concat_str` over literal text and column values
(`render_rows`): no intermediate string column per nested object, which measured
several times faster than composing nested pieces. Optional parts are
`when(condition, ...)` sections whose every piece drops out where the condition is
false; `opt(prefix, value)` is the common case of a member present only with its value.
A section whose condition holds on all rows of the frame, or on none, costs nothing per
row.

FHIR forbids nulls and empty strings, arrays and objects (R4 json.html), so templates
only open an object or array under a condition that guarantees content, and
`prepare_text` turns "" into null.

Text columns are escaped once per chunk by `prepare_text` (quotes, backslashes and
control characters, with Polars' own JSON encoder, on the few rows that need it); other
characters are written as UTF-8, so any text round-trips through a JSON parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce

import orjson
import polars as pl

from cohortforge.exporters.timestamp_text import iso_text

# Characters JSON strings must escape (RFC 8259 section 7).
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
# A decimal JSON number (RFC 8259 section 6); anything else is not written as a number.
JSON_NUMBER = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"


@dataclass(frozen=True)
class Section:
    """Parts present only where `condition` holds."""

    condition: pl.Expr
    parts: tuple[Part, ...]


Part = str | pl.Expr | Section | list


def when(condition: pl.Expr, *parts: Part) -> Section:
    return Section(condition, parts)


def opt(prefix: str, value: pl.Expr, suffix: str = "") -> Section:
    """`prefix value suffix` where the value is not null (the value is named twice, so
    pass a column, not a costly expression)."""
    return Section(value.is_not_null(), (prefix, value, suffix) if suffix else (prefix, value))


def quoted(value: pl.Expr) -> Section:
    """`"value"` for text that is already escaped (see `prepare_text`) or safe."""
    return opt('"', value, '"')


def _flatten(parts: Iterable[Part], conditions: tuple[pl.Expr, ...], out: list) -> None:
    for part in parts:
        if isinstance(part, Section):
            _flatten(part.parts, (*conditions, part.condition), out)
        elif isinstance(part, list | tuple):
            _flatten(part, conditions, out)
        elif isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1][1], str) and _same(out[-1][0], conditions):
                out[-1] = (conditions, out[-1][1] + part)
            else:
                out.append((conditions, part))
        else:
            out.append((conditions, part))


def _same(a: tuple[pl.Expr, ...], b: tuple[pl.Expr, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _pieces(flat: list[tuple[tuple[pl.Expr, ...], str | pl.Expr]]) -> list[pl.Expr]:
    return [pl.lit(p, dtype=pl.Utf8) if isinstance(p, str) else p for _, p in flat]


def render(*parts: Part) -> pl.Expr:
    """An expression: one string per row, the parts concatenated, null values and false
    sections left out (for aggregations; on a whole frame `render_rows` is cheaper)."""
    flat: list[tuple[tuple[pl.Expr, ...], str | pl.Expr]] = []
    _flatten(parts, (), flat)
    pieces = []
    for (conditions, _), piece in zip(flat, _pieces(flat), strict=True):
        if conditions:
            piece = pl.when(reduce(lambda a, b: a & b, conditions)).then(piece)
        pieces.append(piece)
    return pl.concat_str(pieces, separator="", ignore_nulls=True)


def render_rows(frame: pl.DataFrame, *parts: Part) -> pl.Series:
    """The rendered text of every row of `frame`, in row order.

    A section whose condition holds on every row (or on none) is resolved once for the
    whole frame, so only the conditions that really vary cost a per-row choice.
    """
    flat: list[tuple[tuple[pl.Expr, ...], str | pl.Expr]] = []
    _flatten(parts, (), flat)
    conditions: list[pl.Expr] = []
    for conds, _ in flat:
        for condition in conds:
            if not any(condition is known for known in conditions):
                conditions.append(condition)
    if frame.height == 0:
        return pl.Series("text", [], dtype=pl.Utf8)
    counts = (
        frame.select(
            condition.fill_null(False).sum().alias(str(i)) for i, condition in enumerate(conditions)
        ).row(0)
        if conditions
        else ()
    )
    fixed = {
        id(c): n == frame.height
        for c, n in zip(conditions, counts, strict=True)
        if n in (0, frame.height)
    }
    resolved: list[tuple[tuple[pl.Expr, ...], str | pl.Expr]] = []
    for conds, piece in flat:
        if any(fixed.get(id(c)) is False for c in conds):
            continue
        varying = tuple(c for c in conds if id(c) not in fixed)
        if (
            resolved
            and isinstance(piece, str)
            and isinstance(resolved[-1][1], str)
            and _same(resolved[-1][0], varying)
        ):
            resolved[-1] = (varying, resolved[-1][1] + piece)
        else:
            resolved.append((varying, piece))
    pieces = []
    for (varying, _), piece in zip(resolved, _pieces(resolved), strict=True):
        if varying:
            piece = pl.when(reduce(lambda a, b: a & b, varying)).then(piece)
        pieces.append(piece)
    return frame.select(pl.concat_str(pieces, separator="", ignore_nulls=True))[:, 0]


def any_of(conditions: Iterable[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(list(conditions))


def constant(value: object) -> str:
    """JSON text of a small constant (a coding, a fixed object), written once by orjson."""
    return orjson.dumps(value).decode()


def escape_text(values: pl.Series) -> pl.Series:
    """The inside of a JSON string literal for each value (no surrounding quotes); null
    and "" give null. Only rows holding a character JSON must escape are re-encoded,
    found among the distinct values (codes and descriptions repeat a lot)."""
    values = values.cast(pl.Utf8).replace("", None)
    distinct = values.unique().drop_nulls()
    awkward = distinct.filter(distinct.str.contains(_NEEDS_ESCAPE))
    if awkward.len() == 0:
        return values
    rows = values.is_in(awkward.implode()).fill_null(False).arg_true()
    subset = values.gather(rows).to_frame("v")
    encoded = subset.select(pl.struct("v").struct.json_encode())[:, 0]
    inner = encoded.str.slice(len('{"v":"')).str.head(-2)
    return values.scatter(rows, inner)


def prepare_text(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """The frame with each named text column replaced by its escaped form."""
    present = [name for name in names if name in frame.columns]
    return frame.with_columns(escape_text(frame[name]).alias(name) for name in present)


def number(value: pl.Expr) -> pl.Expr:
    """A JSON number for each finite float or integer; NaN, infinities and null give null."""
    text = value.cast(pl.Utf8)
    return text.replace("NaN", None).replace("inf", None).replace("-inf", None)


def number_text(value: pl.Expr) -> pl.Expr:
    """Text that already spells a decimal number, as a JSON number (kept byte for byte);
    anything else gives null."""
    return pl.when(value.str.contains(JSON_NUMBER)).then(value)


def instant_text(value: pl.Expr) -> pl.Expr:
    """FHIR instant/dateTime text (seconds, 'Z') from a Datetime column in UTC, as the
    chunk tables hold them (text_export.py); unquoted."""
    return iso_text(value)


def date_text(value: pl.Expr) -> pl.Expr:
    """FHIR date text (YYYY-MM-DD) from a Date column; unquoted."""
    return value.cast(pl.Utf8)


def lookup(value: pl.Expr, json_by_key: dict[str, str]) -> pl.Expr:
    """Map a small set of codes to prepared JSON text; other values give null."""
    return value.replace_strict(json_by_key, default=None, return_dtype=pl.Utf8)
