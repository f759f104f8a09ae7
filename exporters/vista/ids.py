"""Internal entry numbers (IENs), deterministic and independent of chunking.

- DFN (PATIENT #2) = patients.INDEX + 1.
- LRDFN (LAB DATA #63) = DFN: one lab record per patient with results.
- Every other file: IEN = DFN * IEN_BLOCK + n, where n = 1, 2, ... numbers the patient's
  entries of that file in time order (ties keep the tables' row order). Each patient owns
  the block [DFN * IEN_BLOCK + 1, DFN * IEN_BLOCK + IEN_BLOCK - 1], so a chunk never needs
  to know how many rows earlier chunks had. File headers (piece 3, "most recently assigned
  IEN") hold the end of the last patient's block, so FileMan's next new entry lands above
  every exported one.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

IEN_BLOCK = 100_000


def dfn_by_patient_id(patients: pl.DataFrame) -> pl.DataFrame:
    """PATIENT id -> dfn, for joining onto clinical tables."""
    return patients.select(pl.col("Id").alias("PATIENT"), (pl.col("INDEX") + 1).alias("dfn"))


def with_dfn(table: pl.DataFrame, dfns: pl.DataFrame) -> pl.DataFrame:
    """The table with a dfn column (inner join: rows of unknown patients are dropped)."""
    return table.join(dfns, on="PATIENT", how="inner", maintain_order="left")


def number_per_patient(
    table: pl.DataFrame, order_by: Sequence[str], file_name: str
) -> pl.DataFrame:
    """Sort by dfn then order_by (stable) and add n (1-based per patient) and ien."""
    ordered = table.sort(["dfn", *order_by], maintain_order=True, nulls_last=True)
    # Rows are sorted by dfn: n = position - position of the patient's first row + 1
    # (a running max of group starts; no hashing by patient).
    position = pl.int_range(pl.len(), dtype=pl.Int64)
    first = pl.when(pl.col("dfn").diff().fill_null(1) != 0).then(position).otherwise(0)
    numbered = ordered.with_columns(n=position - first.cum_max() + 1)
    if numbered.height and numbered.get_column("n").max() >= IEN_BLOCK:
        raise ValueError(
            f"a patient has {IEN_BLOCK - 1}+ {file_name} entries, more than an IEN block holds; "
            "raise cohortforge.exporters.vista.ids.IEN_BLOCK"
        )
    return numbered.with_columns(ien=pl.col("dfn") * IEN_BLOCK + pl.col("n"))


def block_end(patient_count: int) -> int:
    """The highest IEN any file can use in a run of patient_count patients."""
    return patient_count * IEN_BLOCK + IEN_BLOCK - 1
