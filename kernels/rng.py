"""Counter-based random numbers: every draw is a pure function of (key, patient, counter).

The key folds together the run seed and a stream name (see engine/streams.py), so a
draw never depends on how many other draws happened before it: patient i gets the
same numbers whatever the chunk size, worker count or set of other modules. The
mixing function is splitmix64's finaliser (Steele, Lea & Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014), applied twice so that neighbouring
patients and neighbouring counters both land on unrelated outputs.

The scalar functions are what kernels call inside `prange`; the ufuncs wrap the very
same scalar code so vectorised NumPy callers get bit-identical values.
"""

import numpy as np
from numba import njit, vectorize

from .options import JIT_OPTIONS, UFUNC_OPTIONS

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_COUNTER_GAMMA = np.uint64(0xD1B54A32D192ED03)
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_30 = np.uint64(30)
_SHIFT_27 = np.uint64(27)
_SHIFT_31 = np.uint64(31)
_SHIFT_11 = np.uint64(11)
# 2**-53: maps the top 53 bits onto [0, 1) with every value exactly representable.
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(**JIT_OPTIONS)
def mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a bijection on 64-bit words with full avalanche."""
    z = (z ^ (z >> _SHIFT_30)) * _MUL_1
    z = (z ^ (z >> _SHIFT_27)) * _MUL_2
    return z ^ (z >> _SHIFT_31)


@njit(**JIT_OPTIONS)
def random_bits(key: np.uint64, patient_id: np.uint64, counter: np.uint64) -> np.uint64:
    """64 random bits for draw number `counter` of `patient_id` in the stream `key`."""
    per_patient = mix64(key ^ (patient_id * _GOLDEN_GAMMA))
    return mix64(per_patient + counter * _COUNTER_GAMMA)


@njit(**JIT_OPTIONS)
def random_uniform(key: np.uint64, patient_id: np.uint64, counter: np.uint64) -> float:
    """A float in [0, 1) from the top 53 bits of `random_bits`."""
    return float(random_bits(key, patient_id, counter) >> _SHIFT_11) * _INV_2_53


@vectorize(["uint64(uint64, uint64, uint64)"], **UFUNC_OPTIONS)
def random_bits_ufunc(key, patient_id, counter):  # pragma: no cover - compiled
    return random_bits(key, patient_id, counter)


@vectorize(["float64(uint64, uint64, uint64)"], **UFUNC_OPTIONS)
def random_uniform_ufunc(key, patient_id, counter):  # pragma: no cover - compiled
    return random_uniform(key, patient_id, counter)


@vectorize(["uint64(uint64)"], **UFUNC_OPTIONS)
def mix64_ufunc(z):  # pragma: no cover - compiled
    return mix64(z)
