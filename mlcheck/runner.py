"""Runs the stages in the spec's order and stops at the first failing one (unless told not to).

The runner never prints: it reports progress through callbacks and returns a frozen `RunResult`.
A check that raises becomes an `error` result and the rest of its stage still runs; an
`MlcheckError` (an unreadable source, an absent column) ends the run, because it is the user's
input that is wrong, not the check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

from mlcheck import __version__
from mlcheck.accept import apply_acceptances
from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine, settings_of
from mlcheck.engines.base import AggregateEngine, EngineSettings
from mlcheck.errors import EXIT_INTERNAL, EXIT_NOT_READY, EXIT_READY, MlcheckError
from mlcheck.registry import REGISTRY, CheckSpec, Registry
from mlcheck.results import STAGE_ORDER, CheckResult, Finding, RunResult, StageResult, Status, worst
from mlcheck.stages import available_stages, skip_reason

SkipReason = Callable[[Checklist], "str | None"]

# Statuses a check may report; `skipped`/`not_run` describe whole stages only.
_CHECK_STATUSES = frozenset({Status.PASS, Status.WARN, Status.FAIL, Status.ERROR})
_BUG_HINT = (
    "This is a bug in mlcheck; please report it with the checklist and the `--verbose` output."
)
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RunOptions:
    keep_going: bool = False
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    fail_on_warn: bool = False
    require_all: bool = False
    seed: int = 0
    verbose: bool = False
    today: date | None = None  # when `accept:` entries lapse; None: the local date
    engine: EngineSettings | None = None  # the command line's engine choice over the checklist's


# Libraries imported on first use: pyarrow imports pandas on its first array built from Python
# or numpy data (every stage builds one), and stage 5 needs scipy's special functions and
# isotonic regression. A background thread imports them while the first tables are read (Arrow
# reads without holding the GIL), which hides much of their ~0.5 s of import time. Importing
# changes no result. MLCHECK_NO_WARM=1 turns it off, to measure what it saves.
def lazy_imports(stages: list[str]) -> list[str]:
    """The libraries a run of `stages` will import on first use, in the order it needs them."""
    names = ["pandas"] if stages else []
    return names + (["scipy.special", "scipy.optimize"] if "performance_drop" in stages else [])


def _warm_imports(stages: list[str]) -> None:
    names = lazy_imports(stages)
    if names and not os.environ.get("MLCHECK_NO_WARM"):
        threading.Thread(target=_import_quietly, args=(names,), daemon=True).start()


def _import_quietly(names: list[str]) -> None:
    for name in names:
        # A broken install fails again, and is reported, where the stage imports it.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _ignore(_: object) -> None:
    return None


@dataclass
class Progress:
    """Callbacks the CLI uses to show progress on stderr; the runner itself never prints."""

    on_stage: Callable[[str], None] = field(default=_ignore)
    on_read: Callable[[str], None] = field(default=_ignore)
    on_stage_done: Callable[[StageResult], None] = field(default=_ignore)


def stage_plan() -> dict[str, SkipReason]:
    """The stages built into this version, in the spec's order, each with its skip rule."""
    return {stage: partial(skip_reason, stage) for stage in available_stages()}


def run_checklist(
    checklist: Checklist,
    options: RunOptions,
    progress: Progress | None = None,
    *,
    registry: Registry | None = None,
    stages: Mapping[str, SkipReason] | None = None,
    aggregate: AggregateEngine | None = None,
) -> RunResult:
    """Run every stage in order. `registry`/`stages` default to the real ones (tests pass their
    own); `aggregate` is an engine to use instead of starting one (not closed afterwards)."""
    progress = progress or Progress()
    registry = REGISTRY if registry is None else registry
    plan = stage_plan() if stages is None else dict(stages)
    engine = LocalEngine(
        checklist,
        on_read=progress.on_read,
        settings=settings_of(checklist, options.engine),
        aggregate_engine=aggregate,
    )
    try:
        return _run_stages(checklist, options, progress, registry, plan, engine)
    finally:
        engine.close()


def _run_stages(
    checklist: Checklist,
    options: RunOptions,
    progress: Progress,
    registry: Registry,
    plan: Mapping[str, SkipReason],
    engine: LocalEngine,
) -> RunResult:
    started = time.perf_counter()
    _warm_imports(
        [s for s in plan if s not in options.skip and (not options.only or s in options.only)]
    )
    results: list[StageResult] = []
    stopped_at: str | None = None
    for stage in sorted(plan, key=STAGE_ORDER.index):
        if stopped_at is not None:
            results.append(
                StageResult(stage, Status.NOT_RUN, reason=f"not run: {stopped_at} failed")
            )
            progress.on_stage_done(results[-1])
            continue
        result = _run_stage(stage, plan[stage], checklist, engine, registry, options, progress)
        results.append(result)
        progress.on_stage_done(result)
        engine.release_after(stage)  # inputs no later stage reads: memory for the next ones
        if blocks(result, options) and not options.keep_going:
            stopped_at = stage
    # Every stage skipped (inputs missing, or not selected): nothing was checked, so not ready.
    checked_nothing = all(s.status is Status.SKIPPED for s in results)
    blocked = any(blocks(s, options) for s in results)
    verdict = "not_ready" if blocked or checked_nothing else "ready"
    return RunResult(
        checklist=checklist.source_file,
        name=checklist.name,
        verdict=verdict,
        stopped_at=stopped_at,
        duration_s=time.perf_counter() - started,
        stages=tuple(results),
        mlcheck_version=__version__,
        planned={s: tuple((c.id, c.title) for c in registry.for_stage(s)) for s in plan},
    )


def blocks(stage: StageResult, options: RunOptions) -> bool:
    """Whether a stage's outcome makes the model not ready (warnings only with --fail-on warn)."""
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if options.fail_on_warn else set())
    return stage.status in bad


def _run_stage(
    stage: str,
    reason_for_skip: SkipReason,
    checklist: Checklist,
    engine: LocalEngine,
    registry: Registry,
    options: RunOptions,
    progress: Progress,
) -> StageResult:
    if options.only and stage not in options.only:
        return StageResult(stage, Status.SKIPPED, reason="not selected (--only)")
    if stage in options.skip:
        return StageResult(stage, Status.SKIPPED, reason="not selected (--skip)")
    try:
        reason = reason_for_skip(checklist)
    except Exception as exc:  # a crashing skip rule is a bug: report it, do not guess
        return StageResult(
            stage, Status.ERROR, reason=f"deciding whether to skip crashed: {_describe(exc)}"
        )
    if reason is not None:
        if options.require_all:
            return StageResult(stage, Status.FAIL, reason=f"{reason} (--require-all)")
        return StageResult(stage, Status.SKIPPED, reason=reason)
    progress.on_stage(stage)
    started = time.perf_counter()
    ctx = StageContext(checklist, engine, stage, options.seed)
    specs = registry.for_stage(stage)
    checks = apply_acceptances(
        [r for spec in specs for r in _run_check(spec, ctx, options)],
        checklist.accept,
        {spec.id: spec.title for spec in specs},
        options.today or date.today(),
    )
    status = worst([c.status for c in checks if c.counts])
    return StageResult(stage, status, time.perf_counter() - started, None, checks)


def _run_check(spec: CheckSpec, ctx: StageContext, options: RunOptions) -> list[CheckResult]:
    """Run one check. A crash keeps what it already yielded and adds one `error` result."""
    results: list[CheckResult] = []
    try:
        for finding in spec.func(ctx):
            results.append(CheckResult.from_finding(spec.id, spec.title, _valid(finding)))
    except MlcheckError:
        raise  # input problems (unreadable source, absent column) end the run with exit 2
    except Exception as exc:  # a crashing check must not stop the run
        results.append(_crash(spec, exc, options.verbose))
    return results


def _valid(finding: object) -> Finding:
    """A check's output, coerced to a Finding with a check status, or a TypeError (a bug)."""
    if not isinstance(finding, Finding):
        raise TypeError(f"the check yielded a {type(finding).__name__}, not a Finding")
    status = Status(finding.status)
    if status not in _CHECK_STATUSES:
        raise TypeError(f"a check cannot report status {status.value!r}")
    return finding if status is finding.status else dataclasses.replace(finding, status=status)


def _crash(spec: CheckSpec, exc: Exception, verbose: bool) -> CheckResult:
    details = {"exception": type(exc).__name__, "at": _where(exc)}
    if verbose:
        details["traceback"] = "".join(traceback.format_exception(exc))
    message = f"check crashed: {_describe(exc)}"
    return CheckResult(spec.id, spec.title, Status.ERROR, message, hint=_BUG_HINT, details=details)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _where(exc: BaseException) -> str:
    """Where a check crashed, as `path:line`: the innermost frame inside mlcheck, else the
    innermost frame at all. Paths are relative to the package so reports match across machines.
    """
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is this runner calling the check
    if not frames:
        return "unknown"
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(_PACKAGE_DIR)]
    frame = (ours or frames)[-1]
    path = Path(frame.filename).resolve()
    shown = (
        path.relative_to(_PACKAGE_DIR.parent)
        if path.is_relative_to(_PACKAGE_DIR)
        else Path(path.name)
    )
    return f"{shown.as_posix()}:{frame.lineno}"


def exit_code(result: RunResult) -> int:
    """0 ready, 1 not ready, 3 when a check (or a stage's skip rule) crashed."""
    if any(s.status is Status.ERROR for s in result.stages):
        return EXIT_INTERNAL
    return EXIT_READY if result.ready else EXIT_NOT_READY
