"""exporters/timestamp_text.py: the compiled timestamp text is strftime's, byte for byte,
in the CSV, FHIR and HL7 forms; what it cannot do goes to strftime."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.exporters.timestamp_text import hl7_text, iso_text, timestamp_strings

ISO = "%Y-%m-%dT%H:%M:%SZ"
HL7 = "%Y%m%d%H%M%S+0000"


def test_timestamps_match_python_datetime():
    """The compiled formatter against Python's own calendar, over years 1 to 9999."""
    rng = np.random.default_rng(5)
    first = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp())
    last = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())
    seconds = np.concatenate([rng.integers(first, last, 20_000), [first, last, 0, -1]])
    text = timestamp_strings(pa.array(seconds * 1_000_000, pa.timestamp("us", "UTC")))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    expected = [(epoch + dt.timedelta(seconds=int(s))).strftime(ISO).zfill(20) for s in seconds]
    assert text.to_pylist() == expected


def _times(time_zone: str | None, extremes: bool = True) -> pl.DataFrame:
    """Values either side of 1970, a leap day, a null, fractions; with `extremes` also
    years 1 and 9999 (9999-12-31 in New York is past 9999 in UTC: strftime's case)."""
    values = [
        dt.datetime(1969, 12, 31, 23, 59, 59, 999_999),
        dt.datetime(2000, 2, 29, 12, 30, 1),
        None,
        dt.datetime(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59),
        dt.datetime(2021, 3, 14, 1, 59, 26, 535_897),
    ]
    if not extremes:
        values = [v for v in values if v is None or 1 < v.year < 9999]
    series = pl.Series("T", values, dtype=pl.Datetime("us"))
    if time_zone:
        series = series.dt.replace_time_zone(time_zone, ambiguous="earliest")
    return series.to_frame()


def test_iso_and_hl7_text_are_strftimes_text():
    """UTC and naive columns take the compiled path, another zone (local wall time for
    the ISO form) and a year past 9999 the strftime fallback; the text is the same as
    strftime's every time."""
    for zone, extremes in (("UTC", True), (None, True), ("America/New_York", False)):
        frame = _times(zone, extremes)
        got = frame.select(iso_text(pl.col("T")).alias("iso"))
        assert got["iso"].to_list() == frame.select(pl.col("T").dt.strftime(ISO))["T"].to_list()
        if zone is None:
            continue  # convert_time_zone needs a zone: the HL7 tables always have one
        got = frame.select(hl7_text(pl.col("T")).alias("hl7"))
        reference = frame.select(pl.col("T").dt.convert_time_zone("UTC").dt.strftime(HL7))
        assert got["hl7"].to_list() == reference["T"].to_list()
    assert _times("UTC").select(hl7_text(pl.col("T")))["T"].to_list()[:2] == [
        "19691231235959+0000",
        "20000229123001+0000",
    ]
    far = _times("UTC").with_columns(pl.col("T").dt.offset_by("8000y"))
    assert far.select(iso_text(pl.col("T")))["T"][1] == "+10000-02-29T12:30:01Z"
