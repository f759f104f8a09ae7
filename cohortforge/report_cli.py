"""`cohortforge report OUTPUT_DIR`: clinical fidelity of a generated cohort.

cohortforge/cli.py registers it with `app.command(name="report")(report)`. It reads the
cohort's manifest.json and tables (parquet/, else csv/) and writes OUTPUT_DIR/report/fidelity.md
with PNG plots beside it. Bad input (a missing directory, no tables, no manifest) prints
`error: ...` on stderr and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cohortforge.engine.errors import CohortforgeError


def report(
    output_dir: Annotated[
        Path,
        typer.Argument(
            help="A directory written by `cohortforge generate` (manifest.json and tables).",
            show_default=False,
        ),
    ],
) -> None:
    """Compare a cohort's prevalence and process rates with published reference values."""
    # Imported here: the report's plotting pulls in matplotlib (~0.7 s), which every
    # other command (generate included) would otherwise pay for at start-up.
    from cohortforge.engine.fidelity import write_report

    try:
        result = write_report(output_dir)
    except CohortforgeError as error:
        raise _fail(str(error)) from error
    statuses = result.results["status"].value_counts(sort=True)
    summary = ", ".join(f"{count} {status}" for status, count in statuses.iter_rows()) or "none"
    typer.echo(
        f"wrote {result.markdown} ({result.results.height} measures: {summary}) "
        f"and {len(result.plots)} plots"
    )


def _fail(message: str) -> typer.Exit:
    """One line on stderr and exit code 2, like every other bad input of the CLI."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
