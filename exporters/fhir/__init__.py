"""fhir export (see exporters/text_export.py for the contract)."""
