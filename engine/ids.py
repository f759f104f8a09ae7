"""Deterministic identifiers: UUID strings built from random bits, formatted in bulk."""

import numpy as np
import pyarrow as pa

from cohortforge.kernels.rng import mix64_ufunc, random_bits_ufunc

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Character positions of the 32 hex digits inside "8-4-4-4-12".
_HEX_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
_DASH_POSITIONS = np.array([8, 13, 18, 23])


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array over the rows of a 2-D uint8 array, without copying per row."""
    rows, width = chars.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))


def uuid_strings(key: np.uint64, patient_ids: np.ndarray, first_counter: int = 0) -> pa.StringArray:
    """RFC 4122 version-4-shaped UUIDs, one per id, from two 64-bit draws each.

    The version and variant bits are set so that validators that check the UUID shape
    (FHIR ids, HL7 and database columns typed uuid) accept them.
    """
    ids = np.asarray(patient_ids, dtype=np.uint64)
    words = np.empty((ids.size, 2), dtype=">u8")
    words[:, 0] = random_bits_ufunc(key, ids, np.uint64(first_counter))
    words[:, 1] = random_bits_ufunc(key, ids, np.uint64(first_counter + 1))
    return _format_uuid(words)


def _format_uuid(words: np.ndarray) -> pa.StringArray:
    """Format rows of two big-endian 64-bit words as version-4-shaped UUID strings."""
    rows = words.shape[0]
    octets = words.view(np.uint8).reshape(rows, 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((rows, 32), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 0x0F
    chars = np.empty((rows, 36), dtype=np.uint8)
    chars[:, _HEX_POSITIONS] = _HEX_DIGITS[nibbles]
    chars[:, _DASH_POSITIONS] = ord("-")
    return fixed_width_strings(chars)


# Entity ids use their own stream per state (the state's key mixed with this salt), so
# identifiers never share bits with the state's clinical draws.
_ID_SALT = np.uint64(0x1D5A17C0FFEE1D5A)


def entity_uuid_strings(
    state_keys: np.ndarray, patient_ids: np.ndarray, visits: np.ndarray
) -> pa.StringArray:
    """UUIDs of entries (encounters, care plans, ...) from (state key, patient, visit)."""
    keys = mix64_ufunc(np.asarray(state_keys, dtype=np.uint64) ^ _ID_SALT)
    counters = np.asarray(visits, dtype=np.uint64) * np.uint64(2)
    words = np.empty((keys.size, 2), dtype=">u8")
    words[:, 0] = random_bits_ufunc(keys, np.asarray(patient_ids, dtype=np.uint64), counters)
    words[:, 1] = random_bits_ufunc(keys, np.asarray(patient_ids, dtype=np.uint64), counters + 1)
    return _format_uuid(words)
