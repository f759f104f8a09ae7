"""FHIR R4 export speed: resources serialized per second for 100,000 patients.

The patients' tables are simulated once in setup (in process, as the run does) and cut
into 10,000-patient chunks, as a run exporting FHIR would cut them (a chunk's NDJSON
plus bundle text is about 3 GB per 10,000 patients); only FhirExporter.chunk is timed.
A dict-per-row + orjson baseline for Patient and Observation, the two resources that
make up most of the text, is measured in the same run. Run: `asv run --python=same
--quick --bench bench_fhir`, or directly: `.venv/bin/python -m benchmarks.bench_fhir
[num_patients]`.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import orjson
import polars as pl

from cohortforge.exporters.fhir.exporter import FhirExporter
from cohortforge.exporters.fhir.observation import observation_resources
from cohortforge.exporters.fhir.patient import patient_resources
from cohortforge.exporters.fhir.text_bytes import concatenated

from .export_chunks import chunks_and_context

PATIENTS = 100_000
CHUNK = 10_000
_RACE = {"white": ("2106-3", "White"), "black": ("2054-5", "Black or African American"),
         "asian": ("2028-9", "Asian"), "native": ("1002-5", "American Indian or Alaska Native"),
         "hawaiian": ("2076-8", "Native Hawaiian or Other Pacific Islander")}  # fmt: skip


def _baseline_patient(row: dict) -> dict:
    """The same Patient as patient.py, built as a dict (the baseline)."""
    race = _RACE.get(row["RACE"])
    race_parts = []
    if race:
        race_parts.append(
            {
                "url": "ombCategory",
                "valueCoding": {
                    "system": "urn:oid:2.16.840.1.113883.6.238",
                    "code": race[0],
                    "display": race[1],
                },
            }
        )
    race_parts.append({"url": "text", "valueString": race[1] if race else "Other"})
    resource = {
        "resourceType": "Patient",
        "id": row["Id"],
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": race_parts,
            }
        ],
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "urn:oid:2.16.840.1.113883.19.5",
                "value": row["Id"],
            },
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}
                    ]
                },
                "system": "http://hl7.org/fhir/sid/us-ssn",
                "value": row["SSN"],
            },
        ],
        "name": [
            {
                "use": "official",
                "family": row["LAST"],
                "given": [g for g in (row["FIRST"], row["MIDDLE"]) if g],
            }
        ],
        "telecom": [{"system": "phone", "value": row["PHONE"], "use": "home"}],
        "gender": {"M": "male", "F": "female"}[row["GENDER"]],
        "birthDate": row["BIRTHDATE"].isoformat(),
        "address": [
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
                        "extension": [
                            {"url": "latitude", "valueDecimal": row["LAT"]},
                            {"url": "longitude", "valueDecimal": row["LON"]},
                        ],
                    }
                ],
                "line": [row["ADDRESS"]],
                "city": row["CITY"],
                "state": row["STATE"],
                "postalCode": row["ZIP"],
                "country": "US",
            }
        ],
    }
    if row["DEATHDATE"] is not None:
        resource["deceasedDateTime"] = row["DEATHDATE"].isoformat()
    return resource


def _baseline_observation(row: dict) -> dict:
    resource = {
        "resourceType": "Observation",
        "id": row["Id"],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": row["CATEGORY"],
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": row["CODE"], "display": row["DESCRIPTION"]}
            ],
            "text": row["DESCRIPTION"],
        },
        "subject": {"reference": f"Patient/{row['PATIENT']}"},
        "effectiveDateTime": row["DATE"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if row["ENCOUNTER"] is not None:
        resource["encounter"] = {"reference": f"Encounter/{row['ENCOUNTER']}"}
    if row["TYPE"] == "numeric":
        quantity = {"value": float(row["VALUE"])}
        if row["UNITS"]:
            quantity.update(
                unit=row["UNITS"], system="http://unitsofmeasure.org", code=row["UNITS"]
            )
        resource["valueQuantity"] = quantity
    else:
        resource["valueString"] = row["VALUE"]
    return resource


def baseline_subset(tables: dict[str, pl.DataFrame]) -> tuple[int, int]:
    """Patient + Observation NDJSON, one dict per row + orjson: (resources, bytes)."""
    patients = [
        orjson.dumps(_baseline_patient(r)) for r in tables["patients"].iter_rows(named=True)
    ]
    observations = [
        orjson.dumps(_baseline_observation(r)) for r in tables["observations"].iter_rows(named=True)
    ]
    text = b"\n".join(patients) + b"\n" + b"\n".join(observations) + b"\n"
    return len(patients) + len(observations), len(text)


def columnar_subset(tables: dict[str, pl.DataFrame]) -> tuple[int, int]:
    """The same two NDJSON files through the exporter's columnar code."""
    patients = patient_resources(tables["patients"])["json"]
    observations = observation_resources(tables["observations"])["json"]
    text = concatenated(patients, "\n") + concatenated(observations, "\n")
    return patients.len() + observations.len(), len(text)


def _rate(function, chunks) -> float:
    start = time.perf_counter()
    resources = sum(function(chunk) for chunk in chunks)
    return resources / (time.perf_counter() - start)


class FhirChunks:
    """FhirExporter.chunk over 100,000 patients in 10,000-patient chunks."""

    timeout = 3600
    number = 1
    repeat = 1

    def setup(self):
        self.chunks, context = chunks_and_context(self.patients, CHUNK)
        self.exporter = FhirExporter()
        self.contexts = {
            layout: dataclasses.replace(context, fhir_bundle=layout)
            for layout in ("none", "single", "per-patient")
        }
        self.exporter.chunk(self.chunks[0], self.contexts["single"])  # warm caches
        self.rates = {}

    patients = PATIENTS

    def _layout_rate(self, layout: str) -> float:
        context = self.contexts[layout]
        exporter = self.exporter
        return _rate(lambda t: sum(exporter.chunk(t, context).counts.values()), self.chunks)

    def time_ndjson_100k(self):
        for chunk in self.chunks:
            self.exporter.chunk(chunk, self.contexts["none"])

    def track_resources_per_second_ndjson(self):
        return self._layout_rate("none")

    def track_resources_per_second_ndjson_and_bundle(self):
        return self._layout_rate("single")

    def track_resources_per_second_ndjson_and_per_patient_bundles(self):
        return self._layout_rate("per-patient")

    def track_speedup_over_dict_per_row(self):
        """Patient + Observation NDJSON: columnar rate / dict-per-row + orjson rate."""
        columnar = _rate(lambda t: columnar_subset(t)[0], self.chunks)
        baseline = _rate(lambda t: baseline_subset(t)[0], self.chunks)
        return columnar / baseline

    track_resources_per_second_ndjson.unit = "resources/s"
    track_resources_per_second_ndjson_and_bundle.unit = "resources/s"
    track_resources_per_second_ndjson_and_per_patient_bundles.unit = "resources/s"
    track_speedup_over_dict_per_row.unit = "x"


if __name__ == "__main__":
    bench = FhirChunks()
    bench.patients = int(sys.argv[1]) if len(sys.argv) > 1 else PATIENTS
    started = time.perf_counter()
    bench.setup()
    print(
        f"setup (simulate {bench.patients:,} patients, {len(bench.chunks)} chunks): "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    for layout in ("none", "single", "per-patient"):
        print(f"{layout:12s} {bench._layout_rate(layout):12,.0f} resources/s", flush=True)
    columnar = _rate(lambda t: columnar_subset(t)[0], bench.chunks)
    baseline = _rate(lambda t: baseline_subset(t)[0], bench.chunks)
    print(
        f"Patient+Observation NDJSON: columnar {columnar:,.0f}/s, dict-per-row+orjson "
        f"{baseline:,.0f}/s, speedup {columnar / baseline:.1f}x"
    )
