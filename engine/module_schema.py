"""The supported subset of Synthea's Generic Module Framework, in one place.

The loader, the linter, the compiler and the reference interpreter all read these
tables, so "supported" means the same thing everywhere. modules/README.md documents
the same subset for module authors.
"""

from __future__ import annotations

from cohortforge.kernels.machine_codes import RACE_HISPANIC

# Seconds per time unit. Synthea's Utilities.convertTime counts a year as 365 days and
# a month as 30 days; cohortforge does the same so delays mean what authors expect.
UNIT_SECONDS = {
    "years": 365 * 86400,
    "months": 30 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}

TRANSITION_KEYS = (
    "direct_transition",
    "distributed_transition",
    "conditional_transition",
    "complex_transition",
    "lookup_table_transition",
)

# Keys every state may carry besides its own fields.
COMMON_STATE_KEYS = frozenset({"type", "name", "remarks", *TRANSITION_KEYS})

# State type -> (required keys, optional keys). Keys not listed are rejected by the
# linter as unsupported, never silently ignored.
STATE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Initial": (frozenset(), frozenset()),
    "Terminal": (frozenset(), frozenset()),
    "Simple": (frozenset(), frozenset()),
    "Guard": (frozenset({"allow"}), frozenset()),
    "Delay": (frozenset(), frozenset({"exact", "range", "distribution", "unit"})),
    "SetAttribute": (
        frozenset({"attribute"}),
        frozenset({"value", "value_attribute", "distribution", "value_code", "range"}),
    ),
    "Counter": (frozenset({"attribute", "action"}), frozenset({"amount"})),
    "CallSubmodule": (frozenset({"submodule"}), frozenset()),
    "Encounter": (
        frozenset(),
        frozenset({"encounter_class", "codes", "reason", "wellness", "telemedicine_possibility"}),
    ),
    "EncounterEnd": (frozenset(), frozenset({"discharge_disposition"})),
    "ConditionOnset": (
        frozenset({"codes"}),
        frozenset({"target_encounter", "assign_to_attribute"}),
    ),
    "ConditionEnd": (
        frozenset(),
        frozenset({"referenced_by_attribute", "condition_onset", "codes"}),
    ),
    "AllergyOnset": (
        frozenset({"codes"}),
        frozenset(
            {"target_encounter", "assign_to_attribute", "allergy_type", "category", "reactions"}
        ),
    ),
    "MedicationOrder": (
        frozenset({"codes"}),
        frozenset({"reason", "assign_to_attribute", "chronic", "prescription", "administration"}),
    ),
    "MedicationEnd": (
        frozenset(),
        frozenset({"referenced_by_attribute", "medication_order", "codes"}),
    ),
    "CarePlanStart": (
        frozenset({"codes"}),
        frozenset({"activities", "goals", "reason", "assign_to_attribute"}),
    ),
    "CarePlanEnd": (
        frozenset(),
        frozenset({"referenced_by_attribute", "careplan", "codes"}),
    ),
    "Procedure": (
        frozenset({"codes"}),
        frozenset({"reason", "duration", "distribution", "unit", "assign_to_attribute"}),
    ),
    "Observation": (
        frozenset({"codes"}),
        frozenset(
            {
                "category",
                "unit",
                "exact",
                "range",
                "distribution",
                "attribute",
                "vital_sign",
                "value_code",
            }
        ),
    ),
    "MultiObservation": (
        frozenset({"codes", "observations"}),
        frozenset({"category", "number_of_observations"}),
    ),
    "DiagnosticReport": (
        frozenset({"codes", "observations"}),
        frozenset({"number_of_observations"}),
    ),
    "Immunization": (frozenset({"codes"}), frozenset({"series"})),
    "Vaccine": (frozenset({"codes"}), frozenset({"series"})),
    "Device": (frozenset({"code"}), frozenset({"assign_to_attribute", "manufacturer", "model"})),
    "DeviceEnd": (frozenset(), frozenset({"referenced_by_attribute", "device", "codes"})),
    "Symptom": (
        frozenset({"symptom"}),
        frozenset({"cause", "exact", "range", "probability", "addressed"}),
    ),
    "Death": (
        frozenset(),
        frozenset({"exact", "range", "referenced_by_attribute", "condition_onset", "codes"}),
    ),
}

# Keys allowed on one observation inside MultiObservation / DiagnosticReport: those of
# an Observation state, which is what each child is.
CHILD_OBSERVATION_KEYS = frozenset(
    {*STATE_FIELDS["Observation"][0], *STATE_FIELDS["Observation"][1], "remarks"}
)

CONDITION_TYPES = frozenset(
    {
        "Age",
        "Gender",
        "Race",
        "Socioeconomic Status",
        "Attribute",
        "Active Condition",
        "Active Medication",
        "Active CarePlan",
        "Active Allergy",
        "Observation",
        "Vital Sign",
        "PriorState",
        "Date",
        "And",
        "Or",
        "Not",
        "At Least",
        "True",
        "False",
    }
)

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "is nil", "is not nil")

DISTRIBUTION_KINDS = frozenset({"EXACT", "UNIFORM", "GAUSSIAN", "EXPONENTIAL", "TRIANGULAR"})

ENCOUNTER_CLASSES = (
    "wellness",
    "ambulatory",
    "outpatient",
    "inpatient",
    "emergency",
    "urgentcare",
    "hospice",
    "home",
    "snf",
    "virtual",
)

# Patients' race codes in the kernel (the order of scenarios.loader.RACES).
RACE_CODES = {"white": 0, "black": 1, "asian": 2, "native": 3, "hawaiian": 4, "other": 5}
# Race conditions also accept "hispanic", which Synthea's modules use; it tests ethnicity.
RACE_NAMES = {**RACE_CODES, "hispanic": RACE_HISPANIC}

# Vital signs by the names Synthea modules use, and the LOINC code whose most recent
# observation is the vital sign's value.
VITAL_SIGN_LOINC = {
    "Systolic Blood Pressure": "8480-6",
    "Diastolic Blood Pressure": "8462-4",
    "Height": "8302-2",
    "Weight": "29463-7",
    "BMI": "39156-5",
    "Heart Rate": "8867-4",
    "Respiration Rate": "9279-1",
    "Oxygen Saturation": "59408-5",
    "Temperature": "8310-5",
}

# Attributes every patient starts with, set by the engine from the patients table
# (engine/patient_inputs.py), so modules may read them without setting them.
PATIENT_ATTRIBUTES = (
    "smoker",
    "income",
    "education",
    "insurance",
    "food_insecurity",
    "housing_instability",
    "transportation_barrier",
    "unemployed",
)

# Socioeconomic status from annual household income, because cohortforge patients carry
# income but no composite SES score. Cut points: roughly the bottom quarter and the top
# third of US households in 2022 (Census P60-279 income distribution).
SES_LOW_INCOME_BELOW = 35_000
SES_HIGH_INCOME_FROM = 100_000
