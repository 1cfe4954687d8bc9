"""Terminal report: a rich panel per stage, one row per check and cause, hints under problems.

Every string from a check goes through `Text` (never rich markup), so a message holding `[red]`
or `:smile:` prints literally, and control characters are shown escaped so data cannot move the
terminal's cursor. Results of one check that share a cause are one row listing the columns they
affect (SPEC 7.5). Below 100 columns the rows become stacked lines, so a title or a slot name is
never cut mid-word by a narrow table cell.

`render_head`, `render_stage` and `render_tail` are the pieces of `render`, so the CLI can print
each stage's panel as soon as the stage finishes.
"""

from __future__ import annotations

import io
from collections.abc import Collection

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlcheck.reporters.common import (
    FindingGroup,
    accepted_groups,
    count_subjects,
    examples_preview,
    group_results,
    label,
    not_selected,
    observed_summary,
    one_line,
    problem_groups,
    stage_tally,
    subject,
    subjects,
    verdict_line,
    visible,
)
from mlcheck.results import RunResult, StageResult, Status

STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIPPED: "dim",
    Status.NOT_RUN: "dim",
}
# A terminal is read, not searched: past this many rows a stage says how many it left out.
MAX_PROBLEM_ROWS = 20
# Messages shown for one group; the rest are counted (JSON lists every one).
MAX_MESSAGES = 2
# Narrower than this, rows are stacked lines instead of a five-column table.
TABLE_MIN_WIDTH = 100
# (header, ratio of the spare width): free text gets the room, short fields their natural width.
COLUMNS = (("status", None), ("id", None), ("check", 3), ("observed", 2), ("message", 5))
# Words longer than this (a long URL or path) may still be folded inside a table cell.
MAX_WORD = 32


def render(
    result: RunResult,
    *,
    verbose: bool = False,
    color: bool = True,
    width: int = 110,
    printed: Collection[str] = (),
    **_: object,
) -> str:
    """The whole report as text; ANSI styles only when `color`. Passing checks are counted unless
    `verbose`. `printed`: stages whose panels (and the title) were already printed."""
    head = (
        ""
        if printed
        else render_head(
            result.name, result.checklist, result.mlcheck_version, color=color, width=width
        )
    )
    panels = "".join(
        render_stage(stage, verbose=verbose, color=color, width=width)
        for stage in result.stages
        if stage.id not in printed
    )
    return head + panels + render_tail(result, color=color, width=width)


def render_head(
    name: str | None, checklist: str, version: str, *, color: bool = True, width: int = 110
) -> str:
    """The title line: mlcheck version, checklist name and file."""
    title = f"{f'mlcheck {version}'.strip()} · {one_line(name or checklist)}"
    if name:
        title += f" ({one_line(checklist)})"
    return _capture(Text(title, style="bold"), color=color, width=width)


def render_stage(
    stage: StageResult, *, verbose: bool = False, color: bool = True, width: int = 110
) -> str:
    """One stage's panel; empty for a stage left out by --only/--skip (the tail names those)."""
    if not_selected(stage):
        return ""
    return _capture(_stage_panel(stage, verbose, width), color=color, width=width)


def render_tail(result: RunResult, *, color: bool = True, width: int = 110) -> str:
    """The stages not selected (one line), the accepted findings, and the verdict line."""
    parts: list[RenderableType] = []
    by_reason: dict[str, list[str]] = {}
    for stage in result.stages:
        if not_selected(stage):
            by_reason.setdefault(one_line(stage.reason), []).append(stage.id)
    for reason, stages in by_reason.items():
        parts.append(Text(f"{reason}: {', '.join(stages)}", style="dim"))
    accepted = accepted_groups(result)
    if accepted:
        parts.append(_accepted_panel(accepted))
    verdict = verdict_line(result)
    if len(verdict) > width:  # the stage counts on a line of their own rather than split
        verdict = verdict.replace(" · stages:", "\nstages:", 1)
    parts.append(Text(verdict, style="bold green" if result.ready else "bold red"))
    return _capture(*parts, color=color, width=width)


def _capture(*parts: RenderableType, color: bool, width: int) -> str:
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
    for part in parts:
        console.print(part)
    # rich pads a wrapped line with the space it broke at; trailing blanks only get in the way
    return "".join(
        line.rstrip(" ") + "\n" for line in console.export_text(styles=color).splitlines()
    )


def _stage_panel(stage: StageResult, verbose: bool, width: int) -> Panel:
    header = Text.assemble(
        (label(stage.status).upper(), STYLES[stage.status]), "  ", (stage.id, "bold")
    )
    ran = stage.status not in (Status.SKIPPED, Status.NOT_RUN) and not stage.reason
    subtitle = Text(f"{stage.duration_s:.2f}s", style="dim") if ran else None
    return Panel(
        Group(*_stage_body(stage, verbose, width)),
        title=header,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style=STYLES[stage.status],
    )


def _stage_body(stage: StageResult, verbose: bool, width: int) -> list[RenderableType]:
    if stage.reason:
        return [Text(one_line(stage.reason), style="dim")]
    if not stage.checks:
        return [Text("no checks ran", style="dim")]
    groups = group_results(stage.id, stage.checks) if verbose else problem_groups(stage)
    limit = len(groups) if verbose else MAX_PROBLEM_ROWS
    shown, hidden = groups[:limit], len(groups) - limit
    parts: list[RenderableType] = []
    if shown:
        parts += [_table(shown)] if width >= TABLE_MIN_WIDTH else [_stacked(g) for g in shown]
    parts += [
        _hint(g)
        for g in shown
        if g.status in _PROBLEMS and (g.first.hint or examples_preview(g.first))
    ]
    if hidden > 0:
        parts.append(
            Text(
                f"… {hidden} more problem rows (--verbose shows all; --format json lists them)",
                style="yellow",
            )
        )
    passed = sum(c.status is Status.PASS for c in stage.checks)
    if not verbose and passed:
        parts.append(Text(f"{passed} passed (--verbose lists them)", style="green"))
    elif verbose:
        parts.append(Text(stage_tally(stage), style="dim"))
    return parts


_PROBLEMS = (Status.ERROR, Status.FAIL, Status.WARN)


def _messages(group: FindingGroup) -> str:
    """Up to MAX_MESSAGES messages, one per line, and how many more there are."""
    shown = MAX_MESSAGES if len(group) > MAX_MESSAGES + 1 else MAX_MESSAGES + 1
    lines = [one_line(r.message) for r in group.results[:shown]]
    if len(group) > shown:
        lines.append(f"… {len(group) - MAX_MESSAGES} more like these")
    return "\n".join(lines)


def _about(group: FindingGroup) -> str:
    """What the group is about: `source / column` for one result, else the listed subjects."""
    if len(group) == 1:
        return subject(group.first)
    return subjects(group)


def _table(groups: list[FindingGroup]) -> Table:
    rows = [_row(g) for g in groups]
    table = Table(show_edge=False, expand=True, pad_edge=False, header_style="bold")
    for index, (name, ratio) in enumerate(COLUMNS):
        # A column is never narrower than its longest word (up to MAX_WORD), so a slot name
        # such as production.live.predictions is not folded mid-word.
        longest = max((_longest_word(row[index].plain) for row in rows), default=0)
        table.add_column(
            name,
            overflow="fold",
            ratio=ratio,
            no_wrap=ratio is None,
            width=min(longest, MAX_WORD) if ratio else None,  # a ratio column's minimum
        )
    for row in rows:
        table.add_row(*row)
    return table


def _row(g: FindingGroup) -> tuple[Text, ...]:
    check = Text(one_line(g.first.title))
    if _about(g):
        check.append(f"\n{_about(g)}", style="cyan")
    status = Text(g.status.value, style=STYLES[g.status])
    return status, Text(g.id), check, Text(observed_summary(g)), Text(_messages(g))


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _stacked(group: FindingGroup) -> RenderableType:
    """A group as lines for a narrow terminal: status, id and title, then (indented, wrapped
    under themselves) what it is about, its messages and the observed values."""
    head = Table.grid(padding=(0, 1, 0, 0))
    head.add_column(no_wrap=True)
    head.add_column(no_wrap=True)
    head.add_column(ratio=1)  # a long title wraps under itself, not under the status
    head.add_row(
        Text(f"{group.status.value:<5}", style=STYLES[group.status]),
        Text(group.id),
        Text(one_line(group.first.title)),
    )
    observed = f"observed {observed_summary(group)}" if observed_summary(group) else ""
    lines = [(_about(group), "cyan"), (_messages(group), ""), (observed, "dim")]
    body = [Text(part, style=style) for line, style in lines if line for part in line.splitlines()]
    return Group(head, Padding(Group(*body), (0, 0, 0, 2)))


def _hint(group: FindingGroup) -> Text:
    """`↳ ID [subject]: hint` and, on the next line, the first examples."""
    about = count_subjects(group) or subject(group.first)
    check = group.first
    text = Text(f"↳ {check.id}{f' [{about}]' if about else ''}: ", style=STYLES[check.status])
    text.append(visible(check.hint or "").strip(), style="italic")
    examples = examples_preview(check)
    if examples:
        prefix = f"examples ({subject(check)})" if len(group) > 1 and subject(check) else "examples"
        text.append(f"\n  {prefix}: {examples}", style="dim")
    return text


def _accepted_panel(groups: list[FindingGroup]) -> Panel:
    """Accepted findings apart from the stages: what, and why it is accepted."""
    lines = []
    for g in groups:
        about = _about(g)
        acceptance = g.accepted
        assert acceptance is not None
        until = f" (until {acceptance.until.isoformat()})" if acceptance.until else ""
        line = Text.assemble(
            (f"{g.status.value:<5}", STYLES[g.status]),
            f" {g.id} {one_line(g.first.title)}",
            (f" · {about}" if about else "", "cyan"),
        )
        line.append(f"\n  accepted: {one_line(acceptance.reason)}{until}", style="italic")
        lines.append(line)
    title = Text.assemble(
        ("ACCEPTED", "blue"), f"  {_plural(sum(len(g) for g in groups), 'finding')}"
    )
    return Panel(Group(*lines), title=title, title_align="left", border_style="blue")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
