"""PRESCRIPTION #52: ^PSRX(IEN,...), one entry per medications row.

Pieces (VistA-M `Packages/Outpatient Pharmacy/Routines/PSOORNE2.m` lines 30-108,
PSO52API.m:26 and 59-60): node 0: 1 RX #, 2 PATIENT (DFN), 6 DRUG, 9 # OF REFILLS,
13 ISSUE DATE; node 2: 2 FILL DATE, 6 EXPIRATION DATE. "B" index on RX #.

DRUG points into DRUG #50, whose IENs belong to the target system: the piece holds the
drug's external value (a generic name, upper case, at most 40 characters like #50's .01),
to be resolved on load. RX # is the entry's IEN, so it is unique and stable.
"""

from __future__ import annotations

import polars as pl

from .mstring import fm_date, m_subscript, sanitize_text
from .zwr import node_frame, node_line, pieces

DRUG_NAME_MAX = 40


def prescription_nodes(prescriptions: pl.DataFrame) -> list[pl.DataFrame]:
    """prescriptions: numbered medications (dfn, n, ien, START, STOP, DESCRIPTION, DISPENSES)."""
    rx_number = pl.col("ien").cast(pl.String)
    drug = sanitize_text(pl.col("DESCRIPTION")).str.to_uppercase().str.slice(0, DRUG_NAME_MAX)
    refills = (pl.col("DISPENSES").fill_null(1) - 1).clip(lower_bound=0).cast(pl.String)
    issued = fm_date(pl.col("START"))
    zero = pieces([rx_number, pl.col("dfn").cast(pl.String), None, None, None,
                   drug.str.strip_chars_end(" "), None, None, refills,
                   None, None, None, issued])
    two = pieces([None, issued, None, None, None, fm_date(pl.col("STOP"))])
    ien = pl.col("ien").cast(pl.String)
    seq = pl.col("n")
    return [
        node_frame(prescriptions, 60, node_line("^PSRX(", [ien, "0"], zero), seq),
        node_frame(prescriptions, 61, node_line("^PSRX(", [ien, "2"], two), seq),
        node_frame(prescriptions, 62, node_line("^PSRX(", ['"B"', m_subscript(rx_number), ien],
                                                pl.lit("")), seq),
    ]
