"""The terminal report: panels in stage order, problems shown, passes counted, text kept literal."""

from __future__ import annotations

import re

from mlcheck.reporters import terminal
from mlcheck.results import CheckResult, RunResult, StageResult, Status

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_panels_follow_stage_order_and_the_verdict_comes_last(full_result: RunResult) -> None:
    text = terminal.render(full_result, color=False)
    positions = [text.index(f"  {s.id} ") for s in full_result.stages]
    assert positions == sorted(positions)
    after_panels = " ".join(text[text.rindex("╯") + 1 :].split())
    assert after_panels.startswith("NOT READY: split_reproducibility (fail), prediction_mismatch")


def test_passing_checks_collapse_to_a_count_unless_verbose(full_result: RunResult) -> None:
    quiet = terminal.render(full_result, color=False)
    assert "RAW001" not in quiet and "3 passed (--verbose lists them)" in quiet
    verbose = terminal.render(full_result, color=False, verbose=True)
    assert all(f"RAW00{i}" in verbose for i in (1, 2, 3))


def test_problems_show_observed_threshold_hint_and_examples(full_result: RunResult) -> None:
    text = terminal.render(full_result, color=False, width=200)
    assert "NaN (limit 0)" in text and "inf (limit -inf)" in text
    assert "↳ SPLIT003 [splits / split]: Equal proportions with different membership" in text
    assert "examples: 1001; 1002; 1003; … (7 more)" in text
    assert "no live labels declared" in text  # the skipped stage's reason


def test_messages_are_literal_and_control_characters_escaped(full_result: RunResult) -> None:
    text = terminal.render(full_result, color=True, width=200)
    assert "[bold]not markup[/bold]" in text  # rich markup in data is not interpreted
    assert "\\x1b[31mred" in ANSI.sub("", text)  # the data's escape is shown, not executed
    assert "\x07" not in text and "division by zero\\x07" in ANSI.sub("", text)


def test_no_color_means_no_escape_sequences(full_result: RunResult) -> None:
    assert "\x1b" not in terminal.render(full_result, color=False)
    assert ANSI.search(terminal.render(full_result, color=True))


def test_width_is_respected(full_result: RunResult) -> None:
    lines = terminal.render(full_result, color=False, width=72).splitlines()
    # only the verdict line may run longer: it is kept on one line for grepping CI logs
    assert max(len(line) for line in lines[:-1]) <= 72


def test_a_stage_with_many_problems_shows_the_worst_first_and_counts_the_rest() -> None:
    """100 warnings then 1 failure: the failure leads, 20 rows are shown, 81 are counted."""
    warns = [CheckResult(f"RAW{i:03d}", "w", Status.WARN, f"warn {i}") for i in range(100)]
    fail = CheckResult("RAW999", "f", Status.FAIL, "the failure")
    stage = StageResult("data_reproducibility", Status.FAIL, 0.0, None, (*warns, fail))
    result = RunResult("c.yaml", None, "not_ready", stage.id, 0.0, (stage,))
    text = terminal.render(result, color=False)
    assert text.index("RAW999") < text.index("RAW000")
    assert "RAW018" in text and "RAW019" not in text
    assert f"… {101 - terminal.MAX_PROBLEM_ROWS} more problem rows" in text
    assert "RAW099" in terminal.render(result, color=False, verbose=True)
