"""`cohortforge lint`: check module files before they run.

cohortforge/cli.py registers `lint` as a command. Findings go to stdout, one per line
(`file:state: severity: message`), then a summary; exit 1 when any is an error. Bad input
(a missing path, invalid JSON, an unknown module name) prints `error: ...` on stderr and
exits 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from cohortforge.engine.errors import CohortforgeError
from cohortforge.engine.lint_context import ERROR, Finding
from cohortforge.engine.module_loader import ModuleFile, ModuleLibrary

# engine/lint.py is imported by the command itself: it loads the terminology (DuckDB,
# Arrow), which the rest of the CLI (--help included) should not wait for.


def lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Module files (.json), module names, or folders of modules to lint.",
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Lint every module in the search path (modules/ and --modules-dir)."
        ),
    ] = False,
    modules_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--modules-dir",
            help="Extra folder of modules, submodules and lookup_tables/; repeatable.",
        ),
    ] = None,
) -> None:
    """Check modules against the supported subset; exit 1 when there are errors."""
    if not paths and not all_:
        raise _fail("give module paths or names to lint, or --all")
    from cohortforge.engine.lint import lint_modules, lint_selection
    from cohortforge.terminology import TerminologyError

    try:
        folders = [path for path in paths or () if path.is_dir()]
        library = ModuleLibrary([*(modules_dir or ()), *folders])
        modules = _select(library, paths or (), folders, all_)
        files = lint_selection(modules, library)
        findings = lint_modules(modules, library)
    except (CohortforgeError, TerminologyError) as error:
        raise _fail(str(error)) from error
    for finding in findings:
        typer.echo(format_finding(finding))
    typer.echo(summary(findings, len(files)))
    raise typer.Exit(code=1 if any(f.severity == ERROR for f in findings) else 0)


def _select(
    library: ModuleLibrary, paths: Sequence[Path], folders: list[Path], all_: bool
) -> list[ModuleFile]:
    from cohortforge.engine.lint import load_for_lint, modules_under

    chosen: dict[Path, ModuleFile] = {}
    roots = library.roots if all_ else [folder.resolve() for folder in folders]
    for root in roots:
        for module in modules_under(root):
            chosen.setdefault(module.path, module)
    for path in paths:
        if path.is_dir():
            continue
        if path.exists():
            module = load_for_lint(library, str(path))
        elif path.suffix == ".json" or len(path.parts) > 1:
            raise CohortforgeError(f"{path}: no such file or folder; check the path")
        else:
            module = library.load(str(path))  # a module name; fails listing the valid ones
        chosen.setdefault(module.path, module)
    return list(chosen.values())


def format_finding(finding: Finding) -> str:
    return f"{_display(finding.path)}:{finding.state}: {finding.severity}: {finding.message}"


def _display(path: Path) -> str:
    # Relative paths are shorter and match what the user typed when linting their folder.
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def summary(findings: Sequence[Finding], files: int) -> str:
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    return (
        f"{errors} {_plural(errors, 'error')}, {warnings} {_plural(warnings, 'warning')} "
        f"in {files} {_plural(files, 'file')}"
    )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _fail(message: str) -> typer.Exit:
    """One line on stderr and exit code 2, like every other bad input of the CLI."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
