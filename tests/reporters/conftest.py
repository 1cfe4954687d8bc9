"""Hand-built run results for the reporter tests, with fixed timings so golden files are stable.

`full_result` is a --keep-going run that has one of everything a report must show:
- data_reproducibility passes (3 passing results, so they collapse to a count);
- feature_parity warns; its message has unicode, `|`, rich markup and an ANSI escape; FEAT012
  warns on three columns with one cause (one grouped entry), FEAT007 warns but is accepted, and
  a stale `accept:` entry for FEAT005 warns;
- split_reproducibility fails: a result with a hint, a `details.examples` list of 10 keys and
  an observed NaN, a second one with observed +inf against a -inf threshold, and a pass;
- prediction_mismatch errors (a check that crashed), its message holds a BEL control character;
- performance_drop is skipped with a reason (no live labels); the run's plan still names its
  two checks, so JUnit keeps them as skipped cases.

`stopped_result` is a default run that stopped at the first failing stage: a pass, a fail with
markdown and HTML in its message, then not_run stages.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from mlcheck.results import Acceptance, CheckResult, RunResult, StageResult, Status


def _passes(stage_prefix: str, n: int) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(
            f"{stage_prefix}00{i}",
            f"Passing check {i}",
            Status.PASS,
            f"all {i} fine",
            source="applications",
            observed=0,
            threshold=0,
        )
        for i in range(1, n + 1)
    )


def build_full_result() -> RunResult:
    warn = CheckResult(
        "FEAT002",
        "Float precision differences",
        Status.WARN,
        "Δ mean 0.5 µs | naïve [bold]not markup[/bold] \x1b[31mred",
        source="features",
        column="débit|ratio",
        observed=np.float32(0.25),
        expected=0.0,
        hint="float32 somewhere in the pipeline; cast back to float64",
        details={"n_cells": 12, "max_abs_diff": 1.5e-7},
    )
    reassigned = CheckResult(
        "SPLIT003",
        "Keys reassigned between splits",
        Status.FAIL,
        "12 keys changed split | equal proportions",
        source="splits",
        column="split",
        observed=math.nan,
        threshold=0,
        hint="Equal proportions with different membership: an unseeded or order-dependent split. Seed it.",
        details={
            "reassigned": 12,
            "examples": [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010],
            "matrix": {"train": {"test": 12}},
        },
    )
    infinite = CheckResult(
        "SPLIT004",
        "Class balance per split",
        Status.FAIL,
        "class balance drifted to infinity",
        source="splits",
        observed=math.inf,
        threshold=-math.inf,
        details={"ratio": [math.inf, -math.inf, math.nan]},
    )
    crashed = CheckResult(
        "PRED001",
        "Invalid outputs",
        Status.ERROR,
        "check crashed: ZeroDivisionError: division by zero\x07",
        hint="This is a bug in mlcheck; please report it with the checklist and the `--verbose` output.",
        details={
            "exception": "ZeroDivisionError",
            "at": "mlcheck/stages/prediction_mismatch.py:42",
        },
    )
    stages = (
        StageResult("data_reproducibility", Status.PASS, 0.125, None, _passes("RAW", 3)),
        StageResult(
            "feature_parity",
            Status.WARN,
            0.25,
            None,
            (warn, *_float32_group(), _accepted_stats(), _stale_acceptance(), *_passes("FEAT", 1)),
        ),
        StageResult(
            "split_reproducibility",
            Status.FAIL,
            0.5,
            None,
            (reassigned, infinite, *_passes("SPLIT", 1)),
        ),
        StageResult("prediction_mismatch", Status.ERROR, 0.0625, None, (crashed,)),
        StageResult("performance_drop", Status.SKIPPED, 0.0, "no live labels declared", ()),
    )
    return RunResult(
        "checklists/credit.yaml",
        "credit-risk scorecard v3",
        "not_ready",
        None,
        1.5,
        stages,
        "0.1.0",
        planned=_plan(
            stages,
            {"performance_drop": (("PERF001", "Live performance"), ("PERF002", "Covariate drift"))},
        ),
    )


def _plan(
    stages: tuple[StageResult, ...], extra: dict[str, tuple[tuple[str, str], ...]]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Each stage's checks as a runner would list them: the ones in the results, plus `extra`."""
    plan = {s.id: tuple(dict.fromkeys((c.id, c.title) for c in s.checks)) for s in stages}
    return {**plan, **extra}


def _float32_group() -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(
            "FEAT012",
            "Float precision differences",
            Status.WARN,
            f"`{name}` is float64 in research, float32 in production",
            source="production.features",
            column=name,
            observed="float32",
            expected="float64",
            hint="Keep float64 end to end, or accept FEAT012 in the checklist's `accept:` list.",
            details={"research_type": "float64", "production_type": "float32"},
        )
        for name in ("income", "age", "loan_amount")
    )


def _accepted_stats() -> CheckResult:
    return CheckResult(
        "FEAT007",
        "Per-column statistics agree",
        Status.WARN,
        "`income`: mean differs",
        source="production.features",
        column="income",
        hint="See the cell checks of this column.",
        accepted=Acceptance("float32 store, ticket ML-123", date(2027, 1, 31)),
    )


def _stale_acceptance() -> CheckResult:
    return CheckResult(
        "FEAT005",
        "Row counts agree",
        Status.WARN,
        "`accept[1]` (FEAT005, source `production.features`) matches no warning or failure: stale",
        source="production.features",
        hint="The problem it accepted is gone: remove or correct the entry.",
        details={"accept_entry": 1, "reason": "old extract", "until": None, "problem": "stale"},
    )


def build_stopped_result() -> RunResult:
    lost = CheckResult(
        "RAW003",
        "Keys lost in production",
        Status.FAIL,
        "# 3 rows lost <details> **bold** `tick`",
        source="bureau",
        observed=3,
        threshold=0,
        hint="An ETL filter dropped rows; compare the WHERE clauses.",
        details={"lost": 3, "examples": ["a|1", "b`2", "c<3>"]},
    )
    stages = (
        StageResult("data_reproducibility", Status.FAIL, 0.75, None, (lost, *_passes("RAW", 2))),
        StageResult(
            "feature_parity", Status.NOT_RUN, 0.0, "not run: data_reproducibility failed", ()
        ),
        StageResult(
            "split_reproducibility", Status.NOT_RUN, 0.0, "not run: data_reproducibility failed", ()
        ),
    )
    return RunResult(
        "checklists/broken/data_reproducibility.yaml",
        None,
        "not_ready",
        "data_reproducibility",
        0.75,
        stages,
        "0.1.0",
    )


def build_ready_result() -> RunResult:
    stages = (
        StageResult("data_reproducibility", Status.PASS, 0.5, None, _passes("RAW", 2)),
        StageResult("feature_parity", Status.SKIPPED, 0.0, "no features declared", ()),
    )
    return RunResult("ready.yaml", "ready", "ready", None, 0.5, stages, "0.1.0")


@pytest.fixture
def full_result() -> RunResult:
    return build_full_result()


@pytest.fixture
def stopped_result() -> RunResult:
    return build_stopped_result()


@pytest.fixture
def ready_result() -> RunResult:
    return build_ready_result()
