"""Streaming Parquet: one writer per table, fixed-size row groups.

Row groups are cut at a fixed number of rows rather than one per chunk, so the
file's bytes depend only on its rows: the same seed gives the same file whatever
`--chunk-size` or `--workers` was. Rows wait in memory only until a row group fills.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 131_072
# zstd level 1: DESIGN.md section 7 measured pyarrow at 8-10M event rows/s per core with it.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


class ParquetTableWriter:
    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int = ROW_GROUP_ROWS):
        self.path = Path(path)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.rows_written = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(
            self.path,
            schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            # Statistics and the Arrow schema let DuckDB and Polars prune and type columns.
            write_statistics=True,
            store_schema=True,
        )

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table.cast(self.schema))
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._pending:
            return
        # One contiguous chunk per column: the column writer's page and dictionary
        # decisions then see the same arrays whatever the chunking was.
        combined = pa.concat_tables(self._pending).combine_chunks()
        full_rows = (
            combined.num_rows
            if final
            else (combined.num_rows // self.row_group_rows * self.row_group_rows)
        )
        for start in range(0, full_rows, self.row_group_rows):
            group = combined.slice(start, min(self.row_group_rows, full_rows - start))
            self._writer.write_table(group, row_group_size=self.row_group_rows)
            self.rows_written += group.num_rows
        rest = combined.slice(full_rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        self._flush(final=True)
        self._writer.close()
