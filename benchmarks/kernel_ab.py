"""Time the working tree's kernel against another revision's, alternating in one process.

The machine this project is measured on changes speed by 10-40% within minutes, so two
kernel timings taken a minute apart cannot resolve a 5% change. This runs both kernels
on one prepared cohort and one compiled model, alternating which goes first, and
reports the median of the per-pair time ratios (new / old), which drift cancels out of:

    NUMBA_NUM_THREADS=1 python -m benchmarks.kernel_ab HEAD~1 10000 12

The other revision's `kernels/` files are extracted with `git show` into a temporary
package; the model is compiled by the working tree, so this compares kernels only and
needs a model layout both can read (new model fields are fine; changed meanings of
existing ones are not). It also checks that both produce the same events. The other
revision's kernel is compiled afresh each time (a minute or two).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.ab_report import print_ab_summary
from benchmarks.bench_kernel import KernelCohort
from cohortforge.engine import simulate

KERNEL_FILES = (
    "__init__.py",
    "machine.py",
    "machine_codes.py",
    "options.py",
    "rng.py",
    "unowned.py",
)


def _revision_kernels(revision: str, directory: Path) -> object:
    """kernels/machine.py of `revision`, importable as <directory name>.machine."""
    package = directory / "kernels_ab_old"
    package.mkdir()
    for name in KERNEL_FILES:
        source = subprocess.run(
            ["git", "show", f"{revision}:kernels/{name}"], capture_output=True, text=True
        )
        if source.returncode != 0:
            raise SystemExit(f"cannot read kernels/{name} at {revision}: {source.stderr.strip()}")
        (package / name).write_text(source.stdout)
    sys.path.insert(0, str(directory))
    return importlib.import_module("kernels_ab_old.machine")


def main(argv: list[str]) -> None:
    revision = argv[1] if len(argv) > 1 else "HEAD"
    patients = int(argv[2]) if len(argv) > 2 else 10_000
    pairs = int(argv[3]) if len(argv) > 3 else 12
    cohort = KernelCohort(patients)
    new = simulate.machine
    with tempfile.TemporaryDirectory(prefix="kernel-ab-") as directory:
        old = _revision_kernels(revision, Path(directory))
        digests = {}
        for label, kernel in (("old", old), ("new", new)):  # compile (or load) both first
            simulate.machine = kernel
            cohort.run()
            digests[label] = cohort.digest()
        ratios, times = [], {"old": [], "new": []}
        for pair in range(pairs):
            order = (("old", old), ("new", new)) if pair % 2 == 0 else (("new", new), ("old", old))
            taken = {}
            for label, kernel in order:
                simulate.machine = kernel
                taken[label] = cohort.run()
                times[label].append(taken[label])
            ratios.append(taken["new"] / taken["old"])
        simulate.machine = new
    print_ab_summary(times, ratios, digests, patients, "kernels")


if __name__ == "__main__":
    main(sys.argv)
