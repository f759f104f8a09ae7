"""Where patients get care: organizations, their clinicians, and payers.

Each state has a fixed set of organizations (hospitals, then clinics, placed at the
state's shipped ZIP areas), each with a fixed number of clinicians. The network is a pure
function of the seed, built once per run, so a chunk never needs another chunk to know an
organization's id. Every patient has a clinic and clinician and a hospital and
hospitalist in their home state, each from its own stream, and a payer from their
INSURANCE category; encounters go to the clinic, or to the hospital for emergency,
urgent-care and inpatient visits.

Costs are not modelled, so the money columns stay empty; utilisation counts (encounters
per organization, clinician and payer) are summed over the run (`with_utilisation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

from cohortforge.exporters import synthea_columns as cols

from . import population
from .draws import PatientDraws
from .ids import uuid_strings
from .sampling import pick_categories
from .streams import stream_key

HOSPITAL_NAMES = ("Medical Center", "Community Hospital", "Regional Hospital", "General Hospital")
CLINIC_NAMES = (
    "Family Medicine",
    "Primary Care",
    "Health Center",
    "Internal Medicine",
    "Family Practice",
    "Community Clinic",
    "Medical Group",
    "Wellness Clinic",
)
N_HOSPITALS = len(HOSPITAL_NAMES)
N_CLINICS = len(CLINIC_NAMES)
ORGS_PER_STATE = N_HOSPITALS + N_CLINICS
CLINICIANS_PER_ORG = 4
# Encounter classes seen at the hospital; every other class is seen at the clinic.
HOSPITAL_CLASSES = ("emergency", "urgentcare", "inpatient")
# Synthea's default payers (src/main/resources/payers/insurance_companies.csv, plus its
# government payers and the NO_INSURANCE pseudo-payer); private members spread evenly.
PRIVATE_PAYERS = (
    "Aetna",
    "Anthem",
    "Blue Cross Blue Shield",
    "Cigna Health",
    "Humana",
    "UnitedHealthcare",
)
PAYER_NAMES = (*PRIVATE_PAYERS, "Medicare", "Medicaid", "NO_INSURANCE")
PAYER_OWNERSHIP = ("PRIVATE",) * len(PRIVATE_PAYERS) + ("GOVERNMENT", "GOVERNMENT", "NO_INSURANCE")
# INSURANCE category (scenarios/loader.py INSURANCE_TYPES order) -> payer index.
_GOVERNMENT_PAYER = {"medicare": 6, "medicaid": 7, "uninsured": 8}


def phone_numbers(numbers: np.ndarray) -> pl.Series:
    """555-01xx numbers, the range the North American Numbering Plan keeps for fiction."""
    digits = pl.Series(np.asarray(numbers, dtype=np.int64) % 100).cast(pl.Utf8).str.zfill(2)
    return "555-01" + digits


def _draws(seed: int, numbers: np.ndarray) -> PatientDraws:
    draws = PatientDraws(seed, 0, 0)
    draws.patient_ids = np.asarray(numbers, dtype=np.uint64)
    return draws


def _street_addresses(draws: PatientDraws, stream: str) -> pl.Series:
    streets = population.street_names()
    suffixes = population.street_suffixes()
    street = streets.take(draws.integers(f"{stream}.street", 0, len(streets)))
    suffix = suffixes.take(draws.integers(f"{stream}.suffix", 0, len(suffixes)))
    frame = pl.DataFrame(
        {
            "number": draws.integers(f"{stream}.number", 1, 9999),
            "street": pl.Series(street),
            "suffix": pl.Series(suffix),
        }
    )
    return frame.select(pl.format("{} {} {}", "number", "street", "suffix"))["number"]


def _empty(n: int, dtype: pl.DataType) -> pl.Series:
    return pl.Series([None] * n, dtype=dtype)


@dataclass(frozen=True)
class PatientCare:
    """Per patient (local index order): row numbers of their clinic, hospital, clinicians
    and payer in the network's tables."""

    clinic: np.ndarray
    clinician: np.ndarray
    hospital: np.ndarray
    hospitalist: np.ndarray
    payer: np.ndarray


@dataclass(frozen=True)
class CareNetwork:
    seed: int

    @cached_property
    def organizations(self) -> pl.DataFrame:
        """ORGS_PER_STATE per state (hospitals first), zero utilisation."""
        geo = population.geography()
        n_states = len(geo.state_abbrs)
        state_code = np.repeat(np.arange(n_states), ORGS_PER_STATE)
        slot = np.tile(np.arange(ORGS_PER_STATE), n_states)
        numbers = state_code * ORGS_PER_STATE + slot
        # Organization k of a state sits in the state's (k mod n)-th shipped ZIP area.
        first_zip = np.searchsorted(geo.zip_state_code, np.arange(n_states))
        zips_in_state = np.bincount(geo.zip_state_code, minlength=n_states)
        places = geo.table[first_zip[state_code] + slot % zips_in_state[state_code]]
        kinds = pl.Series(HOSPITAL_NAMES + CLINIC_NAMES).gather(slot)
        draws = _draws(self.seed, numbers)
        n = len(numbers)
        return pl.DataFrame(
            {
                "Id": pl.Series(uuid_strings(draws.key("care.organization.id"), numbers)),
                "NAME": places["city"] + " " + kinds,
                "ADDRESS": _street_addresses(draws, "care.organization.address"),
                "CITY": places["city"],
                "STATE": places["state_abbr"],
                "ZIP": places["zip"],
                "LAT": places["lat"],
                "LON": places["lon"],
                "PHONE": phone_numbers(numbers),
                "REVENUE": _empty(n, pl.Float64),
                "UTILIZATION": pl.Series(np.zeros(n, dtype=np.int64)),
            }
        )

    @cached_property
    def providers(self) -> pl.DataFrame:
        """CLINICIANS_PER_ORG per organization, working at its address."""
        orgs = self.organizations
        org_index = np.repeat(np.arange(orgs.height), CLINICIANS_PER_ORG)
        numbers = np.arange(len(org_index))
        draws = _draws(self.seed, numbers)
        is_female = draws.uniform("care.provider.sex") < 0.5
        first = population.first_names()
        female = first["F"].names.take(
            pick_categories(draws.uniform("care.provider.first_name"), first["F"].weights)
        )
        male = first["M"].names.take(
            pick_categories(draws.uniform("care.provider.first_name"), first["M"].weights)
        )
        last = population.surnames()
        surname = last.names.take(
            pick_categories(draws.uniform("care.provider.last_name"), last.weights)
        )
        given = pl.Series(np.where(is_female, female.to_numpy(False), male.to_numpy(False)))
        at = orgs[org_index]
        return pl.DataFrame(
            {
                "Id": pl.Series(uuid_strings(draws.key("care.provider.id"), numbers)),
                "ORGANIZATION": at["Id"],
                "NAME": given.cast(pl.Utf8) + " " + pl.Series(surname),
                "GENDER": pl.Series(np.where(is_female, "F", "M")),
                "SPECIALITY": pl.Series(["GENERAL PRACTICE"] * len(numbers)),
                "ADDRESS": at["ADDRESS"],
                "CITY": at["CITY"],
                "STATE": at["STATE"],
                "ZIP": at["ZIP"],
                "LAT": at["LAT"],
                "LON": at["LON"],
                "ENCOUNTERS": pl.Series(np.zeros(len(numbers), dtype=np.int64)),
                "PROCEDURES": pl.Series(np.zeros(len(numbers), dtype=np.int64)),
            }
        )

    @cached_property
    def payers(self) -> pl.DataFrame:
        n = len(PAYER_NAMES)
        numbers = np.arange(n)
        frame = {
            "Id": pl.Series(uuid_strings(stream_key(self.seed, "care.payer.id"), numbers)),
            "NAME": pl.Series(PAYER_NAMES),
            "OWNERSHIP": pl.Series(PAYER_OWNERSHIP),
        }
        for column in cols.PAYERS[3:]:
            counted = column in ("COVERED_ENCOUNTERS", "UNIQUE_CUSTOMERS")
            frame[column] = (
                pl.Series(np.zeros(n, dtype=np.int64)) if counted else _empty(n, pl.Utf8)
            )
        return pl.DataFrame(frame)

    def patient_care(self, seed: int, lo: int, hi: int, patients: pa.Table) -> PatientCare:
        """Each patient's organizations, clinicians and payer, by their own streams."""
        geo = population.geography()
        # Patients' STATE is the full state name, as in Synthea's patients.csv.
        names = geo.table.select("state", "state_abbr").unique(maintain_order=True)
        abbr_code = {abbr: code for code, abbr in enumerate(geo.state_abbrs)}
        codes = names["state_abbr"].replace_strict(abbr_code)
        code_of = dict(zip(names["state"], codes, strict=True))
        state = pl.Series(patients["STATE"]).replace_strict(code_of, return_dtype=pl.Int64)
        base = state.to_numpy() * ORGS_PER_STATE
        draws = PatientDraws(seed, lo, hi)
        hospital = base + draws.integers("care.hospital", 0, N_HOSPITALS)
        clinic = base + N_HOSPITALS + draws.integers("care.clinic", 0, N_CLINICS)
        clinician = clinic * CLINICIANS_PER_ORG + draws.integers(
            "care.clinician", 0, CLINICIANS_PER_ORG
        )
        hospitalist = hospital * CLINICIANS_PER_ORG + draws.integers(
            "care.hospitalist", 0, CLINICIANS_PER_ORG
        )
        government = (
            pl.Series(patients["INSURANCE"])
            .replace_strict(_GOVERNMENT_PAYER, default=-1, return_dtype=pl.Int64)
            .to_numpy()
        )
        private = draws.integers("care.private_payer", 0, len(PRIVATE_PAYERS))
        return PatientCare(
            clinic=clinic,
            clinician=clinician,
            hospital=hospital,
            hospitalist=hospitalist,
            payer=np.where(government < 0, private, government),
        )
