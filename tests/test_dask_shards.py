"""Shards as Dask tasks: a LocalCluster of two worker processes on loopback writes the
same dataset, file for file, as the local sharded run."""

from __future__ import annotations

import pytest

from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.runner import run

from .test_shards import _config, _data_files

distributed = pytest.importorskip("distributed", reason="Dask extra not installed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    ) as local:
        yield local


def test_cluster_run_equals_local_run(tmp_path, cluster):
    run(_config(tmp_path / "local", shards=4))
    result = run(_config(tmp_path / "cluster", shards=4, scheduler=cluster.scheduler_address))
    assert _data_files(tmp_path / "cluster") == _data_files(tmp_path / "local")
    assert result.manifest_path.exists()


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    with pytest.raises(CohortforgeError, match="cannot reach the Dask scheduler"):
        run(_config(tmp_path / "x", shards=2, scheduler="tcp://127.0.0.1:9"))
