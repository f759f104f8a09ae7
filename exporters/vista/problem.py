"""PROBLEM #9000011 (^AUPNPROB): one entry per condition row.

Layout (VistA-M `Packages/Problem List/Routines/GMPLUTL2.m` lines 72-89, GMPLEDT3.m 36-40):
node 0 pieces 1 DIAGNOSIS, 2 PATIENT NAME (DFN), 3 DATE LAST MODIFIED, 8 DATE ENTERED,
12 STATUS (A active / I inactive), 13 DATE OF ONSET; node 1 pieces 2 CONDITION
(P permanent), 7 DATE RESOLVED; node 800 piece 1 SNOMED CT CONCEPT CODE.
"""

from __future__ import annotations

import polars as pl

from .mstring import fm_date, sanitize_text
from .zwr import node_frame, node_line, pieces


def problem_nodes(problems: pl.DataFrame) -> list[pl.DataFrame]:
    """problems: numbered conditions (dfn, n, ien, START, STOP, CODE, icd)."""
    onset = fm_date(pl.col("START"))
    resolved = fm_date(pl.col("STOP"))
    status = pl.when(pl.col("STOP").is_null()).then(pl.lit("A")).otherwise(pl.lit("I"))
    zero = pieces([pl.col("icd"), pl.col("dfn").cast(pl.String), resolved.fill_null(onset),
                   None, None, None, None, onset, None, None, None, status, onset])
    one = pieces([None, pl.lit("P"), None, None, None, None, resolved])
    snomed = sanitize_text(pl.col("CODE"))
    ien = pl.col("ien").cast(pl.String)
    seq = pl.col("n")
    return [
        node_frame(problems, 30, node_line("^AUPNPROB(", [ien, "0"], zero), seq),
        node_frame(problems, 31, node_line("^AUPNPROB(", [ien, "1"], one), seq),
        node_frame(problems, 32, node_line("^AUPNPROB(", [ien, "800"], snomed), seq),
    ]
