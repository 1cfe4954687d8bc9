"""Small formatting helpers shared by the reporters. Pure functions of the result objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlcheck.results import Acceptance, CheckResult, RunResult, StageResult, Status, to_jsonable

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


# --------------------------------------------------------------------------- grouping (SPEC 7.5)


@dataclass(frozen=True)
class FindingGroup:
    """Results of one check in one stage that share a status and a cause (the same hint).

    A check's hint names the cause it diagnosed, so one float32 cast over 300 columns is one
    group listing 300 columns, while FEAT008's imputation and clipping findings stay apart when
    their hints differ.
    """

    stage: str
    results: tuple[CheckResult, ...]

    @property
    def first(self) -> CheckResult:
        return self.results[0]

    @property
    def id(self) -> str:
        return self.first.id

    @property
    def status(self) -> Status:
        return self.first.status

    @property
    def accepted(self) -> Acceptance | None:
        return self.first.accepted

    def __len__(self) -> int:
        return len(self.results)


def group_results(stage: str, results: Iterable[CheckResult]) -> list[FindingGroup]:
    """Results grouped by (check, status, hint, acceptance), in the order each group first appears."""
    groups: dict[tuple[Any, ...], list[CheckResult]] = {}
    for result in results:
        key = (result.id, result.status, result.hint, result.accepted)
        groups.setdefault(key, []).append(result)
    return [FindingGroup(stage, tuple(members)) for members in groups.values()]


def problem_groups(stage: StageResult) -> list[FindingGroup]:
    """A stage's counted warnings, failures and errors as groups, most severe first."""
    rank = {status: i for i, status in enumerate(SEVERITY_ORDER)}
    counted = [c for c in stage.checks if c.status in PROBLEMS and c.counts]
    return sorted(group_results(stage.id, counted), key=lambda g: rank[g.status])


def accepted_groups(result: RunResult) -> list[FindingGroup]:
    """Every accepted finding of the run, grouped, in stage order."""
    return [
        group
        for stage in result.stages
        for group in group_results(stage.id, [c for c in stage.checks if c.accepted])
    ]


def subjects(group: FindingGroup, limit: int = 8) -> str:
    """`source: col1, col2, … (N more)` per source, `; `-separated; empty when none is named."""
    by_source: dict[str, list[str]] = {}
    for result in group.results:
        columns = by_source.setdefault(one_line(result.source or ""), [])
        if result.column is not None and one_line(result.column) not in columns:
            columns.append(one_line(result.column))
    parts = []
    for source, columns in by_source.items():
        shown = ", ".join(columns[:limit])
        more = f", … ({len(columns) - limit} more)" if len(columns) > limit else ""
        named = f"{shown}{more}"
        parts.append(f"{source}: {named}" if source and named else source or named)
    return "; ".join(p for p in parts if p)


def count_subjects(group: FindingGroup) -> str:
    """`300 columns` / `2 sources` / empty for a single result."""
    if len(group) == 1:
        return ""
    columns = {(r.source, r.column) for r in group.results if r.column is not None}
    if columns:
        return f"{len(columns)} columns"
    return f"{len({r.source for r in group.results})} sources"


def observed_summary(group: FindingGroup) -> str:
    """One result's `observed vs expected (limit)`; for a group the range of observed values."""
    if len(group) == 1 or len({observed_vs(r) for r in group.results}) == 1:
        return observed_vs(group.first)  # labelled research/production when two-sided
    values = [to_jsonable(r.observed) for r in group.results if r.observed is not None]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    limits = {fmt_value(r.threshold) for r in group.results}
    limit = f" (limit {limits.pop()})" if len(limits) == 1 and "" not in limits else ""
    if numbers and len(numbers) == len(values):
        low, high = fmt_value(min(numbers)), fmt_value(max(numbers))
        return (low if low == high else f"{low} … {high}") + limit
    texts = {fmt_value(v) for v in values}
    return (texts.pop() if len(texts) == 1 else "") + limit


# --------------------------------------------------------------------------- details as tables


@dataclass(frozen=True)
class DetailTable:
    """A check's details, or one part of them, as rows for a table (markdown, HTML)."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    more: int = 0  # rows left out past the limit


# Details that only feed the HTML report's charts (JSON keeps them; text tables leave them out).
PLOT_DATA = ("histogram",)


def detail_tables(details: Mapping[str, Any], max_rows: int = 20) -> list[DetailTable]:
    """Scalars (and short lists and flat mappings) in one `detail | value` table; each list of
    records (examples, chunks) and each mapping of mappings (a matrix) in a table of its own."""
    scalars: list[tuple[str, ...]] = []
    tables: list[DetailTable] = []
    for key, value in to_jsonable(dict(details)).items():
        if key in PLOT_DATA:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(_records_table(key, value, max_rows))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            records = [{"": k, **v} for k, v in value.items()]
            tables.append(_records_table(key, records, max_rows))
        else:
            scalars.append((one_line(key), _cell(value)))
    head = [DetailTable("details", ("detail", "value"), tuple(scalars))] if scalars else []
    return head + tables


def _records_table(title: str, records: list[dict[str, Any]], max_rows: int) -> DetailTable:
    headers = list(dict.fromkeys(k for r in records for k in r))
    rows = tuple(tuple(_cell(r.get(h)) for h in headers) for r in records[:max_rows])
    return DetailTable(
        one_line(title), tuple(one_line(h) for h in headers), rows, len(records) - len(rows)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return ", ".join(f"{one_line(str(k))}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_cell(v) for v in value)
    return fmt_value(value, limit=80)


def not_selected(stage: StageResult) -> bool:
    """A stage left out by --only/--skip (rather than one that could not or did not run)."""
    return stage.status is Status.SKIPPED and (stage.reason or "").startswith("not selected")


def stage_tally(stage: StageResult) -> str:
    """`1 fail, 11 pass` over the results that count, then how many were accepted."""
    counted = tally(c.status for c in stage.checks if c.counts)
    accepted = sum(not c.counts for c in stage.checks)
    return ", ".join(p for p in (counted, f"{accepted} accepted" if accepted else "") if p)
