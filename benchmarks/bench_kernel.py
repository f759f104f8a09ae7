"""The module kernel alone: CPU microseconds per simulated patient, nothing written.

The whole-run benchmarks (bench_modules.py) mix the kernel with table building and
Parquet writing; this one times only `run_kernel` on one prepared cohort, as process
CPU time (robust to other load on the machine, unlike wall time), best of three. Run
it with one Numba thread for a per-core figure:

    NUMBA_NUM_THREADS=1 python -m benchmarks.bench_kernel 20000 general_population

It also prints the sha256 of the event columns, so a kernel change that should not
change the output can be checked against the same command before it.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from cohortforge.engine.cohort import UNIX_EPOCH, build_patients
from cohortforge.engine.config import RunConfig
from cohortforge.engine.patient_inputs import build_inputs
from cohortforge.engine.runner import plan_run
from cohortforge.engine.simulate import run_kernel


class KernelCohort:
    """A cohort ready for the kernel: the compiled model and the patients' inputs."""

    def __init__(
        self,
        num_records: int,
        scenario: str = "general_population",
        modules_dirs: tuple[Path, ...] = (),
    ):
        config = RunConfig(
            num_records=num_records,
            seed=1,
            scenario=scenario,
            output_dir="unused",
            output_format="parquet",
            fhir=False,
            hl7=False,
            workers=1,
            chunk_size=num_records,
            modules_dirs=modules_dirs,
        )
        plan = plan_run(config)
        if plan.simulation is None:
            raise SystemExit(f"scenario {scenario!r} runs no modules")
        self.simulation = plan.simulation
        reference = plan.reference_date
        patients = build_patients(plan.scenario, 1, 0, num_records, reference)
        self.inputs = build_inputs(self.simulation.model, patients, 1, 0, num_records)
        self.horizon = (reference - UNIX_EPOCH).days * 86400
        self.num_records = num_records
        self.events: dict[str, np.ndarray] = {}

    def run(self) -> float:
        """Process CPU seconds of one kernel run over the whole cohort."""
        started = time.process_time()
        # A generous events-per-patient estimate: no overflow rerun inside the timing.
        self.events = run_kernel(
            self.simulation.model,
            self.inputs,
            self.horizon,
            self.simulation.tables.window_start,
            events_per_patient=512.0,
        ).events
        return time.process_time() - started

    def digest(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.events):
            digest.update(np.ascontiguousarray(self.events[name]).tobytes())
        return digest.hexdigest()


class KernelCpu:
    """asv: kernel CPU microseconds per patient for the all-modules scenario."""

    params = (5_000,)
    param_names = ("num_records",)
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, num_records):
        self.cohort = KernelCohort(num_records)
        self.cohort.run()  # load the compiled kernel from Numba's cache

    def track_cpu_us_per_patient(self, num_records):
        return min(self.cohort.run() for _ in range(3)) / num_records * 1e6

    track_cpu_us_per_patient.unit = "us"


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    name = sys.argv[2] if len(sys.argv) > 2 else "general_population"
    cohort = KernelCohort(count, name)
    cohort.run()
    best = min(cohort.run() for _ in range(3))
    events = cohort.events["patient"].size
    print(
        f"{name}, {count:,} patients: kernel CPU {best:.3f} s best of 3 = "
        f"{best / count * 1e6:.1f} us/patient, {events:,} events, sha256 {cohort.digest()}"
    )
