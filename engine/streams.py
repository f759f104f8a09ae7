"""Random stream keys: one per named decision, derived from the run seed.

A stream's name (for example "demographics.sex") is hashed with BLAKE2b, which is
stable across Python versions and processes, unlike `hash()`. Each decision owning its
own stream is what lets one module be added or removed without moving the draws of
any other (DESIGN.md section 4, promise 3).
"""

import hashlib

import numpy as np

from cohortforge.kernels.rng import mix64

from .errors import CohortforgeError

MAX_SEED = 2**64 - 1


def stream_id(name: str) -> int:
    """A stable 64-bit identifier for a stream name."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise CohortforgeError(f"seed {seed} is out of range; use an integer from 0 to {MAX_SEED}")
    return seed


def stream_key(seed: int, name: str) -> np.uint64:
    """The key for `name` under `seed`: the first argument of every draw in kernels/rng.py."""
    check_seed(seed)
    return mix64(np.uint64(seed) ^ mix64(np.uint64(stream_id(name))))
