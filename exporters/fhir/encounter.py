"""Encounter: class, type, period, reason, the clinician who saw the patient and the
organization that provided the care."""

from __future__ import annotations

import polars as pl

from .codes import ENCOUNTER_CLASS, SNOMED, coded, concept_json
from .common import active_or, reason, reference, resource_frame
from .json_text import instant_text, lookup, opt, prepare_text, when

# Participant type "primary performer" (v3 ParticipationType, THO 7.0.1).
_PRIMARY_PERFORMER = concept_json(
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
    "PPRF",
    "primary performer",
    "primary performer",
)


def encounter_resources(encounters: pl.DataFrame) -> pl.DataFrame:
    """One Encounter per row: columns PATIENT, id, json."""
    c = pl.col
    frame = prepare_text(
        encounters, "CODE", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION"
    ).with_columns(
        instant_text(c("START")).alias("_start"),
        instant_text(c("STOP")).alias("_stop"),
        lookup(c("ENCOUNTERCLASS"), ENCOUNTER_CLASS).alias("_class"),
    )
    period = ['{"start":"', c("_start"), '"', opt(',"end":"', c("_stop"), '"'), "}"]
    resource = (
        '{"resourceType":"Encounter","id":"',
        c("Id"),
        '","status":',
        active_or("STOP", '"in-progress"', '"finished"'),
        opt(',"class":', c("_class")),
        ',"type":[',
        coded(SNOMED, c("CODE"), c("DESCRIPTION")),
        "]",
        ',"subject":{"reference":"Patient/',
        c("PATIENT"),
        '"}',
        when(
            c("PROVIDER").is_not_null(),
            f',"participant":[{{"type":[{_PRIMARY_PERFORMER}],"period":',
            period,
            ',"individual":{"reference":"Practitioner/',
            c("PROVIDER"),
            '"}}]',
        ),
        ',"period":',
        period,
        reason("reasonCode", "REASONCODE", "REASONDESCRIPTION"),
        reference("serviceProvider", "Organization", "ORGANIZATION"),
        "}",
    )
    return resource_frame(frame, resource)
