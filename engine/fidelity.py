"""Clinical fidelity of a generated cohort: measured prevalence and process rates beside
published reference values (engine/reference_values.csv), with a pass/fail target.

Input: an output directory of `cohortforge generate` (manifest.json plus parquet/<table>.parquet,
or csv/<table>.csv when only CSV was written). Only reference rows of modules listed in the
manifest are evaluated; a module that did not run is left out, not failed.

Reference file columns: module, measure, kind (prevalence | rate), method, codes (numerator codes,
`|`-separated), denominator_codes, episode_codes, value_rule (`<5`, `>=240`), age_low and age_high
(whole years, inclusive, empty = open), sex (M, F, empty = both), value, unit (`%` or another unit),
source (reference key, citation and publisher).

Definitions (ages are whole calendar years; "entry" = a condition, care plan, device or
medication row, active at a date when START <= date and STOP is empty or after it):

- prevalence `point`: alive patients at the reference date in the age band and sex; numerator:
  an entry with one of `codes` active at the reference date.
- prevalence `past_year`: as `point`, but the entry was active at any time in the 365 days up to
  the reference date (for past-year survey measures such as NSDUH's major depressive episode).
- prevalence `latest_value`: the patient's latest observation of `codes` on or before the
  reference date satisfies `value_rule` (for lab-defined measures such as cholesterol >= 240).
- rate `active_share`: among alive patients in the band with an active `denominator_codes` entry
  at the reference date, the share with an active `codes` entry.
- rate `event_share`: among events with a `denominator_codes` code dated inside the export window
  (e.g. deliveries), the share whose code is one of `codes` (e.g. cesarean).
- rate `episode_share` / `episode_mean`: episodes are `episode_codes` conditions that start inside
  the window and end on the day of a `denominator_codes` event (a pregnancy ending in a
  delivery); the share of episodes with a `codes` row dated inside them, or the mean number of
  such rows per episode.
- rate `yearly_acute_visit_share`: for each complete 365-day year of the window, patients with a
  `denominator_codes` entry active at the year's end, alive then, born before the year began, in
  the band by their age at the year's end; the share with an emergency or urgent-care encounter
  whose reason is one of `codes` during the year; years pooled.
- rate `remission_12m` (CMS159): index episodes are onsets of a `denominator_codes` condition in
  the window at least 14 months before the reference date, the patient alive 14 months later;
  remitted when the latest `codes` observation 12 months +/- 60 days after the index satisfies
  `value_rule`; an index episode without such an observation is not remitted.

Target: the measured value is within 20% (relative) of the reference, or within 2 percentage
points for `%` measures, whichever is larger.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .errors import CohortforgeError
from .fidelity_plots import plot_prevalence, plot_rates
from .staged_folder import replaced_files

REFERENCE_PATH = Path(__file__).with_name("reference_values.csv")
MANIFEST_NAME = "manifest.json"
REPORT_FOLDER = "report"
REPORT_NAME = "fidelity.md"
DAYS_PER_YEAR = 365  # the engine's year (modules/SEMANTICS.md); the export window is in these
RELATIVE_TOLERANCE = 0.2
POINTS_TOLERANCE = 2.0
ACUTE_CLASSES = ("emergency", "urgentcare")
REMISSION_WINDOW_DAYS = (365 - 60, 365 + 60)  # CMS159: 12 months +/- 60 days

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("Id", "BIRTHDATE", "DEATHDATE", "GENDER"),
    "conditions": ("START", "STOP", "PATIENT", "CODE"),
    "medications": ("START", "STOP", "PATIENT", "CODE"),
    "careplans": ("START", "STOP", "PATIENT", "CODE"),
    "devices": ("START", "STOP", "PATIENT", "CODE"),
    "procedures": ("START", "PATIENT", "CODE"),
    "encounters": ("START", "PATIENT", "CODE", "ENCOUNTERCLASS", "REASONCODE"),
    "observations": ("DATE", "PATIENT", "CODE", "VALUE"),
    "immunizations": ("DATE", "PATIENT", "CODE"),
}
ENTRY_TABLES = ("conditions", "careplans", "devices", "medications")
DATE_COLUMNS = frozenset({"BIRTHDATE", "DEATHDATE", "START", "STOP", "DATE"})

KINDS = {
    "prevalence": ("point", "past_year", "latest_value"),
    "rate": (
        "active_share",
        "event_share",
        "episode_share",
        "episode_mean",
        "yearly_acute_visit_share",
        "remission_12m",
    ),
}
# Methods whose population is the patients alive at the unit's date (AT).
ALIVE_METHODS = frozenset(
    {"point", "past_year", "latest_value", "active_share", "yearly_acute_visit_share"}
)
REFERENCE_COLUMNS = (
    "module", "measure", "kind", "method", "codes", "denominator_codes", "episode_codes",
    "value_rule", "age_low", "age_high", "sex", "value", "unit", "source",
)  # fmt: skip
RULE = re.compile(r"^\s*(<=|>=|<|>|==)\s*(-?\d+(?:\.\d+)?)\s*$")


class ReportInputError(CohortforgeError):
    """The output directory or the reference file cannot be reported on."""


# ----------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class Cohort:
    root: Path
    layout: str  # "parquet" or "csv"
    reference_date: dt.date
    years_of_history: int
    modules: tuple[str, ...]
    parameters: dict
    patients: pl.DataFrame  # PATIENT, BIRTHDATE, DEATHDATE, GENDER
    tables: dict[str, pl.LazyFrame] = field(repr=False)

    @property
    def window_start(self) -> dt.date:
        return self.reference_date - dt.timedelta(days=DAYS_PER_YEAR * self.years_of_history)


def load_cohort(output_dir: Path) -> Cohort:
    root = Path(output_dir)
    if not root.is_dir():
        raise ReportInputError(f"output directory {root} does not exist")
    layout, folder = find_tables(root)
    parameters = read_manifest(root)
    tables = {name: scan_table(folder, layout, name) for name in TABLE_COLUMNS}
    patients = tables.pop("patients").rename({"Id": "PATIENT"}).collect()
    return Cohort(
        root=root,
        layout=layout,
        reference_date=parameters["reference_date"],
        years_of_history=parameters["years_of_history"],
        modules=tuple(parameters["modules"]),
        parameters=parameters,
        patients=patients,
        tables=tables,
    )


def find_tables(root: Path) -> tuple[str, Path]:
    """Parquet when the run wrote it, else CSV; patients is required."""
    for layout in ("parquet", "csv"):
        folder = root / layout
        if any(folder.glob(f"*.{layout}")):
            if not (folder / f"patients.{layout}").is_file():
                raise ReportInputError(f"{folder} has no patients.{layout}")
            return layout, folder
    raise ReportInputError(
        f"no cohort tables in {root}: expected parquet/<table>.parquet or csv/<table>.csv"
    )


def read_manifest(root: Path) -> dict:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ReportInputError(
            f"{root} has no {MANIFEST_NAME}; report reads a directory written by "
            "`cohortforge generate`"
        )
    try:
        parameters = json.loads(path.read_text(encoding="utf-8"))["parameters"]
        return {
            **parameters,
            "reference_date": dt.date.fromisoformat(parameters["reference_date"]),
            "years_of_history": int(parameters["years_of_history"]),
            "modules": [str(name) for name in parameters["modules"]],
        }
    except (ValueError, KeyError, TypeError) as error:
        raise ReportInputError(
            f"{path} is not a cohortforge manifest with parameters.reference_date, "
            f"parameters.years_of_history and parameters.modules ({error})"
        ) from error


def scan_table(folder: Path, layout: str, name: str) -> pl.LazyFrame:
    """The columns the report needs, dates as Date, VALUE as a number; empty when absent."""
    columns = TABLE_COLUMNS[name]
    path = folder / f"{name}.{layout}"
    if not path.is_file():
        return pl.LazyFrame(schema={c: _target_dtype(c) for c in columns})
    frame = pl.scan_parquet(path) if layout == "parquet" else pl.scan_csv(path, infer_schema=False)
    schema = frame.collect_schema()
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ReportInputError(f"{path} has no column {', '.join(missing)}")
    return frame.select(_normalise(c, schema[c]) for c in columns)


def _target_dtype(column: str) -> pl.DataType:
    if column in DATE_COLUMNS:
        return pl.Date()
    return pl.Float64() if column == "VALUE" else pl.String()


def _normalise(column: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(column)
    if column in DATE_COLUMNS:
        if isinstance(dtype, pl.Date):
            return expr
        if isinstance(dtype, pl.Datetime):
            return expr.dt.date()
        # CSV: yyyy-MM-dd dates and yyyy-MM-ddTHH:mm:ssZ (UTC) timestamps.
        return expr.cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d")
    if column == "VALUE":
        return expr.cast(pl.String).cast(pl.Float64, strict=False)
    return expr.cast(pl.String)


def load_reference(path: Path | None = None) -> pl.DataFrame:
    path = path or REFERENCE_PATH
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.ComputeError) as error:
        raise ReportInputError(f"cannot read reference values {path}: {error}") from error
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{path} has no column {', '.join(missing)}")
    frame = frame.select(REFERENCE_COLUMNS).with_columns(
        pl.col("age_low", "age_high").cast(pl.Int64),
        pl.col("value").cast(pl.Float64),
        pl.col("method").fill_null("point"),
        pl.col("sex").fill_null(""),
    )
    _check_reference(frame, path)
    return frame


def _check_reference(frame: pl.DataFrame, path: Path) -> None:
    for row in frame.iter_rows(named=True):
        where = f"{path}: {row['module']}/{row['measure']}"
        if row["method"] not in KINDS.get(row["kind"], ()):
            raise ReportInputError(f"{where}: kind/method {row['kind']}/{row['method']} unknown")
        if not row["codes"] or row["value"] is None or row["sex"] not in ("", "M", "F"):
            raise ReportInputError(f"{where}: needs codes, a value and sex M, F or empty")
        if row["value_rule"] and not RULE.match(row["value_rule"]):
            raise ReportInputError(f"{where}: value_rule {row['value_rule']!r} is not like <5")


# ----------------------------------------------------------------------------- building blocks
def split_codes(codes: str | None) -> list[str]:
    return [code.strip() for code in (codes or "").split("|") if code.strip()]


def age_at(birth: pl.Expr, when: pl.Expr) -> pl.Expr:
    """Whole years of age on `when` (calendar birthdays)."""

    def month_day(day: pl.Expr) -> pl.Expr:  # Int32 first: dt.month() is Int8
        return day.dt.month().cast(pl.Int32) * 100 + day.dt.day().cast(pl.Int32)

    years = when.dt.year().cast(pl.Int32) - birth.dt.year().cast(pl.Int32)
    return years - (month_day(when) < month_day(birth)).cast(pl.Int32)


def rule_expr(rule: str, column: str = "VALUE") -> pl.Expr:
    operator, number = RULE.match(rule).groups()
    value, expr = float(number), pl.col(column)
    return {
        "<": expr < value,
        "<=": expr <= value,
        ">": expr > value,
        ">=": expr >= value,
        "==": expr == value,
    }[operator]


def within_target(measured: float, reference: float, unit: str) -> bool:
    return abs(measured - reference) <= tolerance(reference, unit) + 1e-9


def tolerance(reference: float, unit: str) -> float:
    points = POINTS_TOLERANCE if unit == "%" else 0.0
    return max(RELATIVE_TOLERANCE * abs(reference), points)


def entries(cohort: Cohort, codes: list[str]) -> pl.LazyFrame:
    frames = [
        cohort.tables[name].select("PATIENT", "START", "STOP", "CODE") for name in ENTRY_TABLES
    ]
    return pl.concat(frames).filter(pl.col("CODE").is_in(codes))


def events(cohort: Cohort, codes: list[str]) -> pl.LazyFrame:
    """Rows of every table with one of `codes`, dated by START (or DATE)."""
    frames = [
        frame.select("PATIENT", pl.col("DATE" if "DATE" in TABLE_COLUMNS[name] else "START")
                     .alias("DATE"), "CODE")
        for name, frame in cohort.tables.items()
    ]  # fmt: skip
    return pl.concat(frames).filter(pl.col("CODE").is_in(codes))


def active_on(day: dt.date | pl.Expr) -> pl.Expr:
    day = pl.lit(day) if isinstance(day, dt.date) else day
    return (pl.col("START") <= day) & (pl.col("STOP").is_null() | (pl.col("STOP") > day))


def _flag(units: pl.LazyFrame, hits: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """units with HIT = 1.0 where `hits` has the same keys, else 0.0."""
    marked = hits.select(keys).unique().with_columns(pl.lit(1.0).alias("HIT"))
    return units.join(marked, on=keys, how="left").with_columns(pl.col("HIT").fill_null(0.0))


def _everyone(cohort: Cohort, hits: pl.LazyFrame) -> pl.LazyFrame:
    units = cohort.patients.lazy().select("PATIENT", pl.lit(cohort.reference_date).alias("AT"))
    return _flag(units, hits, ["PATIENT"])


# ----------------------------------------------------------------------------- units per method
# Each builder returns one row per denominator unit: PATIENT, AT (the date for age, sex and
# survival), HIT (1/0, or a count for episode_mean).
@dataclass(frozen=True)
class Spec:
    method: str
    codes: tuple[str, ...]
    denominator_codes: tuple[str, ...]
    episode_codes: tuple[str, ...]
    value_rule: str


def units_point(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    hits = entries(cohort, list(spec.codes)).filter(active_on(cohort.reference_date))
    return _everyone(cohort, hits)


def units_past_year(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    year_ago = cohort.reference_date - dt.timedelta(days=DAYS_PER_YEAR)
    hits = entries(cohort, list(spec.codes)).filter(
        (pl.col("START") <= cohort.reference_date)
        & (pl.col("STOP").is_null() | (pl.col("STOP") >= year_ago))
    )
    return _everyone(cohort, hits)


def units_latest_value(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    latest = (
        cohort.tables["observations"]
        .filter(
            pl.col("CODE").is_in(list(spec.codes))
            & (pl.col("DATE") <= cohort.reference_date)
            & pl.col("VALUE").is_not_null()
        )
        .sort("DATE", "VALUE")
        .group_by("PATIENT")
        .agg(pl.col("VALUE").last())
    )
    return _everyone(cohort, latest.filter(rule_expr(spec.value_rule)))


def units_active_share(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    day = cohort.reference_date
    units = (
        entries(cohort, list(spec.denominator_codes))
        .filter(active_on(day))
        .select("PATIENT", pl.lit(day).alias("AT"))
        .unique()
    )
    hits = entries(cohort, list(spec.codes)).filter(active_on(day))
    return _flag(units, hits, ["PATIENT"])


def units_event_share(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    return (
        events(cohort, list(spec.denominator_codes))
        .filter(pl.col("DATE").is_between(cohort.window_start, cohort.reference_date))
        .select(
            "PATIENT",
            pl.col("DATE").alias("AT"),
            pl.col("CODE").is_in(list(spec.codes)).cast(pl.Float64).alias("HIT"),
        )
    )


def episodes(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    """`episode_codes` conditions inside the window that end on a `denominator_codes` event."""
    ends = events(cohort, list(spec.denominator_codes)).select("PATIENT", "DATE").unique()
    return (
        entries(cohort, list(spec.episode_codes))
        .filter((pl.col("START") >= cohort.window_start) & pl.col("STOP").is_not_null())
        .select("PATIENT", pl.col("START").alias("AT"), pl.col("STOP").alias("END"))
        .unique()
        .join(ends, left_on=["PATIENT", "END"], right_on=["PATIENT", "DATE"], how="semi")
    )


def _inside_episodes(cohort: Cohort, spec: Spec) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    units = episodes(cohort, spec)
    inside = units.join(events(cohort, list(spec.codes)), on="PATIENT").filter(
        pl.col("DATE").is_between(pl.col("AT"), pl.col("END"))
    )
    return units, inside


def units_episode_share(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    units, inside = _inside_episodes(cohort, spec)
    return _flag(units, inside, ["PATIENT", "AT", "END"]).drop("END")


def units_episode_mean(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    units, inside = _inside_episodes(cohort, spec)
    counts = inside.group_by("PATIENT", "AT", "END").agg(pl.len().cast(pl.Float64).alias("HIT"))
    return (
        units.join(counts, on=["PATIENT", "AT", "END"], how="left")
        .with_columns(pl.col("HIT").fill_null(0.0))
        .drop("END")
    )


def year_periods(cohort: Cohort) -> pl.LazyFrame:
    """The complete 365-day years of the export window: K, FROM (inclusive), AT (exclusive end)."""
    k = pl.int_range(1, cohort.years_of_history + 1, eager=True).alias("K")
    days = pl.duration(days=DAYS_PER_YEAR)
    ref = pl.lit(cohort.reference_date)
    return pl.LazyFrame(k).with_columns(
        (ref - days * pl.col("K")).alias("FROM"), (ref - days * (pl.col("K") - 1)).alias("AT")
    )


def units_yearly_acute_visit_share(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    born = cohort.patients.lazy().select("PATIENT", "BIRTHDATE")
    units = (
        entries(cohort, list(spec.denominator_codes))
        .join(year_periods(cohort), how="cross")
        .filter(active_on(pl.col("AT")))
        .select("PATIENT", "K", "FROM", "AT")
        .unique()
        .join(born, on="PATIENT")
        .filter(pl.col("BIRTHDATE") <= pl.col("FROM"))
        .drop("BIRTHDATE")
    )
    visits = cohort.tables["encounters"].filter(
        pl.col("ENCOUNTERCLASS").is_in(list(ACUTE_CLASSES))
        & pl.col("REASONCODE").is_in(list(spec.codes))
    )
    in_year = units.join(visits.select("PATIENT", "START"), on="PATIENT").filter(
        (pl.col("START") >= pl.col("FROM")) & (pl.col("START") < pl.col("AT"))
    )
    return _flag(units, in_year, ["PATIENT", "K"]).drop("K", "FROM")


def units_remission_12m(cohort: Cohort, spec: Spec) -> pl.LazyFrame:
    low, high = REMISSION_WINDOW_DAYS
    survival = cohort.patients.lazy().select("PATIENT", "DEATHDATE")
    index = (
        entries(cohort, list(spec.denominator_codes))
        .filter(
            pl.col("START").is_between(
                cohort.window_start, cohort.reference_date - dt.timedelta(days=high)
            )
        )
        .select("PATIENT", pl.col("START").alias("AT"))
        .unique()
        .join(survival, on="PATIENT")
        .filter(
            pl.col("DEATHDATE").is_null()
            | (pl.col("DEATHDATE") > pl.col("AT") + pl.duration(days=high))
        )
        .drop("DEATHDATE")
    )
    scores = cohort.tables["observations"].filter(
        pl.col("CODE").is_in(list(spec.codes)) & pl.col("VALUE").is_not_null()
    )
    latest = (
        index.join(scores.select("PATIENT", "DATE", "VALUE"), on="PATIENT")
        .filter(
            pl.col("DATE").is_between(
                pl.col("AT") + pl.duration(days=low), pl.col("AT") + pl.duration(days=high)
            )
        )
        .sort("DATE", "VALUE")
        .group_by("PATIENT", "AT")
        .agg(pl.col("VALUE").last())
    )
    return _flag(index, latest.filter(rule_expr(spec.value_rule)), ["PATIENT", "AT"])


UNIT_BUILDERS: dict[str, Callable[[Cohort, Spec], pl.LazyFrame]] = {
    "point": units_point,
    "past_year": units_past_year,
    "latest_value": units_latest_value,
    "active_share": units_active_share,
    "event_share": units_event_share,
    "episode_share": units_episode_share,
    "episode_mean": units_episode_mean,
    "yearly_acute_visit_share": units_yearly_acute_visit_share,
    "remission_12m": units_remission_12m,
}


# ----------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Score:
    numerator: float
    denominator: int
    measured: float | None


def spec_of(row: dict) -> Spec:
    return Spec(
        method=row["method"],
        codes=tuple(split_codes(row["codes"])),
        denominator_codes=tuple(split_codes(row["denominator_codes"])),
        episode_codes=tuple(split_codes(row["episode_codes"])),
        value_rule=row["value_rule"] or "",
    )


class UnitCache:
    """Units per measure definition, computed once and shared by its age and sex rows."""

    def __init__(self, cohort: Cohort):
        self.cohort = cohort
        self._units: dict[Spec, pl.DataFrame] = {}

    def units(self, spec: Spec) -> pl.DataFrame:
        if spec not in self._units:
            frame = UNIT_BUILDERS[spec.method](self.cohort, spec)
            self._units[spec] = frame.select("PATIENT", "AT", "HIT").collect()
        return self._units[spec]


def score(cohort: Cohort, units: pl.DataFrame, row: dict) -> Score:
    """Numerator and denominator among the units in the row's age band, sex and survival."""
    people = units.join(cohort.patients, on="PATIENT").filter(pl.col("BIRTHDATE") <= pl.col("AT"))
    age = age_at(pl.col("BIRTHDATE"), pl.col("AT"))
    keep = pl.lit(True)
    if row["age_low"] is not None:
        keep &= age >= row["age_low"]
    if row["age_high"] is not None:
        keep &= age <= row["age_high"]
    if row["sex"]:
        keep &= pl.col("GENDER") == row["sex"]
    if row["method"] in ALIVE_METHODS:
        keep &= pl.col("DEATHDATE").is_null() | (pl.col("DEATHDATE") > pl.col("AT"))
    chosen = people.filter(keep)
    numerator, denominator = float(chosen["HIT"].sum()), chosen.height
    if denominator == 0:
        return Score(numerator, 0, None)
    scale = 100.0 if row["unit"] == "%" else 1.0
    return Score(numerator, denominator, scale * numerator / denominator)


def band_label(low: pl.Expr, high: pl.Expr) -> pl.Expr:
    """`18-39`, `65+`, `<18` or `all ages` from inclusive whole-year bounds."""
    return (
        pl.when(low.is_null() & high.is_null())
        .then(pl.lit("all ages"))
        .when(high.is_null())
        .then(low.cast(pl.String) + pl.lit("+"))
        .when(low.is_null() | (low == 0))
        .then(pl.lit("<") + (high + 1).cast(pl.String))
        .otherwise(low.cast(pl.String) + pl.lit("-") + high.cast(pl.String))
    )


def population_label(row: dict) -> str:
    return row["band"] + {"M": ", men", "F": ", women"}.get(row["sex"], "")


RESULT_SCHEMA = {
    "module": pl.String,
    "measure": pl.String,
    "kind": pl.String,
    "method": pl.String,
    "population": pl.String,
    "age_low": pl.Int64,
    "age_high": pl.Int64,
    "sex": pl.String,
    "numerator": pl.Float64,
    "denominator": pl.Int64,
    "measured": pl.Float64,
    "reference": pl.Float64,
    "unit": pl.String,
    "tolerance": pl.Float64,
    "status": pl.String,
    "source": pl.String,
}


def evaluate_row(cohort: Cohort, cache: UnitCache, row: dict) -> dict:
    result = score(cohort, cache.units(spec_of(row)), row)
    if result.measured is None:
        status = "no data"
    else:
        status = "pass" if within_target(result.measured, row["value"], row["unit"]) else "fail"
    return {
        "module": row["module"],
        "measure": row["measure"],
        "kind": row["kind"],
        "method": row["method"],
        "population": population_label(row),
        "age_low": row["age_low"],
        "age_high": row["age_high"],
        "sex": row["sex"],
        "numerator": result.numerator,
        "denominator": result.denominator,
        "measured": result.measured,
        "reference": row["value"],
        "unit": row["unit"],
        "tolerance": tolerance(row["value"], row["unit"]),
        "status": status,
        "source": row["source"],
    }


def rows_for_cohort(cohort: Cohort, reference: pl.DataFrame) -> pl.DataFrame:
    """Reference rows of the modules that ran, in module order of the manifest."""
    order = {name: i for i, name in enumerate(cohort.modules)}
    return (
        reference.filter(pl.col("module").is_in(list(cohort.modules)))
        .with_columns(
            pl.col("module").replace_strict(order, default=None).alias("_order"),
            band_label(pl.col("age_low"), pl.col("age_high")).alias("band"),
        )
        .sort("_order", maintain_order=True)
        .drop("_order")
    )


def evaluate(
    cohort: Cohort, reference: pl.DataFrame, cache: UnitCache | None = None
) -> pl.DataFrame:
    cache = cache or UnitCache(cohort)
    rows = rows_for_cohort(cohort, reference)
    results = [evaluate_row(cohort, cache, row) for row in rows.iter_rows(named=True)]
    return pl.DataFrame(results, schema=RESULT_SCHEMA)


def prevalence_grid(cohort: Cohort, reference: pl.DataFrame, cache: UnitCache) -> pl.DataFrame:
    """Each prevalence measure in each of its reference age bands, for men, women and both."""
    rows = rows_for_cohort(cohort, reference).filter(pl.col("kind") == "prevalence")
    bands = rows.unique(["module", "measure", "age_low", "age_high"], maintain_order=True)
    grid = []
    for band in bands.iter_rows(named=True):
        for sex in ("M", "F", ""):
            row = {**band, "sex": sex}
            result = score(cohort, cache.units(spec_of(row)), row)
            grid.append(
                {
                    "module": band["module"],
                    "measure": band["measure"],
                    "band": band["band"],
                    "age_low": band["age_low"],
                    "sex": sex or "all",
                    "numerator": result.numerator,
                    "denominator": result.denominator,
                    "measured": result.measured,
                }
            )
    schema = {
        "module": pl.String, "measure": pl.String, "band": pl.String, "age_low": pl.Int64,
        "sex": pl.String, "numerator": pl.Float64, "denominator": pl.Int64,
        "measured": pl.Float64,
    }  # fmt: skip
    return _with_reference(pl.DataFrame(grid, schema=schema), rows)


def _with_reference(grid: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    refs = rows.select(
        "module",
        "measure",
        "band",
        pl.when(pl.col("sex") == "").then(pl.lit("all")).otherwise(pl.col("sex")).alias("sex"),
        pl.col("value").alias("reference"),
        tolerance_expr(pl.col("value"), pl.col("unit")).alias("tolerance"),
    ).unique(["module", "measure", "band", "sex"], keep="first")
    return grid.join(refs, on=["module", "measure", "band", "sex"], how="left")


def tolerance_expr(reference: pl.Expr, unit: pl.Expr) -> pl.Expr:
    points = pl.when(unit == "%").then(POINTS_TOLERANCE).otherwise(0.0)
    return pl.max_horizontal(RELATIVE_TOLERANCE * reference.abs(), points)


# ----------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class Report:
    markdown: Path
    plots: list[Path]
    results: pl.DataFrame


def write_report(output_dir: Path, reference_path: Path | None = None) -> Report:
    """Evaluate the cohort in output_dir and write report/fidelity.md and its PNG plots."""
    cohort = load_cohort(output_dir)
    reference = load_reference(reference_path)
    cache = UnitCache(cohort)
    results = evaluate(cohort, reference, cache)
    grid = prevalence_grid(cohort, reference, cache)
    folder = cohort.root / REPORT_FOLDER
    with replaced_files(folder, _clear_previous, "the report") as staging:
        staged_plots = write_plots(results, grid, staging)
        markdown = render_markdown(cohort, reference, results, grid, staged_plots)
        (staging / REPORT_NAME).write_text(markdown, encoding="utf-8")
    plots = [folder / plot.name for plot in staged_plots]
    return Report(markdown=folder / REPORT_NAME, plots=plots, results=results)


def _clear_previous(folder: Path) -> None:
    for path in [
        folder / REPORT_NAME,
        *folder.glob("prevalence_*.png"),
        *folder.glob("process_rates.png"),
    ]:
        path.unlink(missing_ok=True)


def write_plots(results: pl.DataFrame, grid: pl.DataFrame, folder: Path) -> list[Path]:
    plots = [
        plot_prevalence(grid.filter(pl.col("module") == module), module,
                        folder / f"prevalence_{module}.png")
        for module in grid["module"].unique(maintain_order=True).to_list()
    ]  # fmt: skip
    rates = results.filter(pl.col("kind") == "rate")
    if rates.height:
        plots.append(plot_rates(rates, folder / "process_rates.png"))
    return plots


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}%" if unit == "%" else f"{value:.2f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _target(reference: float, tol: float, unit: str) -> str:
    low, high = max(reference - tol, 0.0), reference + tol
    suffix = "%" if unit == "%" else f" {unit}"
    return f"{low:.2f}-{high:.2f}{suffix}" if unit == "%" else f"{low:.1f}-{high:.1f}{suffix}"


def _source_key(source: str) -> str:
    match = re.match(r"^(\[[^\]]+\])", source or "")
    return match.group(1) if match else (source or "")


def _result_table(rows: pl.DataFrame) -> list[str]:
    lines = [
        "| measure | population | measured | numerator / denominator | reference | target "
        "| result | source |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows.iter_rows(named=True):
        status = {"pass": "pass", "fail": "**FAIL**"}.get(r["status"], r["status"])
        lines.append(
            f"| `{r['measure']}` | {r['population']} | {_number(r['measured'], r['unit'])} "
            f"| {_count(r['numerator'])} / {r['denominator']:,} "
            f"| {_number(r['reference'], r['unit'])} "
            f"| {_target(r['reference'], r['tolerance'], r['unit'])} | {status} "
            f"| {_source_key(r['source'])} |"
        )
    return lines


def _sources(results: pl.DataFrame) -> list[str]:
    sources = results["source"].unique(maintain_order=True).to_list()
    return ["Sources:", "", *(f"- {source}" for source in sources), ""]


def _grid_table(grid: pl.DataFrame) -> list[str]:
    wide = grid.with_columns(
        pl.when(pl.col("measured").is_null())
        .then(pl.lit("-"))
        .otherwise(
            pl.col("measured").round(1).cast(pl.String)
            + pl.lit("% (")
            + pl.col("numerator").cast(pl.Int64).cast(pl.String)
            + pl.lit("/")
            + pl.col("denominator").cast(pl.String)
            + pl.lit(")")
        )
        .alias("cell")
    ).pivot(on="sex", index=["measure", "band"], values="cell", aggregate_function="first")
    lines = ["| measure | age band | men | women | both |", "|---|---|---:|---:|---:|"]
    for r in wide.iter_rows(named=True):
        lines.append(
            f"| `{r['measure']}` | {r['band']} | {r.get('M') or '-'} | {r.get('F') or '-'} "
            f"| {r.get('all') or '-'} |"
        )
    return lines


def _header(cohort: Cohort, results: pl.DataFrame) -> list[str]:
    ref = cohort.reference_date
    alive = cohort.patients.filter(
        (pl.col("BIRTHDATE") <= ref) & (pl.col("DEATHDATE").is_null() | (pl.col("DEATHDATE") > ref))
    ).height
    counts = {s: results.filter(pl.col("status") == s).height for s in ("pass", "fail", "no data")}
    params = cohort.parameters
    return [
        "# Clinical fidelity report",
        "",
        f"- Cohort: `{cohort.root}` ({cohort.layout} tables), {cohort.patients.height:,} patients, "
        f"{alive:,} alive at the reference date {ref.isoformat()}; "
        f"{cohort.years_of_history} years of history (window from {cohort.window_start}); "
        f"scenario `{params.get('scenario', '?')}`, seed {params.get('seed', '?')}.",
        f"- Modules run: {', '.join(cohort.modules)}.",
        f"- Reference values: `engine/reference_values.csv`, {results.height} rows for the modules "
        "that ran; measures of modules that did not run are omitted, not failed.",
        "- Target: the measured value within 20% (relative) of the reference or within 2 "
        "percentage points, whichever is larger (measures that are not percentages: 20% only).",
        f"- Result: **{counts['pass']} pass, {counts['fail']} fail, {counts['no data']} no data** "
        "(no data: nobody in the denominator). Small denominators make a result noisy: read "
        "the counts beside each value.",
        "",
    ]


def _module_section(module: str, results: pl.DataFrame, grid: pl.DataFrame) -> list[str]:
    lines = [f"## {module}", ""]
    prevalence = results.filter(pl.col("kind") == "prevalence")
    if prevalence.height:
        lines += ["### Prevalence", "", *_result_table(prevalence), ""]
        lines += [f"![{module} prevalence by age band and sex](prevalence_{module}.png)", ""]
        lines += ["Measured by age band and sex (cases/people):", "", *_grid_table(grid), ""]
    rates = results.filter(pl.col("kind") == "rate")
    if rates.height:
        lines += ["### Process rates", "", *_result_table(rates), ""]
    return [*lines, *_sources(results)]


def _definitions(reference: pl.DataFrame) -> list[str]:
    lines = [
        "## Measures and codes",
        "",
        "| module | measure | kind / method | numerator codes | denominator codes | episode codes "
        "| value rule |",
        "|---|---|---|---|---|---|---|",
    ]
    definitions = reference.unique(["module", "measure"], maintain_order=True)
    for r in definitions.iter_rows(named=True):
        codes = [
            ", ".join(split_codes(r[c])) or "-"
            for c in ("codes", "denominator_codes", "episode_codes")
        ]
        lines.append(
            f"| {r['module']} | `{r['measure']}` | {r['kind']} / {r['method']} | "
            f"{' | '.join(codes)} | {r['value_rule'] or '-'} |"
        )
    return [*lines, "", *DEFINITION_NOTES]


DEFINITION_NOTES = [
    "Methods (see engine/fidelity.py): `point`: alive at the reference date, an entry (condition, "
    "care plan, device, medication) with a numerator code active then (START on or before it, STOP "
    "empty or after it); `past_year`: active at any time in the year before; `latest_value`: the "
    "latest observation meets the value rule; `active_share`: among alive patients with an active "
    "denominator entry; `event_share`: among denominator events in the export window; "
    "`episode_share`/`episode_mean`: per episode (an episode-code condition that starts in the "
    "window and ends on the day of a denominator event); `yearly_acute_visit_share`: emergency or "
    "urgent-care visits for the numerator reasons in each complete year of the window, among "
    "patients with an active denominator entry at the year's end; `remission_12m`: CMS159, the "
    "latest score 12 months +/- 60 days after the index onset. Ages are whole years at the date "
    "of the unit (the reference date, the year's end, the event or the episode start).",
    "",
]


def render_markdown(
    cohort: Cohort,
    reference: pl.DataFrame,
    results: pl.DataFrame,
    grid: pl.DataFrame,
    plots: list[Path],
) -> str:
    lines = _header(cohort, results)
    for module in results["module"].unique(maintain_order=True).to_list():
        lines += _module_section(
            module,
            results.filter(pl.col("module") == module),
            grid.filter(pl.col("module") == module),
        )
    if any(path.name == "process_rates.png" for path in plots):
        lines += ["## Process rates at a glance", "", "![process rates](process_rates.png)", ""]
    lines += _definitions(rows_for_cohort(cohort, reference))
    return "\n".join(lines)
