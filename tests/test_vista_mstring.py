"""FileMan dates and M string escaping (exporters/vista/mstring.py) against hand-worked values."""

from __future__ import annotations

import datetime as dt
import string

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortforge.exporters.vista.mstring import (
    canonic_decimal,
    fm_date,
    fm_datetime,
    fm_inverse_datetime,
    is_canonic_number,
    m_subscript,
    quote_m_string,
    sanitize_text,
)

UTC = dt.UTC


def _apply(expr_builder, values, dtype) -> list:
    frame = pl.DataFrame({"x": values}, schema={"x": dtype})
    return frame.select(expr_builder(pl.col("x"))).to_series().to_list()


# Worked by hand: YYY = year - 1700, then MMDD, then .HHMMSS with trailing zeros dropped.
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (dt.datetime(2024, 3, 1, 9, 15, tzinfo=UTC), "3240301.0915"),
        (dt.datetime(2024, 3, 1, 9, 0, tzinfo=UTC), "3240301.09"),
        (dt.datetime(2024, 3, 1, 10, 0, 30, tzinfo=UTC), "3240301.10003"),
        (dt.datetime(2000, 2, 29, 13, 5, 7, tzinfo=UTC), "3000229.130507"),
        (dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), "2991231.235959"),
        (dt.datetime(1800, 1, 1, 0, 0, 1, tzinfo=UTC), "1000101.000001"),
        # Midnight is .24 of the day before (XLFDT.m: .24 = 0000 of the next day).
        (dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC), "3240229.24"),
        (dt.datetime(2025, 1, 1, 0, 0, tzinfo=UTC), "3241231.24"),
    ],
)
def test_fileman_datetime(moment: dt.datetime, expected: str) -> None:
    assert _apply(fm_datetime, [moment], pl.Datetime("us", "UTC")) == [expected]


@pytest.mark.parametrize(
    ("day", "expected"),
    [(dt.date(1985, 1, 1), "2850101"), (dt.date(1978, 7, 4), "2780704"),
     (dt.date(2024, 12, 31), "3241231"), (dt.date(1900, 10, 9), "2001009")],
)
def test_fileman_date(day: dt.date, expected: str) -> None:
    assert _apply(fm_date, [day], pl.Date) == [expected]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (dt.datetime(2024, 3, 1, 9, 15, tzinfo=UTC), "6759697.9085"),  # 9999999-3240301.0915
        (dt.datetime(1985, 1, 1, 12, 0, tzinfo=UTC), "7149897.88"),  # 9999999-2850101.12
        (dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC), "6759769.76"),  # 9999999-3240229.24
        (dt.datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC), "6759697.764041"),
    ],
)
def test_inverse_date(moment: dt.datetime, expected: str) -> None:
    assert _apply(fm_inverse_datetime, [moment], pl.Datetime("us", "UTC")) == [expected]


def test_canonic_decimal() -> None:
    values = [121.0, 0.79, 1326.72, -2.5, 0.0, 12.006, 98.6]
    assert _apply(lambda x: canonic_decimal(x, 2), values, pl.Float64) == [
        "121", ".79", "1326.72", "-2.5", "0", "12.01", "98.6"]


@pytest.mark.parametrize(
    ("text", "canonic"),
    [("1", True), ("0", True), ("-7", True), (".5", True), ("3240301.0915", True),
     ("120.5", True), ("971895447", True), ("0.5", False), ("1.0", False), ("-0", False),
     ("01", False), ("1.", False), ("E11.9", False), ("", False), ("+1", False),
     ("1234567890123456789", False)],
)
def test_canonic_numbers(text: str, canonic: bool) -> None:
    assert _apply(is_canonic_number, [text], pl.String) == [canonic]
    expected = text if canonic else '"' + text + '"'
    assert _apply(m_subscript, [text], pl.String) == [expected]


def parse_m_string(literal: str) -> str:
    """A tiny ZWR value reader: a quoted M string literal, optionally joined with _$C(n)."""
    out: list[str] = []
    i = 0
    while i < len(literal):
        if literal.startswith("$C(", i):
            end = literal.index(")", i)
            out.extend(chr(int(n)) for n in literal[i + 3:end].split(","))
            i = end + 1
        elif literal[i] == '"':
            i += 1
            while True:
                if literal[i] == '"':
                    if i + 1 < len(literal) and literal[i + 1] == '"':
                        out.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                out.append(literal[i])
                i += 1
        else:
            raise ValueError(f"unexpected {literal[i]!r} at {i} in {literal!r}")
        if i < len(literal):
            assert literal[i] == "_", literal
            i += 1
    return "".join(out)


def test_parser_reads_dollar_c() -> None:
    assert parse_m_string('"a"_$C(9)_"b"""') == 'a\tb"'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=20))
def test_escaped_text_parses_back_to_sanitized(texts: list[str]) -> None:
    frame = pl.DataFrame({"x": texts}, schema={"x": pl.String})
    result = frame.select(clean=sanitize_text(pl.col("x")),
                          literal=quote_m_string(sanitize_text(pl.col("x"))))
    printable = set(string.printable) - set("\t\n\r\x0b\x0c^")
    for clean, literal in result.iter_rows():
        assert set(clean) <= printable
        assert parse_m_string(literal) == clean


def test_sanitize_replaces_controls_and_carets() -> None:
    assert _apply(sanitize_text, ["a\r\nb^c\x00d\tJosé \"x\""], pl.String) == ['a b c d Jose "x"']
