"""The text exporters' option values, importable without Polars (engine/config.py checks
them, and the CLI imports that at start-up)."""

FHIR_BUNDLE_LAYOUTS = ("single", "per-patient", "none")
HL7_FRAMINGS = ("none", "mllp")
