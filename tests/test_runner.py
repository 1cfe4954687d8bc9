"""The runner: stage order, stopping, selection, blocking rules, crashes, determinism.

Every test registers throwaway checks in a private `Registry` and passes its own stage plan, so the
real registry and stage modules are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from mlcheck.checklist import Checklist, load_checklist
from mlcheck.context import StageContext
from mlcheck.errors import EXIT_INTERNAL, EXIT_NOT_READY, EXIT_READY, InputError
from mlcheck.registry import CheckSpec, Registry
from mlcheck.reporters import json_report
from mlcheck.results import STAGE_ORDER, Finding, StageResult, Status, worst
from mlcheck.runner import Progress, RunOptions, blocks, exit_code, run_checklist

CHECKLIST = Checklist.model_validate({"research": {}, "production": {}})
RAW, FEAT, SPLIT, PRED = STAGE_ORDER[:4]


def always_runs(_: Checklist) -> str | None:
    return None


def plan(*stages: str) -> dict[str, Callable[[Checklist], str | None]]:
    return dict.fromkeys(stages, always_runs)


def yielding(
    *statuses: Status, calls: list[str] | None = None, name: str = ""
) -> Callable[[StageContext], Iterator[Finding]]:
    def check(ctx: StageContext) -> Iterator[Finding]:
        """A throwaway check."""
        if calls is not None:
            calls.append(name or ctx.stage)
        for status in statuses:
            yield Finding(status, f"{status.value} finding")

    return check


def registry(*specs: tuple[str, str, Callable[[StageContext], object]]) -> Registry:
    reg = Registry()
    for check_id, stage, func in specs:
        reg.register(CheckSpec(check_id, stage, func))  # type: ignore[arg-type]
    return reg


def statuses(result: object) -> list[tuple[str, str]]:
    return [(s.id, s.status.value) for s in result.stages]  # type: ignore[attr-defined]


def test_stages_run_in_the_spec_order_whatever_the_plan_order() -> None:
    calls: list[str] = []
    reg = registry(
        *(
            (f"TST00{i}", stage, yielding(Status.PASS, calls=calls))
            for i, stage in enumerate((PRED, RAW, SPLIT, FEAT))
        )
    )
    result = run_checklist(
        CHECKLIST, RunOptions(), registry=reg, stages=plan(SPLIT, PRED, RAW, FEAT)
    )
    assert calls == [RAW, FEAT, SPLIT, PRED]
    assert [s.id for s in result.stages] == [RAW, FEAT, SPLIT, PRED]
    assert result.verdict == "ready" and exit_code(result) == EXIT_READY


def test_stops_at_the_first_failing_stage_and_marks_the_rest_not_run() -> None:
    calls: list[str] = []
    reg = registry(
        ("TST001", RAW, yielding(Status.PASS, calls=calls)),
        ("TST002", FEAT, yielding(Status.PASS, Status.FAIL, calls=calls)),
        ("TST003", SPLIT, yielding(Status.PASS, calls=calls)),
        ("TST004", PRED, yielding(Status.PASS, calls=calls)),
    )
    result = run_checklist(
        CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW, FEAT, SPLIT, PRED)
    )
    assert calls == [RAW, FEAT]
    assert statuses(result) == [
        (RAW, "pass"),
        (FEAT, "fail"),
        (SPLIT, "not_run"),
        (PRED, "not_run"),
    ]
    assert result.stopped_at == FEAT and result.verdict == "not_ready"
    assert result.stages[2].reason == f"not run: {FEAT} failed" and result.stages[2].checks == ()
    assert exit_code(result) == EXIT_NOT_READY


def test_keep_going_runs_every_stage() -> None:
    reg = registry(
        ("TST001", RAW, yielding(Status.FAIL)),
        ("TST002", FEAT, yielding(Status.PASS)),
        ("TST003", SPLIT, yielding(Status.FAIL)),
    )
    result = run_checklist(
        CHECKLIST, RunOptions(keep_going=True), registry=reg, stages=plan(RAW, FEAT, SPLIT)
    )
    assert statuses(result) == [(RAW, "fail"), (FEAT, "pass"), (SPLIT, "fail")]
    assert result.stopped_at is None and result.verdict == "not_ready"


def test_only_and_skip_deselect_stages_without_running_their_checks() -> None:
    calls: list[str] = []
    reg = registry(
        *(
            (f"TST00{i}", stage, yielding(Status.FAIL, calls=calls))
            for i, stage in enumerate((RAW, FEAT, SPLIT))
        )
    )
    only = run_checklist(
        CHECKLIST,
        RunOptions(only=(FEAT,), keep_going=True),
        registry=reg,
        stages=plan(RAW, FEAT, SPLIT),
    )
    assert calls == [FEAT]
    assert statuses(only) == [(RAW, "skipped"), (FEAT, "fail"), (SPLIT, "skipped")]
    assert only.stages[0].reason == "not selected (--only)"
    calls.clear()
    skip = run_checklist(
        CHECKLIST, RunOptions(skip=(RAW, FEAT)), registry=reg, stages=plan(RAW, FEAT, SPLIT)
    )
    assert calls == [SPLIT]
    assert skip.stages[1].reason == "not selected (--skip)"


def test_warnings_block_only_with_fail_on_warn() -> None:
    reg = registry(
        ("TST001", RAW, yielding(Status.PASS, Status.WARN)), ("TST002", FEAT, yielding(Status.PASS))
    )
    lenient = run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW, FEAT))
    assert statuses(lenient) == [(RAW, "warn"), (FEAT, "pass")] and lenient.verdict == "ready"
    strict = run_checklist(
        CHECKLIST, RunOptions(fail_on_warn=True), registry=reg, stages=plan(RAW, FEAT)
    )
    assert statuses(strict) == [(RAW, "warn"), (FEAT, "not_run")]
    assert strict.stopped_at == RAW and exit_code(strict) == EXIT_NOT_READY


@pytest.mark.parametrize(
    ("status", "fail_on_warn", "expected"),
    [
        (Status.PASS, True, False),
        (Status.WARN, False, False),
        (Status.WARN, True, True),
        (Status.FAIL, False, True),
        (Status.ERROR, False, True),
        (Status.SKIPPED, True, False),
        (Status.NOT_RUN, True, False),
    ],
)
def test_what_blocks(status: Status, fail_on_warn: bool, expected: bool) -> None:
    assert blocks(StageResult(RAW, status), RunOptions(fail_on_warn=fail_on_warn)) is expected


def test_require_all_turns_an_input_missing_skip_into_a_failure_but_not_a_deselection() -> None:
    reg = registry(("TST001", RAW, yielding(Status.PASS)))
    stages = {
        RAW: always_runs,
        FEAT: lambda _: "no features declared",
        SPLIT: lambda _: "no splits declared",
    }
    lenient = run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=stages)
    assert (
        statuses(lenient) == [(RAW, "pass"), (FEAT, "skipped"), (SPLIT, "skipped")]
        and lenient.verdict == "ready"
    )
    assert lenient.stages[1].reason == "no features declared"
    strict = run_checklist(CHECKLIST, RunOptions(require_all=True), registry=reg, stages=stages)
    assert statuses(strict) == [(RAW, "pass"), (FEAT, "fail"), (SPLIT, "not_run")]
    assert strict.stages[1].reason == "no features declared (--require-all)"
    deselected = run_checklist(
        CHECKLIST, RunOptions(require_all=True, only=(RAW,)), registry=reg, stages=stages
    )
    assert (
        statuses(deselected) == [(RAW, "pass"), (FEAT, "skipped"), (SPLIT, "skipped")]
        and deselected.verdict == "ready"
    )


def test_a_run_where_every_stage_is_skipped_checked_nothing_and_is_not_ready() -> None:
    """Skipped for missing inputs, deselected by --only/--skip, or both: no stage ran, so the
    verdict is not ready (exit 1), never READY; one stage that ran is enough to be ready."""
    reg = registry(("TST001", RAW, yielding(Status.PASS)), ("TST002", FEAT, yielding(Status.PASS)))
    stages = {RAW: always_runs, FEAT: lambda _: "no features declared"}
    for options in (
        RunOptions(only=(FEAT,)),  # selected, but skipped for a missing input
        RunOptions(skip=(RAW,)),
        RunOptions(skip=(RAW, FEAT)),
    ):
        result = run_checklist(CHECKLIST, options, registry=reg, stages=stages)
        assert {s.status for s in result.stages} == {Status.SKIPPED}
        assert (result.verdict, result.stopped_at) == ("not_ready", None)
        assert exit_code(result) == EXIT_NOT_READY
    ran = run_checklist(CHECKLIST, RunOptions(only=(RAW,)), registry=reg, stages=stages)
    assert (ran.verdict, exit_code(ran)) == ("ready", EXIT_READY)


def test_a_crashing_check_becomes_an_error_and_the_rest_of_the_stage_still_runs() -> None:
    calls: list[str] = []

    def crashes_midway(ctx: StageContext) -> Iterator[Finding]:
        """Crashes after one finding."""
        yield Finding(Status.PASS, "before the crash", column="a")
        raise ZeroDivisionError("division by zero")

    reg = registry(
        ("TST001", RAW, crashes_midway),
        ("TST002", RAW, yielding(Status.PASS, calls=calls, name="after")),
        ("TST003", FEAT, yielding(Status.PASS, calls=calls, name="next stage")),
    )
    result = run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW, FEAT))
    raw = result.stages[0]
    assert [(c.id, c.status) for c in raw.checks] == [
        ("TST001", Status.PASS),
        ("TST001", Status.ERROR),
        ("TST002", Status.PASS),
    ]
    error = raw.checks[1]
    assert error.message == "check crashed: ZeroDivisionError: division by zero"
    assert (
        error.title == "Crashes after one finding" and error.hint and "bug in mlcheck" in error.hint
    )
    assert error.details["exception"] == "ZeroDivisionError"
    assert error.details["at"] == f"test_runner.py:{crashes_midway.__code__.co_firstlineno + 3}"
    assert "traceback" not in error.details
    assert calls == [
        "after"
    ]  # the crash stops its stage (error blocks), not the stage's other checks
    assert raw.status is Status.ERROR and result.stages[1].status is Status.NOT_RUN
    assert exit_code(result) == EXIT_INTERNAL
    verbose = run_checklist(CHECKLIST, RunOptions(verbose=True), registry=reg, stages=plan(RAW))
    assert "ZeroDivisionError" in verbose.stages[0].checks[1].details["traceback"]


@pytest.mark.parametrize(
    ("bad_output", "message"),
    [
        ({"status": "fail"}, "check crashed: TypeError: the check yielded a dict, not a Finding"),
        (
            Finding(Status.SKIPPED, "x"),
            "check crashed: TypeError: a check cannot report status 'skipped'",
        ),
        (Finding("bogus", "x"), "check crashed: ValueError: 'bogus' is not a valid Status"),
    ],  # type: ignore[arg-type]
)
def test_a_check_yielding_something_invalid_is_an_error(bad_output: object, message: str) -> None:
    reg = registry(("TST001", RAW, lambda ctx: iter([bad_output])))
    result = run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW))
    assert [(c.status, c.message) for c in result.stages[0].checks] == [(Status.ERROR, message)]


def test_a_status_given_as_text_is_accepted() -> None:
    reg = registry(("TST001", RAW, lambda ctx: iter([Finding("warn", "w")])))  # type: ignore[arg-type]
    result = run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW))
    assert (
        result.stages[0].checks[0].status is Status.WARN and result.stages[0].status is Status.WARN
    )


def test_an_input_error_from_a_check_ends_the_run() -> None:
    def unreadable(ctx: StageContext) -> Iterator[Finding]:
        """Reads a source that is not there."""
        raise InputError("research.features: file not found")
        yield  # pragma: no cover - makes this a generator

    reg = registry(("TST001", RAW, unreadable))
    with pytest.raises(InputError, match="file not found"):
        run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW))


def test_a_crashing_skip_rule_is_a_stage_error() -> None:
    def broken_rule(_: Checklist) -> str | None:
        raise KeyError("raw")

    result = run_checklist(CHECKLIST, RunOptions(), registry=Registry(), stages={RAW: broken_rule})
    assert statuses(result) == [(RAW, "error")]
    assert result.stages[0].reason == "deciding whether to skip crashed: KeyError: 'raw'"
    assert exit_code(result) == EXIT_INTERNAL


def test_a_stage_without_checks_passes() -> None:
    result = run_checklist(CHECKLIST, RunOptions(), registry=Registry(), stages=plan(RAW))
    assert statuses(result) == [(RAW, "pass")] and result.stages[0].checks == ()


def seeded_noise(ctx: StageContext) -> Iterator[Finding]:
    """Draws from the run's seed, as a bootstrap would."""
    rng = np.random.default_rng(ctx.rng_seed("noise"))
    yield Finding(
        Status.PASS,
        "noise",
        observed=float(rng.normal()),
        details={"draws": rng.integers(0, 100, 5)},
    )


def test_same_inputs_and_seed_give_byte_identical_json() -> None:
    reg = registry(("TST001", RAW, seeded_noise))

    def render(seed: int) -> str:
        result = run_checklist(CHECKLIST, RunOptions(seed=seed), registry=reg, stages=plan(RAW))
        return json_report.render(result, timings=False)

    assert render(7) == render(7)
    assert render(7) != render(8)


def test_progress_names_each_stage_run_and_each_source_read_once(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("id,x\n1,2\n2,3\n")
    (tmp_path / "c.yaml").write_text(
        "key: id\nresearch: {features: {path: f.csv}}\nproduction: {features: {path: f.csv}}\n"
    )
    checklist = load_checklist(tmp_path / "c.yaml")

    def reads(ctx: StageContext) -> Iterator[Finding]:
        """Reads both sides (one file)."""
        n = ctx.engine.num_rows("research.features") + ctx.engine.num_rows("production.features")
        yield Finding(Status.PASS, "read", observed=n)

    seen: list[str] = []
    progress = Progress(
        on_stage=lambda s: seen.append(f"stage {s}"), on_read=lambda s: seen.append(f"read {s}")
    )
    reg = registry(("TST001", FEAT, reads), ("TST002", FEAT, reads))
    stages = {RAW: lambda _: "no raw sources", FEAT: always_runs}
    result = run_checklist(checklist, RunOptions(), progress, registry=reg, stages=stages)
    assert seen == [f"stage {FEAT}", "read research.features"]
    assert [c.observed for c in result.stages[1].checks] == [4, 4]


def test_a_crash_inside_mlcheck_is_located_in_the_package() -> None:
    def misuses_a_helper(ctx: StageContext) -> Iterator[Finding]:
        """Passes a string where a Status is expected."""
        yield Finding(worst(["pass"]), "never")  # type: ignore[list-item]

    reg = registry(("TST001", RAW, misuses_a_helper))
    error = (
        run_checklist(CHECKLIST, RunOptions(), registry=reg, stages=plan(RAW)).stages[0].checks[0]
    )
    assert error.details["exception"] == "AttributeError"
    assert re.fullmatch(r"mlcheck/results\.py:\d+", error.details["at"])


def test_lazy_imports_follow_the_stages_that_run() -> None:
    """Background imports: scipy only when stage 5 runs, pandas (which pyarrow imports on its
    first array) whenever any stage runs, nothing when none does."""
    from mlcheck.runner import lazy_imports

    assert lazy_imports(["data_reproducibility"]) == ["pandas"]
    assert lazy_imports(["feature_parity", "performance_drop"]) == [
        "pandas",
        "scipy.special",
        "scipy.optimize",
    ]
    assert lazy_imports([]) == []
