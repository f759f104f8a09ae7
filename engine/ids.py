"""Deterministic identifiers: UUID strings built from random bits, formatted in bulk.

Formatting is one compiled pass that draws both 64-bit words and writes the 36
characters straight into the Arrow data buffer: an observation table needs a UUID per
row, and the NumPy version (nibble arrays, fancy-indexed hex digits) spent ~250 ns a
row on temporaries.
"""

import numpy as np
import pyarrow as pa
from numba import njit

from cohortforge.kernels.options import JIT_OPTIONS
from cohortforge.kernels.rng import mix64, random_bits

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
UUID_LENGTH = 36
# Version 4 in the high nibble of octet 6 (bits 12-15 of the first big-endian word) and
# variant 0b10 in the top bits of octet 8 (bits 62-63 of the second).
_VERSION_CLEAR = np.uint64(0xFFFFFFFFFFFF0FFF)
_VERSION_SET = np.uint64(0x0000000000004000)
_VARIANT_CLEAR = np.uint64(0x3FFFFFFFFFFFFFFF)
_VARIANT_SET = np.uint64(0x8000000000000000)
_NIBBLE = np.uint64(0xF)
_DASH = np.uint8(ord("-"))
# Entity ids use their own stream per state (the state's key mixed with this salt), so
# identifiers never share bits with the state's clinical draws.
_ID_SALT = np.uint64(0x1D5A17C0FFEE1D5A)


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array over the rows of a 2-D uint8 array, without copying per row."""
    rows, width = chars.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))


@njit(**JIT_OPTIONS)
def _write_hex(word: np.uint64, out: np.ndarray, row: int, first: int, count: int) -> None:
    """The top `count` nibbles of `word` as hex digits at out[row, first:first+count]."""
    for i in range(count):
        shift = np.uint64(60 - 4 * i)
        out[row, first + i] = _HEX_DIGITS[(word >> shift) & _NIBBLE]


@njit(**JIT_OPTIONS)
def _write_uuid(hi: np.uint64, lo: np.uint64, out: np.ndarray, row: int) -> None:
    """Two big-endian 64-bit words as a version-4-shaped "8-4-4-4-12" UUID."""
    hi = (hi & _VERSION_CLEAR) | _VERSION_SET
    lo = (lo & _VARIANT_CLEAR) | _VARIANT_SET
    _write_hex(hi, out, row, 0, 8)
    _write_hex(hi << np.uint64(32), out, row, 9, 4)
    _write_hex(hi << np.uint64(48), out, row, 14, 4)
    _write_hex(lo, out, row, 19, 4)
    _write_hex(lo << np.uint64(16), out, row, 24, 12)
    out[row, 8] = _DASH
    out[row, 13] = _DASH
    out[row, 18] = _DASH
    out[row, 23] = _DASH


@njit(**JIT_OPTIONS)
def _stream_uuids(key: np.uint64, ids: np.ndarray, first_counter: np.uint64, out: np.ndarray):
    for row in range(ids.size):
        hi = random_bits(key, ids[row], first_counter)
        lo = random_bits(key, ids[row], first_counter + np.uint64(1))
        _write_uuid(hi, lo, out, row)


@njit(**JIT_OPTIONS)
def _entity_uuids(state_keys: np.ndarray, ids: np.ndarray, visits: np.ndarray, out: np.ndarray):
    for row in range(ids.size):
        key = mix64(state_keys[row] ^ _ID_SALT)
        counter = visits[row] * np.uint64(2)
        hi = random_bits(key, ids[row], counter)
        lo = random_bits(key, ids[row], counter + np.uint64(1))
        _write_uuid(hi, lo, out, row)


def uuid_strings(key: np.uint64, patient_ids: np.ndarray, first_counter: int = 0) -> pa.StringArray:
    """RFC 4122 version-4-shaped UUIDs, one per id, from two 64-bit draws each.

    The version and variant bits are set so that validators that check the UUID shape
    (FHIR ids, HL7 and database columns typed uuid) accept them.
    """
    ids = np.asarray(patient_ids, dtype=np.uint64)
    chars = np.empty((ids.size, UUID_LENGTH), dtype=np.uint8)
    _stream_uuids(np.uint64(key), ids, np.uint64(first_counter), chars)
    return fixed_width_strings(chars)


def entity_uuid_strings(
    state_keys: np.ndarray, patient_ids: np.ndarray, visits: np.ndarray
) -> pa.StringArray:
    """UUIDs of entries (encounters, care plans, ...) from (state key, patient, visit)."""
    keys = np.asarray(state_keys, dtype=np.uint64)
    ids = np.asarray(patient_ids, dtype=np.uint64)
    # A negative visit wraps as it always has: the counter is the visit as uint64, times 2.
    counters = np.asarray(visits).astype(np.uint64)
    chars = np.empty((ids.size, UUID_LENGTH), dtype=np.uint8)
    _entity_uuids(keys, ids, counters, chars)
    return fixed_width_strings(chars)
