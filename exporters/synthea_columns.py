"""Synthea's CSV column layouts (CSVConstants.java header lines), one tuple per table.

Source: shared reference synthea_csv_columns.md, read from synthetichealth/synthea
master at commit 2b0a55bab0ab9ae22204320c80f5880ceb8925aa. `careplan_activities` is
cohortforge's own table: Synthea keeps activities only in FHIR, but CSV users need them.
"""

ENCOUNTERS = (
    "Id",
    "START",
    "STOP",
    "PATIENT",
    "ORGANIZATION",
    "PROVIDER",
    "PAYER",
    "ENCOUNTERCLASS",
    "CODE",
    "DESCRIPTION",
    "BASE_ENCOUNTER_COST",
    "TOTAL_CLAIM_COST",
    "PAYER_COVERAGE",
    "REASONCODE",
    "REASONDESCRIPTION",
)
CONDITIONS = ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION")
MEDICATIONS = (
    "START",
    "STOP",
    "PATIENT",
    "PAYER",
    "ENCOUNTER",
    "CODE",
    "DESCRIPTION",
    "BASE_COST",
    "PAYER_COVERAGE",
    "DISPENSES",
    "TOTALCOST",
    "REASONCODE",
    "REASONDESCRIPTION",
)
OBSERVATIONS = (
    "DATE",
    "PATIENT",
    "ENCOUNTER",
    "CATEGORY",
    "CODE",
    "DESCRIPTION",
    "VALUE",
    "UNITS",
    "TYPE",
)
PROCEDURES = (
    "START",
    "STOP",
    "PATIENT",
    "ENCOUNTER",
    "SYSTEM",
    "CODE",
    "DESCRIPTION",
    "BASE_COST",
    "REASONCODE",
    "REASONDESCRIPTION",
)
IMMUNIZATIONS = ("DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST")
CAREPLANS = (
    "Id",
    "START",
    "STOP",
    "PATIENT",
    "ENCOUNTER",
    "CODE",
    "DESCRIPTION",
    "REASONCODE",
    "REASONDESCRIPTION",
)
CAREPLAN_ACTIVITIES = ("CAREPLAN", "PATIENT", "SYSTEM", "CODE", "DESCRIPTION")
ALLERGIES = (
    "START",
    "STOP",
    "PATIENT",
    "ENCOUNTER",
    "CODE",
    "SYSTEM",
    "DESCRIPTION",
    "TYPE",
    "CATEGORY",
    "REACTION1",
    "DESCRIPTION1",
    "SEVERITY1",
    "REACTION2",
    "DESCRIPTION2",
    "SEVERITY2",
)
DEVICES = ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "UDI")

CLINICAL_TABLES = {
    "encounters": ENCOUNTERS,
    "conditions": CONDITIONS,
    "medications": MEDICATIONS,
    "observations": OBSERVATIONS,
    "procedures": PROCEDURES,
    "immunizations": IMMUNIZATIONS,
    "careplans": CAREPLANS,
    "careplan_activities": CAREPLAN_ACTIVITIES,
    "allergies": ALLERGIES,
    "devices": DEVICES,
}

# Written once per run (after the last chunk), with utilisation counts summed over chunks.
ORGANIZATIONS = (
    "Id", "NAME", "ADDRESS", "CITY", "STATE", "ZIP", "LAT", "LON", "PHONE", "REVENUE",
    "UTILIZATION",
)  # fmt: skip
PROVIDERS = (
    "Id", "ORGANIZATION", "NAME", "GENDER", "SPECIALITY", "ADDRESS", "CITY", "STATE", "ZIP",
    "LAT", "LON", "ENCOUNTERS", "PROCEDURES",
)  # fmt: skip
PAYERS = (
    "Id", "NAME", "OWNERSHIP", "ADDRESS", "CITY", "STATE_HEADQUARTERED", "ZIP", "PHONE",
    "AMOUNT_COVERED", "AMOUNT_UNCOVERED", "REVENUE", "COVERED_ENCOUNTERS",
    "UNCOVERED_ENCOUNTERS", "COVERED_MEDICATIONS", "UNCOVERED_MEDICATIONS",
    "COVERED_PROCEDURES", "UNCOVERED_PROCEDURES", "COVERED_IMMUNIZATIONS",
    "UNCOVERED_IMMUNIZATIONS", "UNIQUE_CUSTOMERS", "QOLS_AVG", "MEMBER_MONTHS",
)  # fmt: skip
NETWORK_TABLES = {"organizations": ORGANIZATIONS, "providers": PROVIDERS, "payers": PAYERS}
