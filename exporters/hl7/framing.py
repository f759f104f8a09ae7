"""How messages are laid out in an .hl7 file, and turning them into its bytes.

Two framings (`--hl7-framing`):
- "none": each message is followed by a newline ("\\n"), so messages are separated by a
  newline and the file ends with one; inside a message segments end with "\\r".
- "mllp": each message is wrapped in the Minimal Lower Layer Protocol block: start byte
  0x0B, the message, then 0x1C 0x0D (HL7 v2 Minimal Lower Layer Protocol, as in the
  HL7 v2.5.1 Implementation Guide appendix C).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

MLLP_START = "\x0b"
MLLP_END = "\x1c\r"
NEWLINE = "\n"


def affixes(framing: str) -> tuple[str, str]:
    """(prefix, suffix) written around every message."""
    if framing == "mllp":
        return MLLP_START, MLLP_END
    if framing == "none":
        return "", NEWLINE
    raise ValueError(f"unknown HL7 framing {framing!r}; use 'none' or 'mllp'")


def concatenated(messages: pl.Series) -> bytes:
    """The UTF-8 bytes of all (already framed) messages, in order."""
    if messages.len() == 0:
        return b""
    # The values buffer of one large_string array is the concatenation of its strings:
    # one copy into bytes, no Python object per message.
    array = messages.to_arrow().cast(pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets = pa.Array.from_buffers(pa.int64(), len(array) + 1, [None, array.buffers()[1]],
                                    offset=array.offset)
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    return array.buffers()[2][first:last].to_pybytes()
