"""GitHub-flavoured markdown: verdict first, a stage table, then each problem with its hint.

Sized for a PR comment (GitHub caps those at 65,536 characters) and `$GITHUB_STEP_SUMMARY`:
long details are cut, and findings past the budget are counted rather than shown. Free text from
checks is escaped so a `|`, `<details>` or `*` in a message cannot break the layout, except that
a `backtick span` in a message or hint is shown as code. Results of one check that share a cause
are one entry listing the columns they affect (SPEC 7.5); details are tables, not JSON.
"""

from __future__ import annotations

import re

from mlcheck.reporters.common import (
    ICONS,
    SEVERITY_ORDER,
    DetailTable,
    FindingGroup,
    accepted_groups,
    count_subjects,
    detail_tables,
    label,
    observed_vs,
    one_line,
    problem_groups,
    stage_tally,
    subject,
    subjects,
    verdict_line,
)
from mlcheck.results import CheckResult, RunResult, StageResult, Status

MAX_CHARS = 60_000  # below GitHub's 65,536-character comment limit, with room for a wrapper
MAX_DETAILS_CHARS = 4_000
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")


MAX_LISTED = 5  # results of one group listed with their messages; the rest by name only
MAX_NAMES = 100


def render(result: RunResult, *, verbose: bool = False, **_: object) -> str:
    """The report; with `verbose`, passing checks are listed in a collapsed section too."""
    head = _header(result) + _stage_table(result.stages)
    groups = [g for stage in result.stages for g in problem_groups(stage)]
    rank = {status: i for i, status in enumerate(SEVERITY_ORDER)}
    groups.sort(key=lambda g: rank[g.status])  # stable: stage order within a status
    body: list[str] = ["", "### Findings", ""] if groups else []
    budget = MAX_CHARS - len("\n".join(head)) - 400
    accepted = _accepted(result)
    budget -= len("\n".join(accepted))
    shown = 0
    for group in groups:
        block = _finding(group)
        size = len("\n".join(block)) + 1
        if size > budget:
            break
        body += block
        budget -= size
        shown += 1
    if shown < len(groups):
        left = sum(len(g) for g in groups[shown:])
        body += [
            f"_{left} more finding(s) not shown to fit a PR comment; `--format json` has them all._",
            "",
        ]
    body += accepted
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
        note = text(stage.reason or "")
        lines.append(
            f"| {number} | {code(stage.id, table=True)} | {status} | {stage_tally(stage)} | {note} |"
        )
    return lines


def _subject_code(check: CheckResult) -> str:
    return " / ".join(code(p) for p in (check.source, check.column) if p)


def _finding(group: FindingGroup) -> list[str]:
    check = group.first
    about = _group_about(group)
    out = [f"#### {ICONS[check.status]} {check.id} {prose(check.title)}{about}", ""]
    if len(group) == 1:
        out += [f"**{check.status.value}** in {code(group.stage)}: {prose(check.message)}", ""]
        if observed_vs(check):
            out += [f"Observed: {code(observed_vs(check))}", ""]
    else:
        out += [f"**{check.status.value}** in {code(group.stage)}, {count_subjects(group)}:", ""]
        out += _listed(group)
    if check.hint:
        out += [f"> **Hint:** {prose(check.hint)}", ""]
    if check.details:
        out += _details_block(check, len(group) > 1)
    return out


def _group_about(group: FindingGroup) -> str:
    """` — `source` / `column`` for one result; ` — `source`: N columns` for a group."""
    if len(group) == 1:
        return f" — {_subject_code(group.first)}" if _subject_code(group.first) else ""
    sources = list(dict.fromkeys(r.source for r in group.results if r.source))
    named = ", ".join(code(s) for s in sources[:3]) + (" …" if len(sources) > 3 else "")
    return f" — {named}: {count_subjects(group)}" if named else f" — {count_subjects(group)}"


def _listed(group: FindingGroup) -> list[str]:
    """The first results with their messages, then the names of the rest."""
    lines = []
    for r in group.results[:MAX_LISTED]:
        observed = f" · {code(observed_vs(r))}" if observed_vs(r) else ""
        lines.append(f"- {_subject_code(r) or code(r.id)}: {prose(r.message)}{observed}")
    rest = group.results[MAX_LISTED:]
    if rest:
        names = ", ".join(code(r.column or r.source or r.id) for r in rest[:MAX_NAMES])
        more = f" and {len(rest) - MAX_NAMES} more" if len(rest) > MAX_NAMES else ""
        lines.append(f"- … {len(rest)} more: {names}{more}")
    return [*lines, ""]


def _details_block(check: CheckResult, of_first: bool) -> list[str]:
    """The details as tables (examples, chunks, matrices; scalars as `detail | value`)."""
    tables = detail_tables(check.details)
    examples = check.details.get("examples")
    label = (
        f"details ({len(examples)} examples)" if isinstance(examples, (list, tuple)) else "details"
    )
    if of_first:
        label += f" of {' / '.join(p for p in (check.source, check.column) if p)}"
    body: list[str] = []
    for table in tables:
        body += _table(table)
    text_body = "\n".join(body)
    if len(text_body) > MAX_DETAILS_CHARS:
        cut = text_body[:MAX_DETAILS_CHARS].rsplit("\n", 1)[0]
        body = [*cut.split("\n"), "", "_… (cut; `--format json` has the full details)_", ""]
    return [f"<details><summary>{text(label)}</summary>", "", *body, "</details>", ""]


def _table(table: DetailTable) -> list[str]:
    title = [] if table.title == "details" else [f"**{text(table.title)}**", ""]
    headers = [text(h) or " " for h in table.headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(text(cell) for cell in row) + " |" for row in table.rows]
    more = [f"_… {table.more} more rows in `--format json`_", ""] if table.more else []
    return [*title, *lines, "", *more]


def _accepted(result: RunResult) -> list[str]:
    """Accepted findings apart, each with its reason (and the day it lapses)."""
    groups = accepted_groups(result)
    if not groups:
        return []
    lines = ["### Accepted findings", "", "| check | status | about | reason | until |"]
    lines.append("|---|---|---|---|---|")
    for g in groups:
        acceptance = g.accepted
        assert acceptance is not None
        about = subjects(g) if len(g) > 1 else subject(g.first)
        until = acceptance.until.isoformat() if acceptance.until else ""
        lines.append(
            f"| {g.id} {text(g.first.title)} | {ICONS[g.status]} {g.status.value} | {text(about)} "
            f"| {text(acceptance.reason)} | {until} |"
        )
    return [*lines, ""]


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


_CODE_SPAN = re.compile(r"`([^`]+)`")


def prose(value: str | None) -> str:
    """Free text whose `backtick spans` become code and the rest is escaped like `text`."""
    line = one_line(value)
    parts, start = [], 0
    for match in _CODE_SPAN.finditer(line):
        parts += [_escape(line[start : match.start()]), code(match.group(1))]
        start = match.end()
    return "".join([*parts, _escape(line[start:])])


def _escape(value: str) -> str:
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", value)


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
