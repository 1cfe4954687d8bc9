"""The command line. The only module that writes output or decides the process exit code."""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import secrets
import shutil
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from mlcheck import __version__
from mlcheck.checklist import Checklist, json_schema, load_checklist
from mlcheck.engines.base import EngineSettings
from mlcheck.environment import capture_json
from mlcheck.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_READY,
    EXIT_USAGE,
    ChecklistError,
    InputError,
    MlcheckError,
    UsageError,
)
from mlcheck.init import init_checklist
from mlcheck.input_files import file_identity, unreadable_inside
from mlcheck.registry import REGISTRY, CheckSpec
from mlcheck.reporters import render, terminal
from mlcheck.reporters.common import verdict_line
from mlcheck.results import STAGE_ORDER, RunResult, StageResult, Status, to_jsonable
from mlcheck.runner import Progress, RunOptions, exit_code, run_checklist
from mlcheck.sources import declared_sources, source_location
from mlcheck.stage_config import StagesConfig
from mlcheck.stages import available_stages
from mlcheck.validate import validate_sources

app = typer.Typer(
    name="mlcheck",
    help="Deployment-readiness checks for ML models: research vs production, as a CI gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _StderrConsole(Console):
    """`2>&1 | head -1`: when stderr's reader leaves, rich exits 1 (and silences stdout, not
    stderr); the exit code must stay the one the run earned, so mlcheck goes on quietly."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


err = _StderrConsole(stderr=True, highlight=False)


class Format(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    json = "json"
    html = "html"


ChecklistArg = Annotated[Path, typer.Argument(help="The checklist YAML file.", show_default=False)]


class FailOn(str, Enum):
    fail = "fail"
    warn = "warn"


class EngineName(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


def _engine_choice(
    name: EngineName | None, memory_limit: str | None, spark_master: str | None
) -> EngineSettings | None:
    """The command line's engine options (None when none was given: the checklist decides)."""
    if name is None and memory_limit is None and spark_master is None:
        return None
    if spark_master is not None and name is EngineName.duckdb:
        raise UsageError("--spark-master goes with --engine spark")
    chosen = EngineName.spark if spark_master is not None and name is None else name
    return EngineSettings(
        name=chosen.value if chosen else "", memory_limit=memory_limit, spark_master=spark_master
    )


def _refuse_missing_engine(choice: EngineSettings | None, checklist: Checklist) -> None:
    """`--engine spark` (or `engine: {name: spark}`) without pyspark installed: exit 2 up front."""
    import importlib.util

    name = (choice.name if choice and choice.name else None) or checklist.engine.name
    if name == "spark" and importlib.util.find_spec("pyspark") is None:
        raise UsageError(
            "the spark engine needs pyspark, which is not installed",
            hint="pip install 'mlcheck[spark]' (and a Java 17+ runtime)",
        )


@app.command()
def run(
    checklist: ChecklistArg,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.terminal,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here ('-': stdout).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write a JUnit XML report here.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    keep_going: Annotated[bool, typer.Option(help="Run every stage even after one fails.")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only this stage (repeatable).")
    ] = None,
    skip: Annotated[list[str] | None, typer.Option(help="Skip this stage (repeatable).")] = None,
    fail_on: Annotated[
        FailOn, typer.Option(help="What blocks: failures, or warnings too.")
    ] = FailOn.fail,
    require_all: Annotated[
        bool, typer.Option(help="A stage skipped for missing inputs fails.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for bootstrap and sampling.")] = 0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show passing checks; tracebacks.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr; only the report.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain text terminal report.")
    ] = False,
    engine: Annotated[
        EngineName | None,
        typer.Option(help="Engine for the checks' questions (default: the checklist's, duckdb)."),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(help="e.g. 3GB: past it the engine spills to disk (default: most of RAM)."),
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark (default local[*]).")
    ] = None,
) -> None:
    """Run the checklist's stages in order and stop at the first failing one."""
    options = RunOptions(
        keep_going=keep_going,
        only=_stages(only or [], "--only"),
        skip=_stages(skip or [], "--skip"),
        fail_on_warn=fail_on is FailOn.warn,
        require_all=require_all,
        seed=seed,
        verbose=verbose,
        engine=_engine_choice(engine, memory_limit, spark_master),
    )
    output = None if output == Path("-") else output
    loaded = load_checklist(checklist)
    _refuse_missing_engine(options.engine, loaded)
    _refuse_to_overwrite_inputs(loaded, [p for p in (output, junit, html) if p is not None])
    printed: list[str] = []  # stages whose panels were printed as they finished
    stream = fmt is Format.terminal and output is None
    on_done = partial(_print_stage, loaded, printed, _terminal_style(None, no_color), verbose)
    with _progress(
        enabled=not quiet and err.is_terminal, on_done=on_done if stream else None
    ) as progress:
        validate_sources(loaded, read_schema=False)
        result = run_checklist(loaded, options, progress)
    main = _render_main(result, fmt, output, verbose=verbose, no_color=no_color, printed=printed)
    _write(main, output)
    if junit is not None:
        _write(render(result, "junit", fail_on_warn=options.fail_on_warn), junit)
    if html is not None:
        _write(render(result, "html"), html)
    code = exit_code(result)
    if code == EXIT_INTERNAL:
        crashed = sum(c.status is Status.ERROR for s in result.stages for c in s.checks) or 1
        err.print(
            Text(f"error: {crashed} check(s) crashed; the report names them. {BUG_REPORT}"),
            soft_wrap=True,
        )
        if verbose:
            _print_tracebacks(result)
    elif output is not None and not quiet:
        err.print(Text(f"{verdict_line(result)} (report: {output})"), soft_wrap=True)
    raise typer.Exit(code)


def _print_tracebacks(result: RunResult) -> None:
    """Each crashed check's traceback on stderr (`--verbose`; the runner keeps it in details)."""
    for stage in result.stages:
        for check in stage.checks:
            trace = check.details.get("traceback") if check.status is Status.ERROR else None
            if trace:
                err.print(Text(f"{check.id} crashed:\n{trace.rstrip()}"), soft_wrap=True)


def _render_main(
    result: RunResult,
    fmt: Format,
    output: Path | None,
    *,
    verbose: bool,
    no_color: bool,
    printed: list[str],
) -> str:
    """The main report (less the stage panels already `printed`)."""
    style = _terminal_style(output, no_color)
    return render(result, fmt.value, verbose=verbose, printed=printed, **style)


def _terminal_style(output: Path | None, no_color: bool) -> dict[str, Any]:
    """Colour and the terminal's width only when the report goes straight to a terminal."""
    to_terminal = output is None and sys.stdout.isatty()
    color = to_terminal and not no_color and "NO_COLOR" not in os.environ
    width = shutil.get_terminal_size((110, 24)).columns if to_terminal else 110
    return {"color": color, "width": width}


def _print_stage(
    checklist: Checklist,
    printed: list[str],
    style: dict[str, Any],
    verbose: bool,
    stage: StageResult,
) -> None:
    """Print a finished stage's panel (after the title, for the first one)."""
    head = (
        ""
        if printed
        else terminal.render_head(checklist.name, checklist.source_file, __version__, **style)
    )
    _write_stdout(head + terminal.render_stage(stage, verbose=verbose, **style))
    printed.append(stage.id)


@app.command()
def validate(checklist: ChecklistArg) -> None:
    """Validate the checklist and that every source exists with its declared columns (reads no data)."""
    loaded = load_checklist(checklist)
    checked = validate_sources(loaded, read_schema=True)
    ok = Text.assemble(("ok", "green"), f": {checklist} is valid ({checked} sources checked)")
    err.print(ok, soft_wrap=True)


@app.command()
def schema() -> None:
    """Print the checklist's JSON Schema (for editor completion and validation)."""
    _write(json.dumps(json_schema(), indent=2) + "\n", None)


@app.command()
def checks(
    stage: Annotated[
        list[str] | None, typer.Option(help="Only this stage's checks (repeatable).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON list of {id, stage, title, thresholds}.")
    ] = False,
) -> None:
    """List every check with its id, stage, title and default thresholds."""
    selected = _stages(stage or [], "--stage")
    specs = [s for s in REGISTRY.all() if not selected or s.stage in selected]
    if as_json:
        entries = [
            {"id": s.id, "stage": s.stage, "title": s.title, "thresholds": _threshold_defaults(s)}
            for s in specs
        ]
        _write(json.dumps(to_jsonable(entries), indent=2) + "\n", None)
        return
    lines = []
    for spec in specs:
        limits = ", ".join(f"{k}={v}" for k, v in _threshold_defaults(spec).items())
        lines.append(
            f"{spec.id:<8} {spec.stage:<22} {spec.title}" + (f"  [{limits}]" if limits else "")
        )
    _write("".join(line + "\n" for line in lines), None)


@app.command()
def explain(check_id: Annotated[str, typer.Argument(help="A check id such as RAW004.")]) -> None:
    """Explain one check: what it measures, why it matters, what causes it, how to fix it."""
    spec = REGISTRY.get(check_id.strip())
    if spec is None:
        known = [s.id for s in REGISTRY.all()]
        close = difflib.get_close_matches(check_id.strip().upper(), known, n=1, cutoff=0.6)
        tip = f"; did you mean {close[0]}?" if close else ""
        raise UsageError(f"unknown check id {check_id!r}{tip} (`mlcheck checks` lists them)")
    lines = [f"{spec.id}: {spec.title}", f"stage: {spec.stage}"]
    fields = type(getattr(StagesConfig(), spec.stage)).model_fields
    for name, value in _threshold_defaults(spec).items():
        about = f"  ({fields[name].description})" if fields[name].description else ""
        lines.append(f"threshold: stages.{spec.stage}.{name} = {value}{about}")
    lines += ["", spec.explanation or "(no further explanation)"]
    _write("".join(line + "\n" for line in lines), None)  # a full disk is exit 2, not a bug


def _threshold_defaults(spec: CheckSpec) -> dict[str, object]:
    """The default of each threshold a check uses, from its stage's config class."""
    stage_defaults = getattr(StagesConfig(), spec.stage)
    return {name: getattr(stage_defaults, name) for name in spec.thresholds}


@app.command()
def init(
    research_dir: Annotated[
        str,
        typer.Argument(
            help="Folder of research files, a database url or an s3:// prefix.",
            show_default=False,
        ),
    ],
    production_dir: Annotated[
        str,
        typer.Argument(
            help="Folder of production files, a database url or an s3:// prefix.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the checklist.")
    ] = Path("checklist.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing output file.")] = False,
) -> None:
    """Write a starting checklist from a research and a production folder (guesses key and roles)."""
    _refuse_init_over_inputs(output, (research_dir, production_dir))
    result = init_checklist(research_dir, production_dir, output, force=force)
    err.print(Text.assemble(("wrote", "green"), f" {output}: " + "; ".join(result.summary)))
    err.print(
        f"next: check the `# guessed` lines, then `mlcheck validate {output}` and "
        f"`mlcheck run {output}`",
        markup=False,
        soft_wrap=True,
    )


env_app = typer.Typer(
    help="Record this Python environment for a checklist's `environment:` entry.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


@env_app.command("capture")
def env_capture(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON here (default: stdout).")
    ] = None,
) -> None:
    """Write this interpreter's Python version, platform and installed packages as JSON."""
    _write(capture_json(), output)


@app.command("labels-needed")
def labels_needed(
    metric: Annotated[str, typer.Option(help="accuracy, precision, recall or roc_auc.")],
    expected: Annotated[float, typer.Option(help="The metric value you expect, e.g. 0.9.")],
    margin: Annotated[
        float | None, typer.Option(help="Wanted confidence-interval half-width (metric units).")
    ] = None,
    labels: Annotated[
        int | None, typer.Option(help="Reverse: the half-width this many labels give.")
    ] = None,
    prevalence: Annotated[
        float | None, typer.Option(help="Share of positives (recall, roc_auc, precision).")
    ] = None,
    positive_rate: Annotated[
        float | None, typer.Option(help="Share of predicted positives (precision).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
) -> None:
    """How many labels a metric needs for a given precision of measurement (or the reverse)."""
    from mlcheck.metrics import labels_needed_report  # scipy only when this command runs

    try:
        text = labels_needed_report(
            metric,
            expected,
            confidence,
            margin=margin,
            labels=labels,
            prevalence=prevalence,
            positive_rate=positive_rate,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _write(text, None)


def _stages(names: list[str], option: str) -> tuple[str, ...]:
    """Validate stage names given to --only/--skip against the stages this version has."""
    for name in names:
        if name not in STAGE_ORDER:
            raise UsageError(
                f"{option}: unknown stage {name!r}; stages are: {', '.join(STAGE_ORDER)}"
            )
        if name not in available_stages():
            raise UsageError(f"{option}: stage {name!r} is not available in mlcheck {__version__}")
    return tuple(dict.fromkeys(names))


def _refuse_to_overwrite_inputs(checklist: Checklist, outputs: list[Path]) -> None:
    """Inputs are only read: a report path that is the checklist or a source by any name (a
    hard link, a symbolic link, another path) or lies inside a source folder is a usage error.
    Files are compared by identity (device, inode), and by resolved path when absent."""
    inputs = _input_paths(checklist)
    resolved = {Path(os.path.realpath(p)) for p in inputs}
    files = _identities(inputs)
    folders = {file_identity(p) for p in inputs if p.is_dir()} - {None}
    for out in outputs:
        target = Path(os.path.realpath(out))
        inside = any(file_identity(parent) in folders for parent in target.parents)
        if target in resolved or file_identity(target) in files or inside:
            raise UsageError(
                f"refusing to write the report to {out}: it is one of the checklist's inputs"
            )
    pairs = [(a, b) for i, a in enumerate(outputs) for b in outputs[i + 1 :]]
    twice = next((a for a, b in pairs if _same_file(a, b)), None)
    if twice is not None:
        raise UsageError(f"two of --output/--junit/--html name {twice}; give them different files")


def _identities(inputs: list[Path]) -> set[tuple[int, int]]:
    """(device, inode) of every input file, and of every file inside an input folder: a hard
    link elsewhere to one of them is that input too."""
    files = [p for p in inputs if not p.is_dir()]
    files += [f for p in inputs if p.is_dir() for f in p.rglob("*")]
    return {found for p in files if (found := file_identity(p)) is not None}


def _refuse_init_over_inputs(output: Path, folders: tuple[str, str]) -> None:
    """`--force` replaces a checklist, never a file `init` reads: an output that is a file of
    either local folder, by any name (a hard link too), is a usage error. A pipe, socket or
    device in a folder is an input error, found with `stat` before anything is opened."""
    local = [Path(f) for f in folders if Path(f).is_dir()]
    for folder in local:  # a named pipe would block the sampling read forever
        problem = unreadable_inside(folder)
        if problem is not None:
            raise InputError(problem)
    target = file_identity(output)
    if target is not None and target in _identities(local):
        raise UsageError(
            f"refusing to write the checklist to {output}: it is one of the files it reads"
        )


def _input_paths(checklist: Checklist) -> list[Path]:
    """The checklist, every source's file or folder (or sqlite database), environment files."""
    inputs = [Path(checklist.source_file)]
    for spec in declared_sources(checklist).values():
        try:
            inputs.append(source_location(spec, checklist))
        except InputError:  # a url naming no file, a link loop: reported when the source is read
            continue
    for side in (checklist.research, checklist.production):
        if side.environment and side.environment.path:
            inputs.append(checklist.resolve_path(side.environment.path))
    return inputs


def _same_file(first: Path, second: Path) -> bool:
    one, other = file_identity(first), file_identity(second)
    if one is not None and other is not None:
        return one == other
    return os.path.realpath(first) == os.path.realpath(second)


@contextmanager
def _progress(
    *, enabled: bool, on_done: Callable[[StageResult], None] | None = None
) -> Iterator[Progress]:
    """A spinner on stderr naming the source being read and the stage running; off when not a
    terminal. `on_done` prints a finished stage, with the spinner paused so lines do not mix."""
    if not enabled:
        yield Progress(on_stage_done=on_done or Progress().on_stage_done)
        return
    with err.status(Text("mlcheck: starting"), spinner="dots") as status:
        stage = [""]  # the stage running, kept while it reads its sources

        def on_stage(name: str) -> None:
            stage[0] = f"running {name}"
            status.update(Text(f"mlcheck: {stage[0]}"))

        def on_read(slot: str) -> None:
            status.update(Text(f"mlcheck: {stage[0] + ': ' if stage[0] else ''}reading {slot}"))

        def on_stage_done(result: StageResult) -> None:
            if on_done is not None:
                status.stop()  # the spinner redirects stdout while it runs
                on_done(result)
                status.start()

        yield Progress(on_stage=on_stage, on_read=on_read, on_stage_done=on_stage_done)


def _write(text: str, path: Path | None) -> None:
    """Write a report to stdout or a file (UTF-8; an unencodable character becomes `?`)."""
    if path is None:
        _write_stdout(text)
        return
    try:
        _write_file(Path(os.path.realpath(path)), text.encode("utf-8", errors="replace"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_file(target: Path, data: bytes) -> None:
    """Create missing folders; write a regular (or new) file beside itself and rename it over
    the target, so an interruption leaves the old file or the whole new one, never half a
    report. A target that is not a regular file (/dev/null, a pipe) is written in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder")
    if mode is not None and not stat.S_ISREG(mode):
        target.write_bytes(data)
        return
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    except PermissionError:
        if mode is None:
            raise
        target.write_bytes(data)  # a writable report in a folder that takes no new files
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, stat.S_IMODE(mode))  # replacing a report keeps its permissions
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _write_stdout(text: str) -> None:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a non-UTF-8 locale must not crash the report
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) left: keep the verdict's exit code, silence the flush at exit.
        _discard_stdout()
    except OSError as exc:  # a full disk (`> /dev/full`), a quota: an output error, not a bug
        _discard_stdout()
        raise UsageError(f"cannot write to stdout: {exc.strerror or exc}") from None
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the report was going out
        _discard_stdout()
        INTERRUPTION.say(
            f"{INTERRUPTION.word()} while writing the report to stdout: the report is incomplete"
        )
        raise


def _discard_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered must not block or fail at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Interruption:
    """Which signal interrupted the run (SIGINT or SIGTERM), and whether that was said yet."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.signal = signal.SIGINT
        self.said = False

    def word(self) -> str:
        return "terminated" if self.signal == signal.SIGTERM else "interrupted"

    def exit_code(self) -> int:
        return 128 + int(self.signal)  # 130 for Ctrl-C, 143 for SIGTERM, as shells report them

    def say(self, message: str | None = None) -> None:
        if not self.said:
            err.print(Text(message or self.word()), soft_wrap=True)
        self.said = True


INTERRUPTION = _Interruption()


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a CI timeout, `kill`) stops the run the way Ctrl-C does: reports being written
    are abandoned whole, the process exits 143 with one line. Either signal also interrupts
    the engine's running query: DuckDB runs it in C, on this thread or a worker, and would
    otherwise finish it (minutes at 10M rows) before the run could stop."""
    INTERRUPTION.signal = signal.Signals(signum)
    duck = sys.modules.get("mlcheck.engines.duck")  # not imported: no engine to interrupt
    if duck is not None:
        duck.interrupt_queries()
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers (embedded use)
        return
    INTERRUPTION.reset()
    previous = {s: signal.signal(s, _on_sigterm) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


BUG_REPORT = (
    "This is a bug in mlcheck: please report it on the mlcheck issue tracker "
    "with the command, the checklist and the output of `--verbose`."
)


def _report_error(exc: MlcheckError) -> None:
    err.print(Text.assemble(("error: ", "bold red"), exc.message), soft_wrap=True)
    for problem in getattr(exc, "problems", []):
        err.print(Text(f"  {problem}"), soft_wrap=True)
    if exc.hint:
        err.print(Text(f"  hint: {exc.hint}"), soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is caught here, once, and turned into a message and exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    with _sigterm_as_interrupt():
        code = _main(args, verbose="-v" in args or "--verbose" in args)
    sys.exit(code)


def _main(args: list[str], *, verbose: bool) -> int:
    try:
        # Non-standalone: click returns a command's exit code instead of calling sys.exit, and
        # lets usage errors through so they get one line here rather than a usage screen.
        code = app(args=args, standalone_mode=False, prog_name="mlcheck")
    except MlcheckError as exc:
        _report_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except _CLI_ERRORS as exc:
        return _usage_error(exc)
    except Exception as exc:  # the one place a bug becomes exit 3
        err.print(Text(f"internal error: {type(exc).__name__}: {exc}"), soft_wrap=True)
        err.print(Text(BUG_REPORT), soft_wrap=True)
        if verbose:
            err.print(Text(traceback.format_exc()), soft_wrap=True)
        return EXIT_INTERNAL
    if code == EXIT_INTERRUPTED:  # click turns Ctrl-C inside a command into exit code 130
        INTERRUPTION.say()
        return INTERRUPTION.exit_code()
    return code if isinstance(code, int) else EXIT_READY


def _usage_error(exc: Exception) -> int:
    """A click/typer usage error: one line and exit 2 (bare `mlcheck` prints the help)."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the help text itself
        err.print(Text(message), soft_wrap=True)
        return EXIT_USAGE
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    err.print(
        Text.assemble(("error: ", "bold red"), " ".join(message.split()) + where), soft_wrap=True
    )
    return EXIT_USAGE


def _cli_error_types() -> tuple[type[Exception], ...]:
    """Usage-error classes: typer >= 0.15 vendors click, older typer uses click itself."""
    found: list[type[Exception]] = []
    if hasattr(typer, "TyperException"):
        found.append(typer.TyperException)
    try:
        import click
    except ImportError:
        return tuple(found)
    return (*found, click.exceptions.ClickException)


_CLI_ERRORS = _cli_error_types()


__all__ = ["ChecklistError", "__version__", "app", "main"]
