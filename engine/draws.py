"""Uniform draws for a block of patients, one named stream per decision."""

from __future__ import annotations

import numpy as np

from cohortforge.kernels.rng import random_bits_ufunc, random_uniform_ufunc

from .streams import stream_key


class PatientDraws:
    """Draws for patient ids [lo, hi) under one seed; every stream is keyed by its name."""

    def __init__(self, seed: int, lo: int, hi: int):
        self.seed = seed
        self.patient_ids = np.arange(lo, hi, dtype=np.uint64)
        self.names_used: list[str] = []

    def key(self, stream: str) -> np.uint64:
        self.names_used.append(stream)
        return stream_key(self.seed, stream)

    def uniform(self, stream: str, counter: int = 0) -> np.ndarray:
        """One float in [0, 1) per patient."""
        return random_uniform_ufunc(self.key(stream), self.patient_ids, np.uint64(counter))

    def bits(self, stream: str, counter: int = 0) -> np.ndarray:
        """64 random bits per patient."""
        return random_bits_ufunc(self.key(stream), self.patient_ids, np.uint64(counter))

    def integers(self, stream: str, low: int, high: int, counter: int = 0) -> np.ndarray:
        """Integers in [low, high); the modulo bias, (high-low)/2**64, is negligible."""
        span = np.uint64(high - low)
        return (self.bits(stream, counter) % span).astype(np.int64) + low
