"""Code systems, fixed codings and the codings built from table columns.

Sources: FHIR R4 (4.0.1) terminologies and HL7 Terminology (THO) 7.0.1 for the
terminology.hl7.org code systems (the same rows as terminology/seed/hl7_tables.csv);
US Core STU 3.1.1+ for the race, ethnicity and birth-sex extensions.
"""

from __future__ import annotations

import polars as pl

from cohortforge.terminology import TerminologyError, code_system

from .json_text import Part, constant, lookup, opt

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"
# HL7's example OID root (2.16.840.1.113883.19) marks identifiers of a made-up assigner.
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def coding_json(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def concept_json(system: str, code: str, display: str, text: str | None = None) -> str:
    """A fixed CodeableConcept as JSON text."""
    value: dict[str, object] = {"coding": [coding_json(system, code, display)]}
    if text:
        value["text"] = text
    return constant(value)


def coded(system: str | pl.Expr, code: pl.Expr, display: pl.Expr) -> list[Part]:
    """Parts of a CodeableConcept of one coding, text = display. `system` is a URI or
    a column of quoted URIs; `code` (never null) and `display` are escaped text columns
    (see json_text.prepare_text)."""
    system_part: Part = f'"{system}"' if isinstance(system, str) else system
    return [
        '{"coding":[{"system":',
        system_part,
        ',"code":"',
        code,
        '"',
        opt(',"display":"', display, '"'),
        "}]",
        opt(',"text":"', display, '"'),
        "}",
    ]


def system_uri(system: pl.Expr, names: pl.Series) -> pl.Expr:
    """Map a SYSTEM column (Synthea names such as 'SNOMED-CT') to quoted FHIR URIs.

    `names` holds the values present, so the map stays small. A null or unknown-alias
    value that is itself a URI is kept; a null system reads as SNOMED CT, Synthea's
    default for these tables.
    """
    uris = {}
    for name in names.drop_nulls().unique().to_list():
        try:
            uris[name] = constant(code_system(name).uri)
        except TerminologyError:
            if ":" not in name:  # already a URI (ValueSet-resolved codes keep theirs)
                raise
            uris[name] = constant(name)
    return lookup(system, uris).fill_null(pl.lit(constant(SNOMED)))


# Encounter.class from Synthea's encounter classes (R4 binds v3 ActEncounterCode).
ENCOUNTER_CLASS = {
    name: constant(coding_json(ACT_CODE, code, display))
    for name, code, display in (
        ("wellness", "AMB", "ambulatory"),
        ("ambulatory", "AMB", "ambulatory"),
        ("outpatient", "AMB", "ambulatory"),
        ("urgentcare", "AMB", "ambulatory"),
        ("emergency", "EMER", "emergency"),
        ("inpatient", "IMP", "inpatient encounter"),
        ("snf", "NONAC", "inpatient non-acute"),
        ("hospice", "HH", "home health"),
        ("home", "HH", "home health"),
        ("virtual", "VR", "virtual"),
    )
}

MARITAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
MARITAL_STATUS = {
    code: concept_json(MARITAL_STATUS_SYSTEM, code, display, display)
    for code, display in (
        ("M", "Married"),
        ("S", "Never Married"),
        ("D", "Divorced"),
        ("W", "Widowed"),
        ("L", "Legally Separated"),
        ("T", "Domestic partner"),
    )
}

GENDER = {"M": '"male"', "F": '"female"'}

_RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
_ETHNICITY_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
BIRTH_SEX_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


def _omb_extension(url: str, code: str | None, display: str) -> str:
    # The US Core race/ethnicity extensions: ombCategory codings (0..5 / 0..1) and a
    # required `text`. "Other race" has no OMB category, so it carries text only.
    parts: list[dict[str, object]] = []
    if code is not None:
        parts.append(
            {"url": "ombCategory", "valueCoding": coding_json(CDC_RACE_ETHNICITY, code, display)}
        )
    parts.append({"url": "text", "valueString": display})
    return constant({"url": url, "extension": parts})


RACE_EXTENSION = {
    name: _omb_extension(_RACE_URL, code, display)
    for name, code, display in (
        ("white", "2106-3", "White"),
        ("black", "2054-5", "Black or African American"),
        ("asian", "2028-9", "Asian"),
        ("native", "1002-5", "American Indian or Alaska Native"),
        ("hawaiian", "2076-8", "Native Hawaiian or Other Pacific Islander"),
        ("other", None, "Other"),
    )
}
ETHNICITY_EXTENSION = {
    "hispanic": _omb_extension(_ETHNICITY_URL, "2135-2", "Hispanic or Latino"),
    "nonhispanic": _omb_extension(_ETHNICITY_URL, "2186-5", "Not Hispanic or Latino"),
}

OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION_CATEGORY = {
    code: constant([{"coding": [coding_json(OBSERVATION_CATEGORY_SYSTEM, code, display)]}])
    for code, display in (
        ("vital-signs", "Vital Signs"),
        ("laboratory", "Laboratory"),
        ("survey", "Survey"),
        ("exam", "Exam"),
        ("social-history", "Social History"),
        ("imaging", "Imaging"),
        ("procedure", "Procedure"),
        ("therapy", "Therapy"),
        ("activity", "Activity"),
    )
}
