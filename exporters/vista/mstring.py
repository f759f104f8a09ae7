"""M string and FileMan value formatting, as Polars expressions over whole columns.

FileMan date/time: `YYYMMDD.HHMMSS` with YYY = year - 1700, written as a canonic M number
(no trailing zeros), and midnight written as `.24` of the day before.
Source: hardhats.org FileMan 22.2 Programmer Manual, "Introduction to Date/Time Formats"
(https://www.hardhats.org/fileman/pm/cl_dt.htm); WorldVistA/VistA-M
`Packages/Kernel/Routines/XLFDT.m` (FMTHL7/HL7TFM: HL7 = FileMan + 17000000; `.24` is
0000 of the next day).

ZWR subscripts: a canonic number is written bare, anything else as a quoted string with `"`
doubled. Values are always quoted strings. That is how GT.M's `mupip extract` writes them
(checked with GT.M V7.0-005), so a load-then-extract round trip gives back the same text.
"""

from __future__ import annotations

import polars as pl

# A canonic M number: no leading zeros ("0.5" is written ".5"), no trailing fraction zeros,
# no "+", no "-0"; GT.M keeps 18 significant digits, so longer digit strings stay strings.
_CANONIC = r"^(0|-?([1-9][0-9]{0,17}|[1-9][0-9]*\.[0-9]*[1-9]|\.[0-9]*[1-9]))$"
_MAX_CANONIC_DIGITS = 18

# FileMan pieces are separated by "^" (FileMan 22.2 PM, Global File Structure), and ZWR
# lines must not hold control characters; non-ASCII is folded (NFKD) or dropped so every
# character is printable ASCII and needs no $C(n).
_NOT_PRINTABLE = r"[^\x20-\x7E]"
_CONTROL = r"[\x00-\x1F\x7F]+"


def sanitize_text(text: pl.Expr) -> pl.Expr:
    """Free text made safe for a FileMan piece: printable ASCII, no `^`, trimmed."""
    return (
        text.str.replace_all(_CONTROL, " ")
        .str.normalize("NFKD")
        .str.replace_all(_NOT_PRINTABLE, "")
        .str.replace_all("^", " ", literal=True)
        .str.strip_chars(" ")
    )


def quote_m_string(text: pl.Expr) -> pl.Expr:
    """An M string literal: the text in double quotes, inner quotes doubled."""
    return pl.concat_str([pl.lit('"'), text.str.replace_all('"', '""', literal=True), pl.lit('"')])


def is_canonic_number(text: pl.Expr) -> pl.Expr:
    digits = text.str.replace_all(r"[-.]", "").str.len_bytes()
    return text.str.contains(_CANONIC) & (digits <= _MAX_CANONIC_DIGITS)


def m_subscript(text: pl.Expr) -> pl.Expr:
    """A ZWR subscript: bare when canonic numeric (M collates it as a number), else quoted."""
    return pl.when(is_canonic_number(text)).then(text).otherwise(quote_m_string(text))


def canonic_decimal(value: pl.Expr, decimals: int = 2) -> pl.Expr:
    """A float rounded to `decimals` places as a canonic M number ("121", ".79", "-2.5").

    Polars prints floats in their shortest round-trip form ("121.0", "0.79"), so only a
    trailing ".0", a leading zero and a negative zero need fixing. Values of 1e16 or
    more would print with an exponent: not a range vitals or lab values reach.
    """
    text = value.round(decimals).cast(pl.String)
    return (
        text.str.strip_suffix(".0")
        .str.replace(r"^(-?)0\.", "${1}.")
        .str.replace(r"^-0$", "0")
    )


def _fm_day(date: pl.Expr) -> pl.Expr:
    # dt.month()/dt.day() are Int8: widen before multiplying.
    return (
        (date.dt.year().cast(pl.Int64) - 1700) * 10_000
        + date.dt.month().cast(pl.Int64) * 100
        + date.dt.day().cast(pl.Int64)
    )


def fm_date(date: pl.Expr) -> pl.Expr:
    """A Date (or the day of a Datetime) as a FileMan date string, e.g. 1985-01-01 -> 2850101."""
    return _fm_day(date).cast(pl.String)


_SECONDS_PER_DAY = 86_400


def _fm_parts(timestamp: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(day as YYYMMDD int, time as HHMMSS int in 1..240000) from whole seconds.

    Counting days from (seconds - 1) puts midnight at the end of the day before, so its
    time of day comes out as 86400 s = 24:00:00: FileMan's `.24` with plain integer math.
    """
    seconds = timestamp.dt.epoch("s")
    day_index = (seconds - 1) // _SECONDS_PER_DAY
    of_day = seconds - day_index * _SECONDS_PER_DAY
    day = _fm_day(day_index.cast(pl.Int32).cast(pl.Date))
    time = (of_day // 3600) * 10_000 + (of_day % 3600 // 60) * 100 + of_day % 60
    return day, time


def _join_day_time(day: pl.Expr, micro_time: pl.Expr) -> pl.Expr:
    """`day.time`, the 6-digit time written canonically (trailing zeros dropped); the time
    is never zero here, so the fraction is never empty."""
    fraction = micro_time.cast(pl.String).str.zfill(6).str.strip_chars_end("0")
    return pl.concat_str([day.cast(pl.String), pl.lit("."), fraction])


def fm_datetime(timestamp: pl.Expr) -> pl.Expr:
    """A Datetime as a canonic FileMan date/time, e.g. 2024-03-01 09:15 -> 3240301.0915."""
    day, time = _fm_parts(timestamp)
    return _join_day_time(day, time)


def fm_inverse_datetime(timestamp: pl.Expr) -> pl.Expr:
    """9999999 - FileMan date/time, canonic: the ^LR "CH" key (LRVER1.m: LRIDT=9999999-LRCDT)."""
    day, time = _fm_parts(timestamp)
    # Exact decimal arithmetic on the date/time scaled by 10^6 (no float rounding).
    inverse = 9_999_999 * 1_000_000 - (day * 1_000_000 + time)
    return _join_day_time(inverse // 1_000_000, inverse % 1_000_000)
