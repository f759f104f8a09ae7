"""The kernel's guard against zero-time loops (modules/SEMANTICS.md, Execution): a state
entered more than 1,000 times at one instant stops its module and flags the block; 1,000
entries are still a legitimate burst."""

from __future__ import annotations

import json

import polars as pl
import pytest

from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.kernels.machine import FLAG_LOOP

from .engine_helpers import kernel_run, random_patients

ONSET = {
    "type": "ConditionOnset",
    "codes": [{"system": "SNOMED-CT", "code": "44054006", "display": "Diabetes"}],
    "direct_transition": "Terminal",
}


def counting_module(limit: int) -> dict:
    """Enters Count `limit` times at birth, then records a condition onset."""
    return {
        "name": f"count_to_{limit}",
        "states": {
            "Initial": {"type": "Initial", "direct_transition": "Count"},
            "Count": {
                "type": "Counter",
                "attribute": "entries",
                "action": "increment",
                "conditional_transition": [
                    {
                        "condition": {
                            "condition_type": "Attribute",
                            "attribute": "entries",
                            "operator": "<",
                            "value": limit,
                        },
                        "transition": "Count",
                    },
                    {"transition": "Done"},
                ],
            },
            "Done": ONSET,
            "Terminal": {"type": "Terminal"},
        },
    }


def run(tmp_path, module: dict) -> tuple[pl.DataFrame, int]:
    (tmp_path / f"{module['name']}.json").write_text(json.dumps(module))
    library = ModuleLibrary([tmp_path])
    return kernel_run([library.load(module["name"])], library, random_patients(20), seed=3)


@pytest.mark.parametrize("limit", [1, 999, 1000])
def test_up_to_a_thousand_entries_at_one_instant_run_to_the_end(tmp_path, limit):
    log, flags = run(tmp_path, counting_module(limit))
    assert flags & FLAG_LOOP == 0
    assert log.filter(pl.col("kind") == "condition_onset").height == 20  # every patient


def test_the_1001st_entry_stops_the_module_and_flags_the_block(tmp_path):
    log, flags = run(tmp_path, counting_module(1001))
    assert flags & FLAG_LOOP
    assert log.filter(pl.col("kind") == "condition_onset").height == 0  # never got there


def test_a_loop_without_exit_ends(tmp_path):
    module = {
        "name": "spin",
        "states": {
            "Initial": {"type": "Initial", "direct_transition": "Onset"},
            "Onset": {**ONSET, "direct_transition": "Ping"},
            "Ping": {"type": "Simple", "direct_transition": "Pong"},
            "Pong": {"type": "Simple", "direct_transition": "Ping"},
        },
    }
    log, flags = run(tmp_path, module)
    assert flags & FLAG_LOOP
    # What happened before the loop is kept: one onset per patient.
    assert log.filter(pl.col("kind") == "condition_onset").height == 20
