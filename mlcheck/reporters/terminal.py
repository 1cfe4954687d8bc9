"""Terminal report: a rich panel per stage, a table of its checks, hints under failures."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlcheck.reporters.common import observed_vs, subject, verdict_line
from mlcheck.results import RunResult, StageResult, Status

STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIPPED: "dim",
    Status.NOT_RUN: "dim",
}


def render(result: RunResult, *, verbose: bool = False, color: bool = True, width: int = 110, **_: object) -> str:
    console = Console(record=True, width=width, color_system="truecolor" if color else None, force_terminal=color, file=_Null())
    title = f"mlcheck · {result.name or result.checklist}"
    console.print(Text(title, style="bold"))
    for stage in result.stages:
        console.print(_stage_panel(stage, verbose))
    style = "bold green" if result.ready else "bold red"
    console.print(Text(verdict_line(result), style=style))
    return console.export_text(styles=color)


def _stage_panel(stage: StageResult, verbose: bool) -> Panel:
    header = Text.assemble((stage.status.value.upper(), STYLES[stage.status]), "  ", (stage.id, "bold"))
    if stage.reason:
        return Panel(Text(stage.reason, style="dim"), title=header, title_align="left")
    shown = [c for c in stage.checks if verbose or c.status is not Status.PASS]
    passed = len(stage.checks) - len(shown) if not verbose else 0
    parts: list[object] = []
    if shown:
        table = Table(show_edge=False, expand=True, pad_edge=False)
        for name in ("status", "id", "check", "subject", "observed", "message"):
            table.add_column(name, overflow="fold")
        for c in shown:
            table.add_row(Text(c.status.value, style=STYLES[c.status]), c.id, c.title, subject(c), observed_vs(c), c.message)
        parts.append(table)
    for c in shown:
        if c.status in (Status.FAIL, Status.ERROR, Status.WARN) and c.hint:
            parts.append(Text(f"  {c.id} hint: {c.hint}", style="italic"))
    if passed:
        parts.append(Text(f"{passed} check result(s) passed", style="green"))
    return Panel(Group(*parts), title=header, title_align="left")  # type: ignore[arg-type]


class _Null:
    """Rich writes to this while recording; the reporter returns the recorded text instead."""

    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        return None
