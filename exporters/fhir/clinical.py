"""Condition, Procedure, Immunization, AllergyIntolerance and Device: one resource per
table row, each coded with the row's code system."""

from __future__ import annotations

import polars as pl

from .codes import CVX, SNOMED, coded, concept_json, system_uri
from .common import active_or, reason, reference, resource_frame
from .json_text import (
    date_text,
    instant_text,
    lookup,
    opt,
    prepare_text,
    quoted,
    when,
)

_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def _table_coded(frame: pl.DataFrame) -> list:
    c = pl.col
    return coded(system_uri(c("SYSTEM"), frame["SYSTEM"]), c("CODE"), c("DESCRIPTION"))


def _subject(member: str = "subject") -> list:
    return [f',"{member}":{{"reference":"Patient/', pl.col("PATIENT"), '"}']


def condition_resources(conditions: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    frame = prepare_text(conditions, "CODE", "DESCRIPTION").with_columns(
        date_text(c("START")).alias("_start"), date_text(c("STOP")).alias("_stop")
    )
    clinical_status = active_or(
        "STOP",
        concept_json(_CONDITION_CLINICAL, "active", "Active"),
        concept_json(_CONDITION_CLINICAL, "resolved", "Resolved"),
    )
    category = concept_json(_CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
    verified = concept_json(_CONDITION_VERIFICATION, "confirmed", "Confirmed")
    resource = (
        '{"resourceType":"Condition","id":"',
        c("Id"),
        '","clinicalStatus":',
        clinical_status,
        f',"verificationStatus":{verified},"category":[{category}],"code":',
        _table_coded(frame),
        _subject(),
        reference("encounter", "Encounter", "ENCOUNTER"),
        opt(',"onsetDateTime":"', c("_start"), '"'),
        opt(',"abatementDateTime":"', c("_stop"), '"'),
        opt(',"recordedDate":"', c("_start"), '"'),
        "}",
    )
    return resource_frame(frame, resource)


def procedure_resources(procedures: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    frame = prepare_text(
        procedures, "CODE", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION"
    ).with_columns(instant_text(c("START")).alias("_start"), instant_text(c("STOP")).alias("_stop"))
    resource = (
        '{"resourceType":"Procedure","id":"',
        c("Id"),
        '","status":"completed","code":',
        _table_coded(frame),
        _subject(),
        reference("encounter", "Encounter", "ENCOUNTER"),
        opt(',"performedPeriod":{"start":"', c("_start"), '"'),
        opt(',"end":"', c("_stop"), '"'),
        when(c("_start").is_not_null(), "}"),
        reason("reasonCode", "REASONCODE", "REASONDESCRIPTION"),
        "}",
    )
    return resource_frame(frame, resource)


def immunization_resources(immunizations: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    frame = prepare_text(immunizations, "CODE", "DESCRIPTION").with_columns(
        instant_text(c("DATE")).alias("_date")
    )
    resource = (
        '{"resourceType":"Immunization","id":"',
        c("Id"),
        '","status":"completed","vaccineCode":',
        coded(CVX, c("CODE"), c("DESCRIPTION")),
        _subject("patient"),
        reference("encounter", "Encounter", "ENCOUNTER"),
        ',"occurrenceDateTime":"',
        c("_date"),
        '","primarySource":true}',
    )
    return resource_frame(frame, resource)


_SEVERITY = {"MILD": '"mild"', "MODERATE": '"moderate"', "SEVERE": '"severe"'}
# Synthea writes "drug" for medication allergies; FHIR's allergy-intolerance-category
# codes are food | medication | environment | biologic.
_ALLERGY_CATEGORY = {
    "drug": '["medication"]',
    "medication": '["medication"]',
    "food": '["food"]',
    "environment": '["environment"]',
    "biologic": '["biologic"]',
}
_ALLERGY_TYPE = {"allergy": '"allergy"', "intolerance": '"intolerance"'}


def _reaction(n: int) -> list:
    c = pl.col
    return [
        '{"manifestation":[',
        coded(SNOMED, c(f"REACTION{n}"), c(f"DESCRIPTION{n}")),
        "]",
        opt(',"severity":', c(f"_severity{n}")),
        "}",
    ]


def allergy_resources(allergies: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    texts = ("CODE", "DESCRIPTION", "REACTION1", "DESCRIPTION1", "REACTION2", "DESCRIPTION2")
    frame = prepare_text(allergies, *texts).with_columns(
        date_text(c("START")).alias("_start"),
        date_text(c("STOP")).alias("_stop"),
        lookup(c("SEVERITY1"), _SEVERITY).alias("_severity1"),
        lookup(c("SEVERITY2"), _SEVERITY).alias("_severity2"),
        lookup(c("TYPE"), _ALLERGY_TYPE).alias("_type"),
        lookup(c("CATEGORY"), _ALLERGY_CATEGORY).alias("_category"),
    )
    clinical_status = active_or(
        "STOP",
        concept_json(_ALLERGY_CLINICAL, "active", "Active"),
        concept_json(_ALLERGY_CLINICAL, "resolved", "Resolved"),
    )
    verified = concept_json(_ALLERGY_VERIFICATION, "confirmed", "Confirmed")
    first, second = c("REACTION1").is_not_null(), c("REACTION2").is_not_null()
    resource = (
        '{"resourceType":"AllergyIntolerance","id":"',
        c("Id"),
        '","clinicalStatus":',
        clinical_status,
        f',"verificationStatus":{verified}',
        opt(',"type":', c("_type")),
        opt(',"category":', c("_category")),
        ',"code":',
        _table_coded(frame),
        _subject("patient"),
        reference("encounter", "Encounter", "ENCOUNTER"),
        opt(',"onsetDateTime":"', c("_start"), '"'),
        opt(',"lastOccurrence":"', c("_stop"), '"'),
        opt(',"recordedDate":"', c("_start"), '"'),
        when(
            first | second,
            ',"reaction":[',
            when(first, _reaction(1)),
            when(first & second, ","),
            when(second, _reaction(2)),
            "]",
        ),
        "}",
    )
    return resource_frame(frame, resource)


def device_resources(devices: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    frame = prepare_text(devices, "CODE", "DESCRIPTION", "UDI").with_columns(
        # The GS1 UDI's device identifier is the GTIN after application identifier (01).
        c("UDI").str.extract(r"^\(01\)([0-9]+)", 1).alias("_gtin")
    )
    resource = (
        '{"resourceType":"Device","id":"',
        c("Id"),
        '"',
        when(
            c("UDI").is_not_null(),
            ',"udiCarrier":[{',
            opt('"deviceIdentifier":"', c("_gtin"), '",'),
            '"carrierHRF":',
            quoted(c("UDI")),
            "}]",
        ),
        ',"status":',
        active_or("STOP", '"active"', '"inactive"'),
        opt(',"deviceName":[{"name":"', c("DESCRIPTION"), '","type":"user-friendly-name"}]'),
        ',"type":',
        coded(SNOMED, c("CODE"), c("DESCRIPTION")),
        _subject("patient"),
        "}",
    )
    return resource_frame(frame, resource)
