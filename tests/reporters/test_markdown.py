"""The markdown report: verdict first, a stage table that stays a table, escaped findings, size cap."""

from __future__ import annotations

import re

from mlcheck.reporters import markdown
from mlcheck.results import CheckResult, RunResult, StageResult, Status

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_verdict_comes_first(full_result: RunResult, ready_result: RunResult) -> None:
    assert markdown.render(full_result).startswith("## ❌ mlcheck: NOT READY")
    assert markdown.render(ready_result).startswith("## ✅ mlcheck: READY")


def test_stage_table_has_one_row_per_stage_and_pipes_in_text_do_not_add_cells(
    full_result: RunResult,
) -> None:
    lines = markdown.render(full_result).splitlines()
    rows = [line for line in lines if re.match(r"\| \d+ \| `", line)]
    assert len(rows) == len(full_result.stages)
    assert {len(UNESCAPED_PIPE.findall(row)) for row in rows} == {6}


def test_each_problem_has_a_section_with_its_hint_and_details(full_result: RunResult) -> None:
    text = markdown.render(full_result)
    problems = [c for s in full_result.stages for c in s.checks if c.status is not Status.PASS]
    for check in problems:
        assert f" {check.id} " in text
    assert "RAW001" not in text  # passing results are only counted
    assert "> **Hint:** Equal proportions with different membership" in text
    assert "<details><summary>details (10 examples)</summary>" in text
    # errors first, then failures, then warnings
    assert text.index("PRED001") < text.index("SPLIT003") < text.index("FEAT002")


def test_html_and_markdown_in_messages_are_escaped(stopped_result: RunResult) -> None:
    text = markdown.render(stopped_result)
    assert r"\<details\> \*\*bold\*\* `tick`" in text  # a backtick span stays code
    # the only raw <details> tags are the report's own, and they are balanced
    assert text.count("<details>") == text.count("</details>") == 1


def test_code_spans_survive_backticks() -> None:
    assert markdown.code("a`b") == "``a`b``"
    assert markdown.code("`x") == "`` `x ``"
    assert markdown.code("a|b", table=True) == r"`a\|b`"


def test_verbose_lists_passing_results_collapsed(full_result: RunResult) -> None:
    text = markdown.render(full_result, verbose=True)
    assert "<summary>5 passing results</summary>" in text
    assert "- RAW001 Passing check 1 · `applications` · `0 (limit 0)`" in text


def test_a_huge_report_still_fits_a_pull_request_comment() -> None:
    """2,000 failures with 10 kB of details each would be 20 MB; the report stays under the cap."""
    big = {"examples": list(range(10)), "blob": "x" * 10_000}
    checks = tuple(
        CheckResult(f"RAW{i % 1000:03d}", "Lost rows", Status.FAIL, "lost", details=big)
        for i in range(2000)
    )
    result = RunResult(
        "c.yaml",
        None,
        "not_ready",
        "data_reproducibility",
        1.0,
        (StageResult("data_reproducibility", Status.FAIL, 1.0, None, checks),),
        "0.1.0",
    )
    text = markdown.render(result)
    assert len(text) <= markdown.MAX_CHARS
    shown = text.count("#### ❌")  # one entry per check id: each id has two findings
    assert 0 < shown < 1000
    assert f"_{2000 - 2 * shown} more finding(s) not shown" in text
    assert "x" * 100 not in text  # a long detail value is cut in its table cell
