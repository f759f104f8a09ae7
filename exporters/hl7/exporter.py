"""The HL7 v2.5.1 exporter: hl7/adt.hl7 (ADT) and hl7/oru.hl7 (ORU^R01).

Every message is built for a whole chunk at once by Polars string expressions (no
message objects); see adt.py and oru.py for the events, segments and ordering, and
framing.py for the file layout: segments end with "\\r" and, with the default framing
"none", every message is followed by a newline (so messages are separated by "\\n");
with framing "mllp" each message is wrapped in 0x0B ... 0x1C 0x0D instead.

Output bytes depend only on each patient's own rows: messages are ordered by the global
patient INDEX, then time, and MSH-10 control ids are "A<INDEX>.<n>" (ADT) and
"R<INDEX>.<n>" (ORU), n counting that patient's messages, so they are unique in the run
and independent of chunk boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from cohortforge.exporters.text_export import ExportContext, TextPiece
from cohortforge.terminology import Terminology, get_terminology

from .adt import adt_messages
from .frames import encounter_frame, patient_frame
from .framing import affixes, concatenated
from .oru import oru_messages

ADT_PATH = "hl7/adt.hl7"
ORU_PATH = "hl7/oru.hl7"


class Hl7Exporter:
    """HL7 v2.5.1 ADT and ORU^R01 messages, one file each (see the module docstring)."""

    name = "hl7"
    # Every message carries its own terminator (newline or MLLP end block), so chunk
    # pieces are appended as they are.
    separators: Mapping[str, bytes] = {}

    def __init__(self, terminology: Terminology | None = None) -> None:
        self._terminology = terminology

    @property
    def terminology(self) -> Terminology:
        """The code lookups used (the shared default unless one was given)."""
        return self._terminology if self._terminology is not None else get_terminology()

    def begin(self, context: ExportContext) -> TextPiece:
        return TextPiece(files={ADT_PATH: b"", ORU_PATH: b""})

    def chunk(self, tables: Mapping[str, pl.DataFrame], context: ExportContext) -> TextPiece:
        patients = patient_frame(tables["patients"])
        encounters = encounter_frame(tables["encounters"], context.providers)
        prefix, suffix = affixes(context.hl7_framing)
        adt = adt_messages(patients, encounters, tables["conditions"], tables["allergies"],
                           context.payers, self.terminology, prefix, suffix)
        oru, oru_count = oru_messages(patients, encounters, tables["observations"],
                                      tables.get("reports"), prefix, suffix)
        return TextPiece(
            files={
                ADT_PATH: concatenated(adt),
                ORU_PATH: concatenated(oru),
            },
            counts={"hl7_adt_messages": adt.len(), "hl7_oru_messages": oru_count},
        )

    def end(self, context: ExportContext, counts: Mapping[str, int]) -> TextPiece:
        return TextPiece()
