"""MedicationRequest: the RxNorm drug, who it is for, when it was written, how it is
taken and how often it may be refilled."""

from __future__ import annotations

import polars as pl

from .codes import RXNORM, coded
from .common import active_or, reason, reference, resource_frame
from .json_text import instant_text, number, opt, prepare_text

# The tables say which drug and how many fills, not the sig, so the dosage is the
# generic instruction a pharmacy label carries when the prescriber gave no other.
_DOSAGE = '[{"sequence":1,"text":"Take as directed"}]'


def medication_request_resources(medications: pl.DataFrame) -> pl.DataFrame:
    """One MedicationRequest per row: columns PATIENT, id, json."""
    c = pl.col
    frame = prepare_text(
        medications, "CODE", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION"
    ).with_columns(
        instant_text(c("START")).alias("_start"),
        instant_text(c("STOP")).alias("_stop"),
        # DISPENSES counts every fill, the first included; repeats are the fills after it.
        number(pl.when(c("DISPENSES") >= 1).then(c("DISPENSES") - 1)).alias("_repeats"),
    )
    resource = (
        '{"resourceType":"MedicationRequest","id":"',
        c("Id"),
        '","status":',
        # R4 medicationrequest-status: a course with a STOP has run its length.
        active_or("STOP", '"active"', '"completed"'),
        ',"intent":"order","medicationCodeableConcept":',
        coded(RXNORM, c("CODE"), c("DESCRIPTION")),
        ',"subject":{"reference":"Patient/',
        c("PATIENT"),
        '"}',
        reference("encounter", "Encounter", "ENCOUNTER"),
        ',"authoredOn":"',
        c("_start"),
        '"',
        reason("reasonCode", "REASONCODE", "REASONDESCRIPTION"),
        f',"dosageInstruction":{_DOSAGE}',
        # START is never null (the table's key time), so the period always has a start.
        ',"dispenseRequest":{"validityPeriod":{"start":"',
        c("_start"),
        '"',
        opt(',"end":"', c("_stop"), '"'),
        "}",
        opt(',"numberOfRepeatsAllowed":', c("_repeats")),
        "}}",
    )
    return resource_frame(frame, resource)
