"""The VistA exporter: `vista/globals.zwr`, a ZWR file `mupip load -format=zwr` loads.

begin: the two ZWR header lines. chunk: every node of the chunk's patients, patient by
patient (see zwr.assemble), so output bytes do not depend on chunk size. end: the file
header nodes (`^DPT(0)` etc.), which need run totals, from the summed chunk counts.

Pointers into national or site files that the export does not carry (ICD DIAGNOSIS #80,
DRUG #50, GMRV VITAL TYPE #120.51) hold the target's external value (ICD-10-CM code,
drug name, vital type name), because their IENs belong to the system loading the file.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from cohortforge.exporters.text_export import ExportContext, TextPiece
from cohortforge.terminology import Terminology, get_terminology

from .ids import block_end, dfn_by_patient_id, number_per_patient, with_dfn
from .labs import LAB_CATEGORY, lab_nodes, lab_results
from .patient import patient_nodes
from .prescriptions import prescription_nodes
from .problem import problem_nodes
from .visit import pov_nodes, visit_nodes
from .vitals import VITAL_CODES, vital_nodes
from .zwr import assemble, header_lines

OUTPUT_PATH = "vista/globals.zwr"
NODES_COUNT = "nodes"

# ICD-10-CM R69 "Illness, unspecified": the diagnosis of a problem whose SNOMED CT code has
# no ICD-10-CM map target (.01 DIAGNOSIS is required).
UNMAPPED_ICD10CM = "R69"

# File headers: (count key, header node subscript text, FILE NAME, file number + flags).
# Names and flags as shipped in WorldVistA/VistA-M `Packages/*/Globals/<file#>+<NAME>.zwr`
# (e.g. ^DPT(0)="PATIENT^2I^^"); piece 3 = last IEN, piece 4 = entry count
# (hardhats.org FileMan 22.2 PM, Global File Structure, "File Header").
FILE_HEADERS: tuple[tuple[str, str, str, str], ...] = (
    ("DPT", "^DPT(0)", "PATIENT", "2I"),
    ("AUPNVSIT", "^AUPNVSIT(0)", "VISIT", "9000010IDs"),
    ("AUPNVPOV", "^AUPNVPOV(0)", "V POV", "9000010.07IP"),
    ("AUPNPROB", "^AUPNPROB(0)", "PROBLEM", "9000011IP"),
    ("GMR120.5", "^GMR(120.5,0)", "GMRV VITAL MEASUREMENT", "120.5ID"),
    ("LR", "^LR(0)", "LAB DATA", "63I"),
    ("PSRX", "^PSRX(0)", "PRESCRIPTION", "52Is"),
)

# The columns each file is built from (the rest is never copied).
_OBSERVATION_COLUMNS = ("DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "VALUE", "TYPE")
_ENCOUNTER_COLUMNS = ("Id", "START", "STOP", "PATIENT", "ENCOUNTERCLASS")
_CONDITION_COLUMNS = ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE")
_MEDICATION_COLUMNS = ("START", "STOP", "PATIENT", "DESCRIPTION", "DISPENSES")


def _table(tables: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame | None:
    table = tables.get(name)
    return table if table is not None and table.height else None


class VistaExporter:
    """Text exporter (exporters/text_export.py contract) for VistA FileMan globals."""

    name = "vista"
    separators: Mapping[str, bytes] = {}

    def __init__(self, terminology: Terminology | None = None) -> None:
        self._terminology = terminology

    def _icd10cm(self, snomed_codes: pl.Series) -> pl.Series:
        terminology = self._terminology or get_terminology()
        return terminology.icd10cm_codes(snomed_codes.cast(pl.String)).fill_null(UNMAPPED_ICD10CM)

    def begin(self, context: ExportContext) -> TextPiece:
        return TextPiece(files={OUTPUT_PATH: header_lines(context.reference_date)})

    def chunk(self, tables: Mapping[str, pl.DataFrame], context: ExportContext) -> TextPiece:
        patients = tables["patients"]
        dfns = dfn_by_patient_id(patients)
        frames: list[pl.DataFrame] = []
        counts = {key: 0 for key, *_ in FILE_HEADERS}
        counts["DPT"] = patients.height

        lab_dfns = pl.Series("dfn", [], dtype=pl.Int64)
        observations = _table(tables, "observations")
        if observations is not None:
            # Keep only the rows and columns used, before the join copies them; "row"
            # remembers the table order, the tie-breaker for readings taken at once.
            observations = with_dfn(
                observations.select(_OBSERVATION_COLUMNS).with_row_index("row").filter(
                    (pl.col("CATEGORY") == LAB_CATEGORY) | pl.col("CODE").is_in(VITAL_CODES)),
                dfns)
            results = lab_results(observations)
            lab_frames, counts["LR"] = lab_nodes(results)
            frames += lab_frames
            lab_dfns = results.get_column("dfn").unique()
            vital_frames, counts["GMR120.5"] = vital_nodes(observations)
            frames += vital_frames
        frames += patient_nodes(patients, lab_dfns)
        frames += self._visits_and_problems(tables, dfns, counts)

        medications = _table(tables, "medications")
        if medications is not None:
            prescriptions = number_per_patient(
                with_dfn(medications.select(_MEDICATION_COLUMNS), dfns), ["START"], "PSRX")
            frames += prescription_nodes(prescriptions)
            counts["PSRX"] = prescriptions.height

        body, counts[NODES_COUNT] = assemble(frames)
        return TextPiece(files={OUTPUT_PATH: body} if body else {}, counts=counts)

    def _visits_and_problems(self, tables: Mapping[str, pl.DataFrame], dfns: pl.DataFrame,
                             counts: dict[str, int]) -> list[pl.DataFrame]:
        frames: list[pl.DataFrame] = []
        encounters = _table(tables, "encounters")
        conditions = _table(tables, "conditions")
        if conditions is not None:
            conditions = with_dfn(conditions.select(_CONDITION_COLUMNS), dfns)
            conditions = conditions.with_columns(icd=self._icd10cm(conditions.get_column("CODE")))
            problems = number_per_patient(conditions, ["START"], "AUPNPROB")
            frames += problem_nodes(problems)
            counts["AUPNPROB"] = problems.height
        if encounters is None:
            return frames
        visits = number_per_patient(
            with_dfn(encounters.select(_ENCOUNTER_COLUMNS), dfns), ["START"], "AUPNVSIT")
        pov_counts = pl.DataFrame(schema={"visit_ien": pl.Int64, "pov_count": pl.UInt32})
        if conditions is not None:
            at_visits = conditions.join(
                visits.select(ENCOUNTER="Id", visit_ien="ien", visit_start="START"),
                on="ENCOUNTER", how="inner", maintain_order="left")
            povs = number_per_patient(at_visits, ["visit_start", "START"], "AUPNVPOV")
            frames += pov_nodes(povs)
            counts["AUPNVPOV"] = povs.height
            pov_counts = povs.group_by("visit_ien").agg(pov_count=pl.len())
        frames += visit_nodes(visits, pov_counts)
        counts["AUPNVSIT"] = visits.height
        return frames

    def end(self, context: ExportContext, counts: Mapping[str, int]) -> TextPiece:
        patient_count = counts.get("DPT", 0)
        lines = []
        for key, node, file_name, number in FILE_HEADERS:
            entries = counts.get(key, 0)
            # DFN and LRDFN run 1..N; other files end at the last patient's IEN block.
            last = patient_count if key in {"DPT", "LR"} else block_end(patient_count)
            last_text = str(last) if entries else ""
            lines.append(f'{node}="{file_name}^{number}^{last_text}^{entries}"\n')
        return TextPiece(files={OUTPUT_PATH: "".join(lines).encode("ascii")},
                         counts={NODES_COUNT: len(lines)})
