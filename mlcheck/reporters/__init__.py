"""Pure renderers: `render(result) -> str` for each report format. Nothing here writes files."""

from __future__ import annotations

from collections.abc import Callable

from mlcheck.reporters import json_report, junit, markdown, terminal
from mlcheck.results import RunResult

RENDERERS: dict[str, Callable[..., str]] = {
    "terminal": terminal.render,
    "markdown": markdown.render,
    "json": json_report.render,
    "junit": junit.render,
}


def render(result: RunResult, fmt: str, **options: object) -> str:
    return RENDERERS[fmt](result, **options)
