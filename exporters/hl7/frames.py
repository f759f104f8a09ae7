"""Per-chunk frames shared by the ADT and ORU builders: patients, providers, encounters.

Each frame is keyed by the id the messages join on and carries ready-made segment text
(PID without its end, PV1 inputs), so a patient's PID is built once however many
messages repeat it.
"""

from __future__ import annotations

import polars as pl

from .segments import hl7_datetime, pid_core, provider_xcn

# PV1-2 patient class (HL7 table 0004: E emergency, I inpatient, O outpatient) per
# Synthea encounter class. Only inpatient stays are admissions (A01/A03); every other
# class, urgent care, virtual, home, hospice and SNF visits included, is registered as
# an outpatient visit (A04).
PATIENT_CLASS = {"inpatient": "I", "emergency": "E"}
OUTPATIENT_CLASS = "O"


def patient_frame(patients: pl.DataFrame) -> pl.DataFrame:
    """PATIENT, INDEX, DEATHDATE, PID_CORE (PID-1..23) per patient."""
    return patients.select(
        pl.col("Id").alias("PATIENT"),
        pl.col("INDEX"),
        pl.col("DEATHDATE"),
        pid_core().alias("PID_CORE"),
    )


def provider_frame(providers: pl.DataFrame) -> pl.DataFrame:
    """PROVIDER and its XCN (id ^ family ^ given); NAME is "<given> <family>"."""
    name = pl.col("NAME").fill_null("")
    frame = providers.select(
        pl.col("Id").alias("PROVIDER"),
        name.str.extract(r"^(\S+)", 1).alias("GIVEN"),
        name.str.extract(r"^\S+\s+(.+)$", 1).alias("FAMILY"),
    )
    return frame.select("PROVIDER", provider_xcn("PROVIDER", "GIVEN", "FAMILY").alias("XCN"))


def encounter_frame(encounters: pl.DataFrame, providers: pl.DataFrame) -> pl.DataFrame:
    """ENCOUNTER, PATIENT, START/STOP (datetimes and DTM text), CLASS, PATIENT_CLASS,
    ATTENDING (XCN text or null), PAYER, REASONCODE."""
    frame = encounters.select(
        pl.col("Id").alias("ENCOUNTER"),
        "PATIENT",
        "START",
        "STOP",
        pl.col("ENCOUNTERCLASS").alias("CLASS"),
        pl.col("ENCOUNTERCLASS")
        .replace_strict(PATIENT_CLASS, default=OUTPATIENT_CLASS, return_dtype=pl.String)
        .alias("PATIENT_CLASS"),
        "PROVIDER",
        "PAYER",
        "REASONCODE",
        hl7_datetime(pl.col("START")).alias("START_TS"),
        hl7_datetime(pl.col("STOP")).alias("STOP_TS"),
    )
    attending = provider_frame(providers).rename({"XCN": "ATTENDING"})
    return frame.join(attending, on="PROVIDER", how="left", maintain_order="left").drop(
        "PROVIDER"
    )
