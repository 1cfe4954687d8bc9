"""Shared formatting helpers: values, observed-vs-threshold, tallies, the verdict line."""

from __future__ import annotations

import math

import numpy as np

from mlcheck.reporters.common import (
    examples_preview,
    fmt_value,
    observed_vs,
    tally,
    verdict_line,
    visible,
)
from mlcheck.results import CheckResult, RunResult, StageResult, Status


def _check(**kwargs: object) -> CheckResult:
    return CheckResult("RAW001", "t", Status.FAIL, "m", **kwargs)  # type: ignore[arg-type]


def test_fmt_value_is_short_and_total() -> None:
    assert fmt_value(None) == ""
    assert fmt_value(np.float64(1 / 3)) == "0.333333"
    assert fmt_value(math.nan) == "NaN" and fmt_value(-math.inf) == "-inf"
    assert fmt_value({"a": [1, 2]}) == '{"a": [1, 2]}'
    long = fmt_value("x" * 100, limit=10)
    assert long == "x" * 9 + "…"


def test_observed_vs_names_only_what_the_check_gave() -> None:
    assert observed_vs(_check(observed=3, threshold=0)) == "3 (limit 0)"
    assert observed_vs(_check(observed=3, expected=2)) == "research 2, production 3"
    assert (
        observed_vs(_check(observed=3, expected=2, threshold=1))
        == "research 2, production 3 (limit 1)"
    )
    assert observed_vs(_check(expected="3.11")) == "research 3.11"
    assert observed_vs(_check(threshold=0.05)) == "limit 0.05"
    assert observed_vs(_check()) == ""


def test_tally_orders_by_severity() -> None:
    assert (
        tally([Status.PASS, Status.FAIL, Status.PASS, Status.NOT_RUN, Status.WARN])
        == "1 fail, 1 warn, 2 pass, 1 not run"
    )
    assert tally([]) == ""


def test_verdict_line_says_why() -> None:
    stages = (
        StageResult("data_reproducibility", Status.PASS),
        StageResult("feature_parity", Status.WARN),
    )
    assert (
        verdict_line(RunResult("c", None, "ready", None, 0, stages))
        == "READY · stages: 1 warn, 1 pass"
    )
    assert (
        verdict_line(RunResult("c", None, "not_ready", "feature_parity", 0, stages))
        == "NOT READY: stopped at feature_parity (warn) · stages: 1 warn, 1 pass"
    )
    assert (
        verdict_line(RunResult("c", None, "not_ready", None, 0, stages))
        == "NOT READY: warnings block (--fail-on warn) · stages: 1 warn, 1 pass"
    )
    skipped = tuple(StageResult(s.id, Status.SKIPPED) for s in stages)
    assert (
        verdict_line(RunResult("c", None, "not_ready", None, 0, skipped))
        == "NOT READY: nothing was checked (every stage was skipped) · stages: 2 skipped"
    )


def test_visible_escapes_controls_but_keeps_text() -> None:
    assert visible("a\tb\nc\x00\x1b\x85é€😀\udcff") == "a\tb\nc\\x00\\x1b\\x85é€😀\\udcff"


def test_examples_preview() -> None:
    assert examples_preview(_check(details={"examples": ["a", "b"]})) == "a; b"
    assert examples_preview(_check(details={"examples": list(range(7))})) == "0; 1; 2; … (4 more)"
    mapping = {"key": 100001, "research": "train", "production": None}
    assert (
        examples_preview(_check(details={"examples": [mapping]}))
        == "key=100001 research=train production=null"
    )
    assert examples_preview(_check(details={"examples": "not a list"})) == ""
