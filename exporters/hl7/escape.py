"""HL7 v2 escaping of free text, for a whole column at once.

HL7 v2.5.1 chapter 2, section 2.7 (escape sequences in text fields): with the default
encoding characters `^~\\&` the field separator `|` is written `\\F\\`, the component
separator `^` is `\\S\\`, the repetition separator `~` is `\\R\\`, the escape character
`\\` is `\\E\\` and the subcomponent separator `&` is `\\T\\`; a hexadecimal escape
`\\Xdd\\` carries any other byte, used here for carriage return and line feed, which would
otherwise end the segment.

The backslash is escaped first: `str.replace_many` makes a single left-to-right pass
(Aho-Corasick), so the backslashes of the inserted sequences are never escaped again and
the backslash rule effectively applies before the others.
"""

from __future__ import annotations

import polars as pl

# The escape character comes first (see the module docstring).
_ESCAPES: tuple[tuple[str, str], ...] = (
    ("\\", "\\E\\"),
    ("|", "\\F\\"),
    ("^", "\\S\\"),
    ("~", "\\R\\"),
    ("&", "\\T\\"),
    ("\r", "\\X0D\\"),
    ("\n", "\\X0A\\"),
)
_SPECIALS = [raw for raw, _ in _ESCAPES]
_SEQUENCES = [sequence for _, sequence in _ESCAPES]

# hl7apy caps ST (and each ST component) at 199 characters, the v2.5.1 ST maximum.
ST_MAX = 199


def escape(text: pl.Expr) -> pl.Expr:
    """Escape the HL7 delimiters and line breaks in a String expression (nulls stay null)."""
    return text.str.replace_many(_SPECIALS, _SEQUENCES)


def escape_text(text: str) -> str:
    """The same escaping for one Python string (constants, tests)."""
    out = text.replace("\\", "\\E\\")  # first, so inserted sequences are not re-escaped
    for raw, sequence in _ESCAPES[1:]:
        out = out.replace(raw, sequence)
    return out


def escape_fit(text: pl.Expr, limit: int = ST_MAX) -> pl.Expr:
    """Escape, then cut to at most `limit` characters without splitting an escape sequence.

    In escaped text every backslash belongs to a sequence and they come in pairs, so a
    prefix with an odd number of backslashes ends inside a sequence: that open sequence
    is dropped.
    """
    escaped = escape(text)
    prefix = escaped.str.slice(0, limit)
    inside_sequence = prefix.str.count_matches("\\", literal=True) % 2 == 1
    cut = pl.when(inside_sequence).then(prefix.str.replace(r"\\[^\\]*$", "")).otherwise(prefix)
    return pl.when(escaped.str.len_chars() <= limit).then(escaped).otherwise(cut)
