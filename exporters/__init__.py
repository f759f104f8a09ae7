"""Writers that turn Arrow tables into files (CSV, Parquet, and later FHIR, HL7 v2, VistA)."""
