"""Streaming Parquet: one writer per table, fixed-size row groups.

Row groups are cut at a fixed number of rows rather than one per chunk, so the
file's bytes depend only on its rows: the same seed gives the same file whatever
`--chunk-size` or `--workers` was. Rows wait in memory only until a row group fills.

The encoder settings are chosen per column (`column_options`). Against pyarrow's
defaults (dictionary and statistics on every column) and concatenating every pending
table, `python -m benchmarks.bench_parquet` (20,000 general_population patients, 3.8M
rows) went from 1.02 to 0.71 CPU seconds and 59.6 to 50.0 MB; a 1M-patient run's
writer from 66.8 to 37.6 s of CPU, 2.94 to 2.49 GB of Parquet. The numbers behind
each choice are in the comments below.

Dictionary columns: the clinical tables hand over their codes, descriptions, units,
categories and ORGANIZATION/PROVIDER/PAYER ids as Arrow dictionary arrays whose
dictionary is a run-wide catalog, the same in every chunk (engine/clinical_tables.py).
Arrow's column writer then takes the dictionary as the row group's dictionary page and
writes the indices as they are (its WriteArrowDictionary path) instead of hashing and comparing
every string; it would fall back to hashing (and PLAIN) if the dictionary changed within
a column chunk, which cannot happen here since each row group is one array per column
over that one catalog. Readers still see plain strings: the stored Arrow schema is the
plain one (`reader_schema`). `python -m benchmarks.bench_parquet`: 0.733 -> 0.562-0.585
CPU s per 20,000 patients (best of 3, old and new alternating), 49.62 -> 49.69 MB (the
catalog's unused entries sit in each dictionary page).
"""

from __future__ import annotations

import base64
from collections import deque
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .arrow_types import is_text

ROW_GROUP_ROWS = 131_072
# zstd level 1: it is ~40% of the write's CPU, but lz4 and snappy, though 15-30% cheaper
# on the UUID columns, wrote them twice as large (observations.ENCOUNTER: 7.5 MB zstd,
# 15.5 MB lz4, 18.5 MB snappy per 20,000 patients); zstd -1 wrote 13.7 MB, level 2 cost
# 40% more CPU for a larger file.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1

# String columns written PLAIN, without a dictionary: random UUIDs and other values
# unique per row or per patient. On them the writer's dictionary attempt only hashes every
# value and, for the ids, overflows the dictionary page and falls back to PLAIN part
# way through a row group; PLAIN plus zstd is as small or smaller. Per 20,000 patients,
# dictionary -> PLAIN: observations.ENCOUNTER 89 -> 73 ms, 9.5 -> 7.5 MB;
# observations.PATIENT (sorted, ~130 repeats: zstd folds the runs) 33 -> 27 ms, same
# 0.44 MB; encounters.Id 8.5 -> 8.3 MB. Low-cardinality strings (codes, descriptions,
# units, categories, ORGANIZATION/PROVIDER/PAYER ids, the observation VALUE) keep the
# dictionary: PLAIN made them 1.5-3.5x larger (observations.CODE 0.52 -> 0.79 MB,
# CATEGORY 0.28 -> 0.98 MB).
PLAIN_STRING_COLUMNS = frozenset(
    {"Id", "PATIENT", "ENCOUNTER", "CAREPLAN", "SSN", "DRIVERS", "PASSPORT", "ADDRESS", "UDI"}
)


def _is_string(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return is_text(data_type)


def reader_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` as readers should see it: dictionary columns as their plain value type
    (large_string), without Polars' Enum field metadata. Stored as the file's Arrow
    schema, so pyarrow reads large_string (not dictionary) and Polars String (not
    Categorical), exactly as for a file written from plain strings; DuckDB reads the
    Parquet types, which are the same either way."""
    return pa.schema(
        [
            pa.field(field.name, field.type.value_type, field.nullable)
            if pa.types.is_dictionary(field.type)
            else pa.field(field.name, pa.large_string(), field.nullable, field.metadata)
            if pa.types.is_string_view(field.type)
            else field
            for field in schema
        ],
        metadata=schema.metadata,
    )


def column_options(schema: pa.Schema) -> dict[str, list[str]]:
    """ParquetWriter's per-column `use_dictionary` and `write_statistics` lists.

    Dictionary encoding: only for string columns not in PLAIN_STRING_COLUMNS. Dates,
    timestamps and numbers are written PLAIN: their values rarely repeat within a
    row group, so the dictionary overflowed and fell back while doubling the size
    (observations.DATE: 42 -> 19 ms and 4.8 -> 2.3 MB per 20,000 patients without it;
    DELTA_BINARY_PACKED was smaller again on some tables, 2.8 -> 1.8 MB for
    encounters.START, but cost 2x the CPU of PLAIN, so it is not used).

    Statistics: only for non-string columns (dates, timestamps, numbers, booleans),
    whose min/max are cheap and can prune a date or value range. String min/max is
    a byte comparison of every value (GetMinMaxBinaryHelper, ~7% of a whole run's
    CPU) and prunes nothing here: UUIDs are random, and rows are in patient order, so
    each 131,072-row group holds nearly every code. Measured on 20,000 patients, for
    every low-cardinality string column of every table, a reader could have skipped
    at most 0.1% of the rows holding a given value by string min/max (observations:
    CATEGORY, DESCRIPTION 0.1%; CODE, UNITS, TYPE 0.0%). Without them the dictionary
    columns write ~35% faster (observations.CODE 56 -> 33 ms).
    """
    strings = [field.name for field in schema if _is_string(field.type)]
    return {
        "use_dictionary": [name for name in strings if name not in PLAIN_STRING_COLUMNS],
        "write_statistics": [field.name for field in schema if field.name not in strings],
    }


class ParquetTableWriter:
    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int = ROW_GROUP_ROWS):
        self.path = Path(path)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.rows_written = 0
        # Tables (or their unwritten tails) in arrival order, holding _pending_rows rows.
        self._pending: deque[pa.Table] = deque()
        self._pending_rows = 0
        self._stored_schema = reader_schema(schema)
        self._writer = pq.ParquetWriter(
            self.path,
            schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            # The Arrow schema lets readers type columns exactly as written
            # (large_string, timestamp with time zone) whatever the encoding.
            store_schema=True,
            **column_options(schema),
        )

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if not table.schema.equals(self.schema):
            table = table.cast(self.schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.row_group_rows:
            self._write_group(self.row_group_rows)

    def _write_group(self, rows: int) -> None:
        """Write the first `rows` pending rows as one row group."""
        pieces = []
        needed = rows
        while needed:
            head = self._pending.popleft()
            if head.num_rows > needed:
                self._pending.appendleft(head.slice(needed))
                head = head.slice(0, needed)
            pieces.append(head)
            needed -= head.num_rows
        self._pending_rows -= rows
        group = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        # One contiguous array per column: the column writer's page and dictionary
        # decisions then see the same arrays whatever the chunking was. combine_chunks
        # copies only the columns of a group that spans pieces (0.02 s per 20,000
        # patients); the others are zero-copy slices. Concatenating every pending table
        # whole, as this used to, was ~6% of a 1M-patient run's CPU in a profile.
        group = group.combine_chunks()
        self._writer.write_table(group, row_group_size=rows)
        self.rows_written += rows

    def close(self) -> None:
        if self._pending_rows:
            self._write_group(self._pending_rows)
        if not self._stored_schema.equals(self.schema, check_metadata=True):
            # Replaces the dictionary-typed schema that store_schema wrote; the same
            # encoding (base64 of the IPC schema message) as pyarrow's own.
            self._writer.add_key_value_metadata(
                {
                    "ARROW:schema": base64.b64encode(
                        self._stored_schema.serialize().to_pybytes()
                    ).decode()
                }
            )
        self._writer.close()
