"""Synthea's CSV text rules (CSVExporter, see shared reference synthea_csv_columns.md):
fields never quoted; free text with `\\r\\n`, `\\r`, `\\n` and `,` replaced by a space and
trimmed; dates as yyyy-MM-dd and timestamps as yyyy-MM-ddTHH:mm:ssZ in UTC."""

import polars as pl

DATE_FORMAT = "%Y-%m-%d"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SEPARATORS = r"\r\n|[\r\n,]"


def cleaned(text: pl.Expr) -> pl.Expr:
    """Line breaks and commas replaced, ends stripped, as Synthea's clean() does."""
    return text.str.replace_all(_SEPARATORS, " ").str.strip_chars()
