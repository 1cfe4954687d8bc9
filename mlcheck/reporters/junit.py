"""JUnit XML: one testsuite per stage, one testcase per check result."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlcheck.reporters.common import observed_vs, subject
from mlcheck.results import RunResult, Status, to_jsonable


def render(result: RunResult, **_: object) -> str:
    root = ET.Element("testsuites", name="mlcheck", time=f"{result.duration_s:.3f}")
    for stage in result.stages:
        suite = ET.SubElement(root, "testsuite", name=stage.id, time=f"{stage.duration_s:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if not stage.checks:
            case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage.id}", name=stage.id)
            if stage.status in (Status.SKIPPED, Status.NOT_RUN):
                ET.SubElement(case, "skipped", message=stage.reason or stage.status.value)
                counts["skipped"] += 1
            elif stage.status is Status.FAIL:
                ET.SubElement(case, "failure", message=stage.reason or "failed")
                counts["failures"] += 1
            counts["tests"] += 1
        for check in stage.checks:
            name = f"{check.id} {check.title}" + (f" [{subject(check)}]" if subject(check) else "")
            case = ET.SubElement(suite, "testcase", classname=f"mlcheck.{stage.id}", name=name)
            counts["tests"] += 1
            text = "\n".join(filter(None, [check.message, observed_vs(check), check.hint and f"hint: {check.hint}", json.dumps(to_jsonable(check.details), ensure_ascii=False) if check.details else ""]))
            if check.status is Status.FAIL:
                ET.SubElement(case, "failure", message=check.message, type="fail").text = text
                counts["failures"] += 1
            elif check.status is Status.ERROR:
                ET.SubElement(case, "error", message=check.message, type="error").text = text
                counts["errors"] += 1
            elif check.status is Status.WARN:
                ET.SubElement(case, "system-out").text = f"WARNING: {text}"
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
