"""The HL7 v2.5.1 exporter on a real 200-patient run (tests/export_harness.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import cache

import hl7
import polars as pl
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hl7apy.v2_5_1.messages import MESSAGES

from cohortforge.exporters.hl7.exporter import ADT_PATH, ORU_PATH, Hl7Exporter
from cohortforge.exporters.text_export import TextPiece

from .export_harness import export_tables, split_tables

PATIENTS = 200


@pytest.fixture(scope="module")
def run():
    return export_tables(PATIENTS)


@pytest.fixture(scope="module")
def exporter():
    return Hl7Exporter()


@pytest.fixture(scope="module")
def files(run, exporter):
    tables, context = run
    return exporter.chunk(tables, context).files


def _messages(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\n"), "every message is followed by a newline"
    return text[:-1].split("\n")


def _segments(message: str) -> list[list[str]]:
    assert message.endswith("\r"), "the last segment ends with \\r too"
    return [segment.split("|") for segment in message[:-1].split("\r")]


def _field(message: str, name: str, position: int) -> str | None:
    for fields in _segments(message):
        if fields[0] == name:
            index = position if name != "MSH" else position - 1
            return fields[index] if index < len(fields) else ""
    return None


def _assemble(exporter: Hl7Exporter, context, pieces: list[TextPiece], path: str) -> bytes:
    """What the run writes: begin, chunk pieces with separators between non-empty ones, end."""
    parts = [exporter.begin(context).files.get(path, b"")]
    separator = exporter.separators.get(path, b"")
    written = [piece.files.get(path, b"") for piece in pieces]
    body = separator.join(piece for piece in written if piece)
    return b"".join([*parts, body, exporter.end(context, {}).files.get(path, b"")])


# --- structure: segment order against hl7apy's v2.5.1 message structures ----------------


@cache
def _flat_structure(structure: str) -> list[tuple[str, int, int]]:
    """(segment, min, max) in document order, groups flattened (max -1 = repeating)."""
    out: list[tuple[str, int, int]] = []

    def walk(node, inherited_max: int) -> None:
        name, (_, children, *_), (low, high), kind = node
        if kind == "GRP":
            for child in children:
                walk(child, -1 if high == -1 else inherited_max)
        else:
            out.append((name, low, -1 if inherited_max == -1 else high))

    for child in MESSAGES[structure][1]:
        walk(child, 1)
    return out


def _follows_structure(names: list[str], structure: str) -> bool:
    """Segments appear in structure order, repeat only where allowed, required ones present."""
    flat = _flat_structure(structure)
    position, used = 0, Counter()
    for name in names:
        while position < len(flat) and (
            flat[position][0] != name
            or (flat[position][2] != -1 and used[position] >= flat[position][2])
        ):
            position += 1
        if position == len(flat):
            return False
        used[position] += 1
    top_level_required = {"ADT_A01": {"MSH", "EVN", "PID", "PV1"},
                          "ADT_A03": {"MSH", "EVN", "PID", "PV1"},
                          "ORU_R01": {"MSH", "OBR"}}[structure]
    return top_level_required <= set(names)


def test_structure_checker_rejects_misordered_segments():
    assert _follows_structure(["MSH", "EVN", "PID", "PV1", "AL1", "DG1", "IN1"], "ADT_A01")
    assert not _follows_structure(["MSH", "EVN", "PID", "DG1", "PV1"], "ADT_A01")
    assert not _follows_structure(["MSH", "EVN", "PID", "PV1", "PV1"], "ADT_A01")


def test_every_message_parses_with_python_hl7_and_follows_its_structure(files):
    for path in (ADT_PATH, ORU_PATH):
        for message in _messages(files[path]):
            parsed = hl7.parse(message)
            structure = str(parsed.segment("MSH")[9][0][2])
            names = [str(segment[0]) for segment in parsed]
            assert _follows_structure(names, structure), (structure, names)


def _strict(message: str) -> None:
    parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()


def _shape(message: str) -> tuple:
    """What varies the structure and data types of a message (not its values)."""
    segments = _segments(message)
    names = tuple(fields[0] for fields in segments)
    value_types = tuple(sorted({fields[2] for fields in segments if fields[0] == "OBX"}))
    services = tuple(fields[4].split("^")[0] for fields in segments if fields[0] == "OBR")
    pid = next(fields for fields in segments if fields[0] == "PID")
    optional_pid = tuple(index for index, value in enumerate(pid) if value)
    return names, value_types, services, optional_pid, segments[0][8]


def test_hl7apy_strict_accepts_every_message_shape_and_the_first_patients(files):
    """Strict validation of one message per shape plus every message of 2 patients.

    A fast first check; test_hl7apy_strict_accepts_every_message validates the whole
    200-patient run."""
    checked = 0
    for path in (ADT_PATH, ORU_PATH):
        shapes = set()
        for message in _messages(files[path]):
            control = _field(message, "MSH", 10)
            first_patients = int(control[1:].split(".")[0]) < 2
            shape = _shape(message)
            if shape in shapes and not first_patients:
                continue
            shapes.add(shape)
            _strict(message)
            checked += 1
    assert checked > 50


def _strict_all(messages: list[str]) -> int:
    for message in messages:
        _strict(message)
    return len(messages)


def test_hl7apy_strict_accepts_every_message(files):
    """Every message of the 200-patient run (about 13,000; hl7apy needs ~20 ms each, so
    they are split over one process per core)."""
    messages = [m for path in (ADT_PATH, ORU_PATH) for m in _messages(files[path])]
    workers = max(1, len(os.sched_getaffinity(0)))
    batches = [messages[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        assert sum(pool.map(_strict_all, batches)) == len(messages) > 5_000


# --- header ------------------------------------------------------------------------------


def test_headers_carry_version_structure_and_unique_control_ids(files):
    structures = {"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03"}
    controls = []
    for path in (ADT_PATH, ORU_PATH):
        for message in _messages(files[path]):
            msh = _segments(message)[0]
            assert msh[1] == "^~\\&" and msh[11] == "2.5.1"
            code, event, structure = msh[8].split("^")
            if code == "ADT":
                assert structure == structures[event]
            else:
                assert (code, event, structure) == ("ORU", "R01", "ORU_R01")
            assert 0 < len(msh[9]) <= 20  # ST of at most 20 characters in v2.5.1
            controls.append(msh[9])
    assert len(controls) == len(set(controls))


# --- ADT -----------------------------------------------------------------------------------


def test_adt_events_match_encounter_classes(run, files):
    tables, _ = run
    encounters = tables["encounters"]
    expected_class = {"inpatient": "I", "emergency": "E"}
    by_encounter: dict[str, list[tuple[str, str]]] = {}
    for message in _messages(files[ADT_PATH]):
        event = _field(message, "MSH", 9).split("^")[1]
        visit = _field(message, "PV1", 19).split("^")[0]
        by_encounter.setdefault(visit, []).append((event, _field(message, "PV1", 2)))
    deaths = by_encounter.pop("", [])
    assert [event for event, _ in deaths] == ["A08"] * tables["patients"]["DEATHDATE"].count()
    assert {patient_class for _, patient_class in deaths} <= {"N"}
    assert len(by_encounter) == encounters.height
    for encounter_id, encounter_class in encounters.select("Id", "ENCOUNTERCLASS").iter_rows():
        events = by_encounter[encounter_id]
        patient_class = expected_class.get(encounter_class, "O")
        if encounter_class == "inpatient":
            assert events == [("A01", "I"), ("A03", "I")]
        else:
            assert events == [("A04", patient_class)]


def test_death_is_sent_as_an_update_with_pid_29_and_30(run, files):
    tables, _ = run
    deaths = dict(tables["patients"].filter(pl.col("DEATHDATE").is_not_null())
                  .select("Id", "DEATHDATE").iter_rows())
    assert deaths, "the 200-patient run has deaths"
    updates = [m for m in _messages(files[ADT_PATH]) if "ADT^A08^ADT_A01" in m]
    assert len(updates) == len(deaths)
    for message in updates:
        pid = next(fields for fields in _segments(message) if fields[0] == "PID")
        patient = pid[3].split("^")[0]
        assert pid[29] == deaths[patient].strftime("%Y%m%d") and pid[30] == "Y"


def test_dg1_carries_the_icd10cm_codes_of_the_encounter(run, files, exporter):
    tables, _ = run
    term = exporter.terminology
    linked = tables["conditions"].filter(pl.col("ENCOUNTER").is_not_null())
    mapped = linked.with_columns(ICD=term.icd10cm_codes(linked["CODE"].cast(pl.String)))
    expected: dict[str, set[str]] = {}
    for encounter, icd in mapped.select("ENCOUNTER", "ICD").iter_rows():
        if icd is not None:
            expected.setdefault(encounter, set()).add(icd)
    assert expected, "some conditions of the run link to encounters and map to ICD-10-CM"
    seen = 0
    for message in _messages(files[ADT_PATH]):
        segments = _segments(message)
        visit = _field(message, "PV1", 19).split("^")[0]
        dg1 = [fields for fields in segments if fields[0] == "DG1"]
        codes = {fields[3].split("^")[0] for fields in dg1}
        assert all(fields[3].split("^")[2] == "I10" for fields in dg1)
        assert [fields[1] for fields in dg1] == [str(n) for n in range(1, len(dg1) + 1)]
        assert expected.get(visit, set()) <= codes
        seen += bool(dg1)
    assert seen > 0


def test_in1_names_the_encounter_payer(run, files):
    tables, context = run
    payer_names = dict(context.payers.select("Id", "NAME").iter_rows())
    payer_of = dict(tables["encounters"].select("Id", "PAYER").iter_rows())
    checked = 0
    for message in _messages(files[ADT_PATH]):
        visit = _field(message, "PV1", 19).split("^")[0]
        in1 = _field(message, "IN1", 3)
        payer = payer_of.get(visit)
        if payer is None or payer_names.get(payer) == "NO_INSURANCE":
            assert in1 is None
        else:
            assert in1.split("^")[0] == payer
            checked += 1
    assert checked > 0


def test_al1_lists_the_allergies_active_at_the_event(run, exporter):
    tables, context = run
    patient = tables["patients"]["Id"][0]
    visits = tables["encounters"].filter(pl.col("PATIENT") == patient).sort("START")
    middle = visits["START"][visits.height // 2].date()
    allergies = pl.DataFrame(
        {
            "START": [dt.date(1900, 1, 1), middle],
            "STOP": [middle, None],
            "PATIENT": [patient, patient],
            "ENCOUNTER": [None, None],
            "CODE": ["91935009", "7980"],
            "SYSTEM": ["SNOMED-CT", "RxNorm"],
            "DESCRIPTION": ["Allergy to peanuts & tree nuts", "Penicillin G"],
            "TYPE": ["allergy", "allergy"],
            "CATEGORY": ["food", "medication"],
            "REACTION1": ["247472004", None],
            "DESCRIPTION1": ["Wheal (finding)", None],
            "SEVERITY1": ["MODERATE", None],
            "REACTION2": [None, None],
            "DESCRIPTION2": [None, None],
            "SEVERITY2": [None, None],
            "Id": ["allergy-1", "allergy-2"],
        },
        schema_overrides={"ENCOUNTER": pl.String, "REACTION2": pl.String,
                          "DESCRIPTION2": pl.String, "SEVERITY2": pl.String,
                          "REACTION1": pl.String, "SEVERITY1": pl.String,
                          "DESCRIPTION1": pl.String},
    )
    with_allergies = {**tables, "allergies": allergies.select(tables["allergies"].columns)
                      .cast(dict(tables["allergies"].schema))}
    messages = _messages(exporter.chunk(with_allergies, context).files[ADT_PATH])
    mine = [m for m in messages if f"|{patient}^" in m]
    assert mine
    for message in mine:
        when = _field(message, "EVN", 2)[:8]
        al1 = [fields for fields in _segments(message) if fields[0] == "AL1"]
        expected = []
        if when < middle.strftime("%Y%m%d"):
            expected.append("FA^91935009^Allergy to peanuts \\T\\ tree nuts^SCT^MO")
        else:
            expected.append("DA^7980^Penicillin G^RXNORM^")
        assert ["^".join([f[2], f[3], f[4] if len(f) > 4 else ""]) for f in al1] == expected
        _strict(message)


def test_text_with_delimiters_round_trips_in_a_message(run, exporter):
    tables, context = run
    tricky = "O'Neil|Smith^Jr~Ann\\B&C"
    patients = tables["patients"].with_columns(
        pl.when(pl.col("INDEX") == 0).then(pl.lit(tricky)).otherwise(pl.col("LAST"))
        .alias("LAST")
    )
    files = exporter.chunk({**tables, "patients": patients}, context).files
    message = _messages(files[ADT_PATH])[0]
    parsed = hl7.parse(message)
    family = parsed.segment("PID")[5][0][0]
    assert parsed.unescape(str(family)) == tricky
    _strict(message)


# --- ORU -----------------------------------------------------------------------------------


def test_every_observation_is_one_obx_under_the_right_panel(run, files):
    tables, _ = run
    observations = tables["observations"]
    reports = dict(tables["reports"].select("Id", "CODE").iter_rows())
    obx_count = 0
    panels = Counter()
    for message in _messages(files[ORU_PATH]):
        segments = _segments(message)
        obr = next(fields for fields in segments if fields[0] == "OBR")
        order, service = obr[3].split("^")[0], obr[4].split("^")[0]
        obx = [fields for fields in segments if fields[0] == "OBX"]
        assert obx and [f[1] for f in obx] == [str(n) for n in range(1, len(obx) + 1)]
        if order in reports:
            assert service == reports[order]
            panels["report"] += 1
        elif service == "85353-1":
            panels["vitals"] += 1
        else:
            assert len(obx) == 1 and obx[0][3].split("^")[0] == service
            panels["single"] += 1
        for fields in obx:
            assert fields[2] in {"NM", "ST", "CE"} and fields[11] == "F"
            if fields[2] == "NM":
                float(fields[5])
        obx_count += len(obx)
    assert obx_count == observations.height
    assert panels["report"] == tables["reports"].filter(
        pl.col("Id").is_in(observations["REPORT"].drop_nulls().implode())
    ).height
    assert panels["vitals"] > 0 and panels["single"] > 0


def test_numeric_results_carry_ucum_units_and_flags_against_the_range(files):
    flagged = 0
    for message in _messages(files[ORU_PATH]):
        for fields in _segments(message):
            if fields[0] != "OBX" or fields[2] != "NM":
                continue
            if fields[6]:
                unit, text, system = fields[6].split("^")
                assert unit == text and system == "UCUM"
            if fields[7]:
                low, high = (float(part) for part in fields[7].split("-"))
                value = float(fields[5])
                expected = "L" if value < low else "H" if value > high else "N"
                assert fields[8] == expected
                flagged += 1
    assert flagged > 0


# --- chunking and framing ------------------------------------------------------------------


def test_chunked_output_equals_single_chunk_output(run, exporter):
    tables, context = run
    single = exporter.chunk(tables, context)
    first, rest = split_tables(tables, 70)
    second, third = split_tables(rest, 60)
    pieces = [exporter.chunk(part, context) for part in (first, second, third)]
    for path in (ADT_PATH, ORU_PATH):
        assert _assemble(exporter, context, pieces, path) == _assemble(
            exporter, context, [single], path)
    for key in single.counts:
        assert sum(piece.counts[key] for piece in pieces) == single.counts[key]


def test_mllp_framing_wraps_each_message(run, exporter, files):
    tables, context = run
    mllp = exporter.chunk(tables, dataclasses.replace(context, hl7_framing="mllp")).files
    for path in (ADT_PATH, ORU_PATH):
        data = mllp[path]
        blocks = data.split(b"\x1c\r")
        assert blocks[-1] == b""
        plain = _messages(files[path])
        assert len(blocks) - 1 == len(plain)
        for block, message in zip(blocks[:-1], plain, strict=True):
            assert block[:1] == b"\x0b"
            assert block[1:].decode("utf-8") == message
            assert b"\n" not in block


def test_each_patients_messages_are_in_time_order_with_consecutive_control_ids(files):
    for path, letter in ((ADT_PATH, "A"), (ORU_PATH, "R")):
        last: dict[str, tuple[int, str]] = {}
        for message in _messages(files[path]):
            msh = _segments(message)[0]
            patient, number = msh[9][1:].split(".")
            assert msh[9][0] == letter
            previous_number, previous_day = last.get(patient, (0, ""))
            assert int(number) == previous_number + 1
            assert msh[6][:8] >= previous_day
            last[patient] = (int(number), msh[6][:8])
        assert len(last) > 100
