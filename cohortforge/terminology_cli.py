"""`cohortforge terminology ...`: build the database, look a code up, search displays.

Mounted by cohortforge/cli.py as a Typer sub-app. Bad input (TerminologyError) prints
`error: <message>` to stderr and exits 2; a code or search with no answer exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cohortforge.terminology import TerminologyError

# Each command imports the terminology package itself: it brings DuckDB and Arrow, which
# the rest of the CLI (--help included) should not wait for.

app = typer.Typer(
    help="Code systems: build terminology.duckdb, look codes up, search displays.",
    no_args_is_help=True,
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Database file (default: $TERMINOLOGY_DB_PATH, else "
        "data/terminology/terminology.duckdb).",
    ),
]


def _fail(exc: TerminologyError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


@app.command()
def build(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Folder searched for full vocabularies (OMOP CONCEPT.csv, Loinc.csv); "
            "default data/terminology.",
        ),
    ] = None,
    rebuild_db: Annotated[
        bool, typer.Option("--rebuild-db", help="Rebuild even if the database is up to date.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Build terminology.duckdb from the seed plus any full vocabularies under --root."""
    from cohortforge.terminology import TerminologyError, build_database

    try:
        report = build_database(root=root, db_path=db, rebuild=rebuild_db)
    except TerminologyError as exc:
        raise _fail(exc) from None
    if not report.rebuilt:
        typer.echo(
            f"{report.db_path} is up to date ({report.concepts:,} concepts); "
            "pass --rebuild-db to rebuild anyway"
        )
        return
    sources = ", ".join(
        f"{Path(name).name if name != 'seed' else name} {count:,}"
        for name, count in report.by_source.items()
    )
    typer.echo(
        f"built {report.db_path} in {report.seconds:.2f} s: {report.concepts:,} concepts "
        f"({sources}), {report.map_rows:,} SNOMED CT -> ICD-10-CM map rows"
    )


@app.command()
def lookup(
    system: Annotated[
        str,
        typer.Argument(
            help="Code system, e.g. SNOMED-CT, LOINC, RxNorm, ICD-10-CM, CVX or a FHIR URI."
        ),
    ],
    code: Annotated[str, typer.Argument(help="The code to look up.")],
    db: DbOption = None,
) -> None:
    """Print the official display of one code."""
    from cohortforge.terminology import Terminology, TerminologyError

    try:
        terminology = Terminology(db)
        display = terminology.lookup(system, code)
    except TerminologyError as exc:
        raise _fail(exc) from None
    if display is None:
        typer.echo(
            f"{system} {code}: no such code in the {terminology.backend} terminology; "
            "check the code or build the database with a full vocabulary",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo(display)


@app.command()
def search(
    text: Annotated[
        str, typer.Argument(help="Words that must all appear in the display (or an exact code).")
    ],
    system: Annotated[str | None, typer.Option("--system", help="Only this code system.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many results.")] = 20,
    db: DbOption = None,
) -> None:
    """Search displays; prints system, code and display, tab-separated, best match first."""
    from cohortforge.terminology import Terminology, TerminologyError

    try:
        found = Terminology(db).search(text, system=system, limit=limit)
    except TerminologyError as exc:
        raise _fail(exc) from None
    if not found:
        typer.echo(f"no concept matches {text!r}", err=True)
        raise typer.Exit(code=1)
    for concept in found:
        typer.echo(f"{concept.system}\t{concept.code}\t{concept.display}")
