"""The run seed's range, checked without importing the random-number kernels (the CLI
validates options before any heavy import)."""

from .errors import CohortforgeError

MAX_SEED = 2**64 - 1


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise CohortforgeError(f"seed {seed} is out of range; use an integer from 0 to {MAX_SEED}")
    return seed
