"""A folder's files replaced as a whole: the new ones are written into a staging folder
inside it and moved into place only when all of them are written, so a failure (a full
disk, an error while plotting) leaves the previous files as they were."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .created_folders import missing_folders, remove_empty
from .disk_space import disk_full_as_error
from .errors import CohortforgeError


@contextmanager
def replaced_files(folder: Path, clear: Callable[[Path], None], what: str) -> Iterator[Path]:
    """Yield an empty staging folder inside `folder`. When the block succeeds, `clear`
    removes the old files from `folder` and the staged ones move in; whatever happens,
    the staging folder goes, and so do `folder` and its parents where this created them
    and they are empty.
    `what` names the files in messages ("the report")."""
    created = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    except OSError as error:
        raise CohortforgeError(
            f"cannot write {what} into {folder}: {error.strerror or error}; "
            "make the output directory writable"
        ) from error
    try:
        with disk_full_as_error(
            folder,
            f"{what} was not written and the previous one is untouched",
            "free some space and run the command again",
        ):
            yield staging
        clear(folder)
        for path in sorted(staging.iterdir()):
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        remove_empty(created)
