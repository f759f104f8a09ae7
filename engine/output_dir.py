"""The output directory: refuse to clobber, stage every file, publish only on success.

Files are written into a hidden staging folder inside the output directory (same file
system, so the final renames are atomic) and moved into place only after every writer
has closed. A failed run removes its staging folder and leaves whatever the user had
untouched. The manifest is written last, so its presence means the run completed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from . import staging_lock
from .created_folders import missing_folders, remove_empty
from .errors import CohortforgeError

MANIFEST_NAME = "manifest.json"
# Folders and files a run owns; --overwrite replaces these and nothing else.
PROGRESS_JOURNAL = ".cohortforge-progress.jsonl"
OWNED_NAMES = (
    "csv",
    "parquet",
    "fhir",
    "fhir_bundle.json",
    "fhir_bundle",
    "hl7",
    "vista",
    PROGRESS_JOURNAL,
    MANIFEST_NAME,
)
STAGING_PREFIX = ".cohortforge-staging-"


class OutputDir:
    def __init__(self, root: Path, overwrite: bool):
        self.root = Path(root)
        self.overwrite = overwrite
        self.staging: Path | None = None
        # The root and any missing parents this run created, deepest first: a failed run
        # removes them again where they are still empty.
        self._created: list[Path] = []
        self._lock: BinaryIO | None = None  # held while the staging folder is in use

    def prepare(self) -> Path:
        """Check the target, remove staging folders that killed runs left behind, and
        create this run's staging folder; return its path."""
        self.check_root()
        self.remove_abandoned_staging()
        return self.make_staging()

    def check_root(self, *, resuming: bool = False) -> None:
        """The target must be a directory we may write: empty, or --overwrite, or a run
        being resumed."""
        if self.root.exists() and not self.root.is_dir():
            raise CohortforgeError(
                f"output path {self.root} is a file, not a directory; choose another --output-dir"
            )
        if self.root.is_dir() and not resuming:
            existing = [p for p in self.root.iterdir() if not p.name.startswith(STAGING_PREFIX)]
            if existing and not self.overwrite:
                raise CohortforgeError(
                    f"output directory {self.root} is not empty; pass --overwrite to replace "
                    "its cohortforge outputs, or choose another --output-dir"
                )

    def make_staging(self) -> Path:
        self.staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        if not self._created:
            self._created = missing_folders(self.root)
        try:
            self.staging.mkdir(parents=True)
            probe = self.staging / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
            self._lock = staging_lock.hold(self.staging)
        except OSError as error:
            self.staging = None
            raise CohortforgeError(
                f"cannot write to output directory {self.root}: {error.strerror or error}; "
                "choose a writable --output-dir"
            ) from error
        return self.staging

    def _other_staging_folders(self) -> list[Path]:
        """Staging folders in the root other than this run's own."""
        if not self.root.is_dir():
            return []
        return [
            path
            for path in self.root.iterdir()
            if path.name.startswith(STAGING_PREFIX) and path != self.staging
        ]

    def remove_abandoned_staging(self) -> None:
        """Remove the staging folders of runs that died without cleaning up (SIGKILL, the
        OOM killer): their lock is free. A live run's folder keeps its lock and stays."""
        for path in self._other_staging_folders():
            if staging_lock.is_abandoned(path):
                shutil.rmtree(path, ignore_errors=True)

    def remove_stale_staging(self) -> None:
        """Staging folders left by a killed run hold nothing published; drop them."""
        for path in self._other_staging_folders():
            shutil.rmtree(path, ignore_errors=True)

    def remove_owned(self) -> None:
        """Remove what an earlier run wrote (only cohortforge's own names)."""
        (self.root / MANIFEST_NAME).unlink(missing_ok=True)
        for name in OWNED_NAMES:
            target = self.root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def staged(self, relative: str) -> Path:
        assert self.staging is not None, "prepare() first"
        path = self.staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self, relative_paths: list[str]) -> None:
        """Move staged files into place; an old manifest goes first so no stale one survives."""
        assert self.staging is not None, "prepare() first"
        (self.root / MANIFEST_NAME).unlink(missing_ok=True)
        if self.overwrite:
            self.remove_owned()
        self.publish_as({relative: relative for relative in relative_paths})

    def publish_as(self, targets: dict[str, str]) -> None:
        """Move staged files (keys) to their paths under the root (values)."""
        assert self.staging is not None, "prepare() first"
        for staged, relative in targets.items():
            target = self.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / staged, target)

    def write_manifest(self, payload: bytes) -> Path:
        """Write the manifest under a temporary name and rename it: the run's last step."""
        assert self.staging is not None, "prepare() first"
        temporary = self.staging / MANIFEST_NAME
        temporary.write_bytes(payload)
        target = self.root / MANIFEST_NAME
        os.replace(temporary, target)
        return target

    def discard(self) -> None:
        """Remove the staging folder, and the output folder and its parents too where
        this run created them and nothing was published into them."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        remove_empty(self._created)
