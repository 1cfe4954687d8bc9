"""Pure renderers: `render(result, fmt) -> str` for each report format. Nothing here writes files."""

from __future__ import annotations

from collections.abc import Callable

from mlcheck.reporters import html, json_report, junit, markdown, terminal
from mlcheck.results import RunResult

RENDERERS: dict[str, Callable[..., str]] = {
    "terminal": terminal.render,
    "markdown": markdown.render,
    "json": json_report.render,
    "junit": junit.render,
    "html": html.render,
}


def render(result: RunResult, fmt: str, **options: object) -> str:
    """Render `result` as `fmt` (terminal, markdown, json, junit, html); unknown options are ignored."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; formats: {', '.join(RENDERERS)}"
        ) from None
    return renderer(result, **options)
