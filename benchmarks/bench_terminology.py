"""Terminology: batch lookup throughput (target: >= 20M codes/s) and seed build time (< 2 s).

Run: `asv run --python=same --quick --bench bench_terminology`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cohortforge.terminology import Terminology, build_database, read_seed

N_CODES = 10_000_000


def _codes(n: int) -> pa.Array:
    """n LOINC codes drawn from the seed, 1 in 20 unknown, as a plain string column."""
    concepts = read_seed().concepts
    known = concepts.filter(pc.equal(concepts["system"], "LOINC"))["code"].to_pylist()
    pool = pa.array(known + [f"99999-{i % 10}" for i in range(max(1, len(known) // 19))])
    picks = np.random.default_rng(20240601).integers(0, len(pool), n, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(picks), pool).dictionary_decode()


class TerminologyBatchLookup:
    timeout = 300

    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_terminology_"))
        db = self.tmp / "terminology.duckdb"
        build_database(root=self.tmp, db_path=db)
        self.term = Terminology(db)
        self.codes = _codes(N_CODES)
        self.encoded = self.codes.dictionary_encode()
        self.term.displays("LOINC", self.codes[:10])  # load the LOINC dictionary once

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def time_batch_lookup_10m(self) -> None:
        self.term.displays("LOINC", self.codes)

    def time_batch_lookup_10m_dictionary_encoded(self) -> None:
        self.term.displays("LOINC", self.encoded)

    def time_single_lookup(self) -> None:
        self.term.lookup("LOINC", "4548-4")

    def track_batch_lookup_codes_per_second(self) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            self.term.displays("LOINC", self.codes)
            best = min(best, time.perf_counter() - started)
        return N_CODES / best

    track_batch_lookup_codes_per_second.unit = "codes/s"


class TerminologyBuild:
    timeout = 120

    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_terminology_build_"))
        self.db = self.tmp / "terminology.duckdb"

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def time_build_from_seed(self) -> None:
        build_database(root=self.tmp, db_path=self.db, rebuild=True)
