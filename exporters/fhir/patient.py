"""Patient, shaped after US Core Patient (STU 3.1.1+): identifiers, name, telecom,
gender, birth date, death, address with geolocation, race and ethnicity, marital
status and language."""

from __future__ import annotations

import polars as pl

from .codes import (
    BIRTH_SEX_URL,
    ETHNICITY_EXTENSION,
    GENDER,
    IDENTIFIER_TYPE,
    MARITAL_STATUS,
    MRN_SYSTEM,
    RACE_EXTENSION,
    US_SSN,
    coding_json,
)
from .common import resource_frame
from .json_text import (
    Part,
    Section,
    any_of,
    constant,
    date_text,
    lookup,
    number,
    opt,
    prepare_text,
    quoted,
    when,
)

US_CORE_PATIENT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
# http://hl7.org/fhir/StructureDefinition/geolocation: latitude/longitude valueDecimal.
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
# Every cohortforge patient speaks English: the tables hold no language column.
_COMMUNICATION = constant(
    [
        {
            "language": {
                "coding": [
                    {
                        "system": "urn:ietf:bcp:47",
                        "code": "en-US",
                        "display": "English (United States)",
                    }
                ],
                "text": "English",
            }
        }
    ]
)
_TEXT_COLUMNS = (
    "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "MIDDLE", "LAST", "SUFFIX", "MAIDEN",
    "ADDRESS", "CITY", "STATE", "COUNTY", "ZIP", "PHONE",
)  # fmt: skip
# The birth-sex extension needs a valueCode, so it is present only with a gender.
_BIRTH_SEX = {code: constant({"url": BIRTH_SEX_URL, "valueCode": code}) for code in ("M", "F")}


def _identifier_head(code: str, display: str, system: str) -> str:
    """An Identifier up to its value; type codes from v2 table 0203 (THO 7.0.1)."""
    kind = constant({"coding": [coding_json(IDENTIFIER_TYPE, code, display)], "text": display})
    return f'{{"type":{kind},"system":"{system}","value":"'


def _identifier(code: str, display: str, system: str, value: str) -> Section:
    """A further identifier (after the MRN, which is always present), where known."""
    return opt("," + _identifier_head(code, display, system), pl.col(value), '"}')


def _name_parts() -> list[Part]:
    c = pl.col
    given = c("FIRST").is_not_null() | c("MIDDLE").is_not_null()
    both = c("FIRST").is_not_null() & c("MIDDLE").is_not_null()
    return [
        opt(',"family":"', c("LAST"), '"'),
        when(given, ',"given":[', quoted(c("FIRST")), when(both, ","), quoted(c("MIDDLE")), "]"),
    ]


def patient_resources(patients: pl.DataFrame) -> pl.DataFrame:
    """One Patient per row: columns PATIENT, id, json."""
    c = pl.col
    frame = prepare_text(patients, *_TEXT_COLUMNS).with_columns(
        lookup(c("RACE"), RACE_EXTENSION).alias("_race"),
        lookup(c("ETHNICITY"), ETHNICITY_EXTENSION).alias("_ethnicity"),
        lookup(c("GENDER"), _BIRTH_SEX).alias("_birth_sex"),
        lookup(c("GENDER"), GENDER).alias("_gender"),
        lookup(c("MARITAL"), MARITAL_STATUS).alias("_marital"),
        number(c("LAT")).alias("_lat"),
        number(c("LON")).alias("_lon"),
        date_text(c("BIRTHDATE")).alias("_birth"),
        date_text(c("DEATHDATE")).alias("_death"),
    )
    extensions = [c("_race"), c("_ethnicity"), c("_birth_sex")]
    any_extension = any_of(e.is_not_null() for e in extensions)
    geolocated = c("_lat").is_not_null() & c("_lon").is_not_null()
    address_fields = ("ADDRESS", "CITY", "COUNTY", "STATE", "ZIP")
    has_address = geolocated | any_of(c(name).is_not_null() for name in address_fields)
    resource = (
        '{"resourceType":"Patient","id":"',
        c("Id"),
        f'","meta":{{"profile":["{US_CORE_PATIENT}"]}}',
        when(
            any_extension,
            ',"extension":[',
            # Each present extension, comma-separated.
            c("_race"),
            when(c("_race").is_not_null() & c("_ethnicity").is_not_null(), ","),
            c("_ethnicity"),
            when(
                (c("_race").is_not_null() | c("_ethnicity").is_not_null())
                & c("_birth_sex").is_not_null(),
                ",",
            ),
            c("_birth_sex"),
            "]",
        ),
        ',"identifier":[',
        _identifier_head("MR", "Medical Record Number", MRN_SYSTEM),
        c("Id"),
        '"}',
        _identifier("SS", "Social Security Number", US_SSN, "SSN"),
        _identifier("DL", "Driver's license number", "urn:oid:2.16.840.1.113883.4.3.25", "DRIVERS"),
        _identifier("PPN", "Passport number", "http://hl7.org/fhir/sid/passport-USA", "PASSPORT"),
        '],"name":[{"use":"official"',
        *_name_parts(),
        opt(',"prefix":["', c("PREFIX"), '"]'),
        opt(',"suffix":["', c("SUFFIX"), '"]'),
        "}",
        when(
            c("MAIDEN").is_not_null(),
            ',{"use":"maiden","family":"',
            c("MAIDEN"),
            '"',
            *_name_parts()[1:],
            "}",
        ),
        "]",
        opt(',"telecom":[{"system":"phone","value":"', c("PHONE"), '","use":"home"}]'),
        opt(',"gender":', c("_gender")),
        opt(',"birthDate":"', c("_birth"), '"'),
        opt(',"deceasedDateTime":"', c("_death"), '"'),
        when(
            has_address,
            ',"address":[{"use":"home"',
            when(
                geolocated,
                f',"extension":[{{"url":"{GEOLOCATION}","extension":[{{"url":"latitude",'
                '"valueDecimal":',
                c("_lat"),
                '},{"url":"longitude","valueDecimal":',
                c("_lon"),
                "}]}]",
            ),
            opt(',"line":["', c("ADDRESS"), '"]'),
            opt(',"city":"', c("CITY"), '"'),
            opt(',"district":"', c("COUNTY"), '"'),
            opt(',"state":"', c("STATE"), '"'),
            opt(',"postalCode":"', c("ZIP"), '"'),
            when(c("STATE").is_not_null(), ',"country":"US"'),
            "}]",
        ),
        opt(',"maritalStatus":', c("_marital")),
        f',"communication":{_COMMUNICATION}}}',
    )
    return resource_frame(frame, resource, patient="Id")
