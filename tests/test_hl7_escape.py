"""HL7 delimiter escaping: examples worked by hand and a round trip through two parsers."""

from __future__ import annotations

import hl7
import polars as pl
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortforge.exporters.hl7.escape import ST_MAX, escape, escape_fit, escape_text


def _escape_column(values: list[str]) -> list[str]:
    return pl.DataFrame({"text": values}, schema={"text": pl.String}).select(
        escape(pl.col("text"))
    )["text"].to_list()


def test_each_delimiter_has_its_sequence():
    # HL7 v2.5.1 section 2.7: \F\ field, \S\ component, \R\ repetition, \E\ escape,
    # \T\ subcomponent.
    assert _escape_column(["a|b", "a^b", "a~b", "a\\b", "a&b"]) == [
        "a\\F\\b", "a\\S\\b", "a\\R\\b", "a\\E\\b", "a\\T\\b",
    ]


def test_backslash_is_escaped_before_the_sequences_it_introduces():
    # A literal "\F\" in the data must come back as "\F\", not as "|": each backslash
    # becomes \E\ and the F stays a letter.
    assert _escape_column(["\\F\\"]) == ["\\E\\F\\E\\"]
    assert escape_text("\\F\\") == "\\E\\F\\E\\"


def test_line_breaks_cannot_end_a_segment():
    assert _escape_column(["a\rb\nc"]) == ["a\\X0D\\b\\X0A\\c"]


def test_nulls_stay_null():
    assert _escape_column([None]) == [None]  # type: ignore[list-item]


def test_fit_keeps_escaped_text_within_the_st_limit_without_cutting_a_sequence():
    long_plain = "x" * 300
    long_specials = "|" * 300
    out = pl.DataFrame({"t": [long_plain, long_specials, "short|one"]}).select(
        escape_fit(pl.col("t"))
    )["t"].to_list()
    assert out[0] == "x" * ST_MAX
    assert len(out[1]) <= ST_MAX and out[1] == "\\F\\" * (len(out[1]) // 3)
    assert out[2] == "short\\F\\one"


printable = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")),
    min_size=1,
    max_size=60,
)


def _message_with(name: str) -> str:
    return (
        "MSH|^~\\&|cohortforge|cohortforge|||20200101000000+0000||ADT^A04^ADT_A01|A1.1|T|2.5.1\r"
        "EVN|A04|20200101000000+0000\r"
        f"PID|1||p1^^^cohortforge^MR||{name}^Given\r"
        "PV1|1|O\r"
    )


@settings(max_examples=150, deadline=None)
@given(printable)
def test_escaped_text_round_trips_through_python_hl7_and_hl7apy(text):
    escaped = _escape_column([text])[0]
    assert escaped == escape_text(text)
    message = _message_with(escaped)

    parsed = hl7.parse(message)
    family = parsed.segment("PID")[5][0][0]
    assert parsed.unescape(str(family)) == text

    # hl7apy keeps escape sequences as they are: the escaped text must come back as one
    # whole family-name component (no delimiter leaked) of a valid message.
    strict = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    strict.validate()
    # (hl7apy reads a whitespace-only component as empty.)
    assert strict.pid.pid_5.xpn_1.fn_1.to_er7() == (escaped if escaped.strip() else "")
    assert strict.pid.pid_5.xpn_2.to_er7() == "Given"
