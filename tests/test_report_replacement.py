"""`cohortforge report` replaces the report as a whole: a failure part way (a full disk,
an error while plotting) leaves the previous report exactly as it was."""

from __future__ import annotations

import errno

import pytest
from typer.testing import CliRunner

from cohortforge.cli import app
from cohortforge.engine import fidelity

from .conftest import read_tree
from .test_fidelity import asthma_cohort, write_cohort

runner = CliRunner()


@pytest.fixture
def reported(tmp_path):
    """A cohort with its report written once."""
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    return root


def fail_at_the_rates_plot(monkeypatch, error: Exception) -> None:
    """The rates plot comes after the prevalence plots: a failure part way."""

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(fidelity, "plot_rates", fail)


def test_a_full_disk_keeps_the_previous_report(reported, monkeypatch):
    before = read_tree(reported / "report")
    assert "fidelity.md" in before and len(before) >= 2
    fail_at_the_rates_plot(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    result = runner.invoke(app, ["report", str(reported)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message
    assert "is full" in message and "previous one is untouched" in message
    assert read_tree(reported / "report") == before  # no staging folder left either


def test_another_failure_also_keeps_it_and_is_not_called_a_full_disk(reported, monkeypatch):
    before = read_tree(reported / "report")
    fail_at_the_rates_plot(monkeypatch, RuntimeError("plotting broke"))
    with pytest.raises(RuntimeError, match="plotting broke"):
        fidelity.write_report(reported)
    assert read_tree(reported / "report") == before


def test_a_failed_first_report_leaves_no_report_folder(tmp_path, monkeypatch):
    root = write_cohort(tmp_path / "out", asthma_cohort(), ["pediatric_asthma_management"])
    fail_at_the_rates_plot(monkeypatch, OSError(errno.EDQUOT, "Disk quota exceeded"))
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 2 and "quota" in result.stderr.lower()
    assert not (root / "report").exists()


def test_a_new_report_replaces_every_old_file(reported):
    stale = reported / "report" / "prevalence_retired_module.png"
    stale.write_bytes(b"an old plot")
    assert runner.invoke(app, ["report", str(reported)]).exit_code == 0
    assert not stale.exists()
    assert (reported / "report" / "fidelity.md").is_file()
