"""Orchestration: configuration, cohorts, chunked runs and the manifest."""
