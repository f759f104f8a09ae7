"""Which modules a run executes, in which order, and the compiled simulation for them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cohortforge.scenarios.loader import Scenario

from .care_network import CareNetwork
from .chunk import Simulation
from .clinical_tables import ClinicalTableBuilder
from .cohort import UNIX_EPOCH
from .compile import BASELINE_MODULES, compile_modules
from .module_loader import ModuleError, ModuleFile, ModuleLibrary
from .state_catalog import build_state_catalog

SECONDS_PER_YEAR = 365 * 86400


def select_modules(
    library: ModuleLibrary, scenario: Scenario, extra: Sequence[str]
) -> list[ModuleFile]:
    """Baseline modules, then the scenario's, then each --module not already listed.

    This order is the module index of modules/SEMANTICS.md; names are deduplicated.
    """
    available = library.module_names()
    baseline = [name for name in BASELINE_MODULES if name in available]
    selected: list[ModuleFile] = []
    seen: set[str] = set()
    for origin, names in (
        ("baseline", baseline),
        ("scenario", scenario.modules),
        ("--module", extra),
    ):
        for name in names:
            try:
                module = library.load(name)
            except ModuleError as error:
                where = f"{scenario.path}: modules" if origin == "scenario" else origin
                raise ModuleError(f"{where}: {error}") from error
            if module.name not in seen:
                seen.add(module.name)
                selected.append(module)
    return selected


def prepare_simulation(
    library: ModuleLibrary,
    modules: Sequence[ModuleFile],
    seed: int,
    reference_date: dt.date,
    years_of_history: int,
    network: CareNetwork,
) -> Simulation | None:
    """Compile the selected modules; None when there are none (a patients-only run)."""
    if not modules:
        return None
    model = compile_modules(modules, library, seed)
    reference_time = (reference_date - UNIX_EPOCH).days * 86400
    window_start = reference_time - years_of_history * SECONDS_PER_YEAR
    tables = ClinicalTableBuilder(
        model, build_state_catalog(model), window_start, reference_time, network
    )
    return Simulation(model, tables)
