"""JSON text built column-wise: any text survives escaping, numbers stay numbers."""

from __future__ import annotations

import json

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortforge.exporters.fhir.json_text import (
    escape_text,
    number,
    number_text,
    opt,
    quoted,
    render,
    render_rows,
    when,
)
from cohortforge.exporters.fhir.patient import patient_resources
from cohortforge.exporters.fhir.text_bytes import concatenated
from tests.export_harness import export_tables

# Any Unicode text, surrogates excluded (they cannot be encoded as UTF-8 at all).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@given(st.lists(TEXT, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_escaped_text_parses_back_to_itself(values):
    escaped = escape_text(pl.Series(values, dtype=pl.Utf8)).to_list()
    for original, inside in zip(values, escaped, strict=True):
        if original == "":
            assert inside is None  # FHIR forbids empty strings: the member is left out
        else:
            assert json.loads(f'"{inside}"') == original
            assert orjson.loads(f'"{inside}"'.encode()) == original


@given(first=TEXT, family=TEXT, city=TEXT)
@settings(max_examples=60, deadline=None)
def test_any_text_in_a_patient_round_trips(first, family, city):
    tables, _ = export_tables(200)
    patients = (
        tables["patients"]
        .head(1)
        .with_columns(
            pl.lit(first).alias("FIRST"), pl.lit(family).alias("LAST"), pl.lit(city).alias("CITY")
        )
    )
    resource = orjson.loads(patient_resources(patients)["json"][0])
    name = resource["name"][0]
    assert name.get("family") == (family or None)
    assert (name.get("given") or [None])[0] == (first or patients["MIDDLE"][0] or None)
    assert resource["address"][0].get("city") == (city or None)


def test_numbers_are_json_numbers_or_absent():
    values = pl.Series(["89.86", "-0.5", "12", "1e3", "007", "", "abc", ".5", "NaN", None])
    kept = pl.select(number_text(pl.lit(values))).to_series().to_list()
    assert kept == ["89.86", "-0.5", "12", "1e3", None, None, None, None, None, None]
    floats = pl.Series([1.5, float("nan"), float("inf"), -float("inf"), None, 34.09106])
    written = pl.select(number(pl.lit(floats))).to_series().to_list()
    assert written == ["1.5", None, None, None, None, "34.09106"]
    for text in filter(None, written + kept):
        assert isinstance(json.loads(text), int | float)


def test_sections_drop_out_with_their_condition():
    frame = pl.DataFrame({"a": ["x", None, "z"], "b": ["1", "2", None]})
    parts = (
        '{"k":0',
        opt(',"a":', pl.col("a").map_elements(json.dumps, return_dtype=pl.Utf8)),
        when(pl.col("b").is_not_null(), ',"b":{"v":', quoted(pl.col("b")), "}"),
        "}",
    )
    expected = ['{"k":0,"a":"x","b":{"v":"1"}}', '{"k":0,"b":{"v":"2"}}', '{"k":0,"a":"z"}']
    assert render_rows(frame, parts).to_list() == expected
    assert frame.select(render(*parts)).to_series().to_list() == expected


def test_concatenated_writes_values_verbatim():
    values = pl.Series(['{"a":"x,y\\"z"}', '{"é":"\\t"}', None])
    assert concatenated(values, "\n") == '{"a":"x,y\\"z"}\n{"é":"\\t"}\n\n'.encode()
    assert concatenated(values) == '{"a":"x,y\\"z"}{"é":"\\t"}'.encode()
    assert concatenated(pl.Series([], dtype=pl.Utf8), "\n") == b""
