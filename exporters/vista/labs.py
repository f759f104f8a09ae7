"""LAB DATA #63: ^LR(LRDFN,...) chemistry results, and the patients' LRDFNs.

VistA-M `Packages/Lab Service/Routines/LRDPA.m:101` creates a patient's lab record:
^LR(LRDFN,0) = LRDFN ^ parent file (2 = PATIENT) ^ DFN, ^LR("B",LRDFN,LRDFN)="", and the
pointer back ^DPT(DFN,"LR")=LRDFN. Results (LRPXAPI.m lines 20-28, 94-96):
^LR(LRDFN,"CH",LRIDT,0) piece 1 = DATE/TIME SPECIMEN TAKEN and
^LR(LRDFN,"CH",LRIDT,<data name #>) = result, with LRIDT = 9999999 - that date/time
(LRVER1.m:12).

Data name numbers come from the target system's LABORATORY TEST file #60; this export uses
the LOINC code's digits without the hyphen (2339-0 -> 23390), a synthetic but stable
numbering. LRDFN = DFN (see ids.py).
"""

from __future__ import annotations

import polars as pl

from .ids import number_per_patient
from .mstring import fm_datetime, fm_inverse_datetime, sanitize_text
from .zwr import node_frame, node_line

LAB_CATEGORY = "laboratory"
_LOINC = r"^[1-9][0-9]*-[0-9]$"


def lab_results(observations: pl.DataFrame) -> pl.DataFrame:
    """Laboratory rows with a LOINC code, one per (patient, time, test): the last one wins,
    as a re-entered result overwrites the node in VistA. Numbered per patient in time order."""
    results = (
        observations.filter((pl.col("CATEGORY") == LAB_CATEGORY)
                            & pl.col("CODE").str.contains(_LOINC))
        .with_columns(data_name=pl.col("CODE").str.replace("-", "", literal=True))
        .unique(["dfn", "DATE", "data_name"], keep="last", maintain_order=True)
    )
    return number_per_patient(results, ["DATE", "row"], "LR")


def _numeric_result() -> pl.Expr:
    # Numeric VALUEs are printed floats ("94.0", "0.79"): digits only, nothing to sanitize.
    return pl.col("VALUE").str.strip_suffix(".0")


def _text_result() -> pl.Expr:
    return sanitize_text(pl.col("VALUE"))


def lab_nodes(results: pl.DataFrame) -> tuple[list[pl.DataFrame], int]:
    """results: from lab_results, with dfn and row; returns node frames and the number of
    LAB DATA entries (patients with results)."""
    frame = results.with_columns(
        lrdfn=pl.col("dfn").cast(pl.String), lridt=fm_inverse_datetime(pl.col("DATE")))
    specimens = frame.unique(["dfn", "DATE"], keep="first", maintain_order=True)
    patients = frame.unique(["dfn"], keep="first", maintain_order=True)
    lrdfn = pl.col("lrdfn")
    lridt = pl.col("lridt")
    header = pl.concat_str([lrdfn, pl.lit("^2^"), pl.col("dfn").cast(pl.String)])
    zero_line = node_line("^LR(", [lrdfn, "0"], header)
    seq = pl.col("n")
    nodes = [
        node_frame(patients, 50, zero_line, pl.lit(0)),
        node_frame(patients, 51, node_line("^LR(", ['"B"', lrdfn, lrdfn], pl.lit("")),
                   pl.lit(0)),
        node_frame(specimens, 52, node_line("^LR(", [lrdfn, '"CH"', lridt, "0"],
                                            fm_datetime(pl.col("DATE"))), seq),
    ]
    # Numeric and text results are formatted apart (sanitizing only the few text ones);
    # the sort key puts them back in order.
    is_numeric = pl.col("TYPE") == "numeric"
    for rows, result in ((frame.filter(is_numeric), _numeric_result()),
                         (frame.filter(~is_numeric), _text_result())):
        result_line = node_line("^LR(", [lrdfn, '"CH"', lridt, pl.col("data_name")], result)
        nodes.append(node_frame(rows, 53, result_line, seq))
    return nodes, patients.height
