"""ADT messages (hl7/adt.hl7) for one chunk, built for all encounters at once.

Events (HL7 v2.5.1 table 0003; message structures from table 0354 / hl7apy's
`v2_5_1/messages.py`):
- A04 register a patient (structure ADT_A01) at the start of every encounter that is
  not an inpatient stay (outpatient, ambulatory, wellness, emergency, urgent care, ...);
- A01 admit (ADT_A01) at the start and A03 discharge (ADT_A03) at the end of an
  inpatient stay;
- A08 update patient information (ADT_A01) when the demographics change: the recorded
  death, with PID-29/PID-30 set and PV1-2 = N (not applicable, table 0004).

Segment order follows both structures: MSH EVN PID PV1 [AL1...] [DG1...] [IN1].
Within a patient, messages are ordered by event time; MSH-10 is "A<INDEX>.<n>", n the
message's place in the patient's ADT stream, so it is unique in the run and does not
depend on chunking.
"""

from __future__ import annotations

import polars as pl

from cohortforge.terminology import Terminology

from .segments import (
    al1,
    components,
    dg1,
    evn,
    hl7_date,
    in1,
    msh,
    pid,
    pv1,
)

# DG1-6 diagnosis type (table 0052) per event; "\x01" marks it in the per-encounter block.
_DIAGNOSIS_TYPE = {"A01": "A", "A03": "F", "A04": "W"}
_TYPE_MARK = "\x01"
# Sort rank of events that share a timestamp.
_EVENT_RANK = {"A01": 0, "A04": 1, "A03": 2, "A08": 3}
# PV1-36 discharge disposition, NUBC UB-04 FL17 codes (terminology seed, cms-noridian).
_DISCHARGED_HOME = "01"
_EXPIRED = "20"
# AL1-2 allergen type (table 0127) per Synthea allergy CATEGORY.
_ALLERGEN_TYPE = {"medication": "DA", "drug": "DA", "food": "FA", "environment": "EA"}
# AL1-4 severity (table 0128) per Synthea SEVERITY.
_ALLERGY_SEVERITY = {"SEVERE": "SV", "MODERATE": "MO", "MILD": "MI"}
# Table 0396 names of the allergy code systems Synthea writes.
_CODING_SYSTEM = {"RxNorm": "RXNORM", "SNOMED-CT": "SCT", "SNOMED CT": "SCT"}


def _events(encounters: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    """One row per ADT message: EVENT, STRUCTURE, PATIENT, ENCOUNTER, SORT_TIME, TS."""
    inpatient = pl.col("CLASS") == "inpatient"
    common = ["PATIENT", "ENCOUNTER"]
    registered = encounters.filter(~inpatient).select(
        *common, pl.lit("A04").alias("EVENT"), pl.col("START").alias("SORT_TIME"),
        pl.col("START_TS").alias("TS"),
    )
    admitted = encounters.filter(inpatient).select(
        *common, pl.lit("A01").alias("EVENT"), pl.col("START").alias("SORT_TIME"),
        pl.col("START_TS").alias("TS"),
    )
    discharged = encounters.filter(inpatient).select(
        *common, pl.lit("A03").alias("EVENT"), pl.col("STOP").alias("SORT_TIME"),
        pl.col("STOP_TS").alias("TS"),
    )
    died = patients.filter(pl.col("DEATHDATE").is_not_null()).select(
        "PATIENT",
        pl.lit(None, dtype=pl.String).alias("ENCOUNTER"),
        pl.lit("A08").alias("EVENT"),
        # After every event of the day of death.
        (pl.col("DEATHDATE").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1))
        .alias("SORT_TIME"),
        hl7_date(pl.col("DEATHDATE")).alias("TS"),
    )
    frames = [registered, admitted, discharged, died]
    events = pl.concat(
        [frame.with_columns(pl.col("SORT_TIME").cast(pl.Datetime("us", "UTC"))) for frame in frames]
    )
    return events.with_columns(
        pl.col("EVENT").replace_strict(_EVENT_RANK, return_dtype=pl.Int8).alias("RANK"),
        pl.when(pl.col("EVENT") == "A03").then(pl.lit("ADT_A03")).otherwise(pl.lit("ADT_A01"))
        .alias("STRUCTURE"),
    )


def _diagnosis_blocks(conditions: pl.DataFrame, encounters: pl.DataFrame,
                      terminology: Terminology) -> pl.DataFrame:
    """ENCOUNTER -> DG1 block (type marked), from linked conditions and the reason code."""
    linked = conditions.filter(pl.col("ENCOUNTER").is_not_null()).select(
        "ENCOUNTER", pl.col("CODE").cast(pl.String), pl.col("START").cast(pl.Date)
    )
    reasons = encounters.filter(pl.col("REASONCODE").is_not_null()).select(
        "ENCOUNTER", pl.col("REASONCODE").cast(pl.String).alias("CODE"),
        pl.col("START").dt.date(),
    )
    diagnoses = pl.concat([linked, reasons])
    icd = terminology.icd10cm_codes(diagnoses["CODE"])
    diagnoses = diagnoses.with_columns(ICD=icd).filter(pl.col("ICD").is_not_null())
    diagnoses = (
        diagnoses.sort("ENCOUNTER", "START", "ICD")
        .unique(subset=["ENCOUNTER", "ICD"], keep="first", maintain_order=True)
    )
    diagnoses = diagnoses.with_columns(
        DISPLAY=terminology.displays("ICD-10-CM", diagnoses["ICD"]),
        SET_ID=pl.int_range(1, pl.len() + 1).over("ENCOUNTER"),
    )
    text = dg1(pl.col("SET_ID"), pl.col("ICD"), pl.col("DISPLAY"), hl7_date(pl.col("START")),
               _TYPE_MARK)
    return diagnoses.group_by("ENCOUNTER", maintain_order=True).agg(
        text.str.join("").alias("DG1_BLOCK")
    )


def _allergy_blocks(messages: pl.DataFrame, allergies: pl.DataFrame) -> pl.DataFrame:
    """MSG -> AL1 block of the allergies active on the message's event date."""
    if allergies.height == 0:
        return pl.DataFrame(schema={"MSG": pl.UInt32, "AL1_BLOCK": pl.String})
    allergy = allergies.select(
        "PATIENT",
        pl.col("START").cast(pl.Date).alias("A_START"),
        pl.col("STOP").cast(pl.Date).alias("A_STOP"),
        pl.col("CODE").cast(pl.String).alias("A_CODE"),
        pl.col("DESCRIPTION").alias("A_TEXT"),
        pl.col("SYSTEM").replace_strict(_CODING_SYSTEM, default=None, return_dtype=pl.String)
        .alias("A_SYSTEM"),
        pl.col("CATEGORY").replace_strict(_ALLERGEN_TYPE, default="MA", return_dtype=pl.String)
        .alias("A_TYPE"),
        pl.col("SEVERITY1").replace_strict(_ALLERGY_SEVERITY, default=None,
                                           return_dtype=pl.String).alias("A_SEVERITY"),
        pl.col("DESCRIPTION1").alias("A_REACTION"),
    )
    active = (
        messages.select("MSG", "PATIENT", pl.col("SORT_TIME").dt.date().alias("ON"))
        .join(allergy, on="PATIENT", how="inner")
        .filter(
            (pl.col("A_START") <= pl.col("ON"))
            & (pl.col("A_STOP").is_null() | (pl.col("A_STOP") > pl.col("ON")))
        )
        .sort("MSG", "A_START", "A_CODE")
    )
    active = active.with_columns(SET_ID=pl.int_range(1, pl.len() + 1).over("MSG"))
    text = al1(pl.col("SET_ID"), pl.col("A_TYPE"), pl.col("A_CODE"), pl.col("A_TEXT"),
               pl.col("A_SYSTEM"), pl.col("A_SEVERITY"), pl.col("A_REACTION"),
               hl7_date(pl.col("A_START")))
    return active.group_by("MSG", maintain_order=True).agg(text.str.join("").alias("AL1_BLOCK"))


def _insurance(encounters: pl.DataFrame, payers: pl.DataFrame) -> pl.DataFrame:
    """ENCOUNTER -> IN1 segment of its payer (none for NO_INSURANCE)."""
    insured = payers.filter(pl.col("NAME") != "NO_INSURANCE").select(
        pl.col("Id").alias("PAYER"),
        in1(pl.col("Id"), pl.col("NAME"), pl.col("Id"), pl.col("NAME"), pl.col("ADDRESS"),
            pl.col("CITY"), pl.col("STATE_HEADQUARTERED"), pl.col("ZIP").cast(pl.String),
            pl.col("PHONE")).alias("IN1"),
    )
    return encounters.select("ENCOUNTER", "PAYER").join(insured, on="PAYER", how="inner").select(
        "ENCOUNTER", "IN1"
    )


def adt_messages(patients: pl.DataFrame, encounters: pl.DataFrame, conditions: pl.DataFrame,
                 allergies: pl.DataFrame, payers: pl.DataFrame, terminology: Terminology,
                 prefix: str = "", suffix: str = "") -> pl.Series:
    """Every ADT message of the chunk, in order, each wrapped in prefix ... suffix.

    `patients` is frames.patient_frame, `encounters` frames.encounter_frame; conditions and
    allergies are the chunk tables, payers the run-wide payers table.
    """
    events = _events(encounters, patients)
    messages = (
        events.join(patients, on="PATIENT", how="inner")
        .sort("INDEX", "SORT_TIME", "RANK", "ENCOUNTER", nulls_last=True)
        .with_row_index("MSG")
        .with_columns(SEQ=pl.int_range(1, pl.len() + 1).over("INDEX"))
        .join(encounters.drop("PATIENT"), on="ENCOUNTER", how="left", maintain_order="left")
        .join(_diagnosis_blocks(conditions, encounters, terminology), on="ENCOUNTER",
              how="left", maintain_order="left")
        .join(_insurance(encounters, payers), on="ENCOUNTER", how="left", maintain_order="left")
    )
    messages = messages.join(_allergy_blocks(messages, allergies), on="MSG", how="left",
                             maintain_order="left")
    event = pl.col("EVENT")
    is_a08 = event == "A08"
    died_by_event = pl.col("DEATHDATE") <= pl.col("SORT_TIME").dt.date()
    died_at_discharge = pl.col("DEATHDATE") == pl.col("STOP").dt.date()
    disposition = pl.when(event == "A03").then(
        pl.when(died_at_discharge).then(pl.lit(_EXPIRED)).otherwise(pl.lit(_DISCHARGED_HOME))
    )
    visit = pv1(
        pl.when(is_a08).then(pl.lit("N")).otherwise(pl.col("PATIENT_CLASS")),
        pl.col("ATTENDING"),
        pl.col("ENCOUNTER"),
        pl.col("START_TS"),
        pl.when(event == "A03").then(pl.col("STOP_TS")),
        disposition,
    )
    diagnosis_type = event.replace_strict(_DIAGNOSIS_TYPE, default="W", return_dtype=pl.String)
    text = pl.concat_str(
        [
            pl.lit(prefix),
            msh(components(pl.lit("ADT"), event, pl.col("STRUCTURE")),
                pl.format("A{}.{}", pl.col("INDEX"), pl.col("SEQ")), pl.col("TS")),
            evn(event, pl.col("TS")),
            pid(pl.col("PID_CORE"),
                pl.when(died_by_event).then(hl7_date(pl.col("DEATHDATE")))),
            visit,
            pl.col("AL1_BLOCK"),
            pl.col("DG1_BLOCK").str.replace_all(_TYPE_MARK, diagnosis_type, literal=True),
            pl.col("IN1"),
            pl.lit(suffix),
        ],
        ignore_nulls=True,
    )
    return messages.select(text.alias("MESSAGE")).to_series()

