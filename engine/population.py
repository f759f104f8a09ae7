"""The shipped population tables (names, ZIP geography, streets), loaded once per process.

The CSVs live in scenarios/population/ with their sources in that folder's README.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.scenarios.loader import SCENARIO_DIR

from .sampling import normalized_cumulative

POPULATION_DIR = SCENARIO_DIR / "population"


@dataclass(frozen=True)
class NameTable:
    names: pa.StringArray
    weights: np.ndarray


@dataclass(frozen=True)
class Geography:
    """ZIP areas sorted by state, with a per-state cumulative weight for in-state draws."""

    table: pl.DataFrame  # zip, city, county, state, state_abbr, county_fips, lat, lon
    state_abbrs: tuple[str, ...]  # one entry per state code used in `zip_state_code`
    state_population: np.ndarray  # Census 2020 resident population per state code
    zip_state_code: np.ndarray  # state code of every ZIP row
    zip_search_key: np.ndarray  # state code + cumulative share within the state, ascending


def _read(name: str, **overrides: type[pl.DataType]) -> pl.DataFrame:
    path = POPULATION_DIR / name
    return pl.read_csv(path, schema_overrides=overrides or None)


@cache
def first_names() -> dict[str, NameTable]:
    """Given names by sex ("F", "M"), weighted by SSA counts."""
    frame = _read("first_names.csv")
    tables = {}
    for sex in ("F", "M"):
        part = frame.filter(pl.col("sex") == sex).sort("name")
        tables[sex] = NameTable(part["name"].to_arrow(), part["count"].to_numpy().astype(float))
    return tables


@cache
def surnames() -> NameTable:
    frame = _read("surnames.csv").sort("name")
    return NameTable(frame["name"].to_arrow(), frame["count"].to_numpy().astype(float))


@cache
def street_names() -> pa.StringArray:
    return _read("street_names.csv").sort("name")["name"].to_arrow()


@cache
def street_suffixes() -> pa.StringArray:
    return _read("street_suffixes.csv")["suffix"].to_arrow()


@cache
def geography() -> Geography:
    frame = _read("zipcodes.csv", zip=pl.Utf8, county_fips=pl.Utf8).sort("state_abbr", "zip")
    state_abbrs = tuple(frame["state_abbr"].unique(maintain_order=True).to_list())
    code_of = {abbr: code for code, abbr in enumerate(state_abbrs)}
    zip_state_code = np.array([code_of[a] for a in frame["state_abbr"].to_list()], dtype=np.int64)
    population = frame["population"].to_numpy().astype(np.float64)
    # States are drawn by their real population; the shipped ZIPs are only a sample
    # of each state, so their sums would misweight states.
    states = _read("state_population.csv", state_fips=pl.Utf8)
    state_of = dict(zip(states["state_abbr"], states["population"], strict=True))
    state_population = np.array([state_of[abbr] for abbr in state_abbrs], dtype=np.float64)
    # Cumulative share of each ZIP within its state (the last exactly 1.0), so that
    # searching for `state_code + uniform` finds a ZIP of that state, by population.
    state_cumulative = np.zeros(len(frame))
    for code in range(len(state_abbrs)):
        rows = zip_state_code == code
        state_cumulative[rows] = normalized_cumulative(population[rows])
    return Geography(
        table=frame.drop("population"),
        state_abbrs=state_abbrs,
        state_population=state_population,
        zip_state_code=zip_state_code,
        zip_search_key=zip_state_code + state_cumulative,
    )
