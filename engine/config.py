"""Run parameters, validated once so every later stage can trust them."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cohortforge.exporters.text_options import FHIR_BUNDLE_LAYOUTS, HL7_FRAMINGS

from .errors import CohortforgeError
from .seed import check_seed

OUTPUT_FORMATS = ("csv", "parquet", "both")
DEFAULT_CHUNK_SIZE = 100_000


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


@dataclass(frozen=True)
class RunConfig:
    num_records: int
    scenario: str
    seed: int
    output_dir: Path
    modules: tuple[str, ...] = ()
    output_format: str = "both"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    workers: int = field(default_factory=default_workers)
    overwrite: bool = False
    years_of_history: int | None = None
    reference_date: dt.date | None = None
    modules_dirs: tuple[Path, ...] = ()
    fhir: bool = True
    fhir_bundle: str = "single"
    hl7: bool = True
    hl7_framing: str = "none"
    vista: bool = False
    shards: int | None = None  # None: one file per table; K: K part files per table
    resume: bool = False
    scheduler: str | None = None  # a Dask scheduler address, tcp://host:port
    space_check: bool = True  # stop early when the rest will not fit (engine/disk_space.py)

    def __post_init__(self) -> None:
        if self.num_records < 1:
            raise CohortforgeError(
                f"--num-records must be at least 1, got {self.num_records}; "
                "ask for 1 or more patients"
            )
        if self.chunk_size < 1:
            raise CohortforgeError(
                f"--chunk-size must be at least 1, got {self.chunk_size}; "
                f"the default is {DEFAULT_CHUNK_SIZE}"
            )
        if self.workers < 1:
            raise CohortforgeError(f"--workers must be at least 1, got {self.workers}")
        if self.output_format not in OUTPUT_FORMATS:
            raise CohortforgeError(
                f"--output-format {self.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}"
            )
        if self.years_of_history is not None and not 1 <= self.years_of_history <= 150:
            raise CohortforgeError(
                f"--years-of-history must be from 1 to 150, got {self.years_of_history}"
            )
        if self.fhir_bundle not in FHIR_BUNDLE_LAYOUTS:
            raise CohortforgeError(
                f"--fhir-bundle {self.fhir_bundle!r} is not one of {', '.join(FHIR_BUNDLE_LAYOUTS)}"
            )
        if self.hl7_framing not in HL7_FRAMINGS:
            raise CohortforgeError(
                f"--hl7-framing {self.hl7_framing!r} is not one of {', '.join(HL7_FRAMINGS)}"
            )
        if self.shards is not None and not 1 <= self.shards <= self.num_records:
            raise CohortforgeError(
                f"--shards must be from 1 to --num-records ({self.num_records}), got {self.shards}"
            )
        if self.resume and self.shards is None:
            raise CohortforgeError(
                "--resume continues a sharded run; pass the same --shards as the interrupted run"
            )
        if self.scheduler is not None and self.shards is None:
            raise CohortforgeError(
                "--scheduler runs shards as cluster tasks; pass --shards K as well (K >= workers)"
            )
        check_seed(self.seed)

    @property
    def formats(self) -> tuple[str, ...]:
        return ("csv", "parquet") if self.output_format == "both" else (self.output_format,)
