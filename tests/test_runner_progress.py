"""The runner reports each finished stage through `Progress.on_stage_done`, in order, before the
next stage starts, so the CLI can print a stage's panel as soon as the stage is done."""

from __future__ import annotations

from collections.abc import Iterator

from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.registry import CheckSpec, Registry
from mlcheck.results import STAGE_ORDER, Finding, StageResult, Status
from mlcheck.runner import Progress, RunOptions, run_checklist

CHECKLIST = Checklist.model_validate({"research": {}, "production": {}})
RAW, FEAT, SPLIT, PRED = STAGE_ORDER[:4]


def test_each_stage_is_reported_done_before_the_next_one_starts() -> None:
    events: list[str] = []

    def check(status: Status):  # type: ignore[no-untyped-def]
        def run(ctx: StageContext) -> Iterator[Finding]:
            """A throwaway check."""
            events.append(f"run {ctx.stage}")
            yield Finding(status, "m")

        return run

    reg = Registry()
    for i, (stage, status) in enumerate(
        ((RAW, Status.PASS), (FEAT, Status.FAIL), (SPLIT, Status.PASS))
    ):
        reg.register(CheckSpec(f"TST00{i}", stage, check(status)))
    done: list[StageResult] = []

    def on_done(stage: StageResult) -> None:
        events.append(f"done {stage.id}")
        done.append(stage)

    result = run_checklist(
        CHECKLIST,
        RunOptions(only=(RAW, FEAT, SPLIT, PRED)),
        Progress(on_stage_done=on_done),
        registry=reg,
        stages=dict.fromkeys((RAW, FEAT, SPLIT, PRED), lambda _: None),
    )
    assert events == [
        f"run {RAW}",
        f"done {RAW}",
        f"run {FEAT}",
        f"done {FEAT}",
        f"done {SPLIT}",
        f"done {PRED}",
    ]
    assert tuple(done) == result.stages  # the very results the report is made of
    assert [s.status for s in done] == [Status.PASS, Status.FAIL, Status.NOT_RUN, Status.NOT_RUN]


def test_the_run_lists_every_registered_check_of_every_stage_even_unrun_ones() -> None:
    reg = Registry()
    reg.register(CheckSpec("TST001", RAW, lambda ctx: iter([Finding(Status.FAIL, "m")])))
    reg.register(CheckSpec("TST002", FEAT, lambda ctx: iter([])))
    result = run_checklist(
        CHECKLIST, RunOptions(), registry=reg, stages=dict.fromkeys((RAW, FEAT), lambda _: None)
    )
    assert result.stages[1].status is Status.NOT_RUN
    assert {s: [i for i, _ in c] for s, c in result.planned.items()} == {
        RAW: ["TST001"],
        FEAT: ["TST002"],
    }
    assert "planned" not in result.to_dict()  # not part of the JSON report
