"""Random stream keys: one per named decision, derived from the run seed.

A stream's name (for example "demographics.sex") is hashed with BLAKE2b, which is
stable across Python versions and processes, unlike `hash()`. Each decision owning its
own stream is what lets one module be added or removed without moving the draws of
any other (DESIGN.md section 4, promise 3).
"""

import hashlib

import numpy as np

from cohortforge.kernels.rng import mix64

from .seed import check_seed


def stream_id(name: str) -> int:
    """A stable 64-bit identifier for a stream name."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def stream_key(seed: int, name: str) -> np.uint64:
    """The key for `name` under `seed`: the first argument of every draw in kernels/rng.py."""
    check_seed(seed)
    return mix64(np.uint64(seed) ^ mix64(np.uint64(stream_id(name))))
