"""`cohortforge report`: fidelity measures on small hand-built cohorts in the real output layout
(manifest.json + parquet/<table>.parquet or csv/<table>.csv), the 20% / 2-point target at its
edges, module filtering, the CLI contract, and the shipped reference values."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from cohortforge.engine.fidelity import (
    REFERENCE_COLUMNS,
    Cohort,
    age_at,
    evaluate,
    load_cohort,
    load_reference,
    tolerance,
    within_target,
    write_report,
)
from cohortforge.report_cli import report
from tests.conftest import REPO_ROOT

REF = "2026-01-01"
UTC = dt.UTC

app = typer.Typer()
app.command(name="report")(report)


@app.callback()
def _group() -> None:
    """Makes `report` a subcommand, as it is under cohortforge/cli.py."""


runner = CliRunner()


# ----------------------------------------------------------------------------- cohort builders
def d(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def ts(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def patients(*rows: tuple[str, str, str | None, str]) -> pl.DataFrame:
    """(Id, BIRTHDATE, DEATHDATE, GENDER) rows, plus Synthea columns the report ignores."""
    ids, born, died, sex = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "Id": list(ids),
            "BIRTHDATE": [d(x) for x in born],
            "DEATHDATE": [d(x) for x in died],
            "RACE": ["white"] * len(ids),
            "ETHNICITY": ["nonhispanic"] * len(ids),
            "GENDER": list(sex),
        }
    )


def entries(*rows: tuple[str, str, str | None, str], timestamps: bool = False) -> pl.DataFrame:
    """(PATIENT, START, STOP, CODE) rows: Date columns, or UTC timestamps as for devices."""
    who, start, stop, code = zip(*rows, strict=True)
    parse = ts if timestamps else d
    return pl.DataFrame(
        {
            "START": [parse(x) for x in start],
            "STOP": [parse(x) for x in stop],
            "PATIENT": list(who),
            "ENCOUNTER": [None] * len(who),
            "CODE": list(code),
            "DESCRIPTION": ["x"] * len(who),
        },
        schema_overrides={"ENCOUNTER": pl.String},
    )


def procedures(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """(PATIENT, START timestamp, CODE) rows."""
    who, start, code = zip(*rows, strict=True)
    return pl.DataFrame(
        {"START": [ts(x) for x in start], "STOP": [ts(x) for x in start],
         "PATIENT": list(who), "CODE": list(code)}
    )  # fmt: skip


def encounters(*rows: tuple[str, str, str, str, str | None]) -> pl.DataFrame:
    """(PATIENT, START timestamp, ENCOUNTERCLASS, CODE, REASONCODE) rows."""
    who, start, klass, code, reason = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "Id": [f"e{i}" for i in range(len(who))],
            "START": [ts(x) for x in start],
            "STOP": [ts(x) for x in start],
            "PATIENT": list(who),
            "ENCOUNTERCLASS": list(klass),
            "CODE": list(code),
            "REASONCODE": list(reason),
        },
        schema_overrides={"REASONCODE": pl.String},
    )


def observations(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """(PATIENT, DATE timestamp, CODE, VALUE as text) rows."""
    who, date, code, value = zip(*rows, strict=True)
    return pl.DataFrame(
        {"DATE": [ts(x) for x in date], "PATIENT": list(who), "CODE": list(code),
         "VALUE": list(value), "TYPE": ["numeric"] * len(who)}
    )  # fmt: skip


def _as_csv_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The CSV exporter's formats: yyyy-MM-dd dates, yyyy-MM-ddTHH:mm:ssZ timestamps."""
    return frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if t == pl.Date]
        + [
            pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            for c, t in frame.schema.items()
            if isinstance(t, pl.Datetime)
        ]
    )


def write_cohort(
    root: Path,
    tables: dict[str, pl.DataFrame],
    modules: list[str],
    layout: str = "parquet",
    years: int = 10,
) -> Path:
    folder = root / layout
    folder.mkdir(parents=True)
    for name, frame in tables.items():
        if layout == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:
            _as_csv_text(frame).write_csv(folder / f"{name}.csv")
    parameters = {
        "modules": ["wellness_encounters", "immunizations", *modules],
        "reference_date": REF,
        "years_of_history": years,
        "scenario": "test",
        "seed": 1,
    }
    (root / "manifest.json").write_text(json.dumps({"parameters": parameters}), encoding="utf-8")
    return root


def reference_csv(path: Path, rows: list[dict]) -> Path:
    """A reference file of `rows` (missing columns empty)."""
    frame = pl.DataFrame(
        [{c: None if row.get(c) is None else str(row[c]) for c in REFERENCE_COLUMNS}
         for row in rows],
        schema=dict.fromkeys(REFERENCE_COLUMNS, pl.String),
    )  # fmt: skip
    frame.write_csv(path)
    return path


def measured(results: pl.DataFrame, measure: str, population: str) -> float:
    row = results.filter((pl.col("measure") == measure) & (pl.col("population") == population))
    assert row.height == 1, (measure, population, results)
    return row["measured"].item()


ASTHMA = "427603009|426979002|427295004|426656000"


def _row(module: str, measure: str, kind: str, method: str, codes: str, value: float, **kw) -> dict:
    return {"module": module, "measure": measure, "kind": kind, "method": method,
            "codes": codes, "value": value, "unit": kw.pop("unit", "%"),
            "source": kw.pop("source", "[T1] test"), **kw}  # fmt: skip


# ----------------------------------------------------------------------------- prevalence
def asthma_cohort() -> dict[str, pl.DataFrame]:
    people = patients(
        ("p1", "2015-06-01", None, "M"),  # 10: active asthma -> case
        ("p2", "2016-01-01", None, "M"),  # 10: asthma stopped on the reference date: no case
        ("p3", "2014-01-02", None, "M"),  # 11 (12 tomorrow): stops after the date -> case
        ("p4", "2014-01-01", None, "M"),  # 12 today: in 12-17, not 5-11
        ("p5", "2018-03-03", "2025-05-05", "M"),  # died: not in the population
        ("p6", "2019-07-07", None, "M"),  # 6: no asthma
        ("p7", "2017-02-02", None, "F"),  # 8: asthma -> case
        ("p8", "2017-05-05", None, "F"),  # 8: none
        ("p9", "2016-09-09", None, "M"),  # 9: none
    )
    conditions = entries(
        ("p1", "2020-01-01", None, "427603009"),
        ("p2", "2019-05-05", "2026-01-01", "426979002"),
        ("p3", "2018-01-01", "2026-06-01", "427295004"),
        ("p4", "2019-01-01", None, "426656000"),
        ("p5", "2021-01-01", None, "427603009"),
        ("p7", "2022-02-02", None, "427603009"),
        ("p7", "2023-02-02", None, "426979002"),  # a second active code: still one case
        ("p8", "2022-02-02", None, "13645005"),  # another code
    )
    return {"patients": people, "conditions": conditions}


def asthma_reference(tmp_path: Path) -> Path:
    module, measure = "pediatric_asthma_management", "current_asthma"
    return reference_csv(
        tmp_path / "reference.csv",
        [
            _row(module, measure, "prevalence", "point", ASTHMA, 40.0, age_low=5, age_high=11),
            _row(module, measure, "prevalence", "point", ASTHMA, 40.0, age_low=5, age_high=11,
                 sex="M"),
            _row(module, measure, "prevalence", "point", ASTHMA, 40.0, age_low=5, age_high=11,
                 sex="F"),
            _row(module, measure, "prevalence", "point", ASTHMA, 90.0, age_low=12, age_high=17),
            _row("copd_home_oxygen", "copd", "prevalence", "point", "13645005", 5.0, age_low=40),
        ],
    )  # fmt: skip


def test_prevalence_by_hand(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    results = evaluate(load_cohort(root), load_reference(asthma_reference(tmp_path)))
    # Alive 5-11: p1 p2 p3 p6 p7 p8 p9 (p4 is 12, p5 died); cases p1, p3, p7.
    assert measured(results, "current_asthma", "5-11") == pytest.approx(100 * 3 / 7)
    assert measured(results, "current_asthma", "5-11, men") == pytest.approx(100 * 2 / 5)
    assert measured(results, "current_asthma", "5-11, women") == pytest.approx(100 * 1 / 2)
    assert measured(results, "current_asthma", "12-17") == pytest.approx(100.0)
    row = results.filter(pl.col("population") == "5-11").row(0, named=True)
    assert (row["numerator"], row["denominator"], row["status"]) == (3, 7, "pass")
    assert results.filter(pl.col("population") == "5-11, women")["status"].item() == "fail"


def test_module_absent_from_manifest_is_omitted(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    report_files = write_report(root, asthma_reference(tmp_path))
    assert set(report_files.results["module"]) == {"pediatric_asthma_management"}
    assert "fail" in set(report_files.results["status"])  # the asthma rows are still judged
    text = report_files.markdown.read_text(encoding="utf-8")
    assert "copd" not in text
    assert not (report_files.markdown.parent / "prevalence_copd_home_oxygen.png").exists()


def test_csv_only_cohort_gives_the_parquet_results(tmp_path):
    reference = load_reference(asthma_reference(tmp_path))
    tables = asthma_cohort()
    parquet = write_cohort(tmp_path / "pq", tables, ["pediatric_asthma_management"])
    csv = write_cohort(tmp_path / "csv", tables, ["pediatric_asthma_management"], layout="csv")
    cohort = load_cohort(csv)
    assert cohort.layout == "csv"
    assert evaluate(cohort, reference).equals(evaluate(load_cohort(parquet), reference))


def test_other_prevalence_methods(tmp_path):
    people = patients(
        ("a", "1980-01-01", None, "F"), ("b", "1980-01-01", None, "F"),
        ("c", "1980-01-01", None, "F"), ("e", "1980-01-01", None, "M"),
    )  # fmt: skip
    conditions = entries(
        ("a", "2024-01-01", "2025-03-01", "370143000"),  # ended within the past year: a case
        ("b", "2024-01-01", "2024-12-31", "370143000"),  # ended before the past year began
        ("c", "2025-11-01", None, "370143000"),  # active
    )
    labs = observations(
        ("a", "2020-01-01T09:00:00", "2093-3", "200"),
        ("a", "2024-01-01T09:00:00", "2093-3", "250"),
        ("b", "2020-01-01T09:00:00", "2093-3", "260"),
        ("b", "2024-01-01T09:00:00", "2093-3", "230"),
        ("e", "2024-01-01T09:00:00", "2093-3", "240"),
    )  # fmt: skip
    root = write_cohort(
        tmp_path / "out",
        {"patients": people, "conditions": conditions, "observations": labs},
        ["mental_health_integrated_care", "cardiometabolic_intensive"],
    )
    rows = [
        _row("mental_health_integrated_care", "mdd", "prevalence", "past_year", "370143000", 50),
        _row("cardiometabolic_intensive", "chol", "prevalence", "latest_value", "2093-3", 50,
             value_rule=">=240"),
    ]  # fmt: skip
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    assert measured(results, "mdd", "all ages") == pytest.approx(50.0)  # a, c of 4
    assert measured(results, "chol", "all ages") == pytest.approx(50.0)  # a (250), e (240) of 4


# ----------------------------------------------------------------------------- process rates
def test_prenatal_rates_by_hand(tmp_path):
    people = patients(("w1", "1990-01-01", None, "F"), ("w2", "1995-05-05", None, "F"))
    conditions = entries(
        ("w1", "2015-01-01", "2015-09-01", "72892002"),  # before the window (2016-01-04)
        ("w1", "2020-01-10", "2020-09-01", "72892002"),  # cesarean, GDM, 3 visits
        ("w1", "2020-06-01", "2020-09-01", "11687002"),
        ("w1", "2022-01-01", "2022-08-20", "72892002"),  # vaginal, 5 visits
        ("w1", "2023-01-01", "2023-02-15", "72892002"),  # early loss: not a delivered pregnancy
        ("w2", "2023-12-01", None, "11687002"),  # diabetes before the pregnancy: not counted
        ("w2", "2024-01-01", "2024-09-15", "72892002"),  # cesarean, 4 visits
    )
    deliveries = procedures(
        ("w1", "2015-09-01T08:00:00", "177184002"),
        ("w1", "2020-09-01T10:00:00", "11466000"),
        ("w1", "2022-08-20T23:30:00", "177184002"),
        ("w2", "2024-09-15T04:00:00", "11466000"),
    )
    visit_days = {
        "w1": ["2020-01-10", "2020-02-10", "2020-03-10", "2022-01-01", "2022-02-01",
               "2022-03-01", "2022-04-01", "2022-05-01", "2023-01-01"],
        "w2": ["2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01"],
    }  # fmt: skip
    visits = encounters(
        *[(who, f"{day}T09:00:00", "ambulatory", "424619006", None)
          for who, days in visit_days.items() for day in days]
    )  # fmt: skip
    root = write_cohort(
        tmp_path / "out",
        {"patients": people, "conditions": conditions, "procedures": deliveries,
         "encounters": visits},
        ["prenatal_care_management"],
    )  # fmt: skip
    deliveries_codes, module = "11466000|177184002", "prenatal_care_management"
    rows = [
        _row(module, "visits", "rate", "episode_mean", "424441002|424619006", 4.0,
             unit="visits per pregnancy", denominator_codes=deliveries_codes,
             episode_codes="72892002"),
        _row(module, "cesarean", "rate", "event_share", "11466000", 60.0,
             denominator_codes=deliveries_codes),
        _row(module, "gdm", "rate", "episode_share", "11687002", 8.1,
             denominator_codes=deliveries_codes, episode_codes="72892002"),
    ]  # fmt: skip
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    assert measured(results, "visits", "all ages") == pytest.approx((3 + 5 + 4) / 3)
    assert measured(results, "cesarean", "all ages") == pytest.approx(100 * 2 / 3)
    assert measured(results, "gdm", "all ages") == pytest.approx(100 * 1 / 3)
    assert results["status"].to_list() == ["pass", "pass", "fail"]


def test_active_share_of_copd_patients_on_home_oxygen(tmp_path):
    people = patients(
        ("c1", "1950-01-01", None, "M"), ("c2", "1955-01-01", None, "F"),
        ("c3", "1940-01-01", None, "F"), ("c4", "1970-01-01", None, "M"),
        ("c5", "1945-01-01", None, "M"), ("c6", "1948-01-01", "2025-01-01", "F"),
    )  # fmt: skip
    copd = entries(*[(c, "2010-01-01", None, "13645005") for c in ("c1", "c2", "c3", "c4", "c6")],
                   ("c5", "2010-01-01", "2024-01-01", "13645005"))  # fmt: skip
    devices = entries(
        ("c1", "2020-01-01T10:00:00", None, "336621006"),
        ("c2", "2020-01-01T10:00:00", "2025-06-01T10:00:00", "336621006"),  # stopped
        ("c4", "2020-01-01T10:00:00", None, "336621006"),  # 56: outside 65+
        ("c5", "2020-01-01T10:00:00", None, "336621006"),  # COPD no longer active
        ("c6", "2020-01-01T10:00:00", None, "336621006"),  # died
        timestamps=True,
    )
    careplans = entries(("c3", "2021-01-01", None, "426990007"))
    root = write_cohort(
        tmp_path / "out",
        {"patients": people, "conditions": copd, "devices": devices, "careplans": careplans},
        ["copd_home_oxygen"],
    )
    rows = [_row("copd_home_oxygen", "o2", "rate", "active_share", "336621006|426990007", 18.5,
                 denominator_codes="13645005", age_low=65)]  # fmt: skip
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    assert measured(results, "o2", "65+") == pytest.approx(100 * 2 / 3)  # c1, c3 of c1-c3


def test_yearly_acute_visits_of_children_with_asthma(tmp_path):
    # years_of_history 2: years [2025-01-01, 2026-01-01) and [2024-01-02, 2025-01-01).
    people = patients(
        ("k1", "2015-01-01", None, "M"), ("k2", "2012-06-01", None, "F"),
        ("k3", "2024-06-01", None, "M"), ("k4", "2007-06-01", None, "F"),
        ("k5", "2014-01-01", None, "M"), ("k6", "2024-03-01", None, "F"),
    )  # fmt: skip
    asthma = entries(
        ("k1", "2020-01-01", None, "427603009"), ("k2", "2019-01-01", None, "426979002"),
        ("k3", "2025-03-01", None, "427603009"), ("k4", "2012-01-01", None, "427295004"),
        ("k5", "2020-01-01", "2025-06-01", "427603009"), ("k6", "2024-10-01", None, "427603009"),
    )  # fmt: skip
    visits = encounters(
        ("k1", "2025-03-03T10:00:00", "emergency", "4525004", "427603009"),  # year 1: hit
        ("k1", "2024-05-05T10:00:00", "urgentcare", "185347001", "707445000"),  # year 2: hit
        ("k2", "2025-07-07T10:00:00", "emergency", "4525004", "125605004"),  # not for asthma
        ("k2", "2025-08-08T10:00:00", "ambulatory", "185347001", "426979002"),  # not acute
        ("k4", "2024-08-08T10:00:00", "emergency", "4525004", "427295004"),  # 17 then: hit
        ("k5", "2025-05-05T10:00:00", "emergency", "4525004", "427603009"),  # asthma not active at
    )  # year-1 end, so k5 is only in year 2, without a visit then
    root = write_cohort(
        tmp_path / "out",
        {"patients": people, "conditions": asthma, "encounters": visits},
        ["pediatric_asthma_management"],
        years=2,
    )
    rows = [_row("pediatric_asthma_management", "ed", "rate", "yearly_acute_visit_share",
                 ASTHMA + "|707445000", 16.7, denominator_codes=ASTHMA, age_low=0,
                 age_high=17)]  # fmt: skip
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    # Units: k1 y1 (hit), k1 y2 (hit), k2 y1, k2 y2, k3 y1, k4 y2 (hit; 18 at the end of year
    # 1), k5 y2, k6 y1 (born during year 2, so not observed for all of it).
    row = results.row(0, named=True)
    assert (row["numerator"], row["denominator"]) == (3, 8)
    assert row["measured"] == pytest.approx(100 * 3 / 8)


def test_phq9_remission_at_12_months(tmp_path):
    people = patients(
        ("m1", "1980-01-01", None, "F"), ("m2", "1980-01-01", None, "M"),
        ("m3", "1980-01-01", None, "F"), ("m4", "1980-01-01", None, "M"),
        ("m5", "1980-01-01", "2019-06-01", "F"), ("m6", "1980-01-01", None, "M"),
        ("m7", "1980-01-01", None, "F"),
    )  # fmt: skip
    onsets = entries(
        ("m1", "2020-01-01", "2021-06-01", "370143000"),
        ("m2", "2021-01-01", "2021-12-01", "370143000"),
        ("m3", "2022-01-01", None, "370143000"),
        ("m4", "2025-06-01", None, "370143000"),  # too recent to measure
        ("m5", "2019-01-01", None, "370143000"),  # died within the year
        ("m6", "2015-01-01", None, "370143000"),  # before the window
        ("m7", "2023-01-01", None, "370143000"),
    )
    scores = observations(
        ("m1", "2020-02-01T10:00:00", "44261-6", "15"),
        ("m1", "2020-12-01T10:00:00", "44261-6", "3"),  # day 335
        ("m1", "2021-02-01T10:00:00", "44261-6", "8"),  # day 397: the latest in the window
        ("m2", "2021-12-01T10:00:00", "44261-6", "4"),  # day 334: remitted
        ("m3", "2022-10-01T10:00:00", "44261-6", "2"),  # day 273: too early, no 12-month score
        ("m7", "2024-03-01T10:00:00", "44261-6", "4"),  # day 425, the window's last day
    )
    root = write_cohort(
        tmp_path / "out",
        {"patients": people, "conditions": onsets, "observations": scores},
        ["mental_health_integrated_care"],
    )
    rows = [_row("mental_health_integrated_care", "remission", "rate", "remission_12m", "44261-6",
                 6.0, denominator_codes="370143000", value_rule="<5")]  # fmt: skip
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    row = results.row(0, named=True)
    assert (row["numerator"], row["denominator"]) == (2, 4)  # m2, m7 of m1, m2, m3, m7


# ----------------------------------------------------------------------------- the target
@pytest.mark.parametrize(
    ("value", "reference", "unit", "passes"),
    [
        (60.0, 50.0, "%", True),  # 20% of 50 = 10 points, larger than 2
        (60.01, 50.0, "%", False),
        (40.0, 50.0, "%", True),
        (39.99, 50.0, "%", False),
        (7.0, 5.0, "%", True),  # 20% of 5 = 1 point: the 2 points win
        (7.01, 5.0, "%", False),
        (3.0, 5.0, "%", True),
        (2.99, 5.0, "%", False),
        (12.0, 10.0, "%", True),  # both rules give 2
        (12.01, 10.0, "%", False),
        (14.76, 12.3, "visits per pregnancy", True),  # not a percentage: 20% only
        (14.77, 12.3, "visits per pregnancy", False),
        (6.0, 5.0, "visits per pregnancy", True),
        (6.5, 5.0, "visits per pregnancy", False),  # no 2-point floor outside percentages
    ],
)
def test_target_at_its_edges(value, reference, unit, passes):
    assert within_target(value, reference, unit) is passes


def test_tolerance_values():
    assert tolerance(50.0, "%") == 10.0
    assert tolerance(5.0, "%") == 2.0
    assert tolerance(12.3, "visits per pregnancy") == pytest.approx(2.46)


def test_status_at_the_edge_through_the_pipeline(tmp_path):
    people = patients(*[(f"p{i}", "1970-01-01", None, "M") for i in range(10)])
    copd = entries(*[(f"p{i}", "2015-01-01", None, "13645005") for i in range(3)])
    root = write_cohort(tmp_path / "out", {"patients": people, "conditions": copd},
                        ["copd_home_oxygen"])  # fmt: skip
    rows = [
        _row("copd_home_oxygen", "edge", "prevalence", "point", "13645005", 25.0),  # 30 vs 25 +- 5
        _row("copd_home_oxygen", "over", "prevalence", "point", "13645005", 24.9),  # +- 4.98
    ]
    results = evaluate(load_cohort(root), load_reference(reference_csv(tmp_path / "r.csv", rows)))
    assert results["measured"].to_list() == [30.0, 30.0]
    assert results["status"].to_list() == ["pass", "fail"]


# ----------------------------------------------------------------------------- plots and CLI
def test_report_writes_markdown_and_non_empty_pngs(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    rows = [
        _row("pediatric_asthma_management", "current_asthma", "prevalence", "point", ASTHMA, 8.0,
             age_low=5, age_high=11),
        _row("pediatric_asthma_management", "ed", "rate", "yearly_acute_visit_share", ASTHMA,
             16.7, denominator_codes=ASTHMA, age_low=0, age_high=17),
    ]  # fmt: skip
    result = write_report(root, reference_csv(tmp_path / "r.csv", rows))
    folder = root / "report"
    names = {p.name for p in result.plots}
    assert names == {"prevalence_pediatric_asthma_management.png", "process_rates.png"}
    for path in result.plots:
        assert path.parent == folder and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (folder / "fidelity.md").read_text(encoding="utf-8")
    assert "](prevalence_pediatric_asthma_management.png)" in text
    assert "](process_rates.png)" in text
    assert "| `current_asthma` | 5-11 | 42.9% | 3 / 7 | 8.0% |" in text


def test_cli_writes_the_report(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "report" / "fidelity.md").is_file()
    assert "fidelity.md" in result.stdout


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    return result.stderr


def test_cli_errors_missing_directory(tmp_path):
    assert "does not exist" in _error_line(runner.invoke(app, ["report", str(tmp_path / "x")]))


def test_cli_errors_no_tables(tmp_path):
    (tmp_path / "out" / "parquet").mkdir(parents=True)
    (tmp_path / "out" / "manifest.json").write_text('{"parameters": {}}', encoding="utf-8")
    assert "no cohort tables" in _error_line(runner.invoke(app, ["report", str(tmp_path / "out")]))


def test_cli_errors_no_manifest(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    (root / "manifest.json").unlink()
    assert "manifest.json" in _error_line(runner.invoke(app, ["report", str(root)]))


def test_cli_errors_bad_manifest(tmp_path):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    (root / "manifest.json").write_text('{"parameters": {"modules": []}}', encoding="utf-8")
    assert "reference_date" in _error_line(runner.invoke(app, ["report", str(root)]))


# ----------------------------------------------------------------------------- shipped references
def test_shipped_reference_values_are_valid():
    reference = load_reference()
    assert reference.height > 40 and reference["source"].str.contains(r"^\[[A-Z]+\d+b?\]").all()
    assert set(reference["kind"]) == {"prevalence", "rate"}


def _module_codes(module: str) -> set[str]:
    folder = REPO_ROOT / "modules"
    files = [folder / f"{module}.json", *(folder / module).glob("*.json")]
    text = "".join(path.read_text(encoding="utf-8") for path in files if path.is_file())
    return set(re.findall(r'"code":\s*"([^"]+)"', text))


def test_reference_codes_are_codes_the_modules_emit():
    reference = load_reference()
    for row in reference.iter_rows(named=True):
        emitted = _module_codes(row["module"])
        for column in ("codes", "denominator_codes", "episode_codes"):
            for code in (row[column] or "").split("|"):
                assert not code or code in emitted, (row["module"], row["measure"], column, code)


def test_age_in_whole_calendar_years():
    frame = pl.DataFrame(
        {
            "born": [d("2007-06-01"), d("2007-06-01"), d("2014-01-02"), d("2000-02-29"),
                     d("2000-02-29"), d("1990-12-31")],
            "on": [d("2025-01-01"), d("2025-06-01"), d("2026-01-01"), d("2026-02-28"),
                   d("2026-03-01"), d("2026-01-01")],
        }
    )  # fmt: skip
    ages = frame.select(age_at(pl.col("born"), pl.col("on")).alias("age"))["age"].to_list()
    assert ages == [17, 18, 11, 25, 26, 35]


def test_cohort_window_uses_engine_years():
    cohort = Cohort(
        root=Path("."), layout="parquet", reference_date=dt.date(2026, 1, 1), years_of_history=10,
        modules=(), parameters={}, patients=pl.DataFrame(), tables={},
    )  # fmt: skip
    assert cohort.window_start == dt.date(2016, 1, 4)  # 10 x 365 days, as the exporter's window
