"""Kernel inputs from the patients table: birth, sex, race, SES, natural death, attributes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from .compile import CompiledModel
from .draws import PatientDraws
from .life_table import natural_death_times
from .module_schema import PATIENT_ATTRIBUTES, RACE_CODES
from .simulate import PatientInputs, initial_attributes, ses_category


def patient_attributes(patients: pl.DataFrame) -> dict[str, pl.Series]:
    """Attributes every patient starts with (module_schema.PATIENT_ATTRIBUTES).

    `smoker` is the name Synthea's modules use; the social determinants carry their
    column names in lower case so modules can branch on them.
    """
    attributes = {
        "smoker": patients["SMOKING_STATUS"] == "current",
        "income": patients["INCOME"],
        "education": patients["EDUCATION"],
        "insurance": patients["INSURANCE"],
        "food_insecurity": patients["FOOD_INSECURITY"],
        "housing_instability": patients["HOUSING_INSTABILITY"],
        "transportation_barrier": patients["TRANSPORTATION_BARRIER"],
        "unemployed": patients["UNEMPLOYMENT"],
    }
    assert tuple(attributes) == PATIENT_ATTRIBUTES, "keep module_schema.PATIENT_ATTRIBUTES in step"
    return attributes


def build_inputs(
    model: CompiledModel, patients: pa.Table, seed: int, lo: int, hi: int
) -> PatientInputs:
    frame = pl.from_arrow(patients)
    draws = PatientDraws(seed, lo, hi)
    birth_time = frame["BIRTHDATE"].cast(pl.Int32).cast(pl.Int64).to_numpy() * 86400
    is_male = (frame["GENDER"] == "M").to_numpy().astype(np.int8)
    race = frame["RACE"].replace_strict(RACE_CODES, return_dtype=pl.Int8).to_numpy()
    hispanic = (frame["ETHNICITY"] == "hispanic").to_numpy().astype(np.int8)
    slots, values, types = initial_attributes(model, patient_attributes(frame), frame.height)
    return PatientInputs(
        patient_ids=draws.patient_ids,
        birth_time=birth_time,
        is_male=is_male,
        race=race,
        hispanic=hispanic,
        ses=ses_category(frame["INCOME"].to_numpy()).astype(np.int8),
        death_time=natural_death_times(draws, birth_time, is_male.astype(bool)),
        init_slots=slots,
        init_values=values,
        init_types=types,
    )
