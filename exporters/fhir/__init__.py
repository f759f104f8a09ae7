"""fhir export (see exporters/text_export.py for the contract): FHIR R4 NDJSON per
resource type plus a transaction Bundle (one for the run, or one per patient)."""

from .exporter import BUNDLE_LAYOUTS, FhirExporter
from .references import check_bundle_references, check_references

__all__ = ["BUNDLE_LAYOUTS", "FhirExporter", "check_bundle_references", "check_references"]
