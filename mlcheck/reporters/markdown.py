"""GitHub-flavoured markdown: verdict first, a stage table, then each problem with its hint.

Sized for a PR comment (GitHub caps those at 65,536 characters) and `$GITHUB_STEP_SUMMARY`:
long details are cut, and findings past the budget are counted rather than shown. Free text from
checks is escaped so a `|`, `<details>` or `*` in a message cannot break the layout.
"""

from __future__ import annotations

import json
import re

from mlcheck.reporters.common import (
    ICONS,
    PROBLEMS,
    SEVERITY_ORDER,
    label,
    observed_vs,
    one_line,
    tally,
    verdict_line,
    visible,
)
from mlcheck.results import CheckResult, RunResult, StageResult, Status, to_jsonable

MAX_CHARS = 60_000  # below GitHub's 65,536-character comment limit, with room for a wrapper
MAX_DETAILS_CHARS = 4_000
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")


def render(result: RunResult, *, verbose: bool = False, **_: object) -> str:
    """The report; with `verbose`, passing checks are listed in a collapsed section too."""
    head = _header(result) + _stage_table(result.stages)
    problems = [
        (s, c) for status in SEVERITY_ORDER if status in PROBLEMS for s, c in _with(result, status)
    ]
    body: list[str] = ["", "### Findings", ""] if problems else []
    budget = MAX_CHARS - len("\n".join(head)) - 400
    shown = 0
    for stage, check in problems:
        block = _finding(stage, check)
        size = len("\n".join(block)) + 1
        if size > budget:
            break
        body += block
        budget -= size
        shown += 1
    if shown < len(problems):
        left = len(problems) - shown
        body += [
            f"_{left} more finding(s) not shown to fit a PR comment; `--format json` has them all._",
            "",
        ]
    if verbose:
        body += _passing(result, budget)
    return "\n".join(head + body).rstrip() + "\n"


def _with(result: RunResult, status: Status) -> list[tuple[StageResult, CheckResult]]:
    return [(s, c) for s in result.stages for c in s.checks if c.status is status]


def _header(result: RunResult) -> list[str]:
    icon = ICONS[Status.PASS] if result.ready else ICONS[Status.FAIL]
    lines = [f"## {icon} mlcheck: {text(verdict_line(result))}", ""]
    about = [f"**{text(result.name)}**"] if result.name else []
    about += [
        code(result.checklist),
        f"mlcheck {text(result.mlcheck_version)}",
        f"{result.duration_s:.2f}s",
    ]
    return [*lines, " · ".join(about), ""]


def _stage_table(stages: tuple[StageResult, ...]) -> list[str]:
    lines = ["| # | stage | status | checks | note |", "|---:|---|---|---|---|"]
    for number, stage in enumerate(stages, start=1):
        status = f"{ICONS[stage.status]} {label(stage.status)}"
        counts = tally(c.status for c in stage.checks)
        note = text(stage.reason or "")
        lines.append(f"| {number} | {code(stage.id, table=True)} | {status} | {counts} | {note} |")
    return lines


def _finding(stage: StageResult, check: CheckResult) -> list[str]:
    about = (
        " — " + " / ".join(code(p) for p in (check.source, check.column) if p)
        if check.source or check.column
        else ""
    )
    out = [f"#### {ICONS[check.status]} {check.id} {text(check.title)}{about}", ""]
    out += [f"**{check.status.value}** in {code(stage.id)}: {text(check.message)}", ""]
    if observed_vs(check):
        out += [f"Observed: {code(observed_vs(check))}", ""]
    if check.hint:
        out += [f"> **Hint:** {text(check.hint)}", ""]
    if check.details:
        out += _details_block(check)
    return out


def _details_block(check: CheckResult) -> list[str]:
    body = json.dumps(to_jsonable(check.details), indent=2, ensure_ascii=False, allow_nan=False)
    if len(body) > MAX_DETAILS_CHARS:
        body = body[:MAX_DETAILS_CHARS] + "\n… (cut; `--format json` has the full details)"
    examples = check.details.get("examples")
    label = (
        f"details ({len(examples)} examples)" if isinstance(examples, (list, tuple)) else "details"
    )
    fence = _fence(body)
    return [
        "<details><summary>" + label + "</summary>",
        "",
        f"{fence}json",
        visible(body),
        fence,
        "",
        "</details>",
        "",
    ]


def _passing(result: RunResult, budget: int) -> list[str]:
    """A collapsed list of the passing results (verbose only), cut to the size budget."""
    rows = [_passing_row(check) for _, check in _with(result, Status.PASS)]
    if not rows:
        return []
    kept: list[str] = []
    for row in rows:
        budget -= len(row) + 1
        if budget < 0:
            kept.append(f"- … {len(rows) - len(kept)} more")
            break
        kept.append(row)
    return [
        "",
        f"<details><summary>{len(rows)} passing results</summary>",
        "",
        *kept,
        "",
        "</details>",
        "",
    ]


def _passing_row(check: CheckResult) -> str:
    parts = [f"- {check.id} {text(check.title)}"]
    parts += [" / ".join(code(p) for p in (check.source, check.column) if p)]
    parts += [code(observed_vs(check)) if observed_vs(check) else ""]
    return " · ".join(p for p in parts if p)


def text(value: str | None) -> str:
    """Free text made literal: markdown punctuation escaped, one line, no raw HTML.

    Callers never start a line with it, so line-start syntax (`#`, `-`, `1.`) needs no escape.
    """
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(value))


def code(value: str, *, table: bool = False) -> str:
    """An inline code span that survives backticks in the value (and `|` inside a table)."""
    value = one_line(value)
    if table:
        value = value.replace("|", "\\|")
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def _fence(body: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=0)
    return "`" * max(3, longest + 1)
