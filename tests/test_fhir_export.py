"""FHIR R4 export of a 200-patient all-modules cohort: every resource parses with the
R4B models of fhir.resources, every reference resolves, and chunking changes no byte."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import re
from collections.abc import Mapping
from pathlib import Path

import orjson
import polars as pl
import pytest
from fhir.resources.R4B.bundle import Bundle

from cohortforge.exporters.fhir.exporter import FhirExporter
from cohortforge.exporters.fhir.references import check_bundle_references, check_references
from cohortforge.exporters.text_export import ExportContext, TextPiece
from tests.export_harness import export_tables, split_tables

N_PATIENTS = 200
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def assemble(
    exporter: FhirExporter, context: ExportContext, chunks: list[Mapping[str, pl.DataFrame]]
) -> dict[str, bytes]:
    """The files a run would write: begin, chunks in order, end, with the exporter's
    separators between two non-empty pieces of one file (text_export.py)."""
    pieces: list[TextPiece] = [exporter.begin(context)]
    pieces += [exporter.chunk(tables, context) for tables in chunks]
    counts: dict[str, int] = {}
    for piece in pieces[1:]:
        for key, value in piece.counts.items():
            counts[key] = counts.get(key, 0) + value
    pieces.append(exporter.end(context, counts))
    files: dict[str, bytes] = {}
    for piece in pieces:
        for path, data in piece.files.items():
            if not data:
                continue
            if path in files:
                files[path] += exporter.separators.get(path, b"") + data
            else:
                files[path] = data
    return files


def write(files: dict[str, bytes], folder: Path) -> Path:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def r4b_model(resource_type: str):
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


@pytest.fixture(scope="module")
def cohort() -> tuple[dict[str, pl.DataFrame], ExportContext]:
    return export_tables(N_PATIENTS)


@pytest.fixture(scope="module")
def single(cohort, tmp_path_factory) -> dict[str, bytes]:
    tables, context = cohort
    return assemble(FhirExporter(), dataclasses.replace(context, fhir_bundle="single"), [tables])


@pytest.fixture(scope="module")
def per_patient(cohort) -> dict[str, bytes]:
    tables, context = cohort
    context = dataclasses.replace(context, fhir_bundle="per-patient")
    return assemble(FhirExporter(), context, [tables])


@pytest.fixture(scope="module")
def ndjson_dir(single, tmp_path_factory) -> Path:
    return write(single, tmp_path_factory.mktemp("fhir_single")) / "fhir"


def resources(files: dict[str, bytes], resource_type: str) -> list[dict]:
    return [orjson.loads(line) for line in files[f"fhir/{resource_type}.ndjson"].splitlines()]


def test_every_ndjson_resource_parses_as_r4b(ndjson_dir: Path):
    seen = set()
    for path in sorted(ndjson_dir.glob("*.ndjson")):
        model = r4b_model(path.stem)
        for line in path.read_bytes().splitlines():
            parsed = model.model_validate_json(line)
            assert parsed.get_resource_type() == path.stem
        seen.add(path.stem)
    expected = {
        "Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure",
        "Immunization", "CarePlan", "Device", "DiagnosticReport", "Organization", "Practitioner",
    }  # fmt: skip
    assert expected <= seen


def test_ndjson_references_resolve(ndjson_dir: Path):
    assert check_references(ndjson_dir) == []


def test_reference_check_reports_dangling_and_duplicates(tmp_path: Path):
    patient = {"resourceType": "Patient", "id": "p1"}
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "subject": {"reference": "Patient/p2"},
    }
    (tmp_path / "Patient.ndjson").write_bytes(orjson.dumps(patient) + b"\n")
    (tmp_path / "Encounter.ndjson").write_bytes(orjson.dumps(encounter) + b"\n" * 1)
    problems = check_references(tmp_path)
    assert len(problems) == 1 and "Patient/p2" in problems[0]
    bundle = {
        "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": patient},
            {"fullUrl": "urn:uuid:p1", "resource": patient},
            {"fullUrl": "urn:uuid:e1", "resource": {**encounter, "subject": {"reference": "x"}}},
        ]
    }
    problems = check_bundle_references(bundle)
    assert any("duplicate" in p for p in problems) and any("-> x" in p for p in problems)


def test_resource_counts_match_the_tables(cohort, single):
    tables, context = cohort
    observations = tables["observations"]
    systolic = observations.filter(pl.col("CODE") == "8480-6").height
    diastolic = observations.filter(pl.col("CODE") == "8462-4").height
    assert systolic > 0 and systolic == diastolic
    expected = {
        "Patient": N_PATIENTS,
        "Encounter": tables["encounters"].height,
        "Condition": tables["conditions"].height,
        "MedicationRequest": tables["medications"].height,
        "Procedure": tables["procedures"].height,
        "Immunization": tables["immunizations"].height,
        "CarePlan": tables["careplans"].height,
        "DiagnosticReport": tables["reports"].height,
        # Each systolic/diastolic pair becomes one blood-pressure Observation.
        "Observation": observations.height - diastolic,
        "Organization": context.organizations.height,
        "Practitioner": context.providers.height,
    }
    for resource_type, count in expected.items():
        assert len(resources(single, resource_type)) == count, resource_type


def test_single_bundle_is_a_valid_transaction(single):
    data = single["fhir_bundle.json"]
    bundle = Bundle.model_validate_json(data)
    assert bundle.type == "transaction"
    parsed = orjson.loads(data)
    assert check_bundle_references(parsed) == []
    ndjson_total = sum(len(v.splitlines()) for k, v in single.items() if k.endswith(".ndjson"))
    assert len(parsed["entry"]) == ndjson_total
    for entry in parsed["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        assert entry["request"] == {"method": "POST", "url": resource["resourceType"]}


def test_per_patient_bundles_are_self_contained(cohort, per_patient):
    tables, _ = cohort
    assert "fhir_bundle.json" not in per_patient
    bundles = {k: v for k, v in per_patient.items() if k.startswith("fhir/bundles/")}
    assert sorted(Path(k).stem for k in bundles) == sorted(tables["patients"]["Id"].to_list())
    for path, data in bundles.items():
        bundle = Bundle.model_validate_json(data)
        assert bundle.type == "transaction"
        parsed = orjson.loads(data)
        assert check_bundle_references(parsed, path) == []
        patients = [
            e["resource"] for e in parsed["entry"] if e["resource"]["resourceType"] == "Patient"
        ]
        assert [p["id"] for p in patients] == [Path(path).stem]


def test_chunked_output_equals_single_chunk(cohort, single, per_patient):
    tables, context = cohort
    exporter = FhirExporter()
    three = [*split_tables(tables, 70)[:1], *split_tables(split_tables(tables, 70)[1], 50)]
    assert sum(t["patients"].height for t in three) == N_PATIENTS
    assert assemble(exporter, context, three) == single
    per_patient_context = dataclasses.replace(context, fhir_bundle="per-patient")
    assert assemble(exporter, per_patient_context, split_tables(tables, 120)) == per_patient


def _walk(value, path="$"):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def test_no_nulls_or_empty_values(single):
    for path, data in single.items():
        if not path.endswith(".ndjson"):
            continue
        for line in data.splitlines():
            for where, value in _walk(orjson.loads(line)):
                assert value is not None and value not in ("", [], {}), (path, where)


def test_patient_follows_us_core(cohort, single):
    tables, _ = cohort
    by_id = {row["Id"]: row for row in tables["patients"].iter_rows(named=True)}
    omb = {"white": "2106-3", "black": "2054-5", "asian": "2028-9", "native": "1002-5",
           "hawaiian": "2076-8"}  # fmt: skip
    for patient in resources(single, "Patient"):
        row = by_id[patient["id"]]
        identifiers = {i["type"]["coding"][0]["code"]: i for i in patient["identifier"]}
        assert identifiers["MR"]["value"] == row["Id"]
        assert identifiers["MR"]["type"]["coding"][0]["system"] == (
            "http://terminology.hl7.org/CodeSystem/v2-0203"
        )
        assert identifiers["SS"]["system"] == "http://hl7.org/fhir/sid/us-ssn"
        assert identifiers["SS"]["value"] == row["SSN"]
        assert patient["gender"] == {"M": "male", "F": "female"}[row["GENDER"]]
        assert patient["birthDate"] == row["BIRTHDATE"].isoformat()
        assert patient["name"][0]["family"] == row["LAST"]
        assert patient["telecom"][0]["value"] == row["PHONE"]
        extensions = {e["url"]: e for e in patient["extension"]}
        race = extensions["http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"]
        parts = {e["url"]: e for e in race["extension"]}
        assert "valueString" in parts["text"]
        if row["RACE"] in omb:
            coding = parts["ombCategory"]["valueCoding"]
            assert coding["system"] == "urn:oid:2.16.840.1.113883.6.238"
            assert coding["code"] == omb[row["RACE"]]
        ethnicity = extensions["http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"]
        code = {e["url"]: e for e in ethnicity["extension"]}["ombCategory"]["valueCoding"]["code"]
        assert code == {"hispanic": "2135-2", "nonhispanic": "2186-5"}[row["ETHNICITY"]]
        geo = patient["address"][0]["extension"][0]
        assert geo["url"] == "http://hl7.org/fhir/StructureDefinition/geolocation"
        lat, lon = (e["valueDecimal"] for e in geo["extension"])
        assert (lat, lon) == (pytest.approx(row["LAT"]), pytest.approx(row["LON"]))
        if row["DEATHDATE"] is not None:
            assert patient["deceasedDateTime"] == row["DEATHDATE"].isoformat()


def test_encounters_reference_their_clinician_and_organization(cohort, single):
    tables, _ = cohort
    rows = {r["Id"]: r for r in tables["encounters"].iter_rows(named=True)}
    classes = {"inpatient": "IMP", "emergency": "EMER", "wellness": "AMB", "virtual": "VR"}
    for encounter in resources(single, "Encounter"):
        row = rows[encounter["id"]]
        assert encounter["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        if row["ENCOUNTERCLASS"] in classes:
            assert encounter["class"]["code"] == classes[row["ENCOUNTERCLASS"]]
        assert encounter["serviceProvider"]["reference"] == f"Organization/{row['ORGANIZATION']}"
        individual = encounter["participant"][0]["individual"]["reference"]
        assert individual == f"Practitioner/{row['PROVIDER']}"
        assert INSTANT.match(encounter["period"]["start"])
        assert encounter["subject"]["reference"] == f"Patient/{row['PATIENT']}"


def test_blood_pressure_is_one_observation_with_components(cohort, single):
    tables, _ = cohort
    obs = tables["observations"]
    values = {
        (r["Id"]): float(r["VALUE"])
        for r in obs.filter(pl.col("CODE") == "8480-6").iter_rows(named=True)
    }
    panels = [
        o for o in resources(single, "Observation") if o["code"]["coding"][0]["code"] == "85354-9"
    ]
    assert len(panels) == len(values)
    for panel in panels:
        components = {c["code"]["coding"][0]["code"]: c for c in panel["component"]}
        assert set(components) == {"8480-6", "8462-4"}
        systolic = components["8480-6"]["valueQuantity"]
        assert systolic["value"] == pytest.approx(values[panel["id"]])
        assert systolic["system"] == "http://unitsofmeasure.org" and systolic["code"] == "mm[Hg]"
        assert "valueQuantity" not in panel
        assert panel["category"][0]["coding"][0]["code"] == "vital-signs"


def test_observation_values_categories_and_dates(cohort, single):
    tables, _ = cohort
    rows = {r["Id"]: r for r in tables["observations"].iter_rows(named=True)}
    categories = set()
    for observation in resources(single, "Observation"):
        row = rows[observation["id"]]
        assert INSTANT.match(observation["effectiveDateTime"])
        category = observation["category"][0]["coding"][0]
        assert category["system"] == "http://terminology.hl7.org/CodeSystem/observation-category"
        assert category["code"] == row["CATEGORY"]
        categories.add(row["CATEGORY"])
        if "component" in observation:
            continue
        assert observation["code"]["coding"][0] == {
            "system": "http://loinc.org", "code": row["CODE"], "display": row["DESCRIPTION"]
        }  # fmt: skip
        if row["TYPE"] == "numeric":
            quantity = observation["valueQuantity"]
            assert isinstance(quantity["value"], int | float)
            assert quantity["value"] == pytest.approx(float(row["VALUE"]))
            if row["UNITS"]:
                assert quantity["code"] == row["UNITS"]
        else:
            assert observation["valueString"] == row["VALUE"]
    assert {"vital-signs", "laboratory", "survey"} <= categories


def test_diagnostic_reports_list_their_panel_members(cohort, single):
    tables, _ = cohort
    members = (
        tables["observations"]
        .filter(pl.col("REPORT").is_not_null() & (pl.col("CODE") != "8462-4"))
        .group_by("REPORT")
        .agg(pl.col("Id"))
    )
    expected = {r["REPORT"]: sorted(r["Id"]) for r in members.iter_rows(named=True)}
    reports = resources(single, "DiagnosticReport")
    assert reports
    for report in reports:
        results = sorted(r["reference"].removeprefix("Observation/") for r in report["result"])
        assert results == expected[report["id"]]


def test_conditions_medications_and_care_plans(cohort, single):
    tables, _ = cohort
    conditions = {r["Id"]: r for r in tables["conditions"].iter_rows(named=True)}
    for condition in resources(single, "Condition"):
        row = conditions[condition["id"]]
        status = condition["clinicalStatus"]["coding"][0]
        assert status["system"] == "http://terminology.hl7.org/CodeSystem/condition-clinical"
        assert status["code"] == ("active" if row["STOP"] is None else "resolved")
        assert condition["onsetDateTime"] == row["START"].isoformat()
        assert condition["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    for request in resources(single, "MedicationRequest"):
        coding = request["medicationCodeableConcept"]["coding"][0]
        assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
        assert request["intent"] == "order" and INSTANT.match(request["authoredOn"])
        assert request["dosageInstruction"]
    for immunization in resources(single, "Immunization"):
        assert immunization["vaccineCode"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/cvx"
    activities = tables["careplan_activities"].group_by("CAREPLAN").len()
    counts = dict(activities.iter_rows())
    for plan in resources(single, "CarePlan"):
        assert len(plan.get("activity", [])) == counts.get(plan["id"], 0)
        assert DATE.match(plan["period"]["start"])


def test_allergies_with_awkward_text_parse(cohort):
    """The 200-patient cohort has no allergies, so one row of each kind is made here."""
    from cohortforge.exporters.fhir.clinical import allergy_resources

    tables, _ = cohort
    patient = tables["patients"]["Id"][0]
    allergies = pl.DataFrame(
        {
            "START": [dt.date(2020, 1, 2), dt.date(2019, 5, 6)],
            "STOP": [None, dt.date(2021, 1, 1)],
            "PATIENT": [patient, patient],
            "ENCOUNTER": [None, tables["encounters"]["Id"][0]],
            "CODE": ["300913006", "7980"],
            "SYSTEM": ["SNOMED-CT", "RxNorm"],
            "DESCRIPTION": ['Shellfish "allergy"\n\\ (disorder)', "Penicillin G"],
            "TYPE": ["allergy", "intolerance"],
            "CATEGORY": ["food", "drug"],
            "REACTION1": ["247472004", None],
            "DESCRIPTION1": ["Wheal (finding)", None],
            "SEVERITY1": ["MILD", None],
            "REACTION2": ["39579001", None],
            "DESCRIPTION2": ["Anaphylaxis (disorder)", None],
            "SEVERITY2": ["SEVERE", None],
            "Id": ["a-1", "a-2"],
        }
    )
    frame = allergy_resources(allergies)
    model = r4b_model("AllergyIntolerance")
    parsed = [orjson.loads(text) for text in frame["json"]]
    for text in frame["json"]:
        model.model_validate_json(text)
    first, second = parsed
    assert first["code"]["text"] == 'Shellfish "allergy"\n\\ (disorder)'
    assert [r["severity"] for r in first["reaction"]] == ["mild", "severe"]
    assert first["clinicalStatus"]["coding"][0]["code"] == "active"
    assert second["category"] == ["medication"] and "reaction" not in second
    assert second["code"]["coding"][0]["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert second["encounter"]["reference"].startswith("Encounter/")
