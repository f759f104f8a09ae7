"""The command line: parsing and printing only; the work is in the library."""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cohortforge.engine.config import DEFAULT_CHUNK_SIZE, RunConfig, default_workers
from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.module_catalog import module_description
from cohortforge.engine.module_loader import ModuleLibrary
from cohortforge.lint_cli import lint
from cohortforge.report_cli import report
from cohortforge.scenarios.loader import ScenarioError, list_scenarios
from cohortforge.terminology_cli import app as terminology_app

app = typer.Typer(
    help="Reproducible synthetic patient cohorts, generated as columns.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(terminology_app, name="terminology")
app.command(name="lint")(lint)
app.command(name="report")(report)
stdout = Console()
stderr = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """One line on stderr and exit code 2: the contract for every bad input."""
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def print_scenarios() -> None:
    try:
        scenarios = list_scenarios()
    except ScenarioError as error:
        raise fail(str(error)) from error
    table = Table("scenario", "description", "default modules", title="Scenarios")
    for scenario in scenarios:
        table.add_row(scenario.name, scenario.description, ", ".join(scenario.modules) or "-")
    stdout.print(table)


def print_modules(modules_dirs: list[Path] | None = None) -> None:
    try:
        library = ModuleLibrary(modules_dirs or ())
        paths = library.module_names()
        table = Table("module", "description", "file", title="Modules")
        for name, path in paths.items():
            table.add_row(name, module_description(path), str(path))
    except CohortforgeError as error:
        raise fail(str(error)) from error
    if not paths:
        stdout.print("No clinical modules found.")
        return
    stdout.print(table)


ModulesDirOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--modules-dir",
        help="Folder of your own modules (with submodules and lookup_tables/); repeatable.",
    ),
]


@app.command()
def scenarios() -> None:
    """List the scenarios (demographics and social-determinant baselines)."""
    print_scenarios()


@app.command()
def modules(modules_dir: ModulesDirOption = None) -> None:
    """List the clinical modules (the package's and those in --modules-dir folders)."""
    print_modules(modules_dir)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise fail(f"--reference-date {value!r} is not a date; use YYYY-MM-DD") from error


@app.command()
def generate(
    num_records: Annotated[
        int, typer.Option("--num-records", "-n", help="Number of patients.")
    ] = 1000,
    scenario: Annotated[
        str,
        typer.Option(help="Scenario name (see `cohortforge scenarios`) or a path to a .toml file."),
    ] = "general_population",
    module: Annotated[
        list[str] | None,
        typer.Option(
            "--module", help="Clinical module to add to the scenario's defaults; repeatable."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed; default: a random one, printed and kept in the manifest."),
    ] = None,
    output_dir: Annotated[Path, typer.Option(help="Where to write the outputs.")] = Path("output"),
    output_format: Annotated[str, typer.Option(help="Tables as csv, parquet or both.")] = "both",
    chunk_size: Annotated[
        int, typer.Option(help="Patients per chunk; memory grows with it, output does not change.")
    ] = DEFAULT_CHUNK_SIZE,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker threads; default: all cores. Output does not change."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace the cohortforge outputs in a non-empty --output-dir."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or seed notice.")
    ] = False,
    space_check: Annotated[
        bool,
        typer.Option(
            help="Stop after the first work unit when the rest will not fit on the disk."
        ),
    ] = True,
    years_of_history: Annotated[
        int | None,
        typer.Option(help="Years of clinical history to export; default: the scenario's."),
    ] = None,
    reference_date: Annotated[
        str | None,
        typer.Option(help="The 'today' of the cohort, YYYY-MM-DD; default: the scenario's."),
    ] = None,
    list_scenarios_flag: Annotated[
        bool, typer.Option("--list-scenarios", help="List scenarios and exit.")
    ] = False,
    list_modules_flag: Annotated[
        bool, typer.Option("--list-modules", help="List modules and exit.")
    ] = False,
    modules_dir: ModulesDirOption = None,
    fhir: Annotated[
        bool,
        typer.Option(
            "--fhir/--no-fhir",
            help="FHIR R4: fhir/<Type>.ndjson and fhir_bundle.json; --no-fhir for table-only runs.",
        ),
    ] = RunConfig.fhir,
    fhir_bundle: Annotated[
        str,
        typer.Option(
            help="FHIR bundle: single (fhir_bundle.json), per-patient (fhir/bundles/<id>.json) "
            "or none (bulk NDJSON only)."
        ),
    ] = RunConfig.fhir_bundle,
    hl7: Annotated[
        bool,
        typer.Option(
            "--hl7/--no-hl7",
            help="HL7 v2.5.1: hl7/adt.hl7 and hl7/oru.hl7; --no-hl7 for table-only runs.",
        ),
    ] = RunConfig.hl7,
    hl7_framing: Annotated[
        str,
        typer.Option(help="HL7 message framing: none (newline between messages) or mllp."),
    ] = RunConfig.hl7_framing,
    vista: Annotated[
        bool, typer.Option("--vista", help="Also write VistA globals: vista/globals.zwr.")
    ] = RunConfig.vista,
    shards: Annotated[
        int | None,
        typer.Option(
            help="Write K part files per output (parquet/<table>/part-00000.parquet, ...), "
            "one shard of patients each; resumable."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted sharded run: verify finished shards, redo the rest.",
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the shards on a Dask cluster, tcp://HOST:PORT (needs cohortforge[dask] "
            "and an output dir shared with the workers)."
        ),
    ] = None,
) -> None:
    """Generate a cohort: tables as CSV and/or Parquet, FHIR R4, HL7 v2 (and VistA with
    --vista), plus manifest.json."""
    if list_scenarios_flag or list_modules_flag:
        if list_scenarios_flag:
            print_scenarios()
        if list_modules_flag:
            print_modules(modules_dir)
        return
    if seed is None:
        seed = secrets.randbits(63)
        if not quiet:
            stderr.print(f"seed: {seed} (pass --seed {seed} to repeat this run)", highlight=False)
    # Imported here, not at the top: the engine brings Numba, Polars and Arrow (~0.5 s
    # with the random-number kernels loaded), which --help, `scenarios` and `modules`
    # do not need.
    from cohortforge.engine.runner import run as run_generate

    try:
        config = RunConfig(
            num_records=num_records,
            scenario=scenario,
            seed=seed,
            output_dir=output_dir,
            modules=tuple(dict.fromkeys(module or ())),
            output_format=output_format,
            chunk_size=chunk_size,
            workers=workers if workers is not None else default_workers(),
            overwrite=overwrite,
            years_of_history=years_of_history,
            reference_date=_parse_date(reference_date),
            modules_dirs=tuple(modules_dir or ()),
            fhir=fhir,
            fhir_bundle=fhir_bundle,
            hl7=hl7,
            hl7_framing=hl7_framing,
            vista=vista,
            shards=shards,
            resume=resume,
            scheduler=scheduler,
            space_check=space_check,
        )
        show_progress = not quiet and config.num_records > 20_000
        with Progress(
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("patients"),
            TimeElapsedColumn(),
            console=stderr,
            disable=not show_progress,
            transient=True,
        ) as progress:
            task = progress.add_task("patients", total=config.num_records)
            result = run_generate(config, on_chunk_done=lambda n: progress.advance(task, n))
    except CohortforgeError as error:
        raise fail(str(error)) from error
    counts = ", ".join(f"{name} {rows:,}" for name, rows in result.row_counts.items())
    stdout.print(
        f"wrote {config.num_records:,} patients ({counts}) as {', '.join(_formats(config))} "
        f"to {result.output_dir} in {result.seconds['wall']:.1f} s; "
        f"manifest: {result.manifest_path}",
        highlight=False,
        soft_wrap=True,
    )


def _formats(config: RunConfig) -> list[str]:
    text = [name for name, wanted in (("fhir", config.fhir), ("hl7", config.hl7)) if wanted]
    return [*config.formats, *text, *(["vista"] if config.vista else [])]


class Terminated(BaseException):
    """SIGTERM (kill, timeout, a cancelled job), raised in the main thread so that a run
    cleans up as it does on Ctrl-C: its staging folder, often gigabytes, is removed
    instead of left in the output directory."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted; nothing was published", file=sys.stderr)
        sys.exit(130)
    except Terminated:
        print("terminated; nothing was published", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
