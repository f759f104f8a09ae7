"""Columnar patients: the patients table for ids [lo, hi), built with vectorised draws.

Every column is a pure function of (seed, patient id), so a patient is the same
whether the run has ten patients or ten million, in one chunk or many.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.scenarios.loader import (
    EDUCATION_LEVELS,
    ETHNICITIES,
    INSURANCE_TYPES,
    RACES,
    Scenario,
)

from . import demography as demo
from . import population
from .draws import PatientDraws
from .errors import CohortforgeError
from .ids import uuid_strings
from .sampling import pick_categories, value_in_bands

UNIX_EPOCH = dt.date(1970, 1, 1)


def _take(values: pa.Array, indices: np.ndarray) -> pl.Series:
    return pl.Series(values.take(pa.array(indices)))


def _state_codes(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """State codes the scenario draws residences from, with their population weights."""
    geo = population.geography()
    if not scenario.states:
        return np.arange(len(geo.state_abbrs)), geo.state_population
    unknown = [s for s in scenario.states if s not in geo.state_abbrs]
    if unknown:
        raise CohortforgeError(
            f"{scenario.path}: geography.states: unknown state {unknown[0]!r}; "
            f"use USPS abbreviations such as {', '.join(geo.state_abbrs[:5])}"
        )
    codes = np.array([geo.state_abbrs.index(s) for s in scenario.states])
    return codes, geo.state_population[codes]


def _zip_rows(draws: PatientDraws, state_code: np.ndarray, stream: str) -> np.ndarray:
    geo = population.geography()
    target = state_code + draws.uniform(stream)
    rows = np.searchsorted(geo.zip_search_key, target, side="right")
    return np.minimum(rows, len(geo.zip_search_key) - 1)


def _other_than(picked: np.ndarray, avoided: np.ndarray, names: population.NameTable) -> np.ndarray:
    """Move a pick that equals the avoided index to the next name (no "John John")."""
    return np.where(picked == avoided, (picked + 1) % len(names.names), picked)


def _weights(table: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    return np.array([table[name] for name in names])


def _band_rate(ages: np.ndarray, bands, rates) -> np.ndarray:
    """The rate of the band each age falls in; 0 outside every band."""
    result = np.zeros(ages.size)
    for low, high, rate in zip(bands.lows, bands.highs, rates, strict=True):
        result[(ages >= low) & (ages < high)] = rate
    return result


def build_patients(
    scenario: Scenario, seed: int, lo: int, hi: int, reference_date: dt.date
) -> pa.Table:
    """The patients table (Synthea's 28 columns plus social determinants) for ids [lo, hi)."""
    draws = PatientDraws(seed, lo, hi)
    n = hi - lo

    # Age, sex, race, ethnicity.
    age = value_in_bands(
        draws.uniform("patient.age_band"),
        draws.uniform("patient.age_within_band"),
        np.array(scenario.age.lows),
        np.array(scenario.age.highs),
        np.array(scenario.age.weights),
    )
    reference_day = (reference_date - UNIX_EPOCH).days
    birth_day = reference_day - np.floor(age * demo.DAYS_PER_YEAR).astype(np.int64)
    age_years = np.floor(age)
    is_female = (
        pick_categories(draws.uniform("patient.sex"), _weights(scenario.sex, ("female", "male")))
        == 0
    )
    race = pick_categories(draws.uniform("patient.race"), _weights(scenario.race, RACES))
    ethnicity = pick_categories(
        draws.uniform("patient.ethnicity"), _weights(scenario.ethnicity, ETHNICITIES)
    )
    is_adult = age_years >= demo.ADULT_AGE

    # Marital status: shares by age band, drawn as one categorical per band.
    marital_band = np.searchsorted(demo.MARITAL_AGE_EDGES, age_years, side="right") - 1
    shares = demo.MARITAL_SHARES[np.clip(marital_band, 0, len(demo.MARITAL_SHARES) - 1)]
    cumulative = np.cumsum(shares, axis=1)
    marital_u = draws.uniform("patient.marital")
    marital = (marital_u[:, None] >= cumulative).sum(axis=1)
    married = is_adult & (marital == 0)
    marital_code = np.where(is_adult, marital, -1)

    # Names.
    first = population.first_names()
    female_first = pick_categories(draws.uniform("patient.first_name"), first["F"].weights)
    male_first = pick_categories(draws.uniform("patient.first_name"), first["M"].weights)
    female_middle = _other_than(
        pick_categories(draws.uniform("patient.middle_name"), first["F"].weights),
        female_first,
        first["F"],
    )
    male_middle = _other_than(
        pick_categories(draws.uniform("patient.middle_name"), first["M"].weights),
        male_first,
        first["M"],
    )
    last = population.surnames()
    last_index = pick_categories(draws.uniform("patient.last_name"), last.weights)
    maiden_index = pick_categories(draws.uniform("patient.maiden_name"), last.weights)
    has_middle = draws.uniform("patient.has_middle_name") < demo.MIDDLE_NAME_SHARE

    # Education, income, insurance, social determinants.
    education = pick_categories(
        draws.uniform("patient.education"), _weights(scenario.education, EDUCATION_LEVELS)
    )
    has_education = age_years >= demo.EDUCATION_AGE
    income = value_in_bands(
        draws.uniform("patient.income_band"),
        draws.uniform("patient.income_within_band"),
        np.array(scenario.income.lows),
        np.array(scenario.income.highs),
        np.array(scenario.income.weights),
    )
    insurance_u = draws.uniform("patient.insurance")
    insurance = np.where(
        age_years >= demo.MEDICARE_AGE,
        pick_categories(insurance_u, _weights(scenario.insurance["age_65_plus"], INSURANCE_TYPES)),
        pick_categories(insurance_u, _weights(scenario.insurance["under_65"], INSURANCE_TYPES)),
    )
    sdoh = {
        flag: draws.uniform(f"patient.sdoh.{flag}") < rate for flag, rate in scenario.sdoh.items()
    }
    sdoh["unemployment"] &= is_adult & (age_years < demo.MEDICARE_AGE)
    current_rate = _band_rate(age_years, scenario.smoking_current, scenario.smoking_current.rates)
    quit = scenario.smoking_quit_ratio
    smoking_u = draws.uniform("patient.smoking")
    smoking = np.where(
        smoking_u < current_rate, 2, np.where(smoking_u < current_rate / (1.0 - quit), 1, 0)
    )

    # Residence and birthplace.
    geo = population.geography()
    state_codes, state_weights = _state_codes(scenario)
    home_state = state_codes[pick_categories(draws.uniform("patient.state"), state_weights)]
    home_zip = _zip_rows(draws, home_state, "patient.zip")
    born_here = draws.uniform("patient.born_in_state") < demo.BORN_IN_STATE_OF_RESIDENCE
    other_state = pick_categories(draws.uniform("patient.birth_state"), geo.state_population)
    birth_zip = _zip_rows(draws, np.where(born_here, home_state, other_state), "patient.birth_zip")
    streets = population.street_names()
    suffixes = population.street_suffixes()

    home = geo.table[home_zip]
    birth = geo.table[birth_zip]
    frame = pl.DataFrame(
        {
            "Id": uuid_strings(draws.key("patient.id"), draws.patient_ids),
            "birth_day": birth_day.astype(np.int32),
            "age": age_years.astype(np.int32),
            "is_female": is_female,
            "married": married,
            "marital": marital_code,
            "race": race,
            "ethnicity": ethnicity,
            "has_middle": has_middle,
            "ssn_area": draws.integers("patient.ssn", 900, 1000, 0),
            "ssn_group": draws.integers("patient.ssn", 1, 100, 1),
            "ssn_serial": draws.integers("patient.ssn", 1, 10000, 2),
            "drivers": draws.integers("patient.drivers", 0, 10**6),
            "passport": draws.integers("patient.passport", 0, 10**8),
            "has_passport": is_adult
            & (draws.uniform("patient.has_passport") < demo.PASSPORT_SHARE),
            "suffix": draws.integers("patient.suffix", 0, len(demo.PROFESSIONAL_SUFFIXES)),
            "has_suffix": has_education
            & (education == EDUCATION_LEVELS.index("advanced"))
            & (draws.uniform("patient.has_suffix") < demo.PROFESSIONAL_SUFFIX_SHARE),
            "house_number": draws.integers("patient.house_number", 1, 10000),
            "street": pick_categories(draws.uniform("patient.street"), np.ones(len(streets))),
            "street_suffix": draws.integers("patient.street_suffix", 0, len(suffixes)),
            "unit": draws.integers("patient.unit", 1, 100),
            "has_unit": draws.uniform("patient.has_unit") < demo.UNIT_ADDRESS_SHARE,
            # About +-0.02 degrees (roughly 2 km) around the ZIP's internal point.
            "lat_jitter": (draws.uniform("patient.lat") - 0.5) * 0.04,
            "lon_jitter": (draws.uniform("patient.lon") - 0.5) * 0.04,
            "income": np.round(income).astype(np.int64),
            "education": np.where(has_education, education, -1),
            "insurance": insurance,
            "smoking": np.where(is_adult, smoking, 0),
            **{flag: values for flag, values in sdoh.items()},
        }
    )
    frame = frame.with_columns(
        LAST=_take(last.names, last_index),
        MAIDEN_NAME=_take(last.names, maiden_index),
        FIRST_F=_take(first["F"].names, female_first),
        FIRST_M=_take(first["M"].names, male_first),
        MIDDLE_F=_take(first["F"].names, female_middle),
        MIDDLE_M=_take(first["M"].names, male_middle),
        STREET=_take(streets, frame["street"].to_numpy()),
        STREET_SUFFIX=_take(suffixes, frame["street_suffix"].to_numpy()),
        home_city=home["city"],
        home_state=home["state"],
        home_county=home["county"],
        home_fips=home["county_fips"],
        home_zip=home["zip"],
        home_lat=home["lat"],
        home_lon=home["lon"],
        birth_city=birth["city"],
        birth_state=birth["state"],
    )
    return _patients_columns(frame, n).to_arrow()


def _category(codes: str, labels: tuple[str, ...]) -> pl.Expr:
    """Map integer codes to labels; negative codes become null (not applicable)."""
    return (
        pl.when(pl.col(codes) >= 0)
        .then(pl.col(codes).replace_strict(list(range(len(labels))), list(labels), default=None))
        .otherwise(None)
    )


def _patients_columns(frame: pl.DataFrame, n: int) -> pl.DataFrame:
    col = pl.col
    is_female = col("is_female")
    adult = col("age") >= demo.ADULT_AGE
    null_text = pl.lit(None, dtype=pl.Utf8)
    return frame.select(
        col("Id"),
        col("birth_day").cast(pl.Date).alias("BIRTHDATE"),
        pl.lit(None, dtype=pl.Date).alias("DEATHDATE"),
        pl.format(
            "{}-{}-{}",
            col("ssn_area").cast(pl.Utf8),
            col("ssn_group").cast(pl.Utf8).str.zfill(2),
            col("ssn_serial").cast(pl.Utf8).str.zfill(4),
        ).alias("SSN"),
        pl.when(col("age") >= demo.DRIVING_AGE)
        .then(pl.concat_str(pl.lit("S99"), col("drivers").cast(pl.Utf8).str.zfill(6)))
        .otherwise(null_text)
        .alias("DRIVERS"),
        pl.when(col("has_passport"))
        .then(pl.concat_str(pl.lit("X"), col("passport").cast(pl.Utf8).str.zfill(8), pl.lit("X")))
        .otherwise(null_text)
        .alias("PASSPORT"),
        pl.when(~adult)
        .then(null_text)
        .when(~is_female)
        .then(pl.lit("Mr."))
        .when(col("married"))
        .then(pl.lit("Mrs."))
        .otherwise(pl.lit("Ms."))
        .alias("PREFIX"),
        pl.when(is_female).then(col("FIRST_F")).otherwise(col("FIRST_M")).alias("FIRST"),
        pl.when(~col("has_middle"))
        .then(null_text)
        .when(is_female)
        .then(col("MIDDLE_F"))
        .otherwise(col("MIDDLE_M"))
        .alias("MIDDLE"),
        col("LAST"),
        pl.when(col("has_suffix"))
        .then(_category("suffix", demo.PROFESSIONAL_SUFFIXES))
        .otherwise(null_text)
        .alias("SUFFIX"),
        pl.when(is_female & col("married"))
        .then(col("MAIDEN_NAME"))
        .otherwise(null_text)
        .alias("MAIDEN"),
        _category("marital", demo.MARITAL_CODES).alias("MARITAL"),
        _category("race", RACES).alias("RACE"),
        _category("ethnicity", ETHNICITIES).alias("ETHNICITY"),
        pl.when(is_female).then(pl.lit("F")).otherwise(pl.lit("M")).alias("GENDER"),
        pl.concat_str(col("birth_city"), pl.lit("  "), col("birth_state"), pl.lit("  US")).alias(
            "BIRTHPLACE"
        ),
        pl.concat_str(
            col("house_number").cast(pl.Utf8),
            pl.lit(" "),
            col("STREET"),
            pl.lit(" "),
            col("STREET_SUFFIX"),
            pl.when(col("has_unit"))
            .then(pl.concat_str(pl.lit(" Unit "), col("unit").cast(pl.Utf8)))
            .otherwise(pl.lit("")),
        ).alias("ADDRESS"),
        col("home_city").alias("CITY"),
        col("home_state").alias("STATE"),
        col("home_county").alias("COUNTY"),
        col("home_fips").alias("FIPS"),
        col("home_zip").alias("ZIP"),
        (col("home_lat") + col("lat_jitter")).round(6).alias("LAT"),
        (col("home_lon") + col("lon_jitter")).round(6).alias("LON"),
        # Costs accrue from encounters, which the module engine adds; none yet.
        pl.lit(0.0).alias("HEALTHCARE_EXPENSES"),
        pl.lit(0.0).alias("HEALTHCARE_COVERAGE"),
        col("income").alias("INCOME"),
        _category("education", EDUCATION_LEVELS).alias("EDUCATION"),
        _category("insurance", INSURANCE_TYPES).alias("INSURANCE"),
        col("food_insecurity").alias("FOOD_INSECURITY"),
        col("housing_instability").alias("HOUSING_INSTABILITY"),
        col("transportation_barrier").alias("TRANSPORTATION_BARRIER"),
        col("unemployment").alias("UNEMPLOYMENT"),
        _category("smoking", ("never", "former", "current")).alias("SMOKING_STATUS"),
    )
