"""UTC timestamps as text to the second, in one compiled pass: yyyy-MM-ddTHH:mm:ssZ
(Synthea's CSV, FHIR instant and dateTime) and YYYYMMDDHHMMSS+0000 (HL7 v2 DTM).

Polars' strftime formats each value through chrono, ~100 ns a row: the largest cost of
the observations CSV, and ~5% of a FHIR chunk. Here each value becomes 20 bytes of a
fixed-width buffer: the civil date from the day number (Howard Hinnant's days-to-civil
algorithm, https://howardhinnant.github.io/date_algorithms.html#civil_from_days), then
the digits; the HL7 form is a reordering of those bytes. Seconds are floored as strftime
does (fractions are dropped, also before 1970). Years 0000-9999 and naive or UTC
columns only: anything else is formatted by Polars' strftime, as before.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from cohortforge.engine.ids import fixed_width_strings
from cohortforge.kernels.options import JIT_OPTIONS

TIMESTAMP_WIDTH = 20  # "2020-01-02T03:04:05Z"
SECONDS_PER_DAY = 86_400
# Days counted from -0400-03-01: the algorithm's day 0 is 0000-03-01 (719,468 days
# before the Unix epoch), moved back one 400-year era (146,097 days) so that every day
# from 0000-01-01 on is non-negative and the divisions need no floor corrections.
_SHIFT_DAYS = 719_468 + 146_097
# The first and last second that format as a four-digit year: 0000-01-01T00:00:00Z
# (day -719,528 from the epoch) and 9999-12-31T23:59:59Z (day 2,932,896).
MIN_SECONDS = -719_528 * SECONDS_PER_DAY
MAX_SECONDS = 2_932_897 * SECONDS_PER_DAY - 1
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_ZERO = 48


# Unsigned throughout: the values are non-negative once shifted, and unsigned division
# by a constant compiles to a multiply and a shift with no floor fix-ups (half the time
# of the signed version, which Python's floor semantics make Numba correct for signs).
_U = np.uint64
_DAY, _ERA_DAYS = _U(SECONDS_PER_DAY), _U(146_097)
_ONE, _TWO, _THREE, _FOUR, _FIVE, _NINE, _TEN = _U(1), _U(2), _U(3), _U(4), _U(5), _U(9), _U(10)


@njit(**JIT_OPTIONS)
def _digits(value: np.uint64, count: int, out: np.ndarray, at: int) -> None:
    """The last `count` decimal digits of `value`, zero-padded, at out[at:]."""
    for position in range(at + count - 1, at - 1, -1):
        out[position] = _ZERO + value % _TEN
        value //= _TEN


@njit(**JIT_OPTIONS)
def _format(seconds: np.ndarray, out: np.ndarray) -> None:
    """out[20 i : 20 i + 20]: seconds[i] (in [MIN_SECONDS, MAX_SECONDS]) as
    yyyy-MM-ddTHH:mm:ssZ."""
    for row in range(seconds.size):
        shifted = _U(seconds[row] + _SHIFT_DAYS * SECONDS_PER_DAY)
        day = shifted // _DAY
        second_of_day = shifted - day * _DAY
        era = day // _ERA_DAYS
        day_of_era = day - era * _ERA_DAYS
        year_of_era = (
            day_of_era
            - day_of_era // _U(1_460)
            + day_of_era // _U(36_524)
            - day_of_era // _U(146_096)
        ) // _U(365)
        day_of_year = day_of_era - (
            _U(365) * year_of_era + year_of_era // _FOUR - year_of_era // _U(100)
        )
        month_index = (_FIVE * day_of_year + _TWO) // _U(153)  # 0 is March
        day_of_month = day_of_year - (_U(153) * month_index + _TWO) // _FIVE + _ONE
        month = month_index + _THREE if month_index < _TEN else month_index - _NINE
        # era counts from -0400 (see _SHIFT_DAYS); January and February close the year.
        year = year_of_era + (era - _ONE) * _U(400) + (_ONE if month <= _TWO else _U(0))
        at = row * TIMESTAMP_WIDTH
        _digits(year, 4, out, at)
        out[at + 4] = 45  # -
        _digits(month, 2, out, at + 5)
        out[at + 7] = 45
        _digits(day_of_month, 2, out, at + 8)
        out[at + 10] = 84  # T
        _digits(second_of_day // _U(3_600), 2, out, at + 11)
        out[at + 13] = 58  # :
        _digits(second_of_day // _U(60) % _U(60), 2, out, at + 14)
        out[at + 16] = 58
        _digits(second_of_day % _U(60), 2, out, at + 17)
        out[at + 19] = 90  # Z


def _iso_chars(column: pa.Array) -> np.ndarray | None:
    """Rows of yyyy-MM-ddTHH:mm:ssZ bytes for a timestamp column, or None when it is
    neither naive nor UTC or a value falls outside years 0000-9999."""
    if column.type.tz not in (None, "UTC", "Etc/UTC"):
        return None
    per_second = _UNITS_PER_SECOND[column.type.unit]
    values = column.cast(pa.int64()).fill_null(0).to_numpy()
    seconds = values // per_second  # floor, as strftime truncates toward the past
    if seconds.size and (seconds.min() < MIN_SECONDS or seconds.max() > MAX_SECONDS):
        return None
    chars = np.empty(seconds.size * TIMESTAMP_WIDTH, dtype=np.uint8)
    _format(seconds, chars)
    return chars.reshape(seconds.size, TIMESTAMP_WIDTH)


def _strings(chars: np.ndarray, column: pa.Array) -> pa.StringArray:
    valid = column.is_valid().to_numpy(zero_copy_only=False) if column.null_count else None
    return fixed_width_strings(chars, valid)


def timestamp_strings(column: pa.Array) -> pa.StringArray | None:
    """A timestamp column (naive or UTC) as yyyy-MM-ddTHH:mm:ssZ strings, nulls kept;
    None when it cannot be done here (see `_iso_chars`)."""
    chars = _iso_chars(column)
    return None if chars is None else _strings(chars, column)


# HL7's YYYYMMDDHHMMSS from the ISO bytes: year, month, day, hours, minutes, seconds.
_HL7_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_UTC_OFFSET = np.frombuffer(b"+0000", dtype=np.uint8)


def hl7_timestamp_strings(column: pa.Array) -> pa.StringArray | None:
    """A timestamp column (naive or UTC) as YYYYMMDDHHMMSS+0000 strings, nulls kept;
    None when it cannot be done here (see `_iso_chars`)."""
    chars = _iso_chars(column)
    if chars is None:
        return None
    hl7 = np.empty((chars.shape[0], _HL7_DIGITS.size + _UTC_OFFSET.size), dtype=np.uint8)
    hl7[:, : _HL7_DIGITS.size] = chars[:, _HL7_DIGITS]
    hl7[:, _HL7_DIGITS.size :] = _UTC_OFFSET
    return _strings(hl7, column)


def _text(column: pl.Expr, to_text, strftime_format: str) -> pl.Expr:
    """`column` (Datetime) as text by `to_text`; by strftime where that cannot."""

    def formatted(series: pl.Series) -> pl.Series:
        text = to_text(series.to_arrow())
        if text is None:
            return series.dt.strftime(strftime_format)
        return pl.Series(series.name, text)

    return column.map_batches(formatted, return_dtype=pl.String, is_elementwise=True)


def iso_text(column: pl.Expr) -> pl.Expr:
    """`column.dt.strftime("%Y-%m-%dT%H:%M:%SZ")`, the same text, faster."""
    return _text(column, timestamp_strings, "%Y-%m-%dT%H:%M:%SZ")


def hl7_text(column: pl.Expr) -> pl.Expr:
    """`column.dt.convert_time_zone("UTC").dt.strftime("%Y%m%d%H%M%S+0000")`, the same
    text, faster."""
    return _text(column.dt.convert_time_zone("UTC"), hl7_timestamp_strings, "%Y%m%d%H%M%S+0000")
