"""Small formatting helpers shared by the reporters. Pure functions of the result objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
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

# Most severe first: the order in which counts and problems are listed.
SEVERITY_ORDER = (
    Status.ERROR,
    Status.FAIL,
    Status.WARN,
    Status.PASS,
    Status.SKIPPED,
    Status.NOT_RUN,
)
PROBLEMS = (Status.ERROR, Status.FAIL, Status.WARN)

# C0/C1 control characters (except tab and newline) would move a terminal's cursor or make XML
# invalid; they are shown as visible escapes instead. Lone surrogates cannot be encoded at all.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """`text` with control characters and lone surrogates spelled as `\\xNN`/`\\uNNNN`."""
    return _CONTROL.sub(lambda m: _escape_char(m.group()), text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str | None) -> str:
    """Visible text with line breaks folded into spaces (table cells, attributes)."""
    return " ".join(visible(text or "").split())


def fmt_value(value: Any, limit: int = 60) -> str:
    """A short human form of an observed/expected value; empty for None."""
    if value is None:
        return ""
    plain = to_jsonable(value)
    if isinstance(plain, float):
        text = f"{plain:.6g}"
    elif isinstance(plain, str):
        text = plain
    else:
        text = json.dumps(plain, ensure_ascii=False, allow_nan=False)
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def observed_vs(check: CheckResult) -> str:
    """`research EXPECTED, production OBSERVED (limit THRESHOLD)`: a check that gives `expected`
    compares the two sides (expected is research's value, observed production's), always shown
    in that order and labelled; otherwise `observed (limit threshold)`. Parts a check did not
    give are left out."""
    observed, expected, threshold = (
        fmt_value(v) for v in (check.observed, check.expected, check.threshold)
    )
    text = observed
    if expected:
        text = f"research {expected}, production {observed}" if text else f"research {expected}"
    if threshold:
        text = f"{text} (limit {threshold})" if text else f"limit {threshold}"
    return text


def subject(check: CheckResult) -> str:
    """What a result is about: `source / column`, either part optional."""
    return " / ".join(one_line(p) for p in (check.source, check.column) if p)


def tally(statuses: Iterable[Status]) -> str:
    """`1 fail, 2 warn, 11 pass`, most severe first; empty for no statuses."""
    counts: dict[Status, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{counts[s]} {label(s)}" for s in SEVERITY_ORDER if s in counts)


def label(status: Status) -> str:
    """A status for people: `not run` rather than `not_run`."""
    return status.value.replace("_", " ")


def verdict_line(result: RunResult) -> str:
    """READY/NOT READY, what blocked, and the stage counts, in one line."""
    counts = f"stages: {tally(s.status for s in result.stages) or 'none'}"
    if result.ready:
        return f"READY · {counts}"
    if result.stopped_at:
        stage = next(s for s in result.stages if s.id == result.stopped_at)
        return f"NOT READY: stopped at {stage.id} ({label(stage.status)}) · {counts}"
    if all(s.status is Status.SKIPPED for s in result.stages):
        return f"NOT READY: nothing was checked (every stage was skipped) · {counts}"
    blocking = [
        f"{s.id} ({label(s.status)})"
        for s in result.stages
        if s.status in (Status.FAIL, Status.ERROR)
    ]
    named = ", ".join(blocking) if blocking else "warnings block (--fail-on warn)"
    return f"NOT READY: {named} · {counts}"


def examples_preview(check: CheckResult, limit: int = 3) -> str:
    """The first few `details.examples` on one line; a mapping example reads `key=1 research=train`."""
    examples = check.details.get("examples") if isinstance(check.details, Mapping) else None
    if not isinstance(examples, (list, tuple)) or not examples:
        return ""
    shown = "; ".join(_example(e) for e in examples[:limit])
    more = f"; … ({len(examples) - limit} more)" if len(examples) > limit else ""
    return shown + more


def _example(example: Any) -> str:
    if isinstance(example, Mapping):
        text = " ".join(
            f"{one_line(str(k))}={fmt_value(v, limit=30) if v is not None else 'null'}"
            for k, v in example.items()
        )
        return text if len(text) <= 80 else text[:79] + "…"
    return fmt_value(example, limit=40)
