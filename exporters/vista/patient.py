"""PATIENT #2: ^DPT(DFN,...) plus its "B" (name) and "SSN" cross-references.

Layout (WorldVistA/VistA-M `Packages/Registration/Routines/VADPT1.m`, DEM and OPD tags):
^DPT(DFN,0) pieces 1 NAME, 2 SEX, 3 DATE OF BIRTH, 9 SSN; ^DPT(DFN,.11) pieces 1 street,
4 city, 6 zip; ^DPT(DFN,.35) piece 1 DATE OF DEATH; ^DPT(DFN,"LR") = LRDFN.
"B" index: `^DPT("B",$E(NAME,1,30),DFN)=""` (DVBAXA.m:86); "SSN" index checked by DG53P593.m.
"""

from __future__ import annotations

import polars as pl

from .mstring import fm_date, m_subscript, quote_m_string, sanitize_text
from .zwr import node_frame, node_line, pieces

NAME_MAX = 30  # NAME is 3-30 characters; "B" subscripts are $E(NAME,1,30)


def _name_part(column: str) -> pl.Expr:
    # FileMan names hold upper-case letters, spaces, hyphens and apostrophes only.
    cleaned = sanitize_text(pl.col(column)).str.to_uppercase()
    return cleaned.str.replace_all(r"[^A-Z '\-]", "").str.replace_all(r" +", " ").str.strip_chars()


def fileman_name() -> pl.Expr:
    """`LAST,FIRST MIDDLE SUFFIX`, upper case, at most 30 characters."""
    given = pl.concat_str(
        [_name_part("FIRST"), _name_part("MIDDLE"), _name_part("SUFFIX")],
        separator=" ",
        ignore_nulls=True,
    ).str.strip_chars()
    full = pl.concat_str([_name_part("LAST").fill_null(""), pl.lit(","), given.fill_null("")])
    return full.str.slice(0, NAME_MAX).str.strip_chars_end(" ")


def patient_nodes(patients: pl.DataFrame, lab_dfns: pl.Series) -> list[pl.DataFrame]:
    """Node frames for ^DPT: entries (0, .11, .35, "LR") and the "B"/"SSN" indexes."""
    ssn_digits = pl.col("SSN").str.replace_all("-", "", literal=True)
    frame = patients.with_columns(
        dfn=pl.col("INDEX") + 1,
        name=fileman_name(),
        ssn=pl.when(ssn_digits.str.contains(r"^[0-9]{9}$")).then(ssn_digits),
        street=sanitize_text(pl.col("ADDRESS")),
        city=sanitize_text(pl.col("CITY")),
        zip=sanitize_text(pl.col("ZIP")),
    ).with_columns(dfn_text=pl.col("dfn").cast(pl.String))
    sex = pl.when(pl.col("GENDER").is_in(["M", "F"])).then(pl.col("GENDER"))
    zero = pieces([pl.col("name"), sex, fm_date(pl.col("BIRTHDATE")),
                   None, None, None, None, None, pl.col("ssn")])
    dfn = pl.col("dfn_text")
    address = pieces([pl.col("street"), None, None, pl.col("city"), None, pl.col("zip")])
    has_address = (address.fill_null("") != "")
    dead = frame.filter(pl.col("DEATHDATE").is_not_null())
    with_labs = frame.filter(pl.col("dfn").is_in(lab_dfns.implode()))
    with_ssn = frame.filter(pl.col("ssn").is_not_null())
    seq = pl.lit(0)
    return [
        node_frame(frame, 1, node_line("^DPT(", [dfn, "0"], zero), seq),
        node_frame(frame.filter(has_address), 2,
                   node_line("^DPT(", [dfn, ".11"], address), seq),
        node_frame(dead, 3, node_line("^DPT(", [dfn, ".35"], fm_date(pl.col("DEATHDATE"))), seq),
        node_frame(with_labs, 4, node_line("^DPT(", [dfn, '"LR"'], dfn), seq),
        node_frame(frame, 5, node_line(
            "^DPT(", ['"B"', quote_m_string(pl.col("name")), dfn], pl.lit("")), seq),
        node_frame(with_ssn, 6, node_line(
            "^DPT(", ['"SSN"', m_subscript(pl.col("ssn")), dfn], pl.lit("")), seq),
    ]
