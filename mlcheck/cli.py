"""The command line. The only module that writes output or decides the process exit code."""

from __future__ import annotations

import json
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlcheck import __version__
from mlcheck.checklist import Checklist, json_schema, load_checklist
from mlcheck.environment import capture_json
from mlcheck.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, ChecklistError, MlcheckError, UsageError
from mlcheck.registry import REGISTRY
from mlcheck.reporters import render
from mlcheck.results import STAGE_ORDER
from mlcheck.runner import Progress, RunOptions, exit_code, run_checklist
from mlcheck.validate import validate_sources

app = typer.Typer(
    name="mlcheck",
    help="Deployment-readiness checks for ML models: research vs production, as a CI gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


class Format(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    json = "json"


ChecklistArg = Annotated[Path, typer.Argument(help="The checklist YAML file.", show_default=False)]


@app.command()
def run(
    checklist: ChecklistArg,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.terminal,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write a JUnit XML report here.")] = None,
    keep_going: Annotated[bool, typer.Option(help="Run every stage even after one fails.")] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only this stage (repeatable).")] = None,
    skip: Annotated[list[str] | None, typer.Option(help="Skip this stage (repeatable).")] = None,
    fail_on: Annotated[str, typer.Option(help="'fail' (default) or 'warn': what blocks.")] = "fail",
    require_all: Annotated[bool, typer.Option(help="A stage skipped for missing inputs fails.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for bootstrap and sampling.")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing checks; tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress; only the report.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain text terminal report.")] = False,
) -> None:
    """Run the checklist's stages in order and stop at the first failing one."""
    options = RunOptions(
        keep_going=keep_going,
        only=_stages(only or []),
        skip=_stages(skip or []),
        fail_on_warn=_fail_on(fail_on),
        require_all=require_all,
        seed=seed,
        verbose=verbose,
    )
    loaded = load_checklist(checklist)
    validate_sources(loaded, read_schema=False)
    with err.status("mlcheck: starting", spinner="dots") as status:
        progress = _progress(status, quiet)
        result = run_checklist(loaded, options, progress)
    color = not no_color and output is None and sys.stdout.isatty()
    report = render(result, fmt.value, verbose=verbose, color=color)
    _write(report, output)
    if junit is not None:
        _write(render(result, "junit"), junit)
    raise typer.Exit(exit_code(result))


@app.command()
def validate(checklist: ChecklistArg) -> None:
    """Validate the checklist and that every source exists with its declared columns (reads no data)."""
    loaded = load_checklist(checklist)
    validate_sources(loaded, read_schema=True)
    err.print(f"[green]ok[/green]: {checklist} is valid")


@app.command()
def schema() -> None:
    """Print the checklist's JSON Schema (for editor completion and validation)."""
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def checks() -> None:
    """List every check with its id, stage, title and default thresholds."""
    defaults = Checklist.model_fields["stages"].default_factory()  # type: ignore[misc]
    for spec in REGISTRY.all():
        stage_defaults = getattr(defaults, spec.stage)
        limits = ", ".join(f"{k}={getattr(stage_defaults, k)}" for k in spec.thresholds)
        typer.echo(f"{spec.id:<8} {spec.stage:<22} {spec.title}" + (f"  [{limits}]" if limits else ""))


@app.command()
def explain(check_id: Annotated[str, typer.Argument(help="A check id such as RAW004.")]) -> None:
    """Explain one check: what it measures, why it matters, what causes it, how to fix it."""
    spec = REGISTRY.get(check_id)
    if spec is None:
        raise UsageError(f"unknown check id {check_id!r}; `mlcheck checks` lists them")
    typer.echo(f"{spec.id}: {spec.title}\nstage: {spec.stage}\n")
    typer.echo(spec.explanation or "(no further explanation)")


env_app = typer.Typer(
    help="Record this Python environment for a checklist's `environment:` entry.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


@env_app.command("capture")
def env_capture(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """Write this interpreter's Python version, platform and installed packages as JSON."""
    _write(capture_json(), output)


def _stages(names: list[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in STAGE_ORDER]
    if unknown:
        raise UsageError(f"unknown stage {unknown[0]!r}; stages are: {', '.join(STAGE_ORDER)}")
    return tuple(names)


def _fail_on(value: str) -> bool:
    if value not in ("fail", "warn"):
        raise UsageError(f"--fail-on takes 'fail' or 'warn', not {value!r}")
    return value == "warn"


def _progress(status: object, quiet: bool) -> Progress:
    if quiet or not err.is_terminal:
        return Progress()

    def update(text: str) -> None:
        status.update(f"mlcheck: {text}")  # type: ignore[attr-defined]

    return Progress(on_stage=lambda s: update(f"running {s}"), on_read=lambda s: update(f"reading {s}"))


def _write(text: str, path: Path | None) -> None:
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def _report_error(exc: MlcheckError) -> None:
    err.print(f"[bold red]error:[/bold red] {exc.message}", soft_wrap=True)
    for problem in getattr(exc, "problems", []):
        err.print(f"  {problem}", soft_wrap=True, markup=False)
    if exc.hint:
        err.print(f"  hint: {exc.hint}", soft_wrap=True, markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is caught here, once, and turned into a message and exit code."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args or "--verbose" in args
    try:
        app(args=args, standalone_mode=False)
    except MlcheckError as exc:
        _report_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    except _click_errors() as exc:
        exc.show()
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 3
        err.print(f"internal error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        err.print("This is a bug in mlcheck. Please report it with `--verbose` output.", markup=False)
        if verbose:
            err.print(traceback.format_exc(), markup=False)
        sys.exit(EXIT_INTERNAL)


def _click_errors() -> tuple[type[Exception], ...]:
    import click

    return (click.exceptions.UsageError, click.exceptions.BadParameter)


__all__ = ["ChecklistError", "__version__", "app", "main"]
