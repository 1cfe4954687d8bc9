"""Small formatting helpers shared by the text reporters."""

from __future__ import annotations

import json
from typing import Any

from mlcheck.results import CheckResult, RunResult, Status, to_jsonable

ICONS = {
    Status.PASS: "✅",
    Status.WARN: "⚠️",
    Status.FAIL: "❌",
    Status.ERROR: "💥",
    Status.SKIPPED: "⏭️",
    Status.NOT_RUN: "⏸️",
}


def fmt_value(value: Any, limit: int = 60) -> str:
    """A short human form of an observed/expected value."""
    if value is None:
        return ""
    plain = to_jsonable(value)
    if isinstance(plain, float):
        text = f"{plain:.6g}"
    elif isinstance(plain, str):
        text = plain
    else:
        text = json.dumps(plain, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def observed_vs(check: CheckResult) -> str:
    observed = fmt_value(check.observed)
    bound = fmt_value(check.threshold if check.threshold is not None else check.expected)
    if observed and bound:
        return f"{observed} (limit {bound})" if check.threshold is not None else f"{observed} vs {bound}"
    return observed or bound


def verdict_line(result: RunResult) -> str:
    if result.ready:
        return "READY: every stage that ran passed"
    where = f" at {result.stopped_at}" if result.stopped_at else ""
    return f"NOT READY: stopped{where}" if result.stopped_at else "NOT READY: a stage failed"


def subject(check: CheckResult) -> str:
    parts = [p for p in (check.source, check.column) if p]
    return " / ".join(parts)
