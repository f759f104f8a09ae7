"""Scenario files: every shipped one validates, condition scenarios shift the population,
and each kind of bad value is reported with file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cohortforge.scenarios.loader import (
    SCENARIO_DIR,
    ScenarioError,
    list_scenarios,
    load_scenario,
    load_scenario_file,
)

EXPECTED = {
    "general_population",
    "cardiometabolic",
    "pediatric_asthma",
    "prenatal",
    "oncology_survivorship",
    "ckd_dialysis",
    "copd_home_oxygen",
    "mental_health",
}


def band_share(bands, low, high):
    """Share of the age-band weight that lies inside [low, high)."""
    total = sum(bands.weights)
    inside = 0.0
    for lo, hi, weight in zip(bands.lows, bands.highs, bands.weights, strict=True):
        overlap = max(0.0, min(hi, high) - max(lo, low))
        inside += weight * overlap / (hi - lo)
    return inside / total


def test_all_eight_scenarios_ship_and_validate():
    scenarios = {s.name: s for s in list_scenarios()}
    assert set(scenarios) == EXPECTED
    for scenario in scenarios.values():
        assert scenario.description
        assert sum(scenario.age.weights) > 0


def test_every_numeric_line_names_its_source():
    for path in SCENARIO_DIR.glob("*.toml"):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            code = line.split("#", 1)[0]
            if not re.search(r"=\s*[\d.]+|weight\s*=|rate\s*=", code) or "years_of_history" in code:
                continue
            commented = "#" in line or (number > 0 and lines[number - 1].strip().startswith("#"))
            assert commented, f"{path.name}:{number + 1}: value without a source comment: {line}"


def test_general_population_lists_all_seven_modules():
    assert len(load_scenario("general_population").modules) == 7


def test_condition_scenarios_shift_toward_their_patients():
    pediatric = load_scenario("pediatric_asthma")
    assert min(pediatric.age.lows) >= 2 and max(pediatric.age.highs) <= 18
    prenatal = load_scenario("prenatal")
    assert prenatal.sex["male"] == 0
    assert min(prenatal.age.lows) >= 15 and max(prenatal.age.highs) <= 46
    oncology = load_scenario("oncology_survivorship")
    assert band_share(oncology.age, 50, 111) > 0.6
    general = load_scenario("general_population")
    assert band_share(general.age, 0, 18) > 0.15
    copd = load_scenario("copd_home_oxygen")
    assert band_share(copd.age, 40, 111) > 0.9


VALID = Path(__file__).parent / "fixtures" / "scenarios" / "valid.toml"


def test_fixture_is_valid():
    assert load_scenario_file(VALID).years_of_history == 10


def write_variant(tmp_path: Path, edit) -> Path:
    """A copy of the valid fixture scenario with one edit applied to its text."""
    text = VALID.read_text()
    path = tmp_path / "variant.toml"
    path.write_text(edit(text))
    return path


def replace_line(key: str, new_line: str):
    def edit(text: str) -> str:
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
        assert pattern.search(text), f"{key} not in {VALID.name}"
        return pattern.sub(new_line, text, count=1)

    return edit


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (replace_line("years_of_history", "years_of_history = 0"), "years_of_history", "integer"),
        (
            replace_line("years_of_history", 'years_of_history = "ten"'),
            "years_of_history",
            "integer",
        ),
        (replace_line("reference_date", 'reference_date = "yesterday"'), "reference_date", "date"),
        (replace_line("female", "female = -1"), "sex.female", "outside"),
        (replace_line("white", 'white = "many"'), "race.white", "number"),
        (
            replace_line("food_insecurity", "food_insecurity = 1.5"),
            "sdoh.food_insecurity",
            "outside",
        ),
        (replace_line("quit_ratio", "quit_ratio = 2"), "smoking.quit_ratio", "outside"),
        (replace_line("description", 'description = ""'), "description", "non-empty"),
        (replace_line("modules", "modules = [1, 2]"), "modules", "list of module names"),
        (lambda t: "surprise = 1\n" + t, "surprise", "unknown key"),
        (
            lambda t: t.replace("[smoking]", "[smoking]\nvaping = 0.1", 1),
            "smoking.vaping",
            "unknown key",
        ),
        (
            lambda t: t.replace("[geography]", "[geography]\ncounty = 1", 1),
            "geography.county",
            "unknown",
        ),
        (lambda t: t.replace("[sex]", "[sex]\nother = 3", 1), "sex.other", "unknown key"),
        (lambda t: t + "\n[[", "", "not valid TOML"),
    ],
)
def test_bad_values_name_file_key_and_problem(tmp_path, edit, key, problem):
    path = write_variant(tmp_path, edit)
    with pytest.raises(ScenarioError) as raised:
        load_scenario_file(path)
    message = str(raised.value)
    assert str(path) in message
    assert key in message
    assert problem in message
    assert "\n" not in message


BAND_CASES = {
    "overlaps": "{ min = 0, max = 20, weight = 1 }, { min = 10, max = 30, weight = 1 }",
    "greater than min": "{ min = 20, max = 10, weight = 1 }",
    "non-empty list": "",
    "exactly the keys": "{ min = 0, max = 10 }",
    "sum to 0": "{ min = 0, max = 10, weight = 0 }",
    "outside": "{ min = 0, max = 200, weight = 1 }",
}


@pytest.mark.parametrize(("problem", "bands"), BAND_CASES.items())
def test_bad_age_bands_are_reported(tmp_path, problem, bands):
    def edit(text: str) -> str:
        start = text.index("bands = [", text.index("[age]"))
        end = text.index("]\n", start) + 1
        return text[:start] + f"bands = [{bands}]" + text[end:]

    with pytest.raises(ScenarioError, match=re.escape(problem)) as raised:
        load_scenario_file(write_variant(tmp_path, edit))
    assert "age.bands" in str(raised.value)


def test_missing_key_and_unknown_name(tmp_path):
    path = write_variant(tmp_path, lambda t: re.sub(r"^years_of_history.*$", "", t, flags=re.M))
    with pytest.raises(ScenarioError, match="years_of_history: missing"):
        load_scenario_file(path)
    with pytest.raises(ScenarioError, match=r"valid scenarios: .*general_population"):
        load_scenario("no_such_scenario")
