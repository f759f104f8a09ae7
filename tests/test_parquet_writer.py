"""ParquetTableWriter: what readers see, bytes independent of chunking, per-column policy."""

from __future__ import annotations

import datetime as dt
import itertools

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from cohortforge.exporters.parquet_writer import ParquetTableWriter, column_options

ROWS = 5_000
GROUP = 1_024


def sample_table(rows: int = ROWS) -> pa.Table:
    """The column kinds of the Synthea tables: UUIDs, sorted patient ids, codes with
    nulls, tz-aware timestamps, dates, all-null doubles, ints, booleans."""
    rng = np.random.default_rng(3)
    uuids = np.array([f"{v:032x}" for v in rng.integers(0, 2**62, rows) * 3], dtype=object)
    patients = np.repeat(uuids[: rows // 50], 50)[:rows]
    codes = np.array(["8302-2", "29463-7", "39156-5", "72514-3"], dtype=object)
    code = codes[rng.integers(0, 4, rows)]
    units = np.where(rng.random(rows) < 0.1, None, code)
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "Id": pa.array(uuids, pa.large_string()),
            "DATE": pa.array(
                [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 10**7, rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "BIRTHDATE": pa.array(rng.integers(-20_000, 20_000, rows), pa.int32()).cast(
                pa.date32()
            ),
            "PATIENT": pa.array(patients, pa.large_string()),
            "CODE": pa.array(code, pa.large_string()),
            "UNITS": pa.array(units, pa.large_string()),
            "VALUE": pa.array(rng.normal(100, 20, rows).round(1).astype(str), pa.large_string()),
            "BASE_COST": pa.nulls(rows, pa.float64()),
            "INCOME": pa.array(rng.integers(0, 10**6, rows), pa.int64()),
            "FLAG": pa.array(rng.random(rows) < 0.5),
        }
    )


# The dictionary of CODE as the clinical tables carry it (engine/clinical_tables.py): a
# run-wide catalog, the same in every piece, in catalog order, with values no row uses.
CODES = pa.array(["39156-5", "unused-1", "8302-2", "72514-3", "29463-7", "unused-2"])


def dictionary_table(table: pa.Table) -> pa.Table:
    """`table` as the clinical tables hand theirs over (ChunkTables.synthea_tables):
    CODE and UNITS as Polars exports Enum columns, dictionary arrays over a fixed
    catalog (uint8 indices, ordered, Polars' field metadata); Id, PATIENT and VALUE as
    string_view."""
    for name in ("Id", "PATIENT", "VALUE"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table[name].cast(pa.string_view()))
    for name in ("CODE", "UNITS"):
        values = table[name].combine_chunks()
        indices = pc.index_in(values, value_set=CODES).cast(pa.uint8())
        column = pa.DictionaryArray.from_arrays(
            indices, CODES.cast(pa.large_string()), ordered=True
        )
        field = pa.field(name, column.type, metadata={"_PL_ENUM_VALUES2": "catalog"})
        table = table.set_column(table.schema.get_field_index(name), field, column)
    return table


def reader_view_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every large_string as string_view."""
    return pa.schema(
        [f.with_type(pa.string_view()) if f.type == pa.large_string() else f for f in schema]
    )


def write(path, pieces: list[pa.Table], schema: pa.Schema) -> bytes:
    writer = ParquetTableWriter(path, schema, row_group_rows=GROUP)
    for piece in pieces:
        writer.write(piece)
    writer.close()
    assert writer.rows_written == sum(p.num_rows for p in pieces)
    return path.read_bytes()


def split(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    bounds = [0, *cuts, table.num_rows]
    return [table.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]


def test_readers_see_what_a_default_writer_would_have_written(tmp_path):
    """pyarrow, Polars and DuckDB return the same columns, types and values as from
    pyarrow's defaults (dictionary and statistics on every column)."""
    table = sample_table()
    ours = tmp_path / "ours.parquet"
    reference = tmp_path / "reference.parquet"
    write(ours, split(table, [700, 3000]), table.schema)
    pq.write_table(table, reference, row_group_size=GROUP, compression="zstd")

    ours_arrow, reference_arrow = pq.read_table(ours), pq.read_table(reference)
    assert ours_arrow.schema.equals(reference_arrow.schema, check_metadata=True)
    assert ours_arrow.schema.equals(table.schema)
    assert ours_arrow.equals(reference_arrow)
    assert not any(pa.types.is_dictionary(f.type) for f in ours_arrow.schema)

    ours_polars = pl.read_parquet(ours)
    assert ours_polars.schema["Id"] == pl.String and ours_polars.schema["CODE"] == pl.String
    assert_frame_equal(ours_polars, pl.read_parquet(reference))
    assert_frame_equal(pl.scan_parquet(ours).collect(), pl.read_parquet(reference))

    con = duckdb.connect()
    describe = "describe select * from read_parquet('{}')"
    assert (
        con.execute(describe.format(ours)).fetchall()
        == con.execute(describe.format(reference)).fetchall()
    )
    for a, b in ((ours, reference), (reference, ours)):
        query = f"select count(*) from (from '{a}' except all from '{b}')"
        assert con.execute(query).fetchone() == (0,)
    filtered = "select count(*) from '{}' where CODE = '8302-2' and DATE > '2005-01-01'"
    assert (
        con.execute(filtered.format(ours)).fetchone()
        == con.execute(filtered.format(reference)).fetchone()
    )


def test_dictionary_columns_read_as_plain_strings(tmp_path):
    """Dictionary and string_view pieces (the clinical tables') read back in pyarrow,
    Polars and DuckDB exactly as plain large_string ones, with the same stored schema
    and the same bytes."""
    table = sample_table()
    coded = dictionary_table(table)
    assert pa.types.is_dictionary(coded.schema.field("CODE").type)
    assert pa.types.is_string_view(coded.schema.field("PATIENT").type)
    ours = tmp_path / "ours.parquet"
    plain = tmp_path / "plain.parquet"
    write(ours, split(coded, [700, 3000]), coded.schema)
    write(plain, [table], table.schema)

    ours_arrow = pq.read_table(ours)
    assert ours_arrow.schema.equals(table.schema, check_metadata=True)
    assert ours_arrow.schema.field("CODE").type == pa.large_string()
    assert ours_arrow.equals(table)
    assert pq.ParquetFile(ours).schema_arrow.equals(pq.ParquetFile(plain).schema_arrow)
    assert pq.ParquetFile(ours).metadata.metadata == pq.ParquetFile(plain).metadata.metadata
    views = table.cast(reader_view_schema(table.schema))
    assert write(tmp_path / "views.parquet", [views], views.schema) == plain.read_bytes()

    ours_polars = pl.read_parquet(ours)
    assert all(ours_polars.schema[name] == pl.String for name in ("CODE", "UNITS", "PATIENT"))
    assert_frame_equal(ours_polars, pl.read_parquet(plain))
    assert_frame_equal(pl.scan_parquet(ours).collect(), pl.read_parquet(plain))

    con = duckdb.connect()
    describe = "describe select * from read_parquet('{}')"
    assert (
        con.execute(describe.format(ours)).fetchall()
        == con.execute(describe.format(plain)).fetchall()
    )
    for a, b in ((ours, plain), (plain, ours)):
        assert con.execute(
            f"select count(*) from (from '{a}' except all from '{b}')"
        ).fetchone() == (0,)


def test_dictionary_columns_are_written_from_their_dictionary(tmp_path):
    """The writer takes the given dictionary as the row group's dictionary page (Arrow's
    direct dictionary write) instead of hashing every value: the page lists the whole
    catalog in catalog order, values no row uses included."""
    coded = dictionary_table(sample_table())
    path = tmp_path / "t.parquet"
    write(path, split(coded, [700, 3000]), coded.schema)
    file = pq.ParquetFile(path, read_dictionary=["CODE"])
    for group in range(file.num_row_groups):
        code = file.read_row_group(group, columns=["CODE"])["CODE"]
        assert code.chunk(0).dictionary.to_pylist() == CODES.to_pylist()
        column = file.metadata.row_group(group).column(coded.schema.get_field_index("CODE"))
        assert column.path_in_schema == "CODE" and "RLE_DICTIONARY" in column.encodings


@pytest.mark.parametrize(
    "cuts",
    [
        [1, 2, 1023, 1024, 1025, 2049],
        list(range(97, ROWS, 97)),
        [GROUP, 2 * GROUP, 3 * GROUP],
    ],
)
def test_bytes_do_not_depend_on_how_rows_arrive(tmp_path, cuts):
    table = sample_table()
    whole = write(tmp_path / "whole.parquet", [table], table.schema)
    assert write(tmp_path / "pieces.parquet", split(table, cuts), table.schema) == whole
    metadata = pq.ParquetFile(tmp_path / "pieces.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [GROUP] * (ROWS // GROUP) + [ROWS % GROUP]


@pytest.mark.parametrize("cuts", [[1, 2, 1023, 1024, 1025, 2049], list(range(97, ROWS, 97))])
def test_dictionary_bytes_do_not_depend_on_how_rows_arrive(tmp_path, cuts):
    coded = dictionary_table(sample_table())
    whole = write(tmp_path / "whole.parquet", [coded], coded.schema)
    assert write(tmp_path / "pieces.parquet", split(coded, cuts), coded.schema) == whole


def test_bytes_do_not_depend_on_chunks_within_a_piece(tmp_path):
    """Pieces whose columns are chunked differently (as Polars may hand them over)."""
    table = sample_table()
    whole = write(tmp_path / "whole.parquet", [table], table.schema)
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=333))
    ids = table["Id"].combine_chunks()
    mixed = table.set_column(0, "Id", pa.chunked_array([ids.slice(0, 10), ids.slice(10)]))
    for pieces in ([rechunked], split(rechunked, [2000]), [mixed]):
        assert write(tmp_path / "pieces.parquet", pieces, table.schema) == whole


def test_pieces_are_cast_to_the_schema(tmp_path):
    table = sample_table(100)
    narrow = table.set_column(
        table.schema.get_field_index("CODE"), "CODE", table["CODE"].cast(pa.string())
    )
    write(tmp_path / "t.parquet", [narrow], table.schema)
    assert pq.read_table(tmp_path / "t.parquet").equals(table)


def test_empty_table_has_its_schema(tmp_path):
    table = sample_table(0)
    write(tmp_path / "t.parquet", [table], table.schema)
    assert pq.read_table(tmp_path / "t.parquet").schema.equals(table.schema)
    assert pl.read_parquet(tmp_path / "t.parquet").height == 0


def test_column_policy(tmp_path):
    """Dictionary only for low-cardinality strings; statistics only off strings."""
    table = sample_table()
    expected = {
        "use_dictionary": ["CODE", "UNITS", "VALUE"],
        "write_statistics": ["DATE", "BIRTHDATE", "BASE_COST", "INCOME", "FLAG"],
    }
    assert column_options(table.schema) == expected
    assert column_options(dictionary_table(table).schema) == expected
    write(tmp_path / "t.parquet", [table], table.schema)
    group = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for name in ("Id", "PATIENT", "DATE", "INCOME"):
        assert "RLE_DICTIONARY" not in columns[name].encodings, name
    for name in ("CODE", "UNITS", "VALUE"):
        assert "RLE_DICTIONARY" in columns[name].encodings, name
    assert columns["DATE"].statistics.min == pc.min(table["DATE"].slice(0, GROUP)).as_py()
    assert columns["INCOME"].is_stats_set and not columns["Id"].is_stats_set
