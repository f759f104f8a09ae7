"""Turning uniform draws into categories, band values and flags, vectorised."""

import numpy as np


def normalized_cumulative(weights: np.ndarray) -> np.ndarray:
    """Cumulative probabilities ending exactly at 1.0, so a draw in [0, 1) always lands."""
    weights = np.asarray(weights, dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return cumulative


def pick_categories(uniforms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Index of the category each uniform falls in, with probabilities proportional to weights."""
    cumulative = normalized_cumulative(weights)
    return np.searchsorted(cumulative, uniforms, side="right").astype(np.int32)


def value_in_bands(
    band_uniforms: np.ndarray,
    within_uniforms: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """A value drawn uniformly inside a band that is itself drawn by weight."""
    band = pick_categories(band_uniforms, weights)
    low = np.asarray(lows, dtype=np.float64)[band]
    high = np.asarray(highs, dtype=np.float64)[band]
    return low + within_uniforms * (high - low)
