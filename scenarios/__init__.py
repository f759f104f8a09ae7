"""Scenario files (one TOML each) and the population tables they draw from."""
