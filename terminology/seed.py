"""Read and validate the seed vocabularies shipped in terminology/seed/.

The seed is small (a few thousand rows), so it is read with the csv module: that gives
exact line numbers for every complaint, which a bulk reader would not.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .errors import TerminologyError
from .systems import canonical_system

MAP_FILE = "snomed_icd10cm_map.csv"
REQUIRED_COLUMNS = ("system", "code", "display")
# Attributes some systems carry; every concept row has them, empty where they do not apply.
ATTRIBUTE_COLUMNS = ("ucum_unit", "loinc_class", "tty")
MAP_COLUMNS = ("snomed_code", "icd10cm_code")

CONCEPT_SCHEMA = pa.schema(
    [("system", pa.string()), ("code", pa.string()), ("display", pa.string()),
     *((name, pa.string()) for name in ATTRIBUTE_COLUMNS), ("source", pa.string())]
)
MAP_SCHEMA = pa.schema([("snomed_code", pa.string()), ("icd10cm_code", pa.string()),
                        ("map_advice", pa.string())])


@dataclass(frozen=True)
class SeedData:
    concepts: pa.Table
    """One row per (system, code), sorted by system then code; schema CONCEPT_SCHEMA."""
    icd10cm_map: pa.Table
    """SNOMED CT condition code -> ICD-10-CM target; schema MAP_SCHEMA."""
    files: tuple[Path, ...]


def seed_dir() -> Path:
    """The seed folder inside the installed package (package-data in pyproject)."""
    return Path(__file__).resolve().parent / "seed"


def _rows(path: Path, required: tuple[str, ...]):
    """Yield (line number, row dict) for a header-first CSV, checking its shape."""
    if not path.is_file():
        raise TerminologyError(f"{path}: file not found; "
                               "restore it from the package or fix the path")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise TerminologyError(f"{path}:1: file is empty; it needs a header row "
                                       f"with {', '.join(required)}")
            header = [name.strip() for name in header]
            missing = [name for name in required if name not in header]
            if missing:
                raise TerminologyError(f"{path}:1: header lacks column(s) {', '.join(missing)}; "
                                       f"the header must name {', '.join(required)}")
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise TerminologyError(
                        f"{path}:{line}: expected {len(header)} fields, found {len(row)}; "
                        "quote fields that contain commas"
                    )
                yield line, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise TerminologyError(f"{path}:{reader.line_num}: malformed CSV ({exc}); "
                                   "fix the quoting on that line") from None


def _required_value(path: Path, line: int, row: dict[str, str], column: str) -> str:
    value = row[column]
    if not value or value != value.strip():
        problem = "is empty" if not value.strip() else "has leading or trailing spaces"
        raise TerminologyError(f"{path}:{line}: {column} {problem}; give every row a {column}")
    return value


def read_concepts(paths: list[Path]) -> tuple[pa.Table, dict[tuple[str, str], tuple[Path, int]]]:
    """Concept rows of seed-format CSVs, deduplicated; conflicting displays are errors."""
    seen: dict[tuple[str, str], tuple[str, Path, int]] = {}
    columns: dict[str, list[str | None]] = {name: [] for name in CONCEPT_SCHEMA.names}
    for path in paths:
        for line, row in _rows(path, REQUIRED_COLUMNS):
            try:
                system = canonical_system(row["system"])
            except TerminologyError as exc:
                raise TerminologyError(f"{path}:{line}: {exc}") from None
            code = _required_value(path, line, row, "code")
            display = _required_value(path, line, row, "display")
            key = (system, code)
            if key in seen:
                first_display, first_path, first_line = seen[key]
                if first_display != display:
                    raise TerminologyError(
                        f"{path}:{line}: {system} {code} has display {display!r} but "
                        f"{first_path.name}:{first_line} gives {first_display!r}; keep one display"
                    )
                continue  # an identical repeat says nothing new
            seen[key] = (display, path, line)
            columns["system"].append(system)
            columns["code"].append(code)
            columns["display"].append(display)
            for name in (*ATTRIBUTE_COLUMNS, "source"):
                columns[name].append(row.get(name) or None)
    table = pa.table(columns, schema=CONCEPT_SCHEMA).sort_by([("system", "ascending"),
                                                              ("code", "ascending")])
    return table, {key: (path, line) for key, (_, path, line) in seen.items()}


def _read_map(path: Path, known: dict[tuple[str, str], tuple[Path, int]]) -> pa.Table:
    targets: dict[str, tuple[str, str | None, int]] = {}
    for line, row in _rows(path, MAP_COLUMNS):
        snomed = _required_value(path, line, row, "snomed_code")
        icd = _required_value(path, line, row, "icd10cm_code")
        if ("SNOMED CT", snomed) not in known:
            raise TerminologyError(f"{path}:{line}: SNOMED CT {snomed} is not in the seed; "
                                   "add it to snomed_ct.csv or drop the map row")
        if ("ICD-10-CM", icd) not in known:
            raise TerminologyError(f"{path}:{line}: ICD-10-CM {icd} is not in the seed; "
                                   "add it to icd10cm.csv or fix the target")
        if snomed in targets and targets[snomed][0] != icd:
            raise TerminologyError(
                f"{path}:{line}: SNOMED CT {snomed} maps to {icd} but line {targets[snomed][2]} "
                f"maps it to {targets[snomed][0]}; keep one default target"
            )
        targets[snomed] = (icd, row.get("map_advice") or None, line)
    ordered = sorted(targets.items())
    return pa.table(
        {"snomed_code": [s for s, _ in ordered], "icd10cm_code": [t[0] for _, t in ordered],
         "map_advice": [t[1] for _, t in ordered]},
        schema=MAP_SCHEMA,
    )


def read_seed(directory: Path | None = None) -> SeedData:
    """Read every concept CSV and the SNOMED CT -> ICD-10-CM map in a seed folder."""
    folder = Path(directory) if directory is not None else seed_dir()
    if not folder.is_dir():
        raise TerminologyError(f"{folder}: seed folder not found; reinstall cohortforge or "
                               "point to a folder of seed CSVs")
    concept_files = sorted(p for p in folder.glob("*.csv") if p.name != MAP_FILE)
    if not concept_files:
        raise TerminologyError(f"{folder}: no seed CSVs found; the folder needs files with "
                               "columns system, code, display")
    concepts, known = read_concepts(concept_files)
    icd_map = _read_map(folder / MAP_FILE, known)
    return SeedData(concepts=concepts, icd10cm_map=icd_map,
                    files=(*concept_files, folder / MAP_FILE))
