"""GitHub-flavoured markdown: verdict first, a stage table, then each warning/failure with its hint."""

from __future__ import annotations

import json

from mlcheck.reporters.common import ICONS, observed_vs, subject, verdict_line
from mlcheck.results import CheckResult, RunResult, Status, to_jsonable


def render(result: RunResult, **_: object) -> str:
    icon = "✅" if result.ready else "❌"
    lines = [f"## {icon} mlcheck: {verdict_line(result)}", ""]
    if result.name:
        lines += [f"Checklist: **{_escape(result.name)}** (`{result.checklist}`)", ""]
    lines += ["| stage | status | checks | note |", "|---|---|---|---|"]
    for stage in result.stages:
        counts = _counts(stage.checks)
        lines.append(f"| {stage.id} | {ICONS[stage.status]} {stage.status.value} | {counts} | {_escape(stage.reason or '')} |")
    problems = [(s.id, c) for s in result.stages for c in s.checks if c.status not in (Status.PASS,)]
    if problems:
        lines += ["", "### Findings", ""]
    for stage_id, check in problems:
        lines += _finding(stage_id, check)
    return "\n".join(lines).rstrip() + "\n"


def _counts(checks: tuple[CheckResult, ...]) -> str:
    if not checks:
        return ""
    tally: dict[str, int] = {}
    for c in checks:
        tally[c.status.value] = tally.get(c.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in tally.items())


def _finding(stage_id: str, check: CheckResult) -> list[str]:
    about = f" — `{subject(check)}`" if subject(check) else ""
    out = [f"#### {ICONS[check.status]} {check.id} {_escape(check.title)}{about}", "", _escape(check.message)]
    if observed_vs(check):
        out += ["", f"Observed: `{observed_vs(check)}`"]
    if check.hint:
        out += ["", f"> **Hint:** {_escape(check.hint)}"]
    if check.details:
        body = json.dumps(to_jsonable(check.details), indent=2, ensure_ascii=False)
        out += ["", "<details><summary>details</summary>", "", "```json", body, "```", "", "</details>"]
    return [*out, ""]


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
