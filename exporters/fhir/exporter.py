"""FhirExporter: FHIR R4 NDJSON per resource type, plus transaction Bundles.

Files, relative to the output folder:
- `fhir/<ResourceType>.ndjson`, one resource per line, relative references (bulk data);
- `fhir_bundle.json`, one transaction Bundle for the whole run (context.fhir_bundle ==
  "single"), or `fhir/bundles/<patient id>.json`, one self-contained Bundle per patient
  ("per-patient"), which also holds the Organizations and Practitioners its encounters
  name; "none" writes the NDJSON files only.

Every piece depends only on its chunk's patients, and chunk entries are in patient
order, so the files do not depend on the chunking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from cohortforge.exporters.text_export import ExportContext, TextPiece

from .bundle import BUNDLE_TAIL, ENTRY_SEPARATOR, bundle_head, entries, per_patient_bundles
from .careplan import careplan_resources
from .clinical import (
    allergy_resources,
    condition_resources,
    device_resources,
    immunization_resources,
    procedure_resources,
)
from .encounter import encounter_resources
from .medication import medication_request_resources
from .observation import diagnostic_report_resources, observation_resources
from .organization import organization_resources, practitioner_resources
from .patient import patient_resources
from .text_bytes import concatenated

SINGLE_BUNDLE = "fhir_bundle.json"
BUNDLE_LAYOUTS = ("single", "per-patient", "none")
PER_PATIENT_DIR = "fhir/bundles"
Tables = Mapping[str, pl.DataFrame]

# Resource type -> builder from a chunk's tables, in the order entries are written.
_CHUNK_RESOURCES: tuple[tuple[str, str, Callable[[Tables], pl.DataFrame]], ...] = (
    ("Patient", "patients", lambda t: patient_resources(t["patients"])),
    ("Encounter", "encounters", lambda t: encounter_resources(t["encounters"])),
    ("Condition", "conditions", lambda t: condition_resources(t["conditions"])),
    ("AllergyIntolerance", "allergies", lambda t: allergy_resources(t["allergies"])),
    ("MedicationRequest", "medications", lambda t: medication_request_resources(t["medications"])),
    ("Procedure", "procedures", lambda t: procedure_resources(t["procedures"])),
    ("Immunization", "immunizations", lambda t: immunization_resources(t["immunizations"])),
    (
        "CarePlan",
        "careplans",
        lambda t: careplan_resources(t["careplans"], t.get("careplan_activities")),
    ),
    ("Device", "devices", lambda t: device_resources(t["devices"])),
)
RUN_WIDE_TYPES = ("Organization", "Practitioner")
CHUNK_TYPES = (*(name for name, _, _ in _CHUNK_RESOURCES), "Observation", "DiagnosticReport")


def ndjson_path(resource_type: str) -> str:
    return f"fhir/{resource_type}.ndjson"


def _lines(json: pl.Series) -> bytes:
    return concatenated(json, "\n")


def _run_wide(context: ExportContext) -> list[tuple[str, pl.DataFrame]]:
    return [
        ("Organization", organization_resources(context.organizations)),
        ("Practitioner", practitioner_resources(context.providers)),
    ]


def chunk_resources(tables: Tables) -> list[tuple[str, pl.DataFrame]]:
    """Each resource type's frame (PATIENT, id, json) for one chunk, in entry order."""
    built = [(name, build(tables)) for name, table, build in _CHUNK_RESOURCES if table in tables]
    if "observations" in tables:
        observations = observation_resources(tables["observations"])
        built.append(("Observation", observations.select("PATIENT", "id", "json")))
        if "reports" in tables:
            reports = diagnostic_report_resources(tables["reports"], observations)
            built.append(("DiagnosticReport", reports))
    return built


class FhirExporter:
    """The FHIR R4 text exporter (exporters/text_export.py contract)."""

    name = "fhir"

    def __init__(self) -> None:
        # Pieces carry their own separators (see bundle.py), so none are inserted.
        self.separators: Mapping[str, bytes] = {
            SINGLE_BUNDLE: b"",
            **{ndjson_path(name): b"" for name in (*RUN_WIDE_TYPES, *CHUNK_TYPES)},
        }

    def begin(self, context: ExportContext) -> TextPiece:
        if context.fhir_bundle not in BUNDLE_LAYOUTS:
            raise ValueError(
                f"unknown FHIR bundle layout {context.fhir_bundle!r}; use one of "
                + ", ".join(BUNDLE_LAYOUTS)
            )
        files: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        run_wide = _run_wide(context)
        for name, frame in run_wide:
            counts[name] = frame.height
            if frame.height:
                files[ndjson_path(name)] = _lines(frame["json"])
        if context.fhir_bundle == "single":
            texts = [frame.select(entries(frame, name))[:, 0] for name, frame in run_wide]
            body = pl.concat(texts).str.join(ENTRY_SEPARATOR).item()
            if not body:
                raise ValueError(
                    "the FHIR bundle needs at least one Organization or Practitioner "
                    "(context.organizations and context.providers are both empty)"
                )
            files[SINGLE_BUNDLE] = (bundle_head(context.run_id) + body).encode()
        return TextPiece(files=files, counts=counts)

    def chunk(self, tables: Tables, context: ExportContext) -> TextPiece:
        built = chunk_resources(tables)
        files = {ndjson_path(name): _lines(f["json"]) for name, f in built if f.height}
        counts = {name: frame.height for name, frame in built}
        if context.fhir_bundle == "per-patient":
            entry_rows = _entry_rows(built, tables["patients"])
            files.update(_per_patient_files(entry_rows, tables, context))
        elif context.fhir_bundle == "single":
            # Every entry after begin's carries its leading separator (bundle.py).
            entry_rows = _entry_rows(built, tables["patients"], prefix=ENTRY_SEPARATOR)
            if entry_rows.height:
                files[SINGLE_BUNDLE] = concatenated(entry_rows["entry"])
        return TextPiece(files=files, counts=counts)

    def end(self, context: ExportContext, counts: Mapping[str, int]) -> TextPiece:
        if context.fhir_bundle != "single":
            return TextPiece()
        return TextPiece(files={SINGLE_BUNDLE: BUNDLE_TAIL.encode()})


def _patient_order(patients: pl.DataFrame) -> pl.DataFrame:
    return patients.select(
        pl.col("Id").alias("PATIENT"), pl.int_range(pl.len()).alias("_patient_order")
    )


def _entry_rows(
    built: list[tuple[str, pl.DataFrame]], patients: pl.DataFrame, prefix: str = ""
) -> pl.DataFrame:
    """Every entry of the chunk with its patient, grouped by patient (patient table order),
    resource types in `built` order, table order within a type."""
    frames = [
        frame.select(pl.col("PATIENT"), entries(frame, name, prefix).alias("entry"))
        for name, frame in built
    ]
    rows = pl.concat(frames).join(
        _patient_order(patients), on="PATIENT", how="left", maintain_order="left"
    )
    # A stable sort on the patient's position only: types and rows keep their order.
    return rows.sort("_patient_order", maintain_order=True)


def _per_patient_files(
    entry_rows: pl.DataFrame, tables: Tables, context: ExportContext
) -> dict[str, bytes]:
    """One Bundle per patient: the Organizations and Practitioners their encounters name,
    then their own resources."""
    c = pl.col
    order = _patient_order(tables["patients"])
    encounters = tables.get("encounters")
    named = []
    if encounters is not None:
        for (name, frame), column in zip(
            _run_wide(context), ("ORGANIZATION", "PROVIDER"), strict=True
        ):
            used = encounters.select(c("PATIENT"), c(column).alias("id")).drop_nulls()
            named.append(
                used.unique(maintain_order=True)
                .join(
                    frame.select(c("id"), entries(frame, name).alias("entry")),
                    on="id",
                    how="inner",
                    maintain_order="left",
                )
                .select("PATIENT", "entry")
            )
    network = (
        pl.concat(named)
        .join(order, on="PATIENT", how="inner", maintain_order="left")
        .sort("_patient_order", maintain_order=True)
        .group_by("_patient_order", maintain_order=True)
        .agg(c("entry").str.join(ENTRY_SEPARATOR).alias("network"))
        if named
        else pl.DataFrame(schema={"_patient_order": pl.Int64, "network": pl.Utf8})
    )
    bundles = per_patient_bundles(entry_rows, network)
    paths = (PER_PATIENT_DIR + "/" + bundles["PATIENT"] + ".json").to_list()
    return dict(zip(paths, bundles["bundle"].to_list(), strict=True))
