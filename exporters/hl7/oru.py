"""ORU^R01 messages (hl7/oru.hl7) for one chunk: one message per panel of results.

Panels:
- a lab panel: the observations whose REPORT names a reports row; OBR-4 is that row's
  panel LOINC code;
- a vitals set: the vital-signs observations of one encounter at one DATE, under OBR-4
  85353-1 "Vital signs, weight, height, head circumference, oxygen saturation and BMI
  panel" (the LOINC panel the FHIR R4 vital signs profile groups vitals with:
  hl7.org/fhir/R4/valueset-observation-vitalsignresult.html);
- every other observation (lab results without a report, surveys, exams) is a
  single-observation panel under its own code.

Structure ORU_R01 (hl7apy `v2_5_1/messages.py`): MSH, PATIENT_RESULT{PATIENT{PID,
VISIT{PV1}}, ORDER_OBSERVATION{ORC, OBR, OBSERVATION{OBX}...}}; PV1 is left out when the
observation has no encounter. Messages are ordered by patient, then time; MSH-10 is
"R<INDEX>.<n>" (unique in the run, independent of chunking).
"""

from __future__ import annotations

import polars as pl
import pyarrow.compute as pc

from cohortforge.terminology import read_seed

from .escape import escape_fit
from .segments import components, hl7_datetime, msh, obr, obx, orc, pid, pv1

VITALS_PANEL = ("85353-1",
                "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel")
_LOINC_CODE = r"^\d{1,7}-\d$"
LOINC = "LN"  # table 0396
LOCAL = "L"  # table 0396: local general code
UCUM = "UCUM"  # table 0396
SNOMED = "SCT"  # table 0396

# OBX-7 reference range and OBX-8 flags for the basic metabolic panel: adult reference
# values of the UnityPoint Health - Finley laboratory catalog, test BASIC
# (unitypointfinley.testcatalog.org/show/BASIC-1); meq/L equals mmol/L for these ions.
REFERENCE_RANGES: dict[str, tuple[float, float]] = {
    "2339-0": (70.0, 99.0),  # glucose, mg/dL
    "6299-2": (10.0, 26.0),  # urea nitrogen, mg/dL
    "38483-4": (0.4, 1.4),  # creatinine (blood), mg/dL
    "2160-0": (0.4, 1.4),  # creatinine (serum or plasma), mg/dL
    "2947-0": (135.0, 145.0),  # sodium, mmol/L
    "6298-4": (3.5, 5.0),  # potassium (blood), mmol/L
    "2823-3": (3.5, 5.0),  # potassium (serum or plasma), mmol/L
    "2069-3": (100.0, 108.0),  # chloride, mmol/L
    "20565-8": (24.0, 32.0),  # carbon dioxide, mmol/L
    "49765-1": (8.5, 10.5),  # calcium, mg/dL
}


def _snomed_values() -> pl.DataFrame:
    """SNOMED CT display -> code, to code text results such as "Blood group A (finding)"."""
    concepts = read_seed().concepts
    snomed = concepts.filter(pc.equal(concepts["system"], "SNOMED CT"))
    return pl.DataFrame(
        {"VALUE": snomed["display"].to_pylist(), "VALUE_CODE": snomed["code"].to_pylist()}
    ).unique(subset="VALUE", keep="first", maintain_order=True)


SNOMED_VALUES = _snomed_values()
_RANGES = pl.DataFrame(
    {
        "CODE": list(REFERENCE_RANGES),
        "LOW": [low for low, _ in REFERENCE_RANGES.values()],
        "HIGH": [high for _, high in REFERENCE_RANGES.values()],
        "RANGE_TEXT": [f"{low:g}-{high:g}" for low, high in REFERENCE_RANGES.values()],
    }
)


def _code_system(code: pl.Expr) -> pl.Expr:
    return pl.when(code.str.contains(_LOINC_CODE)).then(pl.lit(LOINC)).otherwise(pl.lit(LOCAL))


_NO_REPORTS = pl.DataFrame(schema={"Id": pl.String, "DATE": pl.Datetime("us", "UTC"),
                                    "CODE": pl.String, "DESCRIPTION": pl.String})


def _orders(observations: pl.DataFrame,
            reports: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Observations with their ORDER (panel) id and KIND, and one row per order."""
    obs = observations.select(
        pl.col("Id").alias("OBS_ID"), "DATE", "PATIENT", "ENCOUNTER", "CATEGORY",
        pl.col("CODE").cast(pl.String), "DESCRIPTION", "VALUE", "UNITS", "TYPE",
        pl.col("REPORT") if "REPORT" in observations.columns
        else pl.lit(None, dtype=pl.String).alias("REPORT"),
    ).with_row_index("ROW")
    known_reports = (reports if reports is not None else _NO_REPORTS).select(
        pl.col("Id").alias("ORDER"), pl.col("DATE").alias("R_DATE"),
        pl.col("CODE").cast(pl.String).alias("R_CODE"), pl.col("DESCRIPTION").alias("R_TEXT"),
    )
    in_report = pl.col("REPORT").is_in(known_reports["ORDER"].implode()).fill_null(False)
    vital = pl.col("CATEGORY") == "vital-signs"
    vitals_key = ["PATIENT", "ENCOUNTER", "DATE"]
    obs = obs.with_columns(
        pl.when(in_report).then(pl.lit("report"))
        .when(vital).then(pl.lit("vitals")).otherwise(pl.lit("single")).alias("KIND")
    )
    obs = obs.with_columns(
        pl.when(pl.col("KIND") == "report").then(pl.col("REPORT"))
        .when(pl.col("KIND") == "vitals")
        .then(pl.col("OBS_ID").min().over([*vitals_key, "KIND"]))
        .otherwise(pl.col("OBS_ID")).alias("ORDER")
    )
    first = obs.group_by("ORDER", maintain_order=True).agg(
        pl.col("PATIENT", "ENCOUNTER", "DATE", "KIND", "CODE", "DESCRIPTION").first()
    )
    first = first.join(known_reports, on="ORDER", how="left", maintain_order="left")
    kind = pl.col("KIND")
    orders = first.select(
        "ORDER", "PATIENT", "ENCOUNTER",
        pl.when(kind == "report").then(pl.col("R_DATE")).otherwise(pl.col("DATE"))
        .cast(pl.Datetime("us", "UTC")).alias("TIME"),
        pl.when(kind == "report").then(pl.col("R_CODE"))
        .when(kind == "vitals").then(pl.lit(VITALS_PANEL[0]))
        .otherwise(pl.col("CODE")).alias("SERVICE_CODE"),
        pl.when(kind == "report").then(pl.col("R_TEXT"))
        .when(kind == "vitals").then(pl.lit(VITALS_PANEL[1]))
        .otherwise(pl.col("DESCRIPTION")).alias("SERVICE_TEXT"),
    )
    return obs, orders


def _value_columns(obs: pl.DataFrame) -> pl.DataFrame:
    """OBX-2 value type and OBX-5 value, OBX-6 units, OBX-7 range, OBX-8 flag per row."""
    number = pl.col("VALUE").cast(pl.Float64, strict=False)
    numeric = (pl.col("TYPE") == "numeric") & number.is_finite().fill_null(False)
    obs = obs.join(SNOMED_VALUES, on="VALUE", how="left", maintain_order="left").join(
        _RANGES, on="CODE", how="left", maintain_order="left"
    ).with_columns(
        NUMERIC=numeric,
        NUMBER=number,
        # Numbers need no escaping: only text values go through it.
        TEXT_VALUE=escape_fit(pl.when(~numeric).then(pl.col("VALUE"))),
        UNIT_TEXT=escape_fit(pl.col("UNITS")),
    )
    numeric = pl.col("NUMERIC")
    coded_value = ~numeric & pl.col("VALUE_CODE").is_not_null()
    low, high = pl.col("LOW"), pl.col("HIGH")
    has_range = numeric & low.is_not_null()
    unit = pl.col("UNIT_TEXT")
    return obs.with_columns(
        pl.when(numeric).then(pl.lit("NM")).when(coded_value).then(pl.lit("CE"))
        .otherwise(pl.lit("ST")).alias("VALUE_TYPE"),
        pl.when(numeric).then(pl.col("VALUE"))
        .when(coded_value)
        .then(pl.concat_str([pl.col("VALUE_CODE"), pl.lit("^"), pl.col("TEXT_VALUE"),
                             pl.lit("^" + SNOMED)]))
        .otherwise(pl.col("TEXT_VALUE")).alias("OBX_VALUE"),
        # CE: UCUM code ^ text ^ coding system, the code doubling as its text.
        pl.when(numeric)
        .then(pl.concat_str([unit, pl.lit("^"), unit, pl.lit("^" + UCUM)]))
        .alias("OBX_UNITS"),
        pl.when(has_range).then(pl.col("RANGE_TEXT")).alias("OBX_RANGE"),
        pl.when(has_range)
        .then(pl.when(pl.col("NUMBER") < low).then(pl.lit("L"))
              .when(pl.col("NUMBER") > high).then(pl.lit("H")).otherwise(pl.lit("N")))
        .alias("OBX_FLAG"),
    )


def _set_ids(sorted_key: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(is first row, is last row, 1-based place) of each row in runs of equal keys."""
    first = sorted_key.ne_missing(sorted_key.shift(1))
    last = sorted_key.ne_missing(sorted_key.shift(-1))
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    place = row - pl.when(first).then(row).forward_fill() + 1
    return first, last, place


def oru_messages(patients: pl.DataFrame, encounters: pl.DataFrame,
                 observations: pl.DataFrame, reports: pl.DataFrame | None,
                 prefix: str = "", suffix: str = "") -> tuple[pl.Series, int]:
    """The ORU^R01 messages of the chunk as consecutive pieces, in order, and their number.

    Each piece is one OBX with, on a panel's first observation, everything before it
    (prefix, MSH ... OBR) and, on its last, the suffix: the pieces concatenated are the
    framed messages. `patients` is frames.patient_frame, `encounters` frames.encounter_frame.
    """
    obs, orders = _orders(observations, reports)
    # Orders in file order get a row number: the observations then sort on integers and
    # every panel's observations are one run of rows.
    orders = (
        orders.join(patients, on="PATIENT", how="inner")
        .sort("INDEX", "TIME", "ORDER")
        .with_row_index("ORDER_POS")
        .with_columns(SEQ=pl.int_range(1, pl.len() + 1).over("INDEX"))
        .join(encounters.drop("PATIENT"), on="ENCOUNTER", how="left", maintain_order="left")
    )
    when = hl7_datetime(pl.col("TIME"))
    service = components(pl.col("SERVICE_CODE"), escape_fit(pl.col("SERVICE_TEXT")),
                         _code_system(pl.col("SERVICE_CODE")))
    visit = pl.when(pl.col("PATIENT_CLASS").is_not_null()).then(
        pv1(pl.col("PATIENT_CLASS"), pl.col("ATTENDING"), pl.col("ENCOUNTER"),
            pl.col("START_TS"), pl.col("STOP_TS"))
    )
    header = pl.concat_str(
        [
            pl.lit(prefix),
            msh(pl.lit("ORU^R01^ORU_R01"), pl.format("R{}.{}", pl.col("INDEX"), pl.col("SEQ")),
                when),
            pid(pl.col("PID_CORE")),
            visit,
            orc(pl.col("ORDER"), when, pl.col("ATTENDING")),
            obr(pl.col("ORDER"), service, when, pl.col("ATTENDING")),
        ],
        ignore_nulls=True,
    )
    headers = orders.select("ORDER_POS", header.alias("HEADER"))

    obs = obs.join(orders.select("ORDER", "ORDER_POS"), on="ORDER", how="inner")
    obs = _value_columns(obs).sort("ORDER_POS", "DATE", "ROW")
    first, last, place = _set_ids(pl.col("ORDER_POS"))
    obs = obs.with_columns(
        pl.when(first).then(pl.col("ORDER_POS")).alias("FIRST_OF"),
        last.alias("LAST"),
        place.alias("SET_ID"),
    ).join(headers.rename({"ORDER_POS": "FIRST_OF"}), on="FIRST_OF", how="left",
           maintain_order="left")
    observation_id = components(pl.col("CODE"), escape_fit(pl.col("DESCRIPTION")),
                                _code_system(pl.col("CODE")))
    result = obx(pl.col("SET_ID"), pl.col("VALUE_TYPE"), observation_id, pl.col("OBX_VALUE"),
                 pl.col("OBX_UNITS"), pl.col("OBX_RANGE"), pl.col("OBX_FLAG"),
                 hl7_datetime(pl.col("DATE")))
    piece = pl.concat_str(
        [pl.col("HEADER"), result, pl.when(pl.col("LAST")).then(pl.lit(suffix))],
        ignore_nulls=True,
    )
    return obs.select(piece.alias("MESSAGE")).to_series(), orders.height

