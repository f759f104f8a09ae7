"""HL7 v2.5.1 segments as Polars expressions: one segment string per row of a frame.

Field positions and data types follow the HL7 v2.5.1 segment definitions (chapter 2 for
MSH, chapter 3 for EVN/PID/PV1/DG1/AL1, chapter 6 for IN1, chapter 4 for ORC/OBR, chapter
7 for OBX), as hl7apy encodes them in `hl7apy/v2_5_1/segments.py` and `fields.py`.
Every builder reads named columns of the frame it is evaluated on (listed in its
docstring); free text is escaped here, codes and ids are written as they are.
Each segment ends with the segment terminator `\\r`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from cohortforge.exporters.timestamp_text import hl7_text

from .escape import escape_fit

FIELD = "|"
COMPONENT = "^"
SEGMENT_END = "\r"
ENCODING_CHARACTERS = "^~\\&"  # MSH-2: component, repetition, escape, subcomponent
REPETITION = "~"

SENDER = "cohortforge"  # MSH-3/MSH-4 (HD namespace id, an IS of at most 20 characters)
VERSION = "2.5.1"  # MSH-12
PROCESSING_ID = "T"  # MSH-11, table 0103: T = training (the data are synthetic)
CHARACTER_SET = "UNICODE UTF-8"  # MSH-18, table 0211
ASSIGNING_AUTHORITY = "cohortforge"  # CX-4 of the patient and visit identifiers

Part = pl.Expr | str | None


def _expr(part: Part) -> pl.Expr:
    if part is None:
        return pl.lit("")
    if isinstance(part, str):
        return pl.lit(part)
    return part.fill_null("")


def components(*parts: Part) -> pl.Expr:
    """A composite value: parts joined by `^`, trailing empty components dropped.

    Stripping trailing `^` is safe because escaped text never holds a raw `^`.
    """
    joined = pl.concat_str([_expr(part) for part in parts], separator=COMPONENT)
    return joined.str.strip_chars_end(COMPONENT)


def segment(name: str, *fields: Part, keep_trailing: bool = False) -> pl.Expr:
    """A segment: name and fields joined by `|`, trailing empty fields dropped, then `\\r`."""
    joined = pl.concat_str([pl.lit(name), *(_expr(field) for field in fields)], separator=FIELD)
    if not keep_trailing:
        joined = joined.str.strip_chars_end(FIELD)
    return joined + SEGMENT_END


def hl7_datetime(column: pl.Expr) -> pl.Expr:
    """DTM to the second with an explicit UTC offset: YYYYMMDDHHMMSS+0000 (v2.5.1 2A.3.22)."""
    return hl7_text(column)


def hl7_date(column: pl.Expr) -> pl.Expr:
    """DT: YYYYMMDD."""
    return column.dt.strftime("%Y%m%d")


def coded(code: Part, text: Part, system: Part) -> pl.Expr:
    """CE/CWE: identifier ^ text ^ name of coding system (table 0396), text escaped."""
    return components(code, escape_fit(_expr(text)) if text is not None else None, system)


def lookup(column: str, table: Mapping[str, str]) -> pl.Expr:
    """Map a small code column through a dict (null when absent)."""
    return pl.col(column).replace_strict(table, default=None, return_dtype=pl.String)


# --- MSH / EVN -------------------------------------------------------------------------


def msh(message_type: pl.Expr, control_id: pl.Expr, timestamp: pl.Expr) -> pl.Expr:
    """MSH: MSH-7 message time, MSH-9 MSG (code^event^structure), MSH-10 control id."""
    return segment(
        "MSH", ENCODING_CHARACTERS, SENDER, SENDER, None, None, timestamp, None,
        message_type, control_id, PROCESSING_ID, VERSION,
        None, None, None, None, None, CHARACTER_SET,
    )


def evn(event: pl.Expr, timestamp: pl.Expr) -> pl.Expr:
    """EVN: EVN-1 event type code, EVN-2 recorded date/time, EVN-6 event occurred."""
    return segment("EVN", event, timestamp, None, None, None, timestamp)


# --- PID -------------------------------------------------------------------------------

# PID-10 race and PID-22 ethnic group: CDC Race & Ethnicity codes (OID
# 2.16.840.1.113883.6.238, coding system "CDCREC" in table 0396), displays as in
# terminology/seed/hl7_tables.csv (source tho-7.0.1).
RACE_CODES = {
    "white": ("2106-3", "White"),
    "black": ("2054-5", "Black or African American"),
    "asian": ("2028-9", "Asian"),
    "native": ("1002-5", "American Indian or Alaska Native"),
    "hawaiian": ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    "other": ("2131-1", "Other Race"),
}
ETHNICITY_CODES = {
    "hispanic": ("2135-2", "Hispanic or Latino"),
    "nonhispanic": ("2186-5", "Not Hispanic or Latino"),
}
# PID-16, HL7 table 0002 (marital status).
MARITAL_STATUS = {"M": "Married", "S": "Single", "D": "Divorced", "W": "Widowed",
                  "A": "Separated"}


def _coded_lookup(column: str, table: Mapping[str, tuple[str, str]], system: str) -> pl.Expr:
    code = lookup(column, {key: value[0] for key, value in table.items()})
    display = lookup(column, {key: value[1] for key, value in table.items()})
    return pl.when(code.is_not_null()).then(components(code, display, system))


def pid_core() -> pl.Expr:
    """PID-1 to PID-23 (no segment end), from a patients frame.

    Columns: Id, SSN, DRIVERS, PREFIX, FIRST, MIDDLE, LAST, SUFFIX, MAIDEN, MARITAL, RACE,
    ETHNICITY, GENDER, BIRTHDATE, BIRTHPLACE, ADDRESS, CITY, STATE, ZIP, PHONE. Trailing
    empty fields are kept so PID-24..30 can be appended by position.
    """
    legal_name = components(
        escape_fit(pl.col("LAST")), escape_fit(pl.col("FIRST")), escape_fit(pl.col("MIDDLE")),
        escape_fit(pl.col("SUFFIX")), escape_fit(pl.col("PREFIX")), None, "L",
    )
    maiden_name = pl.when(pl.col("MAIDEN").is_not_null()).then(
        REPETITION + components(escape_fit(pl.col("MAIDEN")), escape_fit(pl.col("FIRST")),
                                None, None, None, None, "M")
    )
    names = pl.concat_str([legal_name, maiden_name], ignore_nulls=True)
    address = components(
        escape_fit(pl.col("ADDRESS")), None, escape_fit(pl.col("CITY")),
        escape_fit(pl.col("STATE")), escape_fit(pl.col("ZIP")), "USA", "H",
    )
    marital = pl.when(pl.col("MARITAL").is_in(list(MARITAL_STATUS))).then(
        components(pl.col("MARITAL"), lookup("MARITAL", MARITAL_STATUS), "HL70002")
    )
    fields = [
        "PID", "1", None, components(pl.col("Id"), None, None, ASSIGNING_AUTHORITY, "MR"),
        None, names, None, hl7_date(pl.col("BIRTHDATE")), pl.col("GENDER"), None,
        _coded_lookup("RACE", RACE_CODES, "CDCREC"), address, None,
        components(escape_fit(pl.col("PHONE")), "PRN", "PH"), None, None, marital, None,
        None, pl.col("SSN"), escape_fit(pl.col("DRIVERS")), None,
        _coded_lookup("ETHNICITY", ETHNICITY_CODES, "CDCREC"), escape_fit(pl.col("BIRTHPLACE")),
    ]
    return pl.concat_str([_expr(field) for field in fields], separator=FIELD)


def pid(core: pl.Expr, death_time: pl.Expr | None = None) -> pl.Expr:
    """A whole PID from `pid_core`, with PID-29 death date/time and PID-30 = Y when given."""
    if death_time is None:
        return core + SEGMENT_END
    # PID-24 .. PID-28 are empty: five separators, then PID-29 and PID-30.
    death = pl.when(death_time.is_not_null()).then(
        pl.concat_str([pl.lit("||||||"), death_time, pl.lit("|Y")])
    )
    return pl.concat_str([core, death, pl.lit(SEGMENT_END)], ignore_nulls=True)


# --- PV1 -------------------------------------------------------------------------------


def provider_xcn(provider_id: str, given: str, family: str) -> pl.Expr:
    """XCN: id ^ family name ^ given name (provider columns of the joined frame)."""
    return pl.when(pl.col(provider_id).is_not_null()).then(
        components(pl.col(provider_id), escape_fit(pl.col(family)), escape_fit(pl.col(given)))
    )


def pv1(patient_class: pl.Expr, attending: pl.Expr | None, visit_id: pl.Expr | None,
        admit: pl.Expr | None, discharge: pl.Expr | None,
        disposition: pl.Expr | None = None) -> pl.Expr:
    """PV1: -2 class (table 0004), -7 attending, -19 visit number, -36 discharge
    disposition, -44 admit and -45 discharge date/time."""
    visit = None if visit_id is None else pl.when(visit_id.is_not_null()).then(
        components(visit_id, None, None, ASSIGNING_AUTHORITY, "VN"))
    fields: list[Part] = [None] * 45
    fields[0] = "1"
    fields[1] = patient_class
    fields[6] = attending
    fields[18] = visit
    fields[35] = disposition
    fields[43] = admit
    fields[44] = discharge
    return segment("PV1", *fields)


# --- DG1 / AL1 / IN1 -------------------------------------------------------------------


def dg1(set_id: pl.Expr, code: pl.Expr, display: pl.Expr, when: pl.Expr,
        diagnosis_type: Part) -> pl.Expr:
    """DG1: -1 set id, -3 ICD-10-CM code (coding system I10, table 0396), -5 date/time,
    -6 diagnosis type (table 0052: A admitting, W working, F final)."""
    return segment("DG1", set_id.cast(pl.String), None, coded(code, display, "I10"), None,
                   when, diagnosis_type)


def al1(set_id: pl.Expr, allergen_type: pl.Expr, code: pl.Expr, display: pl.Expr,
        system: pl.Expr, severity: pl.Expr, reaction: pl.Expr, identified: pl.Expr) -> pl.Expr:
    """AL1: -1 set id, -2 allergen type (table 0127), -3 allergen (CE), -4 severity
    (table 0128), -5 reaction (ST), -6 identification date (DT)."""
    type_ce = pl.when(allergen_type.is_not_null()).then(components(allergen_type))
    severity_ce = pl.when(severity.is_not_null()).then(components(severity))
    return segment("AL1", set_id.cast(pl.String), type_ce, coded(code, display, system),
                   severity_ce, escape_fit(reaction), identified)


def in1(plan_id: pl.Expr, plan_name: pl.Expr, company_id: pl.Expr, company_name: pl.Expr,
        address: pl.Expr, city: pl.Expr, state: pl.Expr, zip_code: pl.Expr,
        phone: pl.Expr) -> pl.Expr:
    """IN1: -1 set id, -2 plan id (CE), -3 company id (CX), -4 company name (XON), -5
    company address (XAD), -7 company phone (XTN)."""
    company_address = pl.when(address.is_not_null() | city.is_not_null()).then(
        components(escape_fit(address), None, escape_fit(city), escape_fit(state),
                   escape_fit(zip_code), "USA"))
    company_phone = pl.when(phone.is_not_null()).then(
        components(escape_fit(phone), "WPN", "PH"))
    return segment(
        "IN1", "1", coded(plan_id, plan_name, None),
        components(company_id, None, None, ASSIGNING_AUTHORITY),
        components(escape_fit(company_name)), company_address, None, company_phone,
    )


# --- ORC / OBR / OBX -------------------------------------------------------------------


def orc(order_id: pl.Expr, when: pl.Expr, ordering: pl.Expr | None) -> pl.Expr:
    """ORC: -1 order control RE (observations to follow, table 0119), -2 placer and -3
    filler order number (EI), -9 transaction date/time, -12 ordering provider."""
    order = components(order_id, ASSIGNING_AUTHORITY)
    return segment("ORC", "RE", order, order, None, None, None, None, None, when, None, None,
                   ordering)


def obr(order_id: pl.Expr, service: pl.Expr, when: pl.Expr, ordering: pl.Expr | None) -> pl.Expr:
    """OBR: -1 set id, -2/-3 order numbers, -4 universal service id (panel LOINC), -7
    observation date/time, -16 ordering provider, -22 status change, -25 result status F."""
    order = components(order_id, ASSIGNING_AUTHORITY)
    fields: list[Part] = [None] * 25
    fields[0] = "1"
    fields[1] = order
    fields[2] = order
    fields[3] = service
    fields[6] = when
    fields[15] = ordering
    fields[21] = when
    fields[24] = "F"
    return segment("OBR", *fields)


def obx(set_id: pl.Expr, value_type: pl.Expr, observation: pl.Expr, value: pl.Expr,
        units: pl.Expr, reference_range: pl.Expr, flag: pl.Expr, when: pl.Expr) -> pl.Expr:
    """OBX: -1 set id, -2 value type (table 0125), -3 observation id, -5 value, -6 units,
    -7 reference range, -8 abnormal flag (table 0078), -11 status F (table 0085), -14
    date/time of the observation."""
    return segment("OBX", set_id.cast(pl.String), value_type, observation, None, value, units,
                   reference_range, flag, None, None, "F", None, None, when)
