"""Runs the stages in the spec's order and stops at the first failing one (unless told not to)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from mlcheck import __version__
from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.errors import MlcheckError
from mlcheck.registry import REGISTRY, CheckSpec
from mlcheck.results import CheckResult, RunResult, StageResult, Status, worst
from mlcheck.stages import available_stages, skip_reason


@dataclass(frozen=True)
class RunOptions:
    keep_going: bool = False
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    fail_on_warn: bool = False
    require_all: bool = False
    seed: int = 0
    verbose: bool = False


@dataclass
class Progress:
    """Callbacks the CLI uses to show progress on stderr; the runner itself never prints."""

    on_stage: Callable[[str], None] = field(default=lambda stage: None)
    on_read: Callable[[str], None] = field(default=lambda slot: None)


def run_checklist(checklist: Checklist, options: RunOptions, progress: Progress | None = None) -> RunResult:
    progress = progress or Progress()
    engine = LocalEngine(checklist, on_read=progress.on_read)
    started = time.perf_counter()
    stages: list[StageResult] = []
    stopped_at: str | None = None
    for stage in available_stages():
        if stopped_at is not None:
            stages.append(StageResult(stage, Status.NOT_RUN, reason=f"stopped at {stopped_at}"))
            continue
        result = _run_stage(stage, checklist, engine, options, progress)
        stages.append(result)
        if _blocks(result, options) and not options.keep_going:
            stopped_at = stage
    verdict = "not_ready" if any(_blocks(s, options) for s in stages) else "ready"
    return RunResult(
        checklist=checklist.source_file,
        name=checklist.name,
        verdict=verdict,
        stopped_at=stopped_at,
        duration_s=time.perf_counter() - started,
        stages=tuple(stages),
        mlcheck_version=__version__,
    )


def _blocks(stage: StageResult, options: RunOptions) -> bool:
    """Whether a stage's outcome makes the model not ready."""
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if options.fail_on_warn else set())
    return stage.status in bad


def _run_stage(
    stage: str, checklist: Checklist, engine: LocalEngine, options: RunOptions, progress: Progress
) -> StageResult:
    if options.only and stage not in options.only:
        return StageResult(stage, Status.SKIPPED, reason="not selected (--only)")
    if stage in options.skip:
        return StageResult(stage, Status.SKIPPED, reason="not selected (--skip)")
    reason = skip_reason(stage, checklist)
    if reason is not None:
        status = Status.FAIL if options.require_all else Status.SKIPPED
        return StageResult(stage, status, reason=reason + (" (--require-all)" if options.require_all else ""))
    progress.on_stage(stage)
    started = time.perf_counter()
    ctx = StageContext(checklist, engine, stage, options.seed)
    checks = tuple(r for spec in REGISTRY.for_stage(stage) for r in _run_check(spec, ctx, options))
    status = worst([c.status for c in checks])
    return StageResult(stage, status, time.perf_counter() - started, None, checks)


def _run_check(spec: CheckSpec, ctx: StageContext, options: RunOptions) -> list[CheckResult]:
    """Run one check; a crash becomes an `error` result and the rest of the stage still runs."""
    try:
        return [CheckResult.from_finding(spec.id, spec.title, f) for f in spec.func(ctx)]
    except MlcheckError:
        raise  # input problems (unreadable source, absent column) end the run with exit 2
    except Exception as exc:  # noqa: BLE001 - a crashing check must not stop the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        details = {"exception": type(exc).__name__, "at": f"{where.filename}:{where.lineno}"}
        if options.verbose:
            details["traceback"] = traceback.format_exc()
        message = f"check crashed: {type(exc).__name__}: {exc}"
        return [CheckResult(spec.id, spec.title, Status.ERROR, message, hint=_BUG_HINT, details=details)]


_BUG_HINT = "This is a bug in mlcheck; please report it with the checklist and `--verbose` output."


def exit_code(result: RunResult) -> int:
    if any(c.status is Status.ERROR for s in result.stages for c in s.checks):
        return 3
    return 0 if result.ready else 1
