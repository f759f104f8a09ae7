"""Time one kernel on two compiled models of the same cohort, alternating in one process.

`kernel_ab.py` compares two revisions' kernels on one model; this compares two models on
the working tree's kernel, for module edits and compiler passes:

    # the working tree's modules against older copies (they shadow the shipped ones of
    # the same name, as --modules-dir does)
    NUMBA_NUM_THREADS=1 python -m benchmarks.model_ab --old-modules DIR 10000 12
    # the compiler with router folding (engine/fold_routers.py) against without it
    NUMBA_NUM_THREADS=1 python -m benchmarks.model_ab --no-fold 10000 12

Both can be given at once. The machine's speed drifts by 10-40% within minutes, so the
two models run alternately and the median of the per-pair ratios (new / old) is the
figure. It also prints each model's event sha256 (`bench_kernel.py`): a change meant to
keep every event, such as folding or a shortcut row, must leave it equal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.ab_report import print_ab_summary
from benchmarks.bench_kernel import KernelCohort
from cohortforge.engine import compile as compile_module


def _cohorts(args: argparse.Namespace) -> dict[str, KernelCohort]:
    new = KernelCohort(args.patients)
    folding = compile_module.fold_routers
    if args.no_fold:
        compile_module.fold_routers = lambda *unused: 0
    try:
        old_dirs = (args.old_modules,) if args.old_modules else ()
        old = KernelCohort(args.patients, modules_dirs=old_dirs)
    finally:
        compile_module.fold_routers = folding
    return {"old": old, "new": new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patients", type=int, nargs="?", default=10_000)
    parser.add_argument("pairs", type=int, nargs="?", default=12)
    parser.add_argument("--old-modules", type=Path, help="folder of the old module files")
    parser.add_argument("--no-fold", action="store_true", help="old model without folding")
    args = parser.parse_args()
    if not args.old_modules and not args.no_fold:
        parser.error("give --old-modules DIR, --no-fold or both: otherwise both models are one")
    cohorts = _cohorts(args)
    digests = {}
    for label, cohort in cohorts.items():  # load the kernel, warm the caches
        cohort.run()
        digests[label] = cohort.digest()
    ratios, times = [], {"old": [], "new": []}
    for pair in range(args.pairs):
        order = ("old", "new") if pair % 2 == 0 else ("new", "old")
        taken = {label: cohorts[label].run() for label in order}
        for label in order:
            times[label].append(taken[label])
        ratios.append(taken["new"] / taken["old"])
    print_ab_summary(times, ratios, digests, args.patients, "models")


if __name__ == "__main__":
    main()
