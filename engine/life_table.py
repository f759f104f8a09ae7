"""Natural death times from the SSA period life table (modules/SEMANTICS.md, Natural death)."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from .draws import PatientDraws
from .population import POPULATION_DIR

SECONDS_PER_YEAR = 365 * 86400
MAX_AGE = 120


@cache
def cumulative_death(sex: str) -> np.ndarray:
    """F(x) for x = 0..120: the probability of dying before age x, from q(x)."""
    table = pl.read_csv(POPULATION_DIR / "life_table.csv").sort("age")
    q = table[f"{'male' if sex == 'M' else 'female'}_qx"].to_numpy().astype(np.float64)
    cumulative = np.zeros(q.size + 1)
    for age in range(q.size):  # 120 iterations at load time, not per patient
        cumulative[age + 1] = cumulative[age] + (1.0 - cumulative[age]) * q[age]
    return cumulative


def death_age_years(uniforms: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """Inverse CDF with linear interpolation inside the year of death; 120 past the table."""
    index = np.searchsorted(cumulative, uniforms, side="right")  # first x + 1 with F > u
    past_table = index >= cumulative.size
    index = np.clip(index, 1, cumulative.size - 1)
    low, high = cumulative[index - 1], cumulative[index]
    span = np.where(high > low, high - low, 1.0)
    age = (index - 1) + (uniforms - low) / span
    return np.where(past_table, float(MAX_AGE), age)


def natural_death_times(
    draws: PatientDraws, birth_time: np.ndarray, is_male: np.ndarray
) -> np.ndarray:
    """Seconds since the epoch at which each patient dies of natural causes."""
    u = draws.uniform("patient.natural_death")
    age = np.where(
        is_male,
        death_age_years(u, cumulative_death("M")),
        death_age_years(u, cumulative_death("F")),
    )
    return birth_time + np.floor(age * SECONDS_PER_YEAR).astype(np.int64)
