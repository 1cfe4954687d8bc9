"""JUnit XML: one testsuite per stage, one testcase per check, named `ID title` whatever happened.

A test case's name never depends on status, so CI history sees a passing check turn into a failing
one. The run carries every registered check of each stage (`RunResult.planned`), so a stage that
was skipped or not run keeps its test cases, as skipped, and the test count is the same in a
passing and a failing run. A check's findings (one per column in JSON) are one case: fail ->
<failure> and error -> <error> listing the columns; warn -> a passing case with the warnings in
<system-out> (a <failure> under `--fail-on warn`); accepted findings are listed in <system-out>.
XML 1.0 forbids most control characters even as references, so they are written as visible
escapes; everything else is escaped by ElementTree.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlcheck.reporters.common import FindingGroup, observed_vs, one_line, subject, subjects, visible
from mlcheck.results import CheckResult, RunResult, StageResult, Status, to_jsonable, worst

_COUNTS = ("tests", "failures", "errors", "skipped")


def render(result: RunResult, *, fail_on_warn: bool = False, **_: object) -> str:
    """The report as an XML document (a str; the CLI writes it as UTF-8)."""
    root = ET.Element("testsuites", name="mlcheck", time=f"{result.duration_s:.3f}")
    totals = dict.fromkeys(_COUNTS, 0)
    for stage in result.stages:
        counts = _suite(root, stage, result.planned.get(stage.id, ()), fail_on_warn)
        totals = {k: totals[k] + counts[k] for k in _COUNTS}
    if _nothing_checked(result):
        totals["tests"] += 1
        totals["failures"] += 1
        _nothing_checked_suite(root)
    for key in _COUNTS:
        root.set(key, str(totals[key]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _nothing_checked(result: RunResult) -> bool:
    """Every stage skipped and the run not ready: without a failing case a CI that reads only
    the JUnit file would show all-skipped as green."""
    return (
        not result.ready
        and bool(result.stages)
        and all(s.status is Status.SKIPPED for s in result.stages)
    )


def _nothing_checked_suite(root: ET.Element) -> None:
    suite = ET.SubElement(root, "testsuite", name="run", tests="1", failures="1")
    suite.set("errors", "0")
    suite.set("skipped", "0")
    case = ET.SubElement(suite, "testcase", classname="mlcheck.run", name="something was checked")
    failure = ET.SubElement(case, "failure", type="nothing_checked")
    failure.set("message", "nothing was checked: every stage was skipped")


def _suite(
    root: ET.Element, stage: StageResult, planned: tuple[tuple[str, str], ...], fail_on_warn: bool
) -> dict[str, int]:
    suite = ET.SubElement(root, "testsuite", name=stage.id)
    counts = dict.fromkeys(_COUNTS, 0)
    checks = dict(planned)
    for check in stage.checks:  # a result of a check the plan does not list still gets its case
        checks.setdefault(check.id, check.title)
    if not checks:
        _stage_case(suite, stage, counts)
    for check_id, title in checks.items():
        results = [c for c in stage.checks if c.id == check_id]
        _check_case(suite, stage, check_id, title, results, counts, fail_on_warn)
    for key in _COUNTS:
        suite.set(key, str(counts[key]))
    suite.set("time", f"{stage.duration_s:.3f}")
    return counts


_STAGE_OUTCOME = {
    Status.SKIPPED: "skipped",
    Status.NOT_RUN: "skipped",
    Status.FAIL: "failure",
    Status.ERROR: "error",
}


def _stage_case(suite: ET.Element, stage: StageResult, counts: dict[str, int]) -> None:
    """A stage with no known checks (a hand-made result) as one case named after the stage."""
    case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage.id}", name=stage.id)
    counts["tests"] += 1
    _outcome(
        case,
        _STAGE_OUTCOME.get(stage.status),
        one_line(stage.reason or stage.status.value),
        "",
        counts,
    )


def _check_case(
    suite: ET.Element,
    stage: StageResult,
    check_id: str,
    title: str,
    results: list[CheckResult],
    counts: dict[str, int],
    fail_on_warn: bool,
) -> None:
    name = f"{check_id} {one_line(title)}"
    case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage.id}", name=name)
    counts["tests"] += 1
    if not results:  # the stage did not run, or stopped before its checks (a --require-all skip)
        tag = _STAGE_OUTCOME.get(stage.status) if stage.reason else None
        _outcome(case, tag, one_line(stage.reason or ""), "", counts)
        return
    counted = [r for r in results if r.counts]
    status = worst([r.status for r in counted])
    blocking = {Status.FAIL, Status.ERROR} | ({Status.WARN} if fail_on_warn else set())
    problems = [r for r in counted if r.status in blocking] if status in blocking else []
    if problems:
        tag = "error" if status is Status.ERROR else "failure"
        _outcome(case, tag, _summary(problems), "\n\n".join(_body(r) for r in problems), counts)
        case[-1].set("type", status.value)
    notes = [
        f"WARNING: {_body(r)}" for r in counted if r.status is Status.WARN and r not in problems
    ]
    notes += [
        f"ACCEPTED ({one_line(r.accepted.reason)}): {_body(r)}" for r in results if r.accepted
    ]
    if notes:
        ET.SubElement(case, "system-out").text = visible("\n\n".join(notes))


def _outcome(
    case: ET.Element, tag: str | None, message: str, body: str, counts: dict[str, int]
) -> None:
    if tag is None:
        return
    ET.SubElement(case, tag, message=message).text = visible(body) if body else None
    counts["skipped" if tag == "skipped" else tag + "s"] += 1


def _summary(problems: list[CheckResult]) -> str:
    """The failure message: the finding's message, or how many findings on which columns."""
    if len(problems) == 1:
        return one_line(problems[0].message)
    about = subjects(FindingGroup("", tuple(problems)), limit=20)
    return one_line(f"{len(problems)} findings: {about}")


def _body(check: CheckResult) -> str:
    """Subject, message, observed vs threshold, hint and details, one per line."""
    details = (
        json.dumps(to_jsonable(check.details), ensure_ascii=False, allow_nan=False, indent=1)
        if check.details
        else ""
    )
    about = f"[{subject(check)}] " if subject(check) else ""
    hint = f"hint: {check.hint}" if check.hint else ""
    observed = f"observed: {observed_vs(check)}" if observed_vs(check) else ""
    return "\n".join(part for part in (about + check.message, observed, hint, details) if part)
