"""The seed itself: real-looking codes, every module code present, every condition mapped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.compute as pc
import pytest

from cohortforge.terminology import Terminology, canonical_system, read_seed, seed_dir

from .conftest import shared_dir

CODE_SHAPES = {
    "SNOMED CT": r"[1-9]\d{5,17}",
    "LOINC": r"\d{1,7}-\d",
    "RxNorm": r"[1-9]\d{0,9}",
    "ICD-10-CM": r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?",
    "CVX": r"\d{2,3}",
}


def _modules_dir() -> Path:
    return shared_dir() / "conformance" / "synthea_modules"


def _module_codes(root: Path) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "system" in node and "code" in node:
                found.add((node["system"], str(node["code"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(root.rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


@pytest.fixture(scope="module")
def seed():
    return read_seed()


def test_every_conformance_module_code_resolves() -> None:
    codes = _module_codes(_modules_dir())
    assert len(codes) > 100
    term = Terminology(Path("/nonexistent/terminology.duckdb"))  # the seed itself
    missing = sorted((s, c) for s, c in codes if term.lookup(s, c) is None)
    assert not missing, f"module codes missing from the seed: {missing}"


def test_codes_have_the_shape_of_their_system(seed) -> None:
    for system, pattern in CODE_SHAPES.items():
        rows = seed.concepts.filter(pc.equal(seed.concepts["system"], system))
        assert rows.num_rows > 0, system
        bad = [c for c in rows["code"].to_pylist() if not re.fullmatch(pattern, c)]
        assert not bad, (system, bad)


def test_every_disorder_is_mapped_to_icd10cm(seed) -> None:
    snomed = seed.concepts.filter(pc.equal(seed.concepts["system"], "SNOMED CT"))
    mapped = set(seed.icd10cm_map["snomed_code"].to_pylist())
    disorders = {c for c, d in zip(snomed["code"].to_pylist(), snomed["display"].to_pylist(),
                                   strict=True) if d.endswith("(disorder)")}
    # Module displays without a semantic tag are conditions too.
    disorders |= {"22298006"}
    assert disorders - mapped == set()


def test_map_targets_are_icd10cm_seed_codes(seed) -> None:
    rows = seed.concepts.filter(pc.equal(seed.concepts["system"], "ICD-10-CM"))
    icd = set(rows["code"].to_pylist())
    assert set(seed.icd10cm_map["icd10cm_code"].to_pylist()) <= icd


def test_quantitative_loinc_codes_carry_ucum_units(seed) -> None:
    loinc = seed.concepts.filter(pc.equal(seed.concepts["system"], "LOINC"))
    for code in ("4548-4", "8480-6", "2160-0", "33914-3", "44261-6", "29463-7"):
        row = loinc.filter(pc.equal(loinc["code"], code))
        assert row["ucum_unit"][0].as_py(), code
    assert loinc.filter(pc.equal(loinc["code"], "4548-4"))["loinc_class"][0].as_py() == "CHEM"


def test_rxnorm_rows_carry_term_types(seed) -> None:
    rx = seed.concepts.filter(pc.equal(seed.concepts["system"], "RxNorm"))
    assert set(rx["tty"].to_pylist()) <= {"IN", "SCD", "SBD", "GPCK", "BPCK"}
    assert None not in rx["tty"].to_pylist()


def test_brief_codes_are_present(seed) -> None:
    term = Terminology(Path("/nonexistent/terminology.duckdb"))
    wanted = {
        "SNOMED-CT": ["185349003", "162673000", "50849002", "183452005", "185345009", "410620009",
                      "308335008", "449868002", "8517006", "266919005", "733423003", "1156191002",
                      "713458007", "73438004", "302497006", "71192002", "11466000", "177184002"],
        "LOINC": ["44261-6", "70274-6", "72166-2", "4548-4", "2857-1", "85354-9", "59408-5"],
        "CVX": ["08", "20", "49", "133", "216", "10", "03", "21", "83", "140", "115", "165",
                "114", "187", "208"],
        "CDCREC": ["2106-3", "2054-5", "2135-2"],
    }
    missing = [(s, c) for s, codes in wanted.items() for c in codes if term.lookup(s, c) is None]
    assert not missing


def test_seed_readme_names_every_source(seed) -> None:
    readme = (seed_dir() / "README.md").read_text(encoding="utf-8")
    sources = set(seed.concepts["source"].to_pylist())
    assert None not in sources
    assert all(f"`{s}`" in readme for s in sources), sources - {
        s for s in sources if f"`{s}`" in readme}


def test_seed_systems_are_canonical(seed) -> None:
    for system in set(seed.concepts["system"].to_pylist()):
        assert canonical_system(system) == system
