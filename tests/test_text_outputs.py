"""The run's side of the text-exporter contract: order, separators, counts, manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import orjson
import polars as pl
import pytest

from cohortforge.engine import runner
from cohortforge.engine.config import RunConfig
from cohortforge.exporters.text_export import ExportContext, TextPiece


class IndexListExporter:
    """A JSON array of patient numbers and one file per tenth patient: enough to see
    ordering, separators, per-piece files and summed counts."""

    name = "toy"
    separators: Mapping[str, bytes] = {"toy/all.json": b","}

    def begin(self, context: ExportContext) -> TextPiece:
        # Separators follow a non-empty begin piece, so it carries a first entry.
        return TextPiece({"toy/all.json": b"[-1"})

    def chunk(self, tables: Mapping[str, pl.DataFrame], context: ExportContext) -> TextPiece:
        index = tables["patients"]["INDEX"]
        encounters = tables.get("encounters")
        body = ",".join(str(i) for i in index.to_list()).encode()
        files = {"toy/all.json": body}
        for i in index.filter(index % 10 == 0).to_list():
            files[f"toy/each/{i}.txt"] = f"{i}\n".encode()
        counts = {
            "patients": index.len(),
            "encounters": 0 if encounters is None else encounters.height,
        }
        return TextPiece(files, counts)

    def end(self, context: ExportContext, counts: Mapping[str, int]) -> TextPiece:
        return TextPiece({"toy/all.json": b"]", "toy/total.txt": str(dict(counts)).encode()})


@pytest.fixture
def toy_exporter(monkeypatch):
    monkeypatch.setattr(runner, "text_exporters", lambda config: (IndexListExporter(),))


def _run(tmp_path, name, **overrides):
    config = RunConfig(
        num_records=95, scenario="general_population", seed=3, output_dir=tmp_path / name,
        output_format="parquet", **overrides,
    )  # fmt: skip
    runner.run(config)
    return tmp_path / name


def test_pieces_are_joined_in_order_with_separators(tmp_path, toy_exporter):
    out = _run(tmp_path, "a", chunk_size=20, workers=2)
    assert orjson.loads((out / "toy/all.json").read_bytes()) == list(range(-1, 95))
    assert sorted(p.name for p in (out / "toy/each").iterdir()) == sorted(
        f"{i}.txt" for i in range(0, 95, 10)
    )
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["row_counts"]["toy:patients"] == 95
    encounters = pl.read_parquet(out / "parquet/encounters.parquet").height
    assert manifest["row_counts"]["toy:encounters"] == encounters > 0
    assert "{'patients': 95" in (out / "toy/total.txt").read_text()
    for relative in ("toy/all.json", "toy/each/30.txt", "toy/total.txt"):
        digest = hashlib.sha256((out / relative).read_bytes()).hexdigest()
        assert manifest["files"][relative]["sha256"] == digest


def test_text_files_do_not_depend_on_chunking(tmp_path, toy_exporter):
    one = _run(tmp_path, "one", chunk_size=1000, workers=1)
    many = _run(tmp_path, "many", chunk_size=7, workers=2)
    for path in sorted(one.joinpath("toy").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (many / path.relative_to(one)).read_bytes()
