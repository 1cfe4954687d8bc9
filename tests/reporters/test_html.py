"""The HTML reporter: well-formed, self-contained, escaped, the same findings as JSON, and charts
drawn from the numbers in the details (checked against hand computations).

Browser behaviour (no request, no console error, visible charts) is tested in
test_html_browser.py; the layout of whole reports in test_html_golden.py.
"""

from __future__ import annotations

import html as stdlib_html
import os
import re
import subprocess
import sys
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcheck.reporters import html as report
from mlcheck.reporters import render, svg
from mlcheck.reporters.common import detail_tables
from mlcheck.results import Acceptance, CheckResult, RunResult, StageResult, Status

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert(1)</script><img src=x onerror=\"fetch('https://evil.example')\">&amp;"
VOID = {"meta", "br", "img", "input", "link", "hr"}
ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "main", "header", "section", "article"),
    *("h1", "h2", "h3", "h4", "p", "strong", "small", "code", "pre", "span", "a", "div"),
    *("table", "caption", "thead", "tbody", "tr", "th", "td", "details", "summary"),
    *("figure", "figcaption", "svg", "rect", "line", "polyline", "circle", "text"),
}


class Tree(HTMLParser):
    """Collects every tag and attribute, and fails on a tag closed out of order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Tree:
    tree = Tree(text)
    assert tree.stack == [], f"unclosed tags: {tree.stack}"
    return tree


def hostile_result() -> RunResult:
    """Every user-controlled string of a result holds markup: names, messages, details."""
    details = {
        "examples": [{"key": HOSTILE, HOSTILE: HOSTILE}],
        "changes": [{"category": HOSTILE, "research_share": 0.5, "live_share": 0.1}],
        "matrix": {HOSTILE: {HOSTILE: 3, "train": 1}},
        "histogram": {"edges": [0, 1, 2], "research": [1, 2], "live": [2, 1]},
        HOSTILE: HOSTILE,
    }
    finding = CheckResult(
        "PERF002",
        HOSTILE,
        Status.FAIL,
        HOSTILE,
        source=HOSTILE,
        column=HOSTILE,
        observed=HOSTILE,
        expected=HOSTILE,
        threshold=HOSTILE,
        hint=HOSTILE,
        details=details,
    )
    nulls = CheckResult(
        "VAR002",
        "null rate",
        Status.WARN,
        "rose",
        column=HOSTILE,
        details={"research_null_rate": 0.0, "live_null_rate": 0.5},
    )
    stage = StageResult("performance_drop", Status.FAIL, 0.1, HOSTILE, (finding, nulls))
    return RunResult(HOSTILE, HOSTILE, "not_ready", None, 0.1, (stage,), HOSTILE)


def test_user_text_is_escaped_everywhere() -> None:
    text = report.render(hostile_result())
    tree = parse(text)
    names = {tag for tag, _ in tree.tags}
    assert names <= ALLOWED_TAGS, names - ALLOWED_TAGS
    for _, attrs in tree.tags:
        assert not any(name.startswith("on") for name in attrs)
    assert "<script" not in text.lower() and "<img" not in text.lower()
    # the text survives, shown literally
    assert HOSTILE in "".join(tree.text)
    assert stdlib_html.escape(HOSTILE, quote=True) in text


def test_the_page_is_self_contained() -> None:
    text = report.render(hostile_result())
    tree = parse(text)
    for tag, attrs in tree.tags:
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#")
        for name, value in attrs.items():
            if name == "xmlns":
                continue
            assert name not in ("src", "srcset", "action")
            assert "://" not in (value or "") or name in ("aria-label",)
    csp = next(a for t, a in tree.tags if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp.get("content") or "")
    assert not re.search(r"url\(|@import", text)  # the style sheet loads nothing either


def test_same_verdict_stages_and_findings_as_json(full_result: RunResult) -> None:
    text = report.render(full_result)
    tree = parse(text)
    shown = " ".join("".join(tree.text).split())
    assert "NOT READY" in shown
    for stage in full_result.stages:
        assert f'id="stage-{stage.id}"' in text
        assert f'class="stage {stage.status.value}"' in text
        for check in stage.checks:
            assert check.id in shown
            message = " ".join(report.visible(check.message).replace("`", "").split())
            assert message in shown, message
    rows = text.count('<tr class="pass"><td><span class="badge pass">')
    assert rows == sum(c.status is Status.PASS for s in full_result.stages for c in s.checks)


def test_ready_and_timings(ready_result: RunResult) -> None:
    with_times = report.render(ready_result)
    without = report.render(ready_result, timings=False)
    assert "READY" in with_times and "0.50 s" in with_times
    assert not re.search(r"\d\.\d\d s\b", without)


def test_control_characters_are_shown_not_sent(full_result: RunResult) -> None:
    text = report.render(full_result)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31mred" in text and "\\x07" in text


# --------------------------------------------------------------------------- charts


def heights(chart: str, css: str) -> list[float]:
    return [float(h) for h in re.findall(rf'<rect class="{css} bar" [^>]*height="([\d.]+)"', chart)]


def test_histogram_bars_are_shares_of_each_side() -> None:
    """Research counts 1, 3 (shares .25, .75); live 2, 2 (.5, .5): bar heights in proportion."""
    chart = svg.histogram([0.0, 1.0, 2.0], [1, 3], [2, 2], "x")
    research = heights(chart, "research")
    assert research[1] / research[0] == pytest.approx(3.0, rel=0.01)
    plot_height = 240 - svg.TOP - svg.BOTTOM
    assert research[1] == pytest.approx(plot_height * 0.75 / (0.75 * 1.08), abs=0.1)
    step = re.search(r'class="live step" points="([^"]+)"', chart)
    assert step is not None
    ys = {float(p.split(",")[1]) for p in step.group(1).split()}
    assert len(ys) == 2  # the baseline and one level: both live bins hold 50%
    assert "research (n=4)" in chart and "live (n=4)" in chart
    assert svg.histogram([0.0, 1.0], [0], [5], "x") == ""  # nothing to compare


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert svg.nice_ticks(0.0, 1.0, 5) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert svg.nice_ticks(0.743, 0.851, 7) == pytest.approx([0.76, 0.78, 0.8, 0.82, 0.84])
    assert svg.nice_ticks(-3.0, 7.0, 6) == pytest.approx([-2.0, 0.0, 2.0, 4.0, 6.0])
    assert svg.nice_ticks(2.0, 2.0) == [2.0]


def test_chunk_chart_places_points_baseline_and_bar() -> None:
    chunks = [
        {"start": 0, "end": 10, "n": 10, "realized": 0.9, "lower": 0.85, "upper": 0.95},
        {"start": 10, "end": 20, "n": 10, "realized": 0.7, "lower": 0.6, "upper": 0.8,
         "status": "fail"},
        {"start": 20, "end": 30, "n": 10, "realized": None, "estimated": 0.8, "lower": 0.75,
         "upper": 0.85},
    ]  # fmt: skip
    chart = svg.chunk_performance(chunks, 0.88, 0.83, "roc_auc")
    realized = [
        float(y) for y in re.findall(r'class="research point realized"[^>]*cy="([\d.]+)"', chart)
    ]
    estimated = re.findall(r'class="live point estimated"[^>]*cy="([\d.]+)"', chart)
    assert len(realized) == 2 and len(estimated) == 1
    assert realized[0] < realized[1]  # 0.9 is drawn above 0.7 (SVG y grows downwards)
    assert chart.count('class="band-fail"') == 1 and chart.count('class="whisker"') == 3
    limit = re.search(rf'<line class="limit" x1="{svg.LEFT}"[^>]*y1="([\d.]+)"', chart)
    assert limit is not None
    assert realized[0] < float(limit.group(1)) < realized[1]  # the bar lies between 0.9 and 0.7


def test_many_chunks_keep_readable_labels() -> None:
    """Labels are thinned to what fits: about 40 px per chunk number, 80 px per date."""
    numbered = [{"start": i, "end": i + 1, "realized": 0.8} for i in range(100)]
    dated = [{"start": f"2025-01-{1 + i % 28:02d}T00:00:00", "realized": 0.8} for i in range(60)]
    for chunks, fits in ((numbered, 568 // 40), (dated, 568 // 80)):
        chart = svg.chunk_performance(chunks, 0.8, 0.78, "roc_auc")
        labels = re.findall(r'<text class="tick status-[^>]*>([^<]*)</text>', chart)
        assert fits // 2 <= len(labels) <= fits
        assert chart.count("<circle") == len(chunks)  # every chunk is still drawn
    assert labels[0] == "2025-01-01"


def test_paired_bars_are_proportional() -> None:
    chart = svg.paired_bars([("a", 0.2, 0.4), ("b", 0.1, 0.0)], "shares", "share")
    widths = [float(w) for w in re.findall(r'x="150" y="[\d.]+" width="([\d.]+)"', chart)]
    assert widths[1] / widths[0] == pytest.approx(2.0, rel=0.01)
    assert widths[2] / widths[0] == pytest.approx(0.5, rel=0.01)
    assert widths[3] == 0.5  # a zero share keeps a hairline so the row reads as "0%"


def test_charts_come_from_details() -> None:
    text = report.render(hostile_result())
    assert text.count('<svg class="chart"') == 3  # histogram, category shares, null rates
    assert 'aria-label="null rate per column, research vs live"' in text
    matrix = re.search(r'<table class="matrix">.*?</table>', text, re.S)
    assert matrix is not None
    assert 'class="same" style="--v:1.00">3<' in matrix.group(0)
    assert 'class="moved" style="--v:0.58">1<' in matrix.group(0)  # sqrt(1/3)


def test_concept_drift_bins_are_charted_and_example_values_keep_their_digits() -> None:
    bins = [
        {"bin": "[0, 1)", "n_live": 10, "observed_rate": 0.4, "expected_rate": 0.1},
        {"bin": "[1, inf)", "n_live": 20, "observed_rate": 0.3, "expected_rate": 0.3},
        {"bin": "(null)", "n_live": 0, "observed_rate": 0.0, "expected_rate": 0.0},
    ]
    calibration = CheckResult(
        "PERF005", "Calibration", Status.WARN, "moved", column="y", details={"bins": bins}
    )
    cast = CheckResult(
        "RAW010",
        "Cells",
        Status.FAIL,
        "float32",
        column="total_debt",
        details={"examples": [{"key": 1, "research": 10260.29, "production": 10260.2900390625}]},
    )
    stage = StageResult("performance_drop", Status.FAIL, 0.1, None, (calibration, cast))
    text = report.render(RunResult("c.yaml", None, "not_ready", None, 0.1, (stage,), "0"))
    chart = re.search(r'<svg[^>]*aria-label="y: positive rate per bin".*?</svg>', text, re.S)
    assert chart is not None
    assert chart.group(0).count('class="tick"') == 2  # the bin without live rows is left out
    assert "expected (research) rate" in chart.group(0) and ">40%<" in chart.group(0)
    assert "<td>10260.29</td><td>10260.2900391</td>" in text  # float32 noise stays visible
    assert "<td>0.4</td><td>0.1</td>" in text  # other tables keep 6 significant digits


def test_passing_results_keep_only_the_performance_charts(full_result: RunResult) -> None:
    score = CheckResult(
        "PERF003",
        "Prediction drift",
        Status.PASS,
        "no drift",
        column="score",
        details={"histogram": {"edges": [0, 1, 2], "research": [1, 1], "live": [1, 1]}},
    )
    split = CheckResult("SPL002", "Split", Status.PASS, "same", details={"matrix": {"a": {"a": 3}}})
    stage = StageResult("performance_drop", Status.PASS, 0.1, None, (score, split))
    text = report.render(RunResult("c.yaml", None, "ready", None, 0.1, (stage,), "0"))
    assert 'aria-label="score: research vs live distribution"' in text
    assert 'class="matrix"' not in text


def test_a_check_with_hundreds_of_results_lists_them_all_but_details_ten() -> None:
    """300 float32 columns: one table row each, ten detail blocks, and a note for the rest."""
    checks = tuple(
        CheckResult(
            "FEAT012",
            "Float32",
            Status.WARN,
            f"`c{i}` is float32",
            column=f"c{i}",
            hint="float32 store",
            details={"production_type": "float32"},
        )
        for i in range(300)
    )
    stage = StageResult("feature_parity", Status.WARN, 0.1, None, checks)
    text = report.render(RunResult("w.yaml", None, "ready", None, 0.1, (stage,), "0"))
    parse(text)
    assert text.count('<tr class="warn"><td><span class="badge') == 300
    assert text.count('<div class="finding warn">') == report.MAX_BLOCKS == 10
    assert "The details of 290 more results of FEAT012" in text
    assert text.count("float32 store") == 1  # one hint for the whole check
    assert len(text) < 100_000


def test_accepted_findings_are_shown_apart_with_their_reason() -> None:
    accepted = CheckResult(
        "FEAT012",
        "Float32",
        Status.WARN,
        "`income` is float32",
        column="income",
        hint="raise float32_rtol",
        accepted=Acceptance("float32 store, ticket <ML-123>", date(2027, 1, 31)),
    )
    open_one = CheckResult("FEAT012", "Float32", Status.WARN, "`age` is float32", column="age")
    stage = StageResult("feature_parity", Status.WARN, 0.1, None, (accepted, open_one))
    text = report.render(RunResult("c.yaml", None, "ready", None, 0.1, (stage,), "0"))
    parse(text)
    section = re.search(r'<section class="accepted".*?</section>', text, re.S)
    assert section is not None
    assert "float32 store, ticket &lt;ML-123&gt;" in section.group(0)
    assert "2027-01-31" in section.group(0) and "income" in section.group(0)
    assert "<code>age</code>" not in section.group(0)
    # in its stage it is a table row marked accepted, with no problem block of its own
    assert text.count('<span class="accepted-tag">accepted</span>') == 1
    assert text.count('<div class="finding warn">') == 1


PLOT_KEYS = ["histogram", "edges", "research", "live", "chunks", "baseline", "value", "realized",
             "estimated", "lower", "upper", "status", "start", "changes", "category",
             "research_share", "live_share", "matrix", "bins", "bin", "expected_rate",
             "observed_rate", "n_live", "examples", "production", "research_null_rate",
             "live_null_rate", "metric"]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["pass", "warn", "fail", "<b>", "2025-01-06T00:00:00"]),
)
DETAILS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(PLOT_KEYS), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(
    max_examples=int(os.environ.get("MLCHECK_PROPERTY_EXAMPLES", "0")) or 150,
    deadline=None,
    derandomize="MLCHECK_PROPERTY_EXAMPLES" not in os.environ,
)
@given(
    details=st.dictionaries(st.sampled_from(PLOT_KEYS), DETAILS, max_size=6),
    status=st.sampled_from(list(Status)),
    threshold=SCALARS,
)
def test_any_details_render_a_well_formed_page(
    details: dict[str, Any], status: Status, threshold: Any
) -> None:
    """Whatever shape a check gives its details (wrong lengths, NaN, strings where numbers
    belong), the report renders, stays well-formed, and draws only what makes sense."""
    check = CheckResult("PERF001", "t", status, "m", column="c", threshold=threshold,
                        details=details)  # fmt: skip
    stage = StageResult("performance_drop", status, 0.1, None, (check,))
    text = report.render(RunResult("c.yaml", None, "ready", None, 0.1, (stage,), "0"))
    parse(text)
    coordinates = re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy|width|height|points)="([^"]*)"', text)
    assert not any("nan" in c or "inf" in c for c in coordinates)


@pytest.mark.parametrize(
    "histogram",
    [
        {"edges": [0, 1, 2], "research": [1], "live": [1, 2]},  # a count missing
        {"edges": [0, 1, 2], "research": [1, float("nan")], "live": [1, 1]},
        {"edges": [0, 2, 1], "research": [1, 1], "live": [1, 1]},  # edges out of order
        {"edges": [0, 1, 2], "research": [1, -1], "live": [1, 1]},
        {"edges": [0, float("inf")], "research": [1], "live": [1]},
        {"edges": [], "research": [], "live": []},  # no finite values (plot_histogram's empty)
    ],
)
def test_malformed_plot_data_draws_nothing(histogram: dict[str, Any]) -> None:
    check = CheckResult("PERF003", "t", Status.WARN, "m", details={"histogram": histogram})
    stage = StageResult("performance_drop", Status.WARN, 0.1, None, (check,))
    text = report.render(RunResult("c.yaml", None, "ready", None, 0.1, (stage,), "0"))
    parse(text)
    assert "<svg" not in text


def test_cli_writes_html_beside_or_as_the_main_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    same = [sys.executable, "-m", "mlcheck", "run", "checklists/credit.yaml", "-q"]
    clash = subprocess.run(
        [*same, "--format", "html", "-o", out, "--html", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clash.returncode == 2 and len(clash.stderr.strip().splitlines()) == 1
    assert "give them different files" in clash.stderr
    beside = tmp_path / "beside.html"
    proc = subprocess.run(
        [*same, "--format", "html", "-o", out, "--html", beside],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "✓ READY" in text
    assert beside.read_text(encoding="utf-8") == text  # the same render of the same run
    parse(text)


def test_render_dispatches_html(ready_result: RunResult) -> None:
    assert render(ready_result, "html") == report.render(ready_result)


def test_text_reports_leave_plot_data_out_and_json_keeps_it() -> None:
    histogram = {"edges": [0.0, 1.0], "research": [3], "live": [4]}
    tables = detail_tables({"histogram": histogram, "ks": 0.5})
    assert [row[0] for table in tables for row in table.rows] == ["ks"]
    check = CheckResult("PERF003", "t", Status.PASS, "m", details={"histogram": histogram})
    assert check.to_dict()["details"]["histogram"] == histogram
