"""JUnit XML: one testsuite per stage, one testcase per check result.

fail -> <failure>, error -> <error>, a skipped or not-run stage -> one <skipped> testcase, warn ->
a passing testcase with the warning in <system-out> (a <failure> under `--fail-on warn`).
XML 1.0 forbids most control characters even as references, so they are written as visible
escapes; everything else is escaped by ElementTree.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlcheck.reporters.common import observed_vs, one_line, subject, visible
from mlcheck.results import CheckResult, RunResult, StageResult, Status, to_jsonable

_COUNTS = ("tests", "failures", "errors", "skipped")


def render(result: RunResult, *, fail_on_warn: bool = False, **_: object) -> str:
    """The report as an XML document (a str; the CLI writes it as UTF-8)."""
    root = ET.Element("testsuites", name="mlcheck", time=f"{result.duration_s:.3f}")
    totals = dict.fromkeys(_COUNTS, 0)
    for stage in result.stages:
        counts = _suite(root, stage, fail_on_warn)
        totals = {k: totals[k] + counts[k] for k in _COUNTS}
    for key in _COUNTS:
        root.set(key, str(totals[key]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, stage: StageResult, fail_on_warn: bool) -> dict[str, int]:
    suite = ET.SubElement(root, "testsuite", name=stage.id)
    counts = dict.fromkeys(_COUNTS, 0)
    if not stage.checks:
        _stage_case(suite, stage, counts)
    for check in stage.checks:
        _check_case(suite, stage.id, check, counts, fail_on_warn)
    for key in _COUNTS:
        suite.set(key, str(counts[key]))
    suite.set("time", f"{stage.duration_s:.3f}")
    return counts


def _stage_case(suite: ET.Element, stage: StageResult, counts: dict[str, int]) -> None:
    """A stage without check results (skipped, not run, or failed before any check) as one case."""
    case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage.id}", name=stage.id)
    message = one_line(stage.reason or stage.status.value)
    counts["tests"] += 1
    kind = {
        Status.SKIPPED: "skipped",
        Status.NOT_RUN: "skipped",
        Status.FAIL: "failure",
        Status.ERROR: "error",
    }
    tag = kind.get(stage.status)
    if tag is not None:
        ET.SubElement(case, tag, message=message)
        counts["skipped" if tag == "skipped" else tag + "s"] += 1


def _check_case(
    suite: ET.Element, stage_id: str, check: CheckResult, counts: dict[str, int], fail_on_warn: bool
) -> None:
    about = f" [{subject(check)}]" if subject(check) else ""
    name = f"{check.id} {one_line(check.title)}{about}"
    case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage_id}", name=name)
    counts["tests"] += 1
    message = one_line(check.message)
    body = _body(check)
    if check.status is Status.FAIL or (check.status is Status.WARN and fail_on_warn):
        ET.SubElement(case, "failure", message=message, type=check.status.value).text = body
        counts["failures"] += 1
    elif check.status is Status.ERROR:
        ET.SubElement(case, "error", message=message, type="error").text = body
        counts["errors"] += 1
    elif check.status is Status.WARN:
        ET.SubElement(case, "system-out").text = f"WARNING: {body}"


def _body(check: CheckResult) -> str:
    """Message, observed vs threshold, hint and details, one per line."""
    details = (
        json.dumps(to_jsonable(check.details), ensure_ascii=False, allow_nan=False, indent=1)
        if check.details
        else ""
    )
    hint = f"hint: {check.hint}" if check.hint else ""
    observed = f"observed: {observed_vs(check)}" if observed_vs(check) else ""
    return visible("\n".join(part for part in (check.message, observed, hint, details) if part))
