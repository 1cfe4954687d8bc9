"""The JUnit report: one suite per stage, one case per result, valid XML whatever the data holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlcheck.reporters import junit
from mlcheck.results import CheckResult, RunResult, StageResult, Status


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def test_one_suite_per_stage_one_case_per_result(full_result: RunResult) -> None:
    root = _parse(junit.render(full_result))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [s.id for s in full_result.stages]
    for suite, stage in zip(suites, full_result.stages, strict=True):
        check_ids = {c.id for c in stage.checks} | {i for i, _ in full_result.planned[stage.id]}
        assert len(suite.findall("testcase")) == len(check_ids) == int(suite.get("tests", "-1"))


def test_statuses_map_to_failure_error_skipped(
    full_result: RunResult, stopped_result: RunResult
) -> None:
    root = _parse(junit.render(full_result))
    by_name = {s.get("name"): s for s in root.findall("testsuite")}
    split = by_name["split_reproducibility"]
    assert len(split.findall("testcase/failure")) == 2 and split.get("failures") == "2"
    assert by_name["prediction_mismatch"].findall("testcase/error")[0].get("type") == "error"
    skipped = by_name["performance_drop"].find("testcase/skipped")
    assert skipped is not None and skipped.get("message") == "no live labels declared"
    warn_case = by_name["feature_parity"].find("testcase")
    assert warn_case is not None and warn_case.find("failure") is None
    assert (warn_case.findtext("system-out") or "").startswith(
        "WARNING: [features / débit|ratio] Δ mean"
    )
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "14",
        "2",
        "1",
        "2",
    )
    stopped = _parse(junit.render(stopped_result))
    assert [c.get("message") for c in stopped.iter("skipped")] == [
        "not run: data_reproducibility failed"
    ] * 2


def test_fail_on_warn_turns_warnings_into_failures(full_result: RunResult) -> None:
    root = _parse(junit.render(full_result, fail_on_warn=True))
    failure = root.find("testsuite[@name='feature_parity']/testcase/failure")
    assert failure is not None and failure.get("type") == "warn"


def test_stage_failed_without_results_is_one_failing_case() -> None:
    stage = StageResult(
        "performance_drop", Status.FAIL, 0.0, "no live data declared (--require-all)"
    )
    root = _parse(
        junit.render(RunResult("c.yaml", None, "not_ready", "performance_drop", 0.0, (stage,)))
    )
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "no live data declared (--require-all)"


def test_characters_xml_forbids_are_escaped_visibly() -> None:
    """Every C0 control, DEL, a lone surrogate and U+FFFE in a message, subject and hint."""
    nasty = "".join(chr(c) for c in range(32)) + "\x7f\ud800\ufffe <&>\"'"
    check = CheckResult(
        "RAW001", "t" + nasty, Status.FAIL, nasty, source=nasty, hint=nasty, details={"k": nasty}
    )
    result = RunResult(
        "c.yaml",
        None,
        "not_ready",
        "data_reproducibility",
        0.0,
        (StageResult("data_reproducibility", Status.FAIL, 0.0, None, (check,)),),
    )
    root = _parse(junit.render(result))  # would raise on an invalid document
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert message.startswith("\\x00\\x01\\x02") and "\\x7f\\ud800\\ufffe <&>\"'" in message
    assert "\\x1f" in (failure.text or "") and "\x01" not in (failure.text or "")


def test_a_run_that_checked_nothing_fails_in_junit_too() -> None:
    """Defect (review of issue 12.13): every stage skipped exits 1, yet the JUnit file held only
    skipped cases, so a CI reading just that file showed green. One failing case says why; a
    run with something checked has no such case."""
    skipped = tuple(
        StageResult(s, Status.SKIPPED, 0.0, "no inputs declared", ())
        for s in ("data_reproducibility", "feature_parity")
    )
    nothing = RunResult("c.yaml", "c", "not_ready", None, 0.1, skipped, "0.1.0")
    root = ET.fromstring(junit.render(nothing))
    assert (root.get("tests"), root.get("failures")) == ("3", "1")  # two skipped stages + this
    failures = root.findall(".//failure")
    assert [f.get("type") for f in failures] == ["nothing_checked"]
    checked = RunResult(
        "c.yaml",
        "c",
        "ready",
        None,
        0.1,
        (StageResult("data_reproducibility", Status.PASS, 0.1, None, ()), skipped[1]),
        "0.1.0",
    )
    assert ET.fromstring(junit.render(checked)).findall(".//failure") == []
