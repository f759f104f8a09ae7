"""The VistA exporter over a real 200-patient run: layout, indexes, and chunk independence."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

import polars as pl
import pytest

from cohortforge.exporters.text_export import ExportContext
from cohortforge.exporters.vista.exporter import OUTPUT_PATH, VistaExporter
from tests.export_harness import export_tables, split_tables

# One ZWR node: ^NAME(subscripts)="value", subscripts numbers or quoted strings.
_SUBSCRIPT = r'(?:-?[0-9.]+|"(?:[^"]|"")*")'
ZWR_LINE = re.compile(rf'^\^[A-Z][A-Z0-9]*\({_SUBSCRIPT}(?:,{_SUBSCRIPT})*\)="(?:[^"]|"")*"$')
NUMBER = r"-?[0-9.]+"


def export_zwr(exporter: VistaExporter, chunks: Sequence[Mapping[str, pl.DataFrame]],
               context: ExportContext) -> bytes:
    """What the run writes: begin, each chunk (separators between non-empty pieces), end."""
    pieces = [exporter.begin(context)]
    counts: Counter[str] = Counter()
    for tables in chunks:
        piece = exporter.chunk(tables, context)
        counts.update(piece.counts)
        pieces.append(piece)
    pieces.append(exporter.end(context, counts))
    separator = exporter.separators.get(OUTPUT_PATH, b"")
    parts = [p.files[OUTPUT_PATH] for p in pieces if p.files.get(OUTPUT_PATH)]
    return separator.join(parts)


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, pl.DataFrame], ExportContext, str]:
    tables, context = export_tables(200)
    return tables, context, export_zwr(VistaExporter(), [tables], context).decode("ascii")


def _data_lines(text: str) -> list[str]:
    return text.splitlines()[2:]


def _nodes(text: str, prefix: str) -> list[str]:
    return [line for line in _data_lines(text) if line.startswith(prefix)]


def _value(line: str) -> str:
    return line.split(")=", 1)[1][1:-1].replace('""', '"')


def test_two_header_lines_then_nodes(run) -> None:
    _, context, text = run
    lines = text.splitlines()
    assert lines[1] == f"{context.reference_date.strftime('%d-%b-%Y').upper()}  00:00:00 ZWR"
    assert not ZWR_LINE.match(lines[0]) and not ZWR_LINE.match(lines[1])
    bad = [line for line in lines[2:] if not ZWR_LINE.match(line)]
    assert bad == []
    assert text.endswith("\n") and "\r" not in text


def test_no_node_twice(run) -> None:
    _, _, text = run
    keys = Counter(line.split(")=", 1)[0] for line in _data_lines(text))
    assert [key for key, n in keys.items() if n > 1] == []


def test_patient_nodes_and_b_index(run) -> None:
    tables, _, text = run
    patients = tables["patients"]
    zeros = {int(m[1]): m[2] for m in (re.match(r'^\^DPT\(([0-9]+),0\)="(.*)"$', line)
                                       for line in _nodes(text, "^DPT(")) if m}
    assert sorted(zeros) == (patients["INDEX"] + 1).sort().to_list()
    b_nodes = [re.match(r'^\^DPT\("B","(.*)",([0-9]+)\)=""$', line)
               for line in _nodes(text, '^DPT("B",')]
    assert len(b_nodes) == patients.height and all(b_nodes)
    assert Counter(int(m[2]) for m in b_nodes) == Counter(set(zeros))  # one "B" per patient
    first = patients.sort("INDEX").row(0, named=True)
    pieces = zeros[first["INDEX"] + 1].split("^")
    given = " ".join(part for part in (first["FIRST"], first["MIDDLE"]) if part)
    assert pieces[0] == f"{first['LAST']},{given}".upper()[:30]
    assert pieces[1] == first["GENDER"]
    birth = first["BIRTHDATE"]
    assert pieces[2] == f"{birth.year - 1700}{birth.month:02d}{birth.day:02d}"
    assert pieces[8] == first["SSN"].replace("-", "")
    for m in b_nodes:
        name = zeros[int(m[2])].split("^")[0]
        assert m[1] == name and re.match(r"^[A-Z' \-]+,[A-Z' \-]*$", name) and len(name) <= 30


def test_file_headers_count_entries(run) -> None:
    _, _, text = run
    header = dict(line.split("=", 1) for line in _data_lines(text) if line.endswith('"')
                  and re.match(r"^\^[A-Z]+(\(120\.5,0\)|\(0\))=", line))
    assert header["^DPT(0)"] == '"PATIENT^2I^200^200"'
    roots = {"^AUPNVSIT(0)": r"^\^AUPNVSIT\([0-9]+,0\)", "^AUPNVPOV(0)": r"^\^AUPNVPOV\([0-9]+,0\)",
             "^AUPNPROB(0)": r"^\^AUPNPROB\([0-9]+,0\)", "^PSRX(0)": r"^\^PSRX\([0-9]+,0\)",
             "^GMR(120.5,0)": r"^\^GMR\(120\.5,[0-9]+,0\)", "^LR(0)": r"^\^LR\([0-9]+,0\)"}
    for node, pattern in roots.items():
        entries = [line for line in _data_lines(text) if re.match(pattern, line)]
        iens = [int(re.findall(r"[0-9]+", line.split(")=")[0])[-2]) for line in entries]
        last, count = header[node].strip('"').split("^")[2:4]
        assert int(count) == len(entries) > 0, node
        assert int(last) >= max(iens), node


def test_blood_pressure_combined(run) -> None:
    tables, _, text = run
    observations = tables["observations"]
    systolic = observations.filter(pl.col("CODE") == "8480-6")
    diastolic = observations.filter(pl.col("CODE") == "8462-4")
    pairs = systolic.join(diastolic, on=["PATIENT", "DATE", "ENCOUNTER"], nulls_equal=True)
    readings = [_value(line).split("^") for line in _nodes(text, "^GMR(120.5,")
                if "^BLOOD PRESSURE^" in line]
    assert len(readings) == pairs.height > 0
    assert all(re.match(r"^[0-9]+/[0-9]+$", r[7]) for r in readings)
    assert not any("^8480-6^" in line or "SYSTOLIC" in line.upper() for line in _data_lines(text))
    expected = Counter(f"{round(float(s))}/{round(float(d))}"
                       for s, d in pairs.select("VALUE", "VALUE_right").iter_rows())
    assert Counter(r[7] for r in readings) == expected


def test_lab_inverse_dates_and_pointers(run) -> None:
    _, _, text = run
    specimens = [re.match(rf'^\^LR\(([0-9]+),"CH",({NUMBER}),0\)="({NUMBER})"$', line)
                 for line in _nodes(text, "^LR(") if ',"CH",' in line and line.split(")=")[0]
                 .endswith(",0")]
    assert specimens and all(specimens)
    for m in specimens:
        assert Decimal(m[2]) == Decimal(9999999) - Decimal(m[3])
    lab_records = {m[1] for m in (re.match(r'^\^LR\(([0-9]+),0\)="\1\^2\^\1"$', line)
                                  for line in _nodes(text, "^LR(")) if m}
    pointers = {m[1] for m in (re.match(r'^\^DPT\(([0-9]+),"LR"\)="\1"$', line)
                               for line in _nodes(text, "^DPT(")) if m}
    assert lab_records and lab_records == pointers == {m[1] for m in specimens}


def test_pov_points_to_visit_of_same_patient(run) -> None:
    _, _, text = run
    visit_patient = {m[1]: _value(line).split("^")[4] for line in _nodes(text, "^AUPNVSIT(")
                     if (m := re.match(r"^\^AUPNVSIT\(([0-9]+),0\)", line))}
    povs = [_value(line).split("^") for line in _nodes(text, "^AUPNVPOV(")
            if re.match(r"^\^AUPNVPOV\([0-9]+,0\)", line)]
    assert povs
    for pov in povs:
        assert re.match(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$", pov[0]), pov  # ICD-10-CM
        assert visit_patient[pov[2]] == pov[1]
        assert pov[11] in {"P", "S"}


def test_iens_follow_the_documented_rule(run) -> None:
    tables, _, text = run
    dfns = set((tables["patients"]["INDEX"] + 1).to_list())
    for line in _nodes(text, "^PSRX(") + _nodes(text, "^AUPNPROB("):
        m = re.match(r"^\^[A-Z]+\(([0-9]+),0\)", line)
        if m:
            ien = int(m[1])
            assert ien // 100_000 in dfns and ien % 100_000 >= 1
            assert int(_value(line).split("^")[1]) == ien // 100_000  # patient piece = DFN


@pytest.mark.parametrize("cuts", [[1], [77], [50, 120, 199]])
def test_chunked_output_equals_single_chunk(run, cuts: list[int]) -> None:
    tables, context, text = run
    chunks: list[dict[str, pl.DataFrame]] = []
    rest, done = tables, 0
    for cut in cuts:
        head, rest = split_tables(rest, cut - done)
        chunks.append(head)
        done = cut
    chunks.append(rest)
    assert len(chunks) == len(cuts) + 1
    assert export_zwr(VistaExporter(), chunks, context).decode("ascii") == text
