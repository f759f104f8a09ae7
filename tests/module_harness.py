"""Running real cohorts for module tests: a shipped scenario with a chosen module list.

The scenario file is copied with its `modules = [...]` list replaced, so a test can run
one clinical module (plus the baseline modules, which always run) on the population it
was designed for, through the same runner users call.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from cohortforge.engine.config import RunConfig
from cohortforge.engine.runner import run
from cohortforge.scenarios.loader import SCENARIO_DIR
from cohortforge.terminology import get_terminology

_MODULES_LIST = re.compile(r"^modules\s*=\s*\[.*?\]", re.MULTILINE | re.DOTALL)


def scenario_with_modules(base: str, modules: list[str], folder: Path) -> Path:
    """A copy of scenarios/<base>.toml whose default module list is `modules`."""
    text = (SCENARIO_DIR / f"{base}.toml").read_text(encoding="utf-8")
    listed = ", ".join(f'"{name}"' for name in modules)
    replaced, count = _MODULES_LIST.subn(f"modules = [{listed}]", text, count=1)
    assert count == 1, f"{base}.toml has no modules list"
    path = folder / f"{base}.toml"
    path.write_text(replaced, encoding="utf-8")
    return path


def generate_tables(
    base_scenario: str,
    modules: list[str],
    num_records: int,
    folder: Path,
    seed: int = 1,
    years_of_history: int | None = None,
) -> dict[str, pl.DataFrame]:
    """Generate a cohort as Parquet under `folder` and read every table back."""
    scenario = scenario_with_modules(base_scenario, modules, folder)
    output = folder / "out"
    run(
        RunConfig(
            num_records=num_records,
            scenario=str(scenario),
            seed=seed,
            output_dir=output,
            output_format="parquet",
            years_of_history=years_of_history,
            fhir=False,
            hl7=False,
        )
    )
    return {
        path.stem: pl.read_parquet(path) for path in sorted((output / "parquet").glob("*.parquet"))
    }


def coded_rows(
    tables: dict[str, pl.DataFrame],
    encounters: pl.DataFrame | None = None,
    observations: pl.DataFrame | None = None,
) -> set[tuple[str, str, str]]:
    """(system, code, description) of the coded rows: conditions, procedures, care-plan
    activities, medications, care plans, and `encounters` and `observations` (default:
    the whole tables; pass a filtered frame to check only a module's own rows)."""
    encounters = tables["encounters"] if encounters is None else encounters
    observations = tables["observations"] if observations is None else observations

    def fixed(frame: pl.DataFrame, system: str) -> pl.DataFrame:
        return frame.select(pl.lit(system).alias("SYSTEM"), "CODE", "DESCRIPTION")

    checks = [
        tables["conditions"].select("SYSTEM", "CODE", "DESCRIPTION"),
        tables["procedures"].select("SYSTEM", "CODE", "DESCRIPTION"),
        tables["careplan_activities"].select("SYSTEM", "CODE", "DESCRIPTION"),
        fixed(tables["medications"], "RxNorm"),
        fixed(tables["careplans"], "SNOMED-CT"),
        fixed(encounters, "SNOMED-CT"),
        fixed(observations, "LOINC"),
    ]
    return set(pl.concat(checks).unique().rows())


def wrong_displays(rows: set[tuple[str, str, str]]) -> list[tuple[str, str, str, str | None]]:
    """The rows whose description is not the terminology's display of their code."""
    term = get_terminology()
    return [(s, c, d, term.lookup(s, c)) for s, c, d in rows if term.lookup(s, c) != d]
