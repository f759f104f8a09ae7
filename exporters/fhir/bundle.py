"""Transaction Bundles: entries, the streamed single bundle, and per-patient bundles.

An entry is `{"fullUrl":"urn:uuid:<id>","resource":...,"request":{"method":"POST",
"url":"<Type>"}}` (R4 bundle.html, "Transactions"), its references rewritten to the
fullUrls of the entries they point at.

The single bundle is streamed: `begin` writes the head and the run-wide Organization and
Practitioner entries; every chunk piece starts with ",\\n" and holds that chunk's
entries; `end` closes the array. No separator is needed, so the file is right whatever
the chunking.
"""

from __future__ import annotations

import re

import polars as pl

from .json_text import constant
from .references import to_bundle_references

ENTRY_SEPARATOR = ",\n"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def entries(frame: pl.DataFrame, resource_type: str, prefix: str = "") -> pl.Expr:
    """The bundle entry text of each row of a resource frame (columns id, json), after
    `prefix`."""
    c = pl.col
    return pl.concat_str(
        [
            pl.lit(prefix + '{"fullUrl":"urn:uuid:'),
            c("id"),
            pl.lit('","resource":'),
            to_bundle_references(c("json")),
            pl.lit(f',"request":{{"method":"POST","url":"{resource_type}"}}}}'),
        ]
    )


def bundle_head(bundle_id: str | None) -> str:
    """`{"resourceType":"Bundle",...,"entry":[` plus a newline; the id only if valid."""
    head = {"resourceType": "Bundle"}
    if bundle_id is not None and _FHIR_ID.match(bundle_id):
        head["id"] = bundle_id
    head["type"] = "transaction"
    return constant(head)[:-1] + ',"entry":[\n'


BUNDLE_TAIL = "\n]}\n"


def per_patient_bundles(entry_rows: pl.DataFrame, network: pl.DataFrame) -> pl.DataFrame:
    """One whole Bundle per patient: columns PATIENT, bundle (Binary).

    `entry_rows` (_patient_order, PATIENT, entry) holds the patients' own entries in
    patient order; `network` (_patient_order, network) the Organization and Practitioner
    entries each patient's encounters name, already joined with ENTRY_SEPARATOR. They
    come first in the bundle.
    """
    c = pl.col
    grouped = (
        entry_rows.group_by("_patient_order", maintain_order=True)
        .agg(c("PATIENT").first(), c("entry").str.join(ENTRY_SEPARATOR))
        .join(network, on="_patient_order", how="left", maintain_order="left")
    )
    text = pl.concat_str(
        [
            pl.lit('{"resourceType":"Bundle","id":"'),
            c("PATIENT"),
            pl.lit('","type":"transaction","entry":[\n'),
            c("network"),
            pl.when(c("network").is_not_null()).then(pl.lit(ENTRY_SEPARATOR)),
            c("entry"),
            pl.lit(BUNDLE_TAIL),
        ],
        ignore_nulls=True,
    )
    return grouped.select(c("PATIENT"), text.cast(pl.Binary).alias("bundle"))
