"""PNG plots of the fidelity report (matplotlib, Agg canvas; no pyplot global state).

Inputs are the tables engine/fidelity.py computes: the prevalence grid (module, measure, band,
sex, measured, reference, tolerance) and the process-rate results (module, measure, measured,
reference, tolerance, unit, status).
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SEXES = (("M", "men", "#4c72b0"), ("F", "women", "#dd8452"), ("all", "both", "#8c8c8c"))
STATUS_COLOURS = {"pass": "#55a868", "fail": "#c44e52", "no data": "#bbbbbb"}
BAR_WIDTH = 0.26
DPI = 110


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _values(frame: pl.DataFrame, column: str) -> list[float]:
    return [math.nan if v is None else v for v in frame[column].to_list()]


def _prevalence_axis(axis, measure: str, cells: pl.DataFrame) -> None:
    bands = cells["band"].unique(maintain_order=True).to_list()
    positions = list(range(len(bands)))
    for offset, (sex, label, colour) in enumerate(SEXES):
        by_band = pl.DataFrame({"band": bands}).join(
            cells.filter(pl.col("sex") == sex), on="band", how="left", maintain_order="left"
        )
        xs = [p + (offset - 1) * BAR_WIDTH for p in positions]
        axis.bar(xs, _values(by_band, "measured"), BAR_WIDTH, color=colour, label=label)
        axis.errorbar(
            xs,
            _values(by_band, "reference"),
            yerr=_values(by_band, "tolerance"),
            fmt="_",
            color="black",
            markersize=16,
            capsize=3,
            label="reference ± target" if offset == 0 else None,
        )
    axis.set_xticks(positions, bands)
    axis.set_xlim(-0.6, len(bands) - 0.4)
    axis.set_title(measure.replace("_", " "), fontsize=10)
    axis.set_ylabel("% of patients")
    axis.set_ylim(bottom=0)


def plot_prevalence(grid: pl.DataFrame, module: str, path: Path) -> Path:
    """Measured prevalence by age band for men, women and both, with the reference values."""
    measures = grid["measure"].unique(maintain_order=True).to_list()
    columns = min(2, len(measures))
    rows = math.ceil(len(measures) / columns)
    figure = Figure(figsize=(6.4 * columns, 3.6 * rows))
    for i, measure in enumerate(measures):
        axis = figure.add_subplot(rows, columns, i + 1)
        _prevalence_axis(axis, measure, grid.filter(pl.col("measure") == measure))
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    figure.suptitle(f"{module}: prevalence by age band and sex")
    figure.tight_layout(rect=(0, 0.07 / rows, 1, 1))
    return _save(figure, path)


def _rate_axis(axis, row: dict) -> None:
    reference, tolerance = row["reference"], row["tolerance"]
    measured = row["measured"]
    axis.axvspan(max(reference - tolerance, 0), reference + tolerance, color="#dddddd")
    axis.axvline(reference, color="black", linewidth=1.5)
    if measured is not None:
        axis.barh([0], [measured], height=0.5, color=STATUS_COLOURS[row["status"]])
        axis.text(measured, 0, f" {measured:.1f}", va="center", fontsize=8)
    top = max(measured or 0.0, reference + tolerance) * 1.2
    axis.set_xlim(0, top)
    label = f"{row['measure'].replace('_', ' ')}\n({row['population']}, n={row['denominator']:,})"
    axis.set_yticks([0], [label])
    axis.set_xlabel(row["unit"], fontsize=8)
    axis.tick_params(labelsize=8)


def plot_rates(rates: pl.DataFrame, path: Path) -> Path:
    """One panel per process rate: measured bar, reference line, target band in grey."""
    figure = Figure(figsize=(8.0, 1.25 * rates.height + 0.8))
    for i, row in enumerate(rates.iter_rows(named=True)):
        _rate_axis(figure.add_subplot(rates.height, 1, i + 1), row)
    figure.suptitle(
        "Process rates: measured (bar: green pass, red fail), reference (line), target (grey)"
    )
    figure.tight_layout()
    return _save(figure, path)
