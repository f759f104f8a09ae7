"""Synthea's CSV rules (exporters/csv_rules.py), applied to a whole Arrow table at once.

Two writers give the same bytes: Polars' (`polars_csv_body`, the reference) and Arrow's
over columns prepared by exporters/csv_columns.py, which `csv_body` uses whenever it
can. Per 20,000 general_population patients (3.8M rows, `python -m benchmarks.bench_csv`,
medians of 5): 1.68 CPU seconds with Polars' writer, 0.86 with Arrow's; the cost was
Polars formatting each timestamp through strftime, its regex cleaning of every text row
(UUIDs included), and writing string views.
"""

import io

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from .csv_columns import csv_text_column
from .csv_rules import DATE_FORMAT, TIMESTAMP_FORMAT, cleaned

# Arrow's batches: larger ones than its default 1,024 rows cost less per row.
_ARROW_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none", batch_size=8_192)


def clean_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column of `frame` cleaned (`cleaned`)."""
    return frame.with_columns(cleaned(pl.col(pl.Utf8)))


def _clean_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text column as clean_text leaves it.

    Enum columns (the clinical tables' codes, descriptions and ids, which arrive as Arrow
    dictionary arrays, see engine/clinical_tables.py) are cleaned through their
    categories: a column whose categories are all clean already is written as it is (the
    CSV writer prints each row's category), so neither a string per row nor the regex
    pass over every row is needed; any other dictionary column is cast to plain strings
    and cleaned row by row. Same bytes either way."""
    dirty = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Categorical)
        or (isinstance(dtype, pl.Enum) and not _is_clean(dtype.categories))
    ]
    return clean_text(frame.with_columns(pl.col(dirty).cast(pl.Utf8)))


def _is_clean(values: pl.Series) -> bool:
    return bool(values.to_frame().select((cleaned(pl.first()) == pl.first()).all()).item())


def csv_header(schema: pa.Schema) -> bytes:
    return (",".join(schema.names) + "\n").encode("utf-8")


def csv_body(table: pa.Table) -> bytes:
    """The rows of `table` as Synthea-style CSV, without the header."""
    columns = []
    for column in table.columns:
        text = csv_text_column(column.combine_chunks())
        if text is None:
            return polars_csv_body(table)
        columns.append(text)
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.table(columns, names=table.column_names), buffer, _ARROW_OPTIONS)
    return buffer.getvalue()


def polars_csv_body(table: pa.Table) -> bytes:
    """csv_body by Polars' CSV writer: any table, the rules' reference."""
    frame = _clean_strings(pl.from_arrow(table))
    # Written as bytes into a buffer: returning a str and encoding it cost a third more
    # (500,000 observation rows: 0.23-0.26 s against 0.14-0.16 s CPU, same bytes).
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        quote_style="never",
        date_format=DATE_FORMAT,
        datetime_format=TIMESTAMP_FORMAT,
        line_terminator="\n",
    )
    return buffer.getvalue()
