"""State entries per patient, by state, module and state type, for the all-modules cohort.

The kernel keeps no count of entries (counting costs time on every entry), so this
compiles a copy of `kernels/` with two edits: each state entry adds one to a per-state
counter kept after the patient's visit counts in the same scratch array, and each block
copies its counters into the unused end of its output slice. The cohort, model and
events are the real ones; only the copy counts. Where the entries go says where module
changes could save kernel time (time them with benchmarks/kernel_ab.py):

    python -m benchmarks.kernel_entry_counts 5000 [TOP]

The edits find their places by exact source text and stop with an error when the kernel
has changed under them.
"""

from __future__ import annotations

import collections
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_kernel import KernelCohort
from cohortforge.engine import simulate

KERNELS = Path(__file__).resolve().parent.parent / "kernels"
EDITS = (
    # (exact text, replacement): the visit counts stay in the first half of `visits`.
    ("    visits[:] = 0\n", "    visits[: visits.size // 2] = 0\n"),
    (
        "                kind = aux[mc.ST_KIND]\n",
        "                kind = aux[mc.ST_KIND]\n"
        "                visits[visits.size // 2 + s] += 1\n",
    ),
    (
        "np.zeros(n_states, dtype=np.int32),  # visits",
        "np.zeros(2 * n_states, dtype=np.int32),  # visits",
    ),
    (
        "        keep_alive(scratch)\n",
        "        for q in range(n_states):\n"
        "            out_value[(b + 1) * capacity - n_states + q] = scratch[0][n_states + q]\n"
        "        keep_alive(scratch)\n",
    ),
    ("cache=True", "cache=False"),
)


def counting_kernel(directory: Path) -> object:
    """kernels/machine.py with the EDITS, importable from `directory`."""
    package = directory / "kernels_entry_counts"
    shutil.copytree(KERNELS, package, ignore=shutil.ignore_patterns("__pycache__"))
    source = (package / "machine.py").read_text()
    for old, new in EDITS:
        if old not in source:
            raise SystemExit(f"kernels/machine.py changed: cannot find {old.strip()!r}")
        source = source.replace(old, new)
    (package / "machine.py").write_text(source)
    sys.path.insert(0, str(directory))
    return importlib.import_module("kernels_entry_counts.machine")


def entries_per_state(cohort: KernelCohort, machine: object) -> np.ndarray:
    """Entries of every state summed over the cohort: run_kernel with the counting
    kernel, then each block's counters from the end of its slice of the kept buffers."""
    model = cohort.simulation.model
    n_states = model.kernel.state_kind.size
    events_per_patient = 600.0  # the capacity run_kernel derives from it fits both
    real = simulate.machine
    simulate.machine = machine
    try:
        run = simulate.run_kernel(
            model,
            cohort.inputs,
            cohort.horizon,
            cohort.simulation.tables.window_start,
            events_per_patient,
        )
    finally:
        simulate.machine = real
    if run.events_per_patient != events_per_patient:
        raise SystemExit("a block ran out of room: counters overwritten, counts unusable")
    capacity = int(events_per_patient * simulate.BLOCK_SIZE * 1.25) + 64  # as run_kernel
    n_blocks = max(1, -(-cohort.inputs.patient_ids.size // simulate.BLOCK_SIZE))
    blocks = np.bincount(run.events["patient"] // simulate.BLOCK_SIZE, minlength=n_blocks)
    if (blocks > capacity - n_states).any():
        raise SystemExit("a block's events reach its counters: counts unusable")
    ends = (np.arange(n_blocks) + 1) * capacity
    return sum(simulate._OUTPUT.value[end - n_states : end] for end in ends)


def main(argv: list[str]) -> None:
    patients = int(argv[1]) if len(argv) > 1 else 5_000
    top = int(argv[2]) if len(argv) > 2 else 40
    cohort = KernelCohort(patients)
    with tempfile.TemporaryDirectory(prefix="kernel-entries-") as directory:
        totals = entries_per_state(cohort, counting_kernel(Path(directory))) / patients
    states = cohort.simulation.model.states
    print(f"{totals.sum():.1f} state entries per patient ({patients:,} patients)")
    for label, key in (("module", lambda info: info.module), ("type", lambda info: info.type)):
        grouped: collections.Counter[str] = collections.Counter()
        for info, entries in zip(states, totals, strict=True):
            grouped[key(info)] += entries
        print(f"\nby {label}:")
        for name, entries in grouped.most_common():
            print(f"  {entries:8.1f}  {name}")
    print(f"\ntop {top} states:")
    for index in np.argsort(-totals)[:top]:
        info = states[index]
        print(f"  {totals[index]:8.2f}  {info.module} / {info.name} ({info.type})")


if __name__ == "__main__":
    main(sys.argv)
