"""The counter-based RNG: same bits from Numba scalars and NumPy ufuncs, good enough spread."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.seed import MAX_SEED
from cohortforge.engine.streams import stream_id, stream_key
from cohortforge.kernels.rng import (
    mix64,
    random_bits,
    random_bits_ufunc,
    random_uniform,
    random_uniform_ufunc,
)

MASK = (1 << 64) - 1


def reference_mix64(z: int) -> int:
    """splitmix64's finaliser in plain Python integers, from the published constants."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


@given(st.integers(min_value=0, max_value=MASK))
@settings(max_examples=200)
def test_mix64_matches_plain_python_reference(z):
    assert int(mix64(np.uint64(z))) == reference_mix64(z)


def test_splitmix64_known_answer():
    # splitmix64 seeded with 0 yields mix64(0x9E3779B97F4A7C15) first: 0xE220A8397B1DCDAF
    # (the first output of the reference C implementation by Vigna, prng.di.unimi.it).
    assert int(mix64(np.uint64(0x9E3779B97F4A7C15))) == 0xE220A8397B1DCDAF


@given(
    key=st.integers(min_value=0, max_value=MASK),
    patient=st.integers(min_value=0, max_value=2**40),
    counter=st.integers(min_value=0, max_value=2**20),
)
@settings(max_examples=200)
def test_ufunc_and_scalar_give_identical_bits(key, patient, counter):
    k, p, c = np.uint64(key), np.uint64(patient), np.uint64(counter)
    vector = random_bits_ufunc(k, np.array([patient], dtype=np.uint64), c)[0]
    assert vector == random_bits(k, p, c)
    assert random_uniform_ufunc(k, np.array([patient], dtype=np.uint64), c)[0] == random_uniform(
        k, p, c
    )


def test_uniform_is_in_unit_interval_and_spread_evenly():
    ids = np.arange(1_000_000, dtype=np.uint64)
    u = random_uniform_ufunc(stream_key(7, "test.uniformity"), ids, np.uint64(0))
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 100).astype(int), minlength=100)
    expected = len(u) / 100
    chi_square = ((counts - expected) ** 2 / expected).sum()
    # 99 degrees of freedom: the 0.999 quantile is about 148.
    assert chi_square < 148
    # Neighbouring patients and neighbouring counters must not be correlated.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.005
    v = random_uniform_ufunc(stream_key(7, "test.uniformity"), ids, np.uint64(1))
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.005


def test_different_seeds_and_streams_differ():
    ids = np.arange(1000, dtype=np.uint64)
    a = random_bits_ufunc(stream_key(1, "s"), ids, np.uint64(0))
    b = random_bits_ufunc(stream_key(2, "s"), ids, np.uint64(0))
    c = random_bits_ufunc(stream_key(1, "t"), ids, np.uint64(0))
    assert (a != b).all() and (a != c).all()


def test_stream_ids_are_stable_across_processes():
    # BLAKE2b of the name, fixed forever: changing it would change every cohort.
    assert stream_id("patient.sex") == stream_id("patient.sex")
    assert stream_id("patient.sex") != stream_id("patient.race")


def test_seed_out_of_range_is_rejected():
    with pytest.raises(CohortforgeError, match="seed"):
        stream_key(MAX_SEED + 1, "s")
    with pytest.raises(CohortforgeError, match="seed"):
        stream_key(-1, "s")
