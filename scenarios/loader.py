"""Load and validate scenario TOML files.

Every error names the file and the key and says what a valid value looks like,
because a scenario is user-edited data and the loader is its only schema.
"""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent
RACES = ("white", "black", "asian", "native", "hawaiian", "other")
ETHNICITIES = ("hispanic", "nonhispanic")
SEXES = ("female", "male")
EDUCATION_LEVELS = (
    "less_than_high_school",
    "high_school",
    "some_college",
    "associate",
    "bachelor",
    "advanced",
)
INSURANCE_TYPES = ("private", "medicare", "medicaid", "uninsured")
INSURANCE_AGE_GROUPS = ("under_65", "age_65_plus")
SDOH_FLAGS = ("food_insecurity", "housing_instability", "transportation_barrier", "unemployment")
MAX_AGE = 110
TABLE_KEYS = {
    "age": ("bands",),
    "income": ("bands",),
    "geography": ("states",),
    "smoking": ("quit_ratio", "current"),
    "sdoh": SDOH_FLAGS,
}
TOP_LEVEL_KEYS = {
    "description",
    "reference_date",
    "years_of_history",
    "modules",
    "age",
    "sex",
    "race",
    "ethnicity",
    "geography",
    "income",
    "education",
    "insurance",
    "sdoh",
    "smoking",
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names file, key and fix."""


@dataclass(frozen=True)
class Bands:
    """Weighted numeric bands [low, high); a value is drawn uniformly inside a drawn band."""

    lows: tuple[float, ...]
    highs: tuple[float, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class RateBands:
    """A probability per numeric band [low, high); values outside every band get 0."""

    lows: tuple[float, ...]
    highs: tuple[float, ...]
    rates: tuple[float, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    reference_date: dt.date
    years_of_history: int
    modules: tuple[str, ...]
    age: Bands
    sex: dict[str, float]
    race: dict[str, float]
    ethnicity: dict[str, float]
    states: tuple[str, ...]
    income: Bands
    education: dict[str, float]
    insurance: dict[str, dict[str, float]]
    sdoh: dict[str, float]
    smoking_current: RateBands
    smoking_quit_ratio: float


class _Reader:
    """Typed access to one TOML document that reports `file: key: problem` on failure."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {key}: {problem}")

    def get(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise self.fail(key, "missing; add it (the keys are listed in scenarios/README.md)")
            node = node[part]
        return node

    def only_keys(self, key: str, allowed: tuple[str, ...]) -> None:
        table = self.get(key)
        if not isinstance(table, dict):
            raise self.fail(key, f"expected a table with the keys {', '.join(allowed)}")
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key; valid keys: {', '.join(allowed)}")

    def number(self, key: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is outside [{low}, {high}]")
        return float(value)

    def weights(self, key: str, names: tuple[str, ...]) -> dict[str, float]:
        table = self.get(key)
        if not isinstance(table, dict):
            raise self.fail(key, "expected a table of weights")
        unknown = sorted(set(table) - set(names))
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key; valid keys: {', '.join(names)}")
        result = {}
        for name in names:
            if name not in table:
                raise self.fail(f"{key}.{name}", "missing weight; use 0 to exclude it")
            result[name] = self.number(f"{key}.{name}", table[name], 0.0, 1e12)
        if sum(result.values()) <= 0:
            raise self.fail(key, "weights sum to 0; give at least one a positive weight")
        return result

    def band_list(self, key: str, value_key: str, high_limit: float) -> list[tuple]:
        bands = self.get(key)
        if not isinstance(bands, list) or not bands:
            raise self.fail(key, f"expected a non-empty list of {{min, max, {value_key}}} tables")
        parsed = []
        for index, band in enumerate(bands):
            where = f"{key}[{index}]"
            if not isinstance(band, dict) or set(band) != {"min", "max", value_key}:
                raise self.fail(where, f"expected exactly the keys min, max, {value_key}")
            low = self.number(f"{where}.min", band["min"], 0, high_limit)
            high = self.number(f"{where}.max", band["max"], 0, high_limit)
            if high <= low:
                raise self.fail(where, f"max {high:g} must be greater than min {low:g}")
            parsed.append((low, high, band[value_key], where))
        ordered = sorted(parsed)
        for (_, previous_high, _, _), (low, _, _, where) in itertools.pairwise(ordered):
            if low < previous_high:
                raise self.fail(where, "overlaps the band before it; bands must not overlap")
        return parsed

    def bands(self, key: str, high_limit: float) -> Bands:
        parsed = self.band_list(key, "weight", high_limit)
        weights = [self.number(f"{w}.weight", v, 0, 1e12) for _, _, v, w in parsed]
        if sum(weights) <= 0:
            raise self.fail(key, "band weights sum to 0; give at least one a positive weight")
        return Bands(tuple(p[0] for p in parsed), tuple(p[1] for p in parsed), tuple(weights))

    def rate_bands(self, key: str, high_limit: float) -> RateBands:
        parsed = self.band_list(key, "rate", high_limit)
        rates = [self.number(f"{w}.rate", v, 0, 1) for _, _, v, w in parsed]
        return RateBands(tuple(p[0] for p in parsed), tuple(p[1] for p in parsed), tuple(rates))


def scenario_paths(directory: Path = SCENARIO_DIR) -> dict[str, Path]:
    """Scenario name -> file, for every TOML file in the folder."""
    return {path.stem: path for path in sorted(directory.glob("*.toml"))}


def load_scenario_file(path: Path) -> Scenario:
    """Parse and validate one scenario file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ScenarioError(f"{path}: file not found") from error
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML ({error}); fix the syntax") from error
    reader = _Reader(path, data)
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise reader.fail(
            unknown[0], f"unknown key; valid keys: {', '.join(sorted(TOP_LEVEL_KEYS))}"
        )

    for table, allowed in TABLE_KEYS.items():
        reader.only_keys(table, allowed)
    description = reader.get("description")
    if not isinstance(description, str) or not description.strip():
        raise reader.fail("description", "expected a non-empty string")
    reference_date = _parse_date(reader, reader.get("reference_date"))
    years = reader.get("years_of_history")
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= 150:
        raise reader.fail("years_of_history", f"expected an integer from 1 to 150, got {years!r}")
    modules = reader.get("modules")
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise reader.fail("modules", "expected a list of module names")
    states = reader.get("geography.states")
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        raise reader.fail("geography.states", "expected a list of USPS state abbreviations")
    quit_ratio = reader.number("smoking.quit_ratio", reader.get("smoking.quit_ratio"), 0, 0.99)
    sdoh = {
        flag: reader.number(f"sdoh.{flag}", reader.get(f"sdoh.{flag}"), 0, 1) for flag in SDOH_FLAGS
    }
    insurance = reader.get("insurance")
    if not isinstance(insurance, dict) or set(insurance) != set(INSURANCE_AGE_GROUPS):
        raise reader.fail(
            "insurance", f"expected exactly the tables {', '.join(INSURANCE_AGE_GROUPS)}"
        )

    return Scenario(
        name=path.stem,
        path=path,
        description=description.strip(),
        reference_date=reference_date,
        years_of_history=years,
        modules=tuple(dict.fromkeys(modules)),
        age=reader.bands("age.bands", MAX_AGE),
        sex=reader.weights("sex", SEXES),
        race=reader.weights("race", RACES),
        ethnicity=reader.weights("ethnicity", ETHNICITIES),
        states=tuple(s.upper() for s in states),
        income=reader.bands("income.bands", 1e9),
        education=reader.weights("education", EDUCATION_LEVELS),
        insurance={
            group: reader.weights(f"insurance.{group}", INSURANCE_TYPES)
            for group in INSURANCE_AGE_GROUPS
        },
        sdoh=sdoh,
        smoking_current=reader.rate_bands("smoking.current", MAX_AGE),
        smoking_quit_ratio=quit_ratio,
    )


def _parse_date(reader: _Reader, value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise reader.fail("reference_date", f'expected a date like "2026-01-01", got {value!r}')


def load_scenario(name: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """Load a scenario by name, or by path to a TOML file."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        return load_scenario_file(candidate)
    paths = scenario_paths(directory)
    if name not in paths:
        valid = ", ".join(paths) or "(none found)"
        raise ScenarioError(f"unknown scenario {name!r}; valid scenarios: {valid}")
    return load_scenario_file(paths[name])


def list_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every shipped scenario, validated."""
    return [load_scenario_file(path) for path in scenario_paths(directory).values()]
