"""VISIT #9000010 (^AUPNVSIT) and V POV #9000010.07 (^AUPNVPOV).

VISIT ^AUPNVSIT(IEN,0) pieces (VistA-M `Packages/PCE Patient Care Encounter/Routines/
VSITFLD.m` lines 12-40, names from PXRHS01.m): 1 VISIT/ADMIT DATE&TIME, 2 DATE VISIT
CREATED, 3 TYPE, 5 PATIENT NAME (DFN: #9000001 is DINUMed to #2), 7 SERVICE CATEGORY,
9 DEPENDENT ENTRY COUNT, 18 CHECK OUT DATE&TIME; "B" index on .01.
V POV ^AUPNVPOV(IEN,0) pieces (PXKFPOV.m lines 46-63): 1 POV (ICD DIAGNOSIS), 2 PATIENT,
3 VISIT, 12 PRIMARY/SECONDARY; visit index ^AUPNVPOV("AD",VISIT,IEN).
"""

from __future__ import annotations

import polars as pl

from .mstring import fm_date, fm_datetime
from .zwr import node_frame, node_line, pieces

# TYPE (.03) set: I IHS, C CONTRACT, T TRIBAL, O OTHER, 6 638 PROGRAM, V VA (PXRHS01.m).
# The export stands for the visits of the VistA site that holds it, hence VA.
VISIT_TYPE = "V"

# SERVICE CATEGORY (.07) set (PXRHS01.m lines 14-26) for Synthea's ENCOUNTERCLASS values.
SERVICE_CATEGORY = {
    "inpatient": "H",  # HOSPITALIZATION
    "hospice": "H",
    "snf": "R",  # NURSING HOME
    "virtual": "T",  # TELECOMMUNICATIONS
}
DEFAULT_SERVICE_CATEGORY = "A"  # AMBULATORY: wellness, ambulatory, outpatient, emergency, ...


def visit_nodes(visits: pl.DataFrame, pov_counts: pl.DataFrame) -> list[pl.DataFrame]:
    """visits: numbered encounters (dfn, n, ien, START, STOP, ENCOUNTERCLASS);
    pov_counts: visit_ien, pov_count (the V POV entries pointing at each visit)."""
    frame = visits.join(pov_counts, left_on="ien", right_on="visit_ien", how="left",
                        maintain_order="left")
    category = pl.col("ENCOUNTERCLASS").replace_strict(
        SERVICE_CATEGORY, default=DEFAULT_SERVICE_CATEGORY, return_dtype=pl.String)
    start = fm_datetime(pl.col("START"))
    zero = pieces([
        start, fm_date(pl.col("START")), pl.lit(VISIT_TYPE), None, pl.col("dfn").cast(pl.String),
        None, category, None, pl.col("pov_count").fill_null(0).cast(pl.String),
        None, None, None, None, None, None, None, None, fm_datetime(pl.col("STOP")),
    ])
    ien = pl.col("ien").cast(pl.String)
    seq = pl.col("n")
    return [
        node_frame(frame, 10, node_line("^AUPNVSIT(", [ien, "0"], zero), seq),
        node_frame(frame, 11, node_line("^AUPNVSIT(", ['"B"', start, ien], pl.lit("")), seq),
    ]


def pov_nodes(povs: pl.DataFrame) -> list[pl.DataFrame]:
    """povs: numbered diagnoses at visits (dfn, n, ien, visit_ien, icd)."""
    first_at_visit = pl.col("n") == pl.col("n").min().over("visit_ien")
    frame = povs.with_columns(primary=pl.when(first_at_visit).then(pl.lit("P")).otherwise(
        pl.lit("S")))
    visit = pl.col("visit_ien").cast(pl.String)
    zero = pieces([pl.col("icd"), pl.col("dfn").cast(pl.String), visit,
                   None, None, None, None, None, None, None, None, pl.col("primary")])
    ien = pl.col("ien").cast(pl.String)
    seq = pl.col("n")
    return [
        node_frame(frame, 20, node_line("^AUPNVPOV(", [ien, "0"], zero), seq),
        node_frame(frame, 21, node_line("^AUPNVPOV(", ['"AD"', visit, ien], pl.lit("")), seq),
    ]
