"""A self-contained HTML report: one file, inline styles and SVG charts, no script, no network.

The same verdict, stages and findings as the other formats, plus charts drawn from the plot
data checks leave in their details: research vs live histograms (details.histogram), realized
and estimated performance per chunk (PERF001's details.chunks), category shares
(details.changes), null rates and split assignment matrices (details.matrix); example rows and
other lists of records become tables. Everything a check says is user data (column names can
hold `<script>`): it is escaped, and a Content-Security-Policy forbids any request or script.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlcheck.reporters import svg
from mlcheck.reporters.common import (
    PROBLEMS,
    fmt_value,
    label,
    observed_vs,
    stage_tally,
    subject,
    tally,
    verdict_line,
    visible,
)
from mlcheck.results import CheckResult, RunResult, StageResult, Status, to_jsonable

MAX_TABLE_ROWS = 20
# Per check, results past this many are only rows of its table unless they carry a chart
# (a 300-column float32 table would otherwise repeat one block 300 times).
MAX_BLOCKS = 10
MAX_DETAILS_CHARS = 20_000
# Plot data drawn as a chart is left out of the tables and raw details shown beside it.
PLOTTED_KEYS = ("histogram", "matrix", "changes")
# Lists of records shown collapsed with the raw details rather than as visible tables.
COLLAPSED_TABLES = ("chunks",)
_CODE = re.compile(r"`([^`]+)`")
# Plain symbols rather than emoji: a browser without an emoji font shows those as empty boxes.
SYMBOLS = {
    Status.PASS: "✓",
    Status.WARN: "!",
    Status.FAIL: "✗",
    Status.ERROR: "‼",
    Status.SKIPPED: "–",
    Status.NOT_RUN: "·",
}


def render(result: RunResult, *, timings: bool = True, **_: object) -> str:
    """The report as one HTML document; `timings=False` leaves durations out (golden files)."""
    verdict = "READY" if result.ready else "NOT READY"
    title = f"mlcheck: {verdict}" + (f" · {result.name}" if result.name else "")
    body = [
        _header(result, timings),
        _stage_table(result.stages, timings),
        _accepted_section(result),
        *(_stage_section(n, s, timings) for n, s in enumerate(result.stages, start=1)),
    ]
    return _PAGE.format(title=esc(title), style=_STYLE, body="\n".join(b for b in body if b))


def esc(value: object) -> str:
    """Escaped one-line text for an element or a quoted attribute."""
    return svg.esc("" if value is None else value)


def prose(value: str | None) -> str:
    """Escaped text whose `backtick spans` become code."""
    return _CODE.sub(r"<code>\1</code>", esc(value or ""))


def badge(status: Status) -> str:
    return f'<span class="badge {status.value}">{SYMBOLS[status]} {esc(label(status))}</span>'


# --------------------------------------------------------------------------- page parts


def _header(result: RunResult, timings: bool) -> str:
    state = "ready" if result.ready else "not-ready"
    icon = SYMBOLS[Status.PASS] if result.ready else SYMBOLS[Status.FAIL]
    about = [f"<strong>{esc(result.name)}</strong>"] if result.name else []
    about += [f"<code>{esc(result.checklist)}</code>", f"mlcheck {esc(result.mlcheck_version)}"]
    about += [f"{result.duration_s:.2f} s"] if timings else []
    return (
        f'<header class="verdict {state}" id="verdict">\n'
        f"<h1>{icon} {'READY' if result.ready else 'NOT READY'}</h1>\n"
        f"<p>{esc(verdict_line(result))}</p>\n"
        f'<p class="about">{" · ".join(about)}</p>\n</header>'
    )


def _stage_table(stages: Sequence[StageResult], timings: bool) -> str:
    head = "<tr><th>#</th><th>stage</th><th>status</th><th>checks</th>"
    head += "<th>time</th>" if timings else ""
    rows = [f'<table class="stages">\n<thead>{head}<th>note</th></tr></thead>\n<tbody>']
    for number, stage in enumerate(stages, start=1):
        ran = stage.status not in (Status.SKIPPED, Status.NOT_RUN)
        time = (f"<td>{stage.duration_s:.2f} s</td>" if ran else "<td></td>") if timings else ""
        rows.append(
            f'<tr class="{stage.status.value}"><td>{number}</td>'
            f'<td><a href="#stage-{esc(stage.id)}">{esc(stage.id)}</a></td>'
            f"<td>{badge(stage.status)}</td><td>{esc(stage_tally(stage))}</td>"
            f"{time}<td>{esc(stage.reason or '')}</td></tr>"
        )
    return "\n".join([*rows, "</tbody>\n</table>"])


def _accepted_section(result: RunResult) -> str:
    accepted = [(s, c) for s in result.stages for c in s.checks if _accepted(c)]
    if not accepted:
        return ""
    rows = [
        f"<tr><td>{badge(c.status)}</td><td>{esc(c.id)}</td><td>{esc(subject(c))}</td>"
        f"<td>{prose(c.message)}</td><td>{esc(_accepted(c).get('reason', ''))}</td>"
        f"<td>{esc(_accepted(c).get('until') or '')}</td></tr>"
        for _, c in accepted
    ]
    return (
        '<section class="accepted" id="accepted">\n<h2>Accepted findings</h2>\n'
        "<p>Measured, then accepted by the checklist's <code>accept:</code> list: they do not "
        "count toward their stage's status or the verdict.</p>\n<table>\n<thead><tr><th>status"
        "</th><th>check</th><th>subject</th><th>message</th><th>reason</th><th>until</th></tr>"
        "</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n</section>"
    )


def _accepted(check: CheckResult) -> Mapping[str, Any]:
    """The acceptance of a finding (SPEC 7.3) as {reason, until}, or an empty mapping."""
    return check.accepted.to_dict() if check.accepted is not None else {}


def _is_problem(check: CheckResult) -> bool:
    return check.status in PROBLEMS and check.counts


# --------------------------------------------------------------------------- a stage


def _stage_section(number: int, stage: StageResult, timings: bool) -> str:
    ran = stage.status not in (Status.SKIPPED, Status.NOT_RUN)
    time = f" <small>{stage.duration_s:.2f} s</small>" if timings and ran else ""
    out = [
        f'<section class="stage {stage.status.value}" id="stage-{esc(stage.id)}">',
        f"<h2>{number}. {esc(stage.id)} {badge(stage.status)}{time}</h2>",
    ]
    if stage.reason:
        out.append(f'<p class="reason">{esc(stage.reason)}</p>')
    groups = _groups(stage.checks)
    shown = [g for g in groups if any(_is_problem(c) or _figures(c, passing=True) for c in g)]
    out += [_check_group(stage.id, group) for group in shown]
    quiet = [c for g in groups if g not in shown for c in g]
    if quiet:
        what = ("other " if shown else "") + ("result" if len(quiet) == 1 else "results")
        out.append(
            f'<details class="passing"><summary>{len(quiet)} {what}: '
            f"{esc(_quiet_tally(quiet))}</summary>\n{_findings_table(quiet)}\n</details>"
        )
    out.append("</section>")
    return "\n".join(out)


def _quiet_tally(checks: Sequence[CheckResult]) -> str:
    """`12 pass, 1 accepted`: accepted warnings are not counted as warnings."""
    accepted = sum(not c.counts for c in checks)
    counted = tally(c.status for c in checks if c.counts)
    return ", ".join(p for p in (counted, f"{accepted} accepted" if accepted else "") if p)


def _groups(checks: Sequence[CheckResult]) -> list[list[CheckResult]]:
    """Results of one check together, in the order checks first appear."""
    groups: dict[str, list[CheckResult]] = {}
    for check in checks:
        groups.setdefault(check.id, []).append(check)
    return list(groups.values())


def _check_group(stage_id: str, group: list[CheckResult]) -> str:
    first = group[0]
    problems = [c for c in group if _is_problem(c)]
    status = max((c.status for c in problems), key=lambda s: s.severity, default=Status.PASS)
    hints = {c.hint for c in problems if c.hint}
    shared_hint = hints.pop() if len(hints) == 1 and len(problems) > 1 else None
    out = [
        f'<article class="check {status.value}" id="check-{esc(stage_id)}-{esc(first.id)}">',
        f"<h3>{badge(status)} {esc(first.id)} {esc(first.title)}</h3>",
        f'<p class="counts">{esc(tally(c.status for c in group))}</p>',
    ]
    if shared_hint:
        out.append(f'<p class="hint"><strong>Hint:</strong> {prose(shared_hint)}</p>')
    out.append(_group_figures(group))
    out += _group_body(group, show_hint=shared_hint is None)
    out.append("</article>")
    return "\n".join(part for part in out if part)


def _group_body(group: list[CheckResult], *, show_hint: bool) -> list[str]:
    """The table of a check's results and a block for each problem or chart (ten plain ones)."""
    blocks = [c for c in group if _is_problem(c) or _figures(c, passing=True)]
    tabled = len(group) > 1 or not blocks  # one result shown as a block needs no table row too
    out = [_findings_table(group)] if tabled else []
    plain = [c for c in blocks if not _figures(c, passing=not _is_problem(c))]
    left_out = {id(c) for c in plain[MAX_BLOCKS:]}
    out += [
        _finding_block(c, show_hint=show_hint, message=not tabled)
        for c in blocks
        if id(c) not in left_out
    ]
    if left_out:
        out.append(
            f'<p class="more">The details of {len(left_out)} more results of {esc(group[0].id)} '
            "are left out here; the table above lists them and <code>--format json</code> has "
            "them.</p>"
        )
    return out


def _findings_table(checks: Sequence[CheckResult]) -> str:
    rows = [
        '<table class="findings">',
        "<thead><tr><th>status</th><th>check</th><th>subject</th><th>observed</th>"
        "<th>message</th></tr></thead>",
        "<tbody>",
    ]
    for check in sorted(checks, key=lambda c: -c.status.severity if _is_problem(c) else 0):
        accepted = ' <span class="accepted-tag">accepted</span>' if _accepted(check) else ""
        rows.append(
            f'<tr class="{check.status.value}"><td>{badge(check.status)}{accepted}</td>'
            f"<td>{esc(check.id)}</td><td>{esc(subject(check))}</td>"
            f"<td>{esc(observed_vs(check))}</td><td>{prose(check.message)}</td></tr>"
        )
    return "\n".join([*rows, "</tbody>", "</table>"])


def _finding_block(check: CheckResult, *, show_hint: bool, message: bool) -> str:
    """Charts, tables and details of one result (its message too, unless a table row has it)."""
    about = subject(check) or check.id
    out = [
        f'<div class="finding {check.status.value}">',
        f"<h4>{badge(check.status)} {esc(about)}</h4>",
        f"<p>{prose(check.message)}</p>" if message else "",
        f'<p class="observed">Observed: {esc(observed_vs(check))}</p>'
        if message and observed_vs(check)
        else "",
    ]
    if show_hint and check.hint and _is_problem(check):
        out.append(f'<p class="hint"><strong>Hint:</strong> {prose(check.hint)}</p>')
    out += _figures(check, passing=not _is_problem(check))
    if _is_problem(check):
        out += _example_tables(check)
        out.append(_raw_details(check))
    out.append("</div>")
    return "\n".join(part for part in out if part)


# --------------------------------------------------------------------------- figures


def _figures(check: CheckResult, *, passing: bool) -> list[str]:
    """Charts for one result. A passing result keeps the charts people look at anyway (the
    score's distribution, performance per chunk); the others explain a problem."""
    details = _plain(check)
    figures = [_histogram_figure(check, details.get("histogram")), _chunks_figure(check, details)]
    if not passing:
        figures += [
            _matrix_figure(details.get("matrix")),
            _shares_figure(check, details.get("changes")),
            _calibration_figure(check, details.get("bins")),
        ]
    return [f for f in figures if f]


def _calibration_figure(check: CheckResult, bins: Any) -> str:
    """Concept drift (PERF005/PERF006): per bin, the positive rate research predicts vs live's."""
    if not isinstance(bins, list):
        return ""
    rows = [
        (str(b.get("bin")), float(b["expected_rate"]), float(b["observed_rate"]))
        for b in bins
        if isinstance(b, Mapping)
        and _is_number(b.get("expected_rate"))
        and _is_number(b.get("observed_rate"))
        and b.get("n_live")
    ]
    what = check.column or check.id
    chart = svg.paired_bars(
        rows, f"{what}: positive rate per bin", "rate", ("expected (research)", "observed (live)")
    )
    return _figure(
        chart,
        "Positive rate of labelled live rows per bin against the rate the research calibration "
        "predicts for them; bins without live rows are left out.",
    )


def _figure(chart: str, caption: str) -> str:
    return f"<figure>\n{chart}\n<figcaption>{caption}</figcaption>\n</figure>" if chart else ""


def _histogram_figure(check: CheckResult, data: Any) -> str:
    if not isinstance(data, Mapping):
        return ""
    edges, research, live = (_numbers(data.get(k)) for k in ("edges", "research", "live"))
    what = check.column or check.id
    chart = svg.histogram(edges, research, live, f"{what}: research vs live distribution")
    return _figure(
        chart,
        f"<code>{esc(what)}</code>: share of rows per bin, research vs live (shared bins; the "
        "end bins hold the 1% tails).",
    )


def _chunks_figure(check: CheckResult, details: Mapping[str, Any]) -> str:
    chunks, baseline = details.get("chunks"), details.get("baseline")
    if not isinstance(chunks, list) or not isinstance(baseline, Mapping):
        return ""
    rows = [c for c in chunks if isinstance(c, Mapping) and ("realized" in c or "estimated" in c)]
    metric = str(details.get("metric") or "metric")
    bar = check.threshold if isinstance(check.threshold, (int, float)) else None
    chart = svg.chunk_performance(rows, _number(baseline.get("value")), bar, metric)
    return _figure(
        chart,
        f"{esc(metric)} per live chunk: realized on labelled rows, estimated on unlabelled rows; "
        "whiskers are the interval the chunk's verdict rests on; dashed lines are the research "
        "baseline and the bar (baseline minus the tolerated drop).",
    )


def _shares_figure(check: CheckResult, changes: Any) -> str:
    if not isinstance(changes, list):
        return ""
    rows = [
        (str(c.get("category")), float(c["research_share"]), float(c["live_share"]))
        for c in changes
        if isinstance(c, Mapping)
        and _is_number(c.get("research_share"))
        and _is_number(c.get("live_share"))
    ]
    what = check.column or check.id
    chart = svg.paired_bars(rows, f"{what}: category shares", "share")
    return _figure(chart, f"<code>{esc(what)}</code>: the categories whose share moved most.")


def _group_figures(group: Sequence[CheckResult]) -> str:
    """Null rates of every column a check flagged, in one chart."""
    plain = [(c, _plain(c)) for c in group]
    rows = [
        (c.column or c.source or c.id, d["research_null_rate"], d["live_null_rate"])
        for c, d in plain
        if _is_number(d.get("research_null_rate")) and _is_number(d.get("live_null_rate"))
    ]
    chart = svg.paired_bars(rows, "null rate per column, research vs live", "null rate")
    return _figure(chart, "Null rate per column: research vs live.")


def _matrix_figure(matrix: Any) -> str:
    """Research value (rows) x production value (columns): counts, shaded by size."""
    if not isinstance(matrix, Mapping) or not matrix:
        return ""
    rows = {str(k): v for k, v in matrix.items() if isinstance(v, Mapping)}
    columns = list(dict.fromkeys(str(c) for v in rows.values() for c in v))
    top = max((n for v in rows.values() for n in v.values() if _is_number(n)), default=0) or 1
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    out = [
        '<table class="matrix">',
        f'<thead><tr><th class="corner">research ↓ / production →</th>{head}</tr></thead>',
        "<tbody>",
    ]
    for name, counts in rows.items():
        cells = []
        for column in columns:
            n = counts.get(column, 0)
            kind = "same" if column == name else "moved"
            shade = f"{(n / top) ** 0.5:.2f}" if _is_number(n) else "0"
            cells.append(f'<td class="{kind}" style="--v:{shade}">{esc(fmt_value(n))}</td>')
        out.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
    out += ["</tbody>", "</table>"]
    return _figure(
        "\n".join(out),
        "Assignment matrix: keys per research value (rows) and production value (columns); "
        "off the diagonal, keys that moved.",
    )


def _plain(check: CheckResult) -> Mapping[str, Any]:
    """A result's details as plain JSON values (numpy numbers made Python, NaN made "NaN")."""
    details = to_jsonable(check.details) if isinstance(check.details, Mapping) else {}
    return details if isinstance(details, Mapping) else {}


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool): the only values a chart draws."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _numbers(value: Any) -> list[float]:
    plain = to_jsonable(value)
    return (
        [float(v) for v in plain] if isinstance(plain, list) and all(map(_is_number, plain)) else []
    )


# --------------------------------------------------------------------------- tables and raw details


def _example_tables(check: CheckResult) -> list[str]:
    """Lists of records (example rows, bins, chunks, category changes) as tables."""
    details = _plain(check)
    sides = _sides(details)
    tables = [_records_table("research vs production", sides)] if sides else []
    return tables + [
        _records_table(key, value)
        for key, value in details.items()
        if key not in PLOTTED_KEYS + COLLAPSED_TABLES and _tabled(key, value)
    ]


def _sides(details: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`research` and `production` summaries of plain values, side by side (one row a name)."""
    research, production = details.get("research"), details.get("production")
    if not (isinstance(research, Mapping) and isinstance(production, Mapping)):
        return {}
    if _nested(research) or _nested(production):
        return {}
    names = dict.fromkeys([*research, *production])
    return {n: {"research": research.get(n), "production": production.get(n)} for n in names}


def _tabled(key: str, value: Any) -> bool:
    """A non-empty list of records, a mapping of names to records (per-statistic differences),
    or a list of plain example values (keys): a table."""
    if isinstance(value, Mapping) and value:
        return all(isinstance(v, Mapping) and not _nested(v) for v in value.values())
    if not isinstance(value, list) or not value:
        return False
    if all(isinstance(v, Mapping) for v in value):
        return True
    return "example" in key and not any(isinstance(v, (Mapping, list)) for v in value)


def _nested(record: Mapping[str, Any]) -> bool:
    return any(isinstance(v, (Mapping, list)) for v in record.values())


def _records_table(name: str, values: list[Any] | Mapping[str, Any]) -> str:
    if isinstance(values, Mapping):  # {"min": {"research": 1, ...}} -> rows named by their key
        values = [{"": key, **record} for key, record in values.items()]
    if not any(isinstance(v, Mapping) for v in values):  # plain example keys: one line
        listed = ", ".join(f"<code>{_cell(v, name, True)}</code>" for v in values[:MAX_TABLE_ROWS])
        listed += (
            f" … ({len(values) - MAX_TABLE_ROWS} more)" if len(values) > MAX_TABLE_ROWS else ""
        )
        return f'<p class="examples"><strong>{esc(name.replace("_", " "))}:</strong> {listed}</p>'
    records = [v if isinstance(v, Mapping) else {"value": v} for v in values]
    exact = "example" in name  # mismatching example values may differ only in their last digits
    columns = list(dict.fromkeys(k for r in records for k in r))
    shown = records[:MAX_TABLE_ROWS]
    more = len(records) - len(shown)
    caption = esc(name.replace("_", " ")) + (
        f" (first {len(shown)} of {len(records)})" if more else ""
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = [
        "<tr>" + "".join(f"<td>{_cell(r.get(c), c, exact)}</td>" for c in columns) + "</tr>"
        for r in shown
    ]
    return "\n".join(
        [
            '<table class="records">',
            f"<caption>{caption}</caption>",
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
        ]
    )


def _cell(value: Any, column: str, exact: bool) -> str:
    if value is None:
        return '<span class="null">null</span>'
    if column == "status" and value in ("warn", "fail", "error"):
        return f'<span class="st-{value}">{esc(value)}</span>'
    if isinstance(value, float) and exact:  # every digit JSON keeps
        return esc(f"{value:.12g}")
    return esc(fmt_value(value, limit=80))


def _raw_details(check: CheckResult) -> str:
    """The remaining details as JSON, collapsed (what JSON readers see, minus charted data)."""
    details = _plain(check)
    tables = [_records_table(k, details[k]) for k in COLLAPSED_TABLES if _tabled(k, details.get(k))]
    sides = ("research", "production") if _sides(details) else ()
    rest = {k: v for k, v in details.items() if k not in PLOTTED_KEYS + sides and not _tabled(k, v)}
    if not rest and not tables:
        return ""
    text = json.dumps(rest, indent=2, ensure_ascii=False, allow_nan=False)
    if len(text) > MAX_DETAILS_CHARS:
        text = text[:MAX_DETAILS_CHARS] + "\n… (cut; --format json has the full details)"
    raw = [f"<pre>{html.escape(visible(text))}</pre>"] if rest else []
    return "\n".join(["<details><summary>details</summary>", *tables, *raw, "</details>"])


# --------------------------------------------------------------------------- the page

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mlcheck">
<title>{title}</title>
<style>
{style}
</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

_STYLE = """\
:root { color-scheme: light; --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --error: #8250df;
  --muted: #59636e; --line: #d1d9e0; --research: #4c78a8; --live: #f58518; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { margin: 0 0 4px; font-size: 28px; }
h2 { font-size: 21px; margin: 0 0 8px; }
h3 { font-size: 17px; margin: 0 0 4px; }
h4 { font-size: 15px; margin: 0 0 4px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff2f5;
  padding: 1px 4px; border-radius: 4px; }
pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff2f5;
  padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
header.verdict { padding: 16px 20px; border-radius: 8px; color: #fff; margin-bottom: 16px; }
header.verdict.ready { background: var(--pass); }
header.verdict.not-ready { background: var(--fail); }
header.verdict p { margin: 2px 0; }
header.verdict code { background: rgba(255, 255, 255, .2); color: #fff; }
.about { opacity: .92; font-size: 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px;
  margin: 14px 0; }
section.stage.fail, section.stage.error { border-left: 6px solid var(--fail); }
section.stage.warn { border-left: 6px solid var(--warn); }
section.stage.pass { border-left: 6px solid var(--pass); }
section.stage.skipped, section.stage.not_run { border-left: 6px solid var(--line); color: var(--muted); }
small { color: var(--muted); font-weight: normal; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
table.stages { background: #fff; width: 100%; }
table.findings { width: 100%; }
table.findings td:nth-child(5) { overflow-wrap: anywhere; }
table.findings tr.pass td, table.findings tr.skipped td { color: var(--muted); }
caption { text-align: left; font-weight: 600; padding: 2px 0; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12.5px;
  font-weight: 600; white-space: nowrap; border: 1px solid currentColor; }
.badge.pass { color: var(--pass); } .badge.warn { color: var(--warn); }
.badge.fail { color: var(--fail); } .badge.error { color: var(--error); }
.badge.skipped, .badge.not_run { color: var(--muted); }
.accepted-tag { font-size: 12px; color: var(--muted); border: 1px dashed var(--muted);
  border-radius: 10px; padding: 0 6px; }
article.check { border-top: 1px solid var(--line); padding-top: 10px; margin-top: 12px; }
.counts { color: var(--muted); margin: 0 0 4px; font-size: 13.5px; }
.reason, .more, .observed { color: var(--muted); margin: 0; }
.more { margin-top: 8px; }
.hint { background: #fff8c5; border-left: 4px solid var(--warn); padding: 6px 10px; margin: 6px 0; }
.finding { margin: 12px 0 0 0; padding: 8px 12px; background: #fbfcfd; border: 1px solid var(--line);
  border-radius: 6px; }
.finding p { margin: 4px 0; overflow-wrap: anywhere; }
figure { margin: 10px 0; }
figcaption { color: var(--muted); font-size: 13px; max-width: 640px; }
svg.chart { max-width: 100%; height: auto; background: #fff; font-size: 11.5px; }
svg .research { fill: var(--research); stroke: var(--research); }
svg .live { fill: var(--live); stroke: var(--live); }
svg rect.bar { fill-opacity: .45; stroke: #fff; stroke-width: .8; }
svg .step { fill: none; stroke-width: 2.2; }
svg .line { fill: none; stroke-width: 1.6; }
svg circle.estimated { fill: #fff; stroke-width: 2; }
svg .hit { fill: transparent; }
svg .hit:hover { fill: rgba(0, 0, 0, .06); }
svg .grid { stroke: #eaeef2; }
svg .axis { stroke: #8c959f; }
svg .tick, svg .legend, svg .value { fill: #424a53; }
svg .tick.status-fail { fill: var(--fail); font-weight: 600; }
svg .tick.status-warn { fill: var(--warn); font-weight: 600; }
svg .whisker { stroke: #424a53; stroke-width: 1.5; }
svg .limit { stroke: var(--fail); stroke-dasharray: 6 4; fill: var(--fail); }
svg .baseline { stroke: #57606a; stroke-dasharray: 2 3; }
svg .ref-label { fill: #57606a; font-size: 11px; }
svg .band-fail { fill: rgba(207, 34, 46, .08); }
svg .band-warn { fill: rgba(154, 103, 0, .08); }
table.matrix td { text-align: right; min-width: 64px; }
table.matrix td.same { background: rgba(26, 127, 55, calc(var(--v) * .45)); }
table.matrix td.moved { background: rgba(207, 34, 46, calc(var(--v) * .45)); }
table.matrix th.corner { font-weight: normal; color: var(--muted); font-size: 12px; }
.null { color: var(--muted); font-style: italic; }
.st-warn { color: var(--warn); font-weight: 600; } .st-fail { color: var(--fail); font-weight: 600; }
.st-error { color: var(--error); font-weight: 600; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); }
details.passing > summary { font-weight: 600; }
"""
