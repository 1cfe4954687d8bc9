"""Terminal report: a rich panel per stage, a table of its checks, hints under problems.

Every string from a check goes through `Text` (never rich markup), so a message holding `[red]`
or `:smile:` prints literally, and control characters are shown escaped so data cannot move the
terminal's cursor.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlcheck.reporters.common import (
    PROBLEMS,
    SEVERITY_ORDER,
    examples_preview,
    label,
    observed_vs,
    one_line,
    subject,
    tally,
    verdict_line,
    visible,
)
from mlcheck.results import CheckResult, RunResult, StageResult, Status

STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIPPED: "dim",
    Status.NOT_RUN: "dim",
}
# A terminal is read, not searched: past this many problem rows a stage says how many it left out.
MAX_PROBLEM_ROWS = 40
# (header, ratio of the spare width): free text gets the room, short fields their natural width.
COLUMNS = (("status", None), ("id", None), ("check", 3), ("observed", 2), ("message", 5))


def render(
    result: RunResult, *, verbose: bool = False, color: bool = True, width: int = 110, **_: object
) -> str:
    """The whole report as text; ANSI styles only when `color`. Passing checks are counted unless `verbose`."""
    console = Console(
        record=True,
        width=width,
        file=io.StringIO(),
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        emoji=False,
        highlight=False,
        markup=False,
    )
    title = f"{f'mlcheck {result.mlcheck_version}'.strip()} · {one_line(result.name or result.checklist)}"
    if result.name:
        title += f" ({one_line(result.checklist)})"
    console.print(Text(title, style="bold"))
    for stage in result.stages:
        console.print(_stage_panel(stage, verbose))
    console.print(
        Text(verdict_line(result), style="bold green" if result.ready else "bold red"),
        soft_wrap=True,
    )
    return console.export_text(styles=color)


def _stage_panel(stage: StageResult, verbose: bool) -> Panel:
    header = Text.assemble(
        (label(stage.status).upper(), STYLES[stage.status]), "  ", (stage.id, "bold")
    )
    ran = stage.status not in (Status.SKIPPED, Status.NOT_RUN) and not stage.reason
    subtitle = Text(f"{stage.duration_s:.2f}s", style="dim") if ran else None
    return Panel(
        Group(*_stage_body(stage, verbose)),
        title=header,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style=STYLES[stage.status],
    )


def _stage_body(stage: StageResult, verbose: bool) -> list[RenderableType]:
    if stage.reason:
        return [Text(one_line(stage.reason), style="dim")]
    if not stage.checks:
        return [Text("no checks ran", style="dim")]
    shown, hidden = _rows(stage, verbose)
    parts: list[RenderableType] = [_table(shown)] if shown else []
    parts += [_hint(c) for c in shown if c.status in PROBLEMS and (c.hint or examples_preview(c))]
    if hidden:
        parts.append(
            Text(
                f"… {hidden} more problem results (--verbose shows all; --format json lists them)",
                style="yellow",
            )
        )
    passed = sum(c.status is Status.PASS for c in stage.checks)
    if not verbose and passed:
        parts.append(Text(f"{passed} passed (--verbose lists them)", style="green"))
    elif verbose:
        parts.append(Text(tally(c.status for c in stage.checks), style="dim"))
    return parts


def _rows(stage: StageResult, verbose: bool) -> tuple[list[CheckResult], int]:
    """Verbose: every result in order. Else the problems, most severe first, at most MAX_PROBLEM_ROWS."""
    if verbose:
        return list(stage.checks), 0
    rank = {status: i for i, status in enumerate(SEVERITY_ORDER)}
    problems = sorted(
        (c for c in stage.checks if c.status in PROBLEMS), key=lambda c: rank[c.status]
    )
    return problems[:MAX_PROBLEM_ROWS], max(0, len(problems) - MAX_PROBLEM_ROWS)


def _table(checks: list[CheckResult]) -> Table:
    table = Table(show_edge=False, expand=True, pad_edge=False, header_style="bold")
    for name, ratio in COLUMNS:
        table.add_column(name, overflow="fold", ratio=ratio, no_wrap=ratio is None)
    for c in checks:
        check = Text(one_line(c.title))
        if subject(c):
            check.append(f"\n{subject(c)}", style="cyan")
        status = Text(c.status.value, style=STYLES[c.status])
        table.add_row(status, Text(c.id), check, Text(observed_vs(c)), Text(one_line(c.message)))
    return table


def _hint(check: CheckResult) -> Text:
    """`↳ ID [subject]: hint` and, on the next line, the first examples."""
    about = f" [{subject(check)}]" if subject(check) else ""
    text = Text(f"↳ {check.id}{about}: ", style=STYLES[check.status])
    text.append(visible(check.hint or "").strip(), style="italic")
    examples = examples_preview(check)
    if examples:
        text.append(f"\n  examples: {examples}", style="dim")
    return text
