"""cohortforge: reproducible synthetic patient cohorts, generated as columns."""

__version__ = "0.1.0"
