"""The summary both A/B timers print (kernel_ab.py, model_ab.py)."""

from __future__ import annotations

import statistics


def print_ab_summary(
    times: dict[str, list[float]],
    ratios: list[float],
    digests: dict[str, str],
    patients: int,
    what: str,
) -> None:
    """Median time per patient and event digest of "old" and "new", then the median of
    the per-pair ratios (new / old); says so when the events differ."""
    for label in ("old", "new"):
        median = statistics.median(times[label]) / patients * 1e6
        print(f"{label}: median {median:.1f} us/patient, events sha256 {digests[label][:16]}")
    print(
        f"new/old: median ratio {statistics.median(ratios):.3f} over {len(ratios)} pairs "
        f"(range {min(ratios):.3f}-{max(ratios):.3f})"
    )
    if digests["old"] != digests["new"]:
        print(f"the {what}' events differ")
