"""GMRV VITAL MEASUREMENT #120.5: ^GMR(120.5,IEN,0), one entry per vital reading.

Pieces (VistA-M `Packages/General Medical Record - Vitals/Routines/GMVDCSAV.m` lines 49-56;
GMRVDS0.m:44 reads the reading from piece 8): 1 DATE/TIME VITALS TAKEN, 2 PATIENT (DFN),
3 VITAL TYPE, 4 DATE/TIME VITALS ENTERED, 8 RATE. Blood pressure is one reading,
`systolic/diastolic` (e.g. 128/82), so LOINC 8480-6 and 8462-4 rows taken at the same
time and encounter are combined.

VITAL TYPE points into GMRV VITAL TYPE #120.51, whose IENs belong to the target system:
the piece holds the type's external value (its .01 NAME), to be resolved on load.
Rates are in the units VistA vitals are entered in: inches, pounds, degrees Fahrenheit
(VistA convention, inferred; not checked against the #120.5 data dictionary here).
"""

from __future__ import annotations

import polars as pl

from .ids import number_per_patient
from .mstring import canonic_decimal, fm_datetime
from .zwr import node_frame, node_line, pieces

SYSTOLIC = "8480-6"  # LOINC Systolic blood pressure
DIASTOLIC = "8462-4"  # LOINC Diastolic blood pressure
_KG_PER_LB = 0.45359237  # exact, international avoirdupois pound
_CM_PER_IN = 2.54  # exact

# LOINC code -> #120.51 NAME, and rate = value * scale + offset from Synthea's UCUM unit.
VITAL_TYPES = pl.DataFrame(
    [
        ("8867-4", "PULSE", 1.0, 0.0),  # Heart rate, /min
        ("9279-1", "RESPIRATION", 1.0, 0.0),  # Respiratory rate, /min
        ("8302-2", "HEIGHT", 1 / _CM_PER_IN, 0.0),  # Body height, cm -> in
        ("29463-7", "WEIGHT", 1 / _KG_PER_LB, 0.0),  # Body weight, kg -> lb
        ("8310-5", "TEMPERATURE", 9 / 5, 32.0),  # Body temperature, Cel -> degrees F
        ("59408-5", "PULSE OXIMETRY", 1.0, 0.0),  # SpO2 by pulse oximetry, %
        ("2708-6", "PULSE OXIMETRY", 1.0, 0.0),  # SaO2, %
        ("72514-3", "PAIN", 1.0, 0.0),  # Pain severity 0-10
    ],
    schema={"CODE": pl.String, "type": pl.String, "scale": pl.Float64, "offset": pl.Float64},
    orient="row",
)
VITAL_CODES = (SYSTOLIC, DIASTOLIC, *VITAL_TYPES.get_column("CODE").to_list())


def vital_readings(observations: pl.DataFrame) -> pl.DataFrame:
    """dfn, DATE, row, type, rate: one row per reading, blood pressure combined.
    observations: dfn, row, DATE, ENCOUNTER, CODE, VALUE, TYPE (any rows)."""
    numeric = observations.filter(
        pl.col("CODE").is_in(VITAL_CODES) & (pl.col("TYPE") == "numeric")
    ).with_columns(number=pl.col("VALUE").cast(pl.Float64, strict=False))
    keys = ["dfn", "DATE", "ENCOUNTER"]
    systolic = numeric.filter(pl.col("CODE") == SYSTOLIC).unique(keys, keep="first",
                                                                 maintain_order=True)
    diastolic = numeric.filter(pl.col("CODE") == DIASTOLIC).unique(keys, keep="first",
                                                                   maintain_order=True)
    pressure = systolic.join(
        diastolic.select(*keys, diastolic=pl.col("number")), on=keys, how="inner",
        nulls_equal=True, maintain_order="left",
    ).select(
        "dfn", "DATE", "row", type=pl.lit("BLOOD PRESSURE"),
        rate=pl.concat_str([canonic_decimal(pl.col("number"), 0), pl.lit("/"),
                            canonic_decimal(pl.col("diastolic"), 0)]),
    )
    others = numeric.join(VITAL_TYPES, on="CODE", how="inner", maintain_order="left").select(
        "dfn", "DATE", "row", "type",
        rate=canonic_decimal(pl.col("number") * pl.col("scale") + pl.col("offset"), 1),
    )
    return pl.concat([pressure, others]).filter(pl.col("rate").is_not_null())


def vital_nodes(observations: pl.DataFrame) -> tuple[list[pl.DataFrame], int]:
    """observations: with dfn and row; returns node frames and the entry count."""
    readings = number_per_patient(vital_readings(observations), ["DATE", "row"], "vitals")
    readings = readings.with_columns(taken=fm_datetime(pl.col("DATE")))
    taken = pl.col("taken")
    zero = pieces([taken, pl.col("dfn").cast(pl.String), pl.col("type"), taken,
                   None, None, None, pl.col("rate")])
    line = node_line("^GMR(", ["120.5", pl.col("ien").cast(pl.String), "0"], zero)
    return [node_frame(readings, 40, line, pl.col("n"))], readings.height
