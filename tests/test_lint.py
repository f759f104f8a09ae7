"""The module linter: one fixture per rule, the CLI contract, Synthea's own modules, and
modules/README.md against the supported subset."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cohortforge.engine.lint import (
    ERROR,
    WARNING,
    Finding,
    lint_modules,
    lint_selection,
    load_for_lint,
    modules_under,
)
from cohortforge.engine.lint_context import transition_targets
from cohortforge.engine.lint_transitions import CONDITION_FIELDS
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.engine.module_schema import (
    CONDITION_TYPES,
    DISTRIBUTION_KINDS,
    ENCOUNTER_CLASSES,
    OPERATORS,
    STATE_FIELDS,
    TRANSITION_KEYS,
    UNIT_SECONDS,
    VITAL_SIGN_LOINC,
)
from cohortforge.lint_cli import lint
from cohortforge.terminology import Terminology
from tests.conftest import REPO_ROOT, shared_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"
README = REPO_ROOT / "modules" / "README.md"

app = typer.Typer()
app.command(name="lint")(lint)


@app.callback()
def _group() -> None:
    """Makes `lint` a subcommand, as it is under cohortforge/cli.py."""


runner = CliRunner()


@pytest.fixture(scope="module")
def terminology(tmp_path_factory: pytest.TempPathFactory) -> Terminology:
    # The seed, whatever database a developer has built: the fixtures rely on seed codes.
    return Terminology(tmp_path_factory.mktemp("terminology") / "absent.duckdb")


@pytest.fixture(scope="module")
def library() -> ModuleLibrary:
    return ModuleLibrary([FIXTURES])


@pytest.fixture(autouse=True)
def _seed_terminology(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The CLI uses the default terminology; point it at a database that does not exist.
    monkeypatch.setenv("TERMINOLOGY_DB_PATH", str(tmp_path / "absent.duckdb"))


def lint_fixture(name: str, library: ModuleLibrary, terminology: Terminology) -> list[Finding]:
    return lint_modules([library.load(name)], library, terminology)


# fixture file, severity, state, key phrase of the message
RULES = [
    ("missing_initial", ERROR, "-", 'no state named "Initial"'),
    ("unknown_state_type", ERROR, "Odd", "state type 'Teleport' is unknown or unsupported"),
    ("unsupported_key", ERROR, "Odd", "key 'color' is unsupported on Simple states"),
    ("missing_required_key", ERROR, "Odd", "missing required key 'allow'"),
    ("wrong_value_type", ERROR, "Odd", "amount: expected a whole number"),
    ("unknown_transition_type", ERROR, "Odd",
     "transition type 'random_transition' is unknown or unsupported"),
    ("unknown_condition_type", ERROR, "Odd",
     "condition type 'Moon Phase' is unknown or unsupported"),
    ("unknown_target", ERROR, "Odd", "transition to unknown state 'Nowhere'"),
    ("distributed_unknown_state", ERROR, "Odd",
     "distributed_transition[1]: transition to unknown state 'Nowhere'"),
    ("unreachable", WARNING, "Odd", "unreachable from Initial"),
    ("dead_end", ERROR, "Odd", "has no transition and is not Terminal"),
    ("probability_range", ERROR, "Odd", "probability -0.2 is outside [0, 1]"),
    ("probability_sum", ERROR, "Odd", "probabilities sum to 1.1, above 1"),
    ("probability_attribute", ERROR, "Odd", "probability -0.1 is outside [0, 1]"),
    ("instant_loop", ERROR, "Odd", "loop with no delay or guard (Odd -> Again -> Odd)"),
    ("loop_through_instant_submodule", ERROR, "Odd", "loop with no delay or guard (Odd -> Odd)"),
    ("attribute_never_set", WARNING, "Odd", "attribute 'mystery' is read but never set"),
    ("unknown_code", ERROR, "Odd", "SNOMED-CT code 999999999 is not in the seed terminology"),
    ("unknown_code_system", ERROR, "Odd", "code system 'MADEUP' is unknown"),
    ("missing_unit", ERROR, "Odd", 'numeric observation has no "unit"'),
    ("wrong_unit", WARNING, "Odd", "unit 'mg/dL' differs from LOINC 718-7's UCUM unit 'g/dL'"),
    ("missing_submodule", ERROR, "Odd", "submodule 'sub/nowhere' not found"),
    ("missing_lookup_table", ERROR, "Odd", "lookup table 'missing.csv' not found"),
    ("bad_operator", ERROR, "Odd", "operator '~=' is unsupported"),
    ("bad_distribution", ERROR, "Odd", "distribution kind 'POISSON' is unknown or unsupported"),
    ("bad_time_unit", ERROR, "Odd", "time unit 'fortnights' is not supported"),
]


@pytest.mark.parametrize(("fixture", "severity", "state", "phrase"), RULES,
                         ids=[rule[0] for rule in RULES])
def test_each_rule_reports_exactly_its_finding(
    fixture: str, severity: str, state: str, phrase: str,
    library: ModuleLibrary, terminology: Terminology,
) -> None:
    findings = lint_fixture(fixture, library, terminology)
    assert [(f.severity, f.state) for f in findings] == [(severity, state)], findings
    assert phrase in findings[0].message
    assert findings[0].path == FIXTURES / f"{fixture}.json"


@pytest.mark.parametrize(
    "fixture",
    # clean: probabilities 0.1 + 0.2 + 0.7 exceed 1 by rounding only (the 1e-9 tolerance).
    ["clean", "redraw_loop", "loop_through_waiting_submodule", "lookup_table"],
)
def test_clean_fixtures_have_no_findings(
    fixture: str, library: ModuleLibrary, terminology: Terminology
) -> None:
    assert lint_fixture(fixture, library, terminology) == []


def test_every_fixture_has_a_test() -> None:
    tested = {rule[0] for rule in RULES} | {
        "clean", "redraw_loop", "loop_through_waiting_submodule", "lookup_table"}
    assert {path.stem for path in FIXTURES.glob("*.json")} == tested


def test_attribute_set_by_another_selected_module_is_set(
    tmp_path: Path, library: ModuleLibrary, terminology: Terminology
) -> None:
    setter = _write_module(tmp_path / "setter.json", {
        "Initial": {"type": "Initial", "direct_transition": "Set"},
        "Set": {"type": "SetAttribute", "attribute": "mystery", "value": 1,
                "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    modules = [library.load("attribute_never_set"), load_for_lint(library, str(setter))]
    assert lint_modules(modules, library, terminology) == []


def test_baseline_modules_count_as_setting_attributes(
    tmp_path: Path, terminology: Terminology
) -> None:
    _write_module(tmp_path / "wellness_encounters.json", {
        "Initial": {"type": "Initial", "direct_transition": "Set"},
        "Set": {"type": "Counter", "attribute": "mystery", "action": "increment",
                "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    library = ModuleLibrary([tmp_path, FIXTURES])
    assert lint_fixture("attribute_never_set", library, terminology) == []


def test_lookup_table_rows_are_checked(tmp_path: Path, terminology: Terminology) -> None:
    shutil.copy(FIXTURES / "lookup_table.json", tmp_path / "lookup_table.json")
    (tmp_path / "lookup_tables").mkdir()
    (tmp_path / "lookup_tables" / "tiny.csv").write_text(
        "age,tier,A,Terminal\nadults,1,0.5,0.5\n0-140,1,0.7,0.7\n")
    library = ModuleLibrary([tmp_path])
    messages = [f.message for f in lint_fixture("lookup_table", library, terminology)]
    assert len(messages) == 2
    assert "line 2: age 'adults' is not low-high" in messages[0]
    assert "line 3: probabilities sum to 1.4, above 1" in messages[1]


def test_findings_are_sorted_by_file_then_state(
    library: ModuleLibrary, terminology: Terminology
) -> None:
    names = ["unreachable", "missing_initial", "dead_end", "wrong_unit", "unknown_target"]
    findings = lint_modules([library.load(name) for name in names], library, terminology)
    keys = [(str(f.path), f.state != "-", f.state) for f in findings]
    assert len(findings) == len(names) and keys == sorted(keys)


# --- the command line ----------------------------------------------------------------


def test_cli_clean_module_exits_0() -> None:
    result = runner.invoke(app, ["lint", str(FIXTURES / "clean.json")])
    assert result.exit_code == 0, result.output
    assert result.stdout == "0 errors, 0 warnings in 1 file\n"


def test_cli_errors_exit_1_one_line_per_finding() -> None:
    result = runner.invoke(app, ["lint", str(FIXTURES / "dead_end.json"),
                                 str(FIXTURES / "unreachable.json")])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(r".*dead_end\.json:Odd: error: Simple state has no transition.*", lines[0])
    assert re.fullmatch(r".*unreachable\.json:Odd: warning: state is unreachable.*", lines[1])
    assert lines[2] == "1 error, 1 warning in 2 files"


def test_cli_warnings_only_exit_0() -> None:
    result = runner.invoke(app, ["lint", str(FIXTURES / "unreachable.json")])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 errors, 1 warning in 1 file"


@pytest.mark.parametrize("arguments", [
    ["lint", "no/such/module.json"],
    ["lint", "no_such_module"],
    ["lint"],
    ["lint", "--all", "--modules-dir", "no/such/folder"],
])
def test_cli_bad_input_exits_2_with_one_line(arguments: list[str]) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_cli_invalid_json_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"states": {')
    result = runner.invoke(app, ["lint", str(tmp_path / "broken.json")])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_cli_modules_dir_finds_submodules_and_names(tmp_path: Path) -> None:
    caller = _write_module(tmp_path / "caller.json", {
        "Initial": {"type": "Initial", "direct_transition": "Call"},
        "Call": {"type": "CallSubmodule", "submodule": "sub/waits",
                 "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"},
    })
    alone = runner.invoke(app, ["lint", str(caller)])
    assert alone.exit_code == 1 and "submodule 'sub/waits' not found" in alone.stdout
    with_dir = runner.invoke(app, ["lint", str(caller), "--modules-dir", str(FIXTURES)])
    assert with_dir.exit_code == 0, with_dir.output
    assert with_dir.stdout == "0 errors, 0 warnings in 2 files\n"
    by_name = runner.invoke(app, ["lint", "clean", "--modules-dir", str(FIXTURES)])
    assert by_name.exit_code == 0 and by_name.stdout == "0 errors, 0 warnings in 1 file\n"


def test_cli_all_lints_every_module_in_the_search_path(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "dead_end.json", tmp_path / "dead_end.json")
    result = runner.invoke(app, ["lint", "--all", "--modules-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert re.search(r"dead_end\.json:Odd: error: ", result.stdout)


def test_cli_folder_argument_lints_its_modules_and_submodules() -> None:
    result = runner.invoke(app, ["lint", str(FIXTURES)])
    assert result.exit_code == 1
    files = len(list(FIXTURES.rglob("*.json")))
    assert result.stdout.splitlines()[-1].endswith(f" in {files} files")


# --- Synthea's own modules -------------------------------------------------------------

# Set elsewhere in Synthea (Java code or modules not in the conformance set).
SET_OUTSIDE = {"smoker", "chf", "ckd", "coronary_heart_disease", "microalbuminuria",
               "pregnant", "proteinuria"}
# anemia_sub.json records LOINC 788-0 (RDW, a ratio in %) in fL: a defect of the upstream
# file, which must stay unmodified; the warning is right.
UPSTREAM_UNIT_DEFECT = "unit 'fL' differs from LOINC 788-0's UCUM unit '%'"


def _acceptable_warning(finding: Finding) -> bool:
    match = re.fullmatch(r"attribute '(\w+)' is read but never set by any selected module",
                         finding.message)
    if match:
        return match.group(1) in SET_OUTSIDE
    return finding.path.name == "anemia_sub.json" and finding.message.endswith(
        UPSTREAM_UNIT_DEFECT)


def test_synthea_conformance_modules_lint_without_errors(terminology: Terminology) -> None:
    root = (shared_dir() / "conformance" / "synthea_modules").resolve()
    library = ModuleLibrary([root])
    modules = modules_under(root)
    every_file = {p for p in root.rglob("*.json") if "lookup_tables" not in p.parts}
    assert {m.path for m in lint_selection(modules, library)} == every_file
    findings = lint_modules(modules, library, terminology)
    assert [f for f in findings if f.severity == ERROR] == []
    assert [f for f in findings if not _acceptable_warning(f)] == []
    for path in sorted(every_file):  # each file alone too, with its submodules
        alone = lint_modules([load_for_lint(library, str(path))], library, terminology)
        assert [f for f in alone if f.severity == ERROR] == [], path


# --- modules/README.md -------------------------------------------------------------------


def test_readme_names_the_whole_supported_subset() -> None:
    text = README.read_text(encoding="utf-8")
    names = [*STATE_FIELDS, *TRANSITION_KEYS, *CONDITION_TYPES, *DISTRIBUTION_KINDS,
             *UNIT_SECONDS, *OPERATORS, *ENCOUNTER_CLASSES, *VITAL_SIGN_LOINC]
    missing = [name for name in names if name not in text]
    assert missing == []
    for fields in STATE_FIELDS.values():
        assert all(f"`{key}`" in text for key in fields[0] | fields[1])
    assert set(CONDITION_FIELDS) == set(CONDITION_TYPES)
    assert "SEMANTICS.md" in text and "--modules-dir" in text and "--module" in text


def test_readme_examples_lint_without_errors(tmp_path: Path, terminology: Terminology) -> None:
    """Every state, transition, condition and distribution example in the guide is valid."""
    text = README.read_text(encoding="utf-8")
    states, extras = _readme_examples(text)
    for kind in STATE_FIELDS:
        assert any(state["type"] == kind for state in states.values()), kind
    for name, extra in extras.items():
        states[name] = extra
    targets = {t for s in states.values() for t in transition_targets(s)} - set(states)
    states.update({t: {"type": "Simple", "direct_transition": "Terminal"} for t in targets})
    states["Terminal"] = {"type": "Terminal"}
    _write_module(tmp_path / "guide.json", states)
    _write_module(tmp_path / "medications" / "maintenance_inhaler.json", {
        "Initial": {"type": "Initial", "direct_transition": "Terminal"},
        "Terminal": {"type": "Terminal"}})
    (tmp_path / "lookup_tables").mkdir()
    table = re.search(r"```\n(age,Drug_A.*?)```", text, re.S)
    assert table is not None
    (tmp_path / "lookup_tables" / "drugs.csv").write_text(table.group(1))
    library = ModuleLibrary([tmp_path])
    findings = lint_modules([library.load("guide")], library, terminology)
    assert [f for f in findings if f.severity == ERROR] == []


def _readme_examples(text: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """States named in the guide's JSON blocks; conditions, distributions and transitions
    wrapped in states of their own."""
    decoder = json.JSONDecoder()
    states: dict[str, dict] = {}
    extras: dict[str, dict] = {}
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        for match in re.finditer(r'^"(\w+)": ', block, re.M):
            value, _ = decoder.raw_decode(block, match.end())
            key = match.group(1)
            if key in TRANSITION_KEYS:
                extras[f"Transition_{len(extras)}"] = {"type": "Simple", key: value}
            elif isinstance(value, dict) and value.get("type") in STATE_FIELDS:
                states[key] = _ending_in_terminal(value)
        for match in re.finditer(r"^\{", block, re.M):
            value, _ = decoder.raw_decode(block, match.start())
            if "condition_type" in value:
                extras[f"Guard_{len(extras)}"] = {"type": "Guard", "allow": value,
                                                  "direct_transition": "Terminal"}
            elif "kind" in value:
                extras[f"Draw_{len(extras)}"] = {"type": "SetAttribute", "attribute": "x",
                                                 "distribution": value,
                                                 "direct_transition": "Terminal"}
    states["Initial"] = {"type": "Initial", "direct_transition": "Terminal"}
    return states, extras


def _ending_in_terminal(state: dict) -> dict:
    state = {k: v for k, v in state.items() if k not in TRANSITION_KEYS}
    if state["type"] != "Terminal":
        state["direct_transition"] = "Terminal"
    return state


def _write_module(path: Path, states: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": path.stem, "states": states}, indent=2))
    return path
