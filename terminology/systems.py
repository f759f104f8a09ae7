"""Code systems cohortforge knows, and the many names they go by.

Synthea modules say "SNOMED-CT", FHIR says "http://snomed.info/sct", OMOP says "SNOMED",
HL7 v2 says "SCT": all of them must resolve to one canonical name, or lookups would
silently miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TerminologyError


@dataclass(frozen=True)
class CodeSystem:
    name: str
    """Canonical name, as stored in the seed CSVs and the database."""
    uri: str
    """FHIR canonical URI (Coding.system)."""
    oid: str
    aliases: tuple[str, ...] = ()


SYSTEMS: tuple[CodeSystem, ...] = (
    CodeSystem("SNOMED CT", "http://snomed.info/sct", "2.16.840.1.113883.6.96",
               ("SNOMED-CT", "SNOMEDCT", "SNOMED", "SCT", "SNOMEDCT_US", "SNOMED CT US")),
    CodeSystem("LOINC", "http://loinc.org", "2.16.840.1.113883.6.1", ("LN",)),
    CodeSystem("RxNorm", "http://www.nlm.nih.gov/research/umls/rxnorm", "2.16.840.1.113883.6.88",
               ("RXNORM", "RXN")),
    CodeSystem("ICD-10-CM", "http://hl7.org/fhir/sid/icd-10-cm", "2.16.840.1.113883.6.90",
               ("ICD10CM", "ICD-10CM", "ICD10-CM", "I10")),
    CodeSystem("CVX", "http://hl7.org/fhir/sid/cvx", "2.16.840.1.113883.12.292", ("HL70292",)),
    CodeSystem("UCUM", "http://unitsofmeasure.org", "2.16.840.1.113883.6.8", ()),
    CodeSystem("HL7 ActCode", "http://terminology.hl7.org/CodeSystem/v3-ActCode",
               "2.16.840.1.113883.5.4", ("ActCode", "v3-ActCode")),
    CodeSystem("HL7 AdministrativeGender",
               "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
               "2.16.840.1.113883.5.1", ("AdministrativeGender", "v3-AdministrativeGender")),
    CodeSystem("HL7 v2 0001", "http://terminology.hl7.org/CodeSystem/v2-0001",
               "2.16.840.1.113883.18.2", ("HL70001", "v2-0001")),
    CodeSystem("HL7 v2 0004", "http://terminology.hl7.org/CodeSystem/v2-0004",
               "2.16.840.1.113883.18.5", ("HL70004", "v2-0004")),
    CodeSystem("HL7 MaritalStatus", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
               "2.16.840.1.113883.5.2", ("MaritalStatus", "v3-MaritalStatus")),
    CodeSystem("HL7 DischargeDisposition",
               "http://terminology.hl7.org/CodeSystem/discharge-disposition",
               "2.16.840.1.113883.4.642.1.1093", ("discharge-disposition",)),
    CodeSystem("CDC Race and Ethnicity", "urn:oid:2.16.840.1.113883.6.238",
               "2.16.840.1.113883.6.238", ("CDCREC", "Race & Ethnicity - CDC")),
    # HL7 v2 table 0112 is user-defined; in the US it carries the NUBC UB-04 codes.
    CodeSystem("NUBC Patient Discharge Status", "https://www.nubc.org/CodeSystem/PatDischargeStatus",
               "2.16.840.1.113883.6.301.5", ("NUBC", "HL70112", "v2-0112")),
    # Synthea's imaging studies name DICOM codes this way; no seed rows yet, but the name
    # must resolve so module lint can tell "unknown code" from "unknown system".
    CodeSystem("DICOM DCM", "http://dicom.nema.org/resources/ontology/DCM",
               "1.2.840.10008.2.16.4", ("DICOM-DCM", "DCM")),
)


def _key(name: str) -> str:
    # Separators and case vary between sources ("SNOMED-CT", "snomed ct", "SNOMED_CT").
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_BY_KEY: dict[str, CodeSystem] = {}
for _system in SYSTEMS:
    for _name in (_system.name, _system.uri, _system.oid, f"urn:oid:{_system.oid}",
                  *_system.aliases):
        _BY_KEY[_key(_name)] = _system


def code_system(name: str) -> CodeSystem:
    """Resolve any known name, alias, FHIR URI or OID of a code system."""
    found = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if found is None:
        known = ", ".join(s.name for s in SYSTEMS)
        raise TerminologyError(
            f"unknown code system {name!r}; use one of: {known} (or an alias such as "
            f"'SNOMED-CT' or a FHIR URI such as 'http://loinc.org')"
        )
    return found


def canonical_system(name: str) -> str:
    """The canonical name of a code system, e.g. 'SNOMED-CT' -> 'SNOMED CT'."""
    return code_system(name).name
