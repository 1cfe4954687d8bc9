"""Accepted findings (SPEC 7.3): the `accept:` list, validated and applied by the runner.

Unit tests use throwaway checks in a private registry (see test_runner.py); the end-to-end tests
run the real stages on the float32 fixture (tests/reporters/float32_tables.py: production cast 30
breast-cancer features to float32, so FEAT012 warns once per column).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from mlcheck.accept import apply_acceptances
from mlcheck.checklist import AcceptSpec, Checklist, load_checklist
from mlcheck.context import StageContext
from mlcheck.errors import ChecklistError
from mlcheck.registry import CheckSpec, Registry
from mlcheck.reporters import render
from mlcheck.results import STAGE_ORDER, CheckResult, Finding, Status
from mlcheck.runner import RunOptions, run_checklist

sys.path.insert(0, str(Path(__file__).resolve().parent / "reporters"))
from float32_tables import write_float32_case

RAW = STAGE_ORDER[0]
TODAY = date(2026, 12, 3)


def _result(status: Status, column: str | None = "a", check_id: str = "FEAT012") -> CheckResult:
    return CheckResult(check_id, "t", status, f"{column} {status.value}", source="s", column=column)


def _entry(**fields: object) -> AcceptSpec:
    return AcceptSpec.model_validate({"check": "FEAT012", "reason": "float32 store", **fields})


STAGE_CHECKS = {"FEAT012": "Float precision", "FEAT008": "Cells agree"}


def test_an_accepted_warning_keeps_its_status_and_gains_the_reason() -> None:
    out = apply_acceptances(
        [_result(Status.WARN)], [_entry(until="2027-01-31")], STAGE_CHECKS, TODAY
    )
    assert len(out) == 1 and out[0].status is Status.WARN and not out[0].counts
    assert out[0].to_dict()["accepted"] == {"reason": "float32 store", "until": "2027-01-31"}


def test_column_and_source_narrow_what_an_entry_accepts() -> None:
    results = [_result(Status.FAIL, "a"), _result(Status.FAIL, "b"), _result(Status.FAIL, "c")]
    out = apply_acceptances(results, [_entry(column="b", source="s")], STAGE_CHECKS, TODAY)
    assert [r.counts for r in out] == [True, False, True]
    other_source = apply_acceptances(results, [_entry(source="t")], STAGE_CHECKS, TODAY)
    assert all(r.counts for r in other_source[:3])
    assert other_source[3].status is Status.WARN and "stale" in other_source[3].message


def test_passes_errors_and_other_checks_are_never_accepted() -> None:
    results = [
        _result(Status.PASS),
        _result(Status.ERROR),
        _result(Status.WARN, check_id="FEAT008"),
    ]
    out = apply_acceptances(results, [_entry()], STAGE_CHECKS, TODAY)
    assert all(r.accepted is None for r in out)
    assert [r.status for r in out[3:]] == [Status.WARN]  # stale: nothing it names went wrong
    assert json.dumps(out[0].to_dict()).find("accepted") == -1  # only accepted results carry it


def test_a_stale_entry_warns_under_its_check_and_names_itself() -> None:
    out = apply_acceptances([_result(Status.PASS)], [_entry(column="zz")], STAGE_CHECKS, TODAY)
    stale = out[-1]
    assert (stale.id, stale.title, stale.status, stale.column) == (
        "FEAT012",
        "Float precision",
        Status.WARN,
        "zz",
    )
    assert "`accept[0]`" in stale.message and stale.details["problem"] == "stale"


def test_a_stale_entry_says_which_key_names_what() -> None:
    """A report shows `numpy` for ENV002 and `income` for FEAT009 alike; whether the entry took
    it as a source or a column is what the user needs to see to correct it."""
    entries = [_entry(column="numpy"), _entry(source="s", column="zz")]
    out = apply_acceptances([_result(Status.PASS)], entries, STAGE_CHECKS, TODAY)
    assert "`accept[0]` (FEAT012, column `numpy`)" in out[1].message
    assert "`accept[1]` (FEAT012, source `s`, column `zz`)" in out[2].message


def test_an_entry_for_another_stage_is_left_to_that_stage() -> None:
    out = apply_acceptances([_result(Status.WARN)], [_entry()], {"RAW001": "x"}, TODAY)
    assert len(out) == 1 and out[0].accepted is None


def test_a_lapsed_entry_counts_again_and_warns() -> None:
    out = apply_acceptances(
        [_result(Status.FAIL)], [_entry(until="2026-12-02")], STAGE_CHECKS, TODAY
    )
    assert out[0].counts and out[0].status is Status.FAIL
    assert out[1].status is Status.WARN and "lapsed on 2026-12-02" in out[1].message
    on_the_day = apply_acceptances(
        [_result(Status.FAIL)], [_entry(until="2026-12-03")], STAGE_CHECKS, TODAY
    )
    assert len(on_the_day) == 1 and not on_the_day[0].counts  # valid through its `until` day


# --------------------------------------------------------------------------- runner


def _yielding(*statuses: Status) -> Callable[[StageContext], Iterator[Finding]]:
    def check(ctx: StageContext) -> Iterator[Finding]:
        """A throwaway check."""
        for i, status in enumerate(statuses):
            yield Finding(status, f"{status.value} finding", column=f"c{i}")

    return check


def _run(accept: list[dict[str, object]], *statuses: Status, today: date = TODAY) -> object:
    reg = Registry()
    reg.register(CheckSpec("TST001", RAW, _yielding(*statuses)))  # type: ignore[arg-type]
    # model_construct: TST001 is a throwaway id the real registry (which validates ids) lacks.
    blank = {"column": None, "source": None, "until": None}
    entries = [AcceptSpec.model_construct(**{**blank, **a}) for a in accept]
    checklist = Checklist.model_validate({"research": {}, "production": {}}).model_copy(
        update={"accept": entries}
    )
    return run_checklist(
        checklist, RunOptions(today=today), registry=reg, stages={RAW: lambda _: None}
    )


def test_accepted_failures_do_not_count_toward_the_stage_or_the_verdict() -> None:
    result = _run([{"check": "TST001", "reason": "known"}], Status.FAIL, Status.PASS)
    stage = result.stages[0]  # type: ignore[attr-defined]
    assert stage.status is Status.PASS and result.verdict == "ready"  # type: ignore[attr-defined]
    assert stage.checks[0].status is Status.FAIL and stage.checks[0].accepted.reason == "known"


def test_an_unaccepted_failure_still_fails_the_stage() -> None:
    result = _run(
        [{"check": "TST001", "column": "c1", "reason": "known"}], Status.FAIL, Status.FAIL
    )
    assert result.stages[0].status is Status.FAIL  # type: ignore[attr-defined]
    assert result.verdict == "not_ready"  # type: ignore[attr-defined]


def test_a_lapsed_acceptance_fails_the_stage_again() -> None:
    lapsed = {"check": "TST001", "reason": "known", "until": date(2026, 1, 1)}
    result = _run([lapsed], Status.FAIL)
    stage = result.stages[0]  # type: ignore[attr-defined]
    assert stage.status is Status.FAIL
    assert [c.status for c in stage.checks] == [Status.FAIL, Status.WARN]


def test_a_stale_acceptance_makes_the_stage_warn() -> None:
    result = _run([{"check": "TST001", "reason": "known"}], Status.PASS)
    assert result.stages[0].status is Status.WARN  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the checklist


def _write(tmp_path: Path, accept: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"version: 1\nresearch: {{}}\nproduction: {{}}\naccept:\n{accept}")
    return path


def test_accept_entries_load_with_the_check_id_normalised(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {check: feat012, column: income, reason: 'float32, ML-123', until: 2027-01-31}\n",
    )
    entry = load_checklist(path).accept[0]
    assert (entry.check, entry.column, entry.source) == ("FEAT012", "income", None)
    assert entry.until == date(2027, 1, 31)


def test_bad_accept_entries_are_reported_with_lines_and_a_did_you_mean(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - check: FEAT12\n    reason: x\n"
        "  - check: FEAT012\n"
        "  - {check: ZZZ999, reason: '', until: soon, colum: a}\n",
    )
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path)
    problems = caught.value.problems
    assert "line 5: `accept[0].check`: unknown check id 'FEAT12'; did you mean FEAT012?" in problems
    assert "line 7: missing required key `accept[1].reason`" in problems
    assert any(
        p.startswith("line 8: `accept[2].check`: unknown check id 'ZZZ999'") for p in problems
    )
    assert "line 8: `accept[2].reason`: must not be empty" in problems
    assert (
        "line 8: `accept[2].until`: expected a date (YYYY-MM-DD), found the text 'soon'" in problems
    )
    assert "line 8: unknown key `accept[2].colum`; did you mean `column`?" in problems


# --------------------------------------------------------------------------- end to end


def _mlcheck(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_accepting_float32_lets_fail_on_warn_pass_and_every_report_shows_it(
    tmp_path: Path,
) -> None:
    plain = write_float32_case(tmp_path / "plain", "breast_cancer")
    assert _mlcheck("run", plain, "--fail-on", "warn", "-q").returncode == 1
    accept = "accept:\n  - {check: FEAT012, reason: 'float32 feature store, ML-123'}\n"
    accepted = write_float32_case(tmp_path / "accepted", "breast_cancer", extra=accept)
    done = _mlcheck("run", accepted, "--fail-on", "warn", "--format", "json", "-q")
    assert done.returncode == 0, done.stderr
    stage = json.loads(done.stdout)["stages"][1]
    feat012 = [c for c in stage["checks"] if c["id"] == "FEAT012"]
    assert stage["status"] == "pass" and len(feat012) == 30
    assert all(c["status"] == "warn" and c["accepted"]["reason"] for c in feat012)
    checklist = load_checklist(accepted)
    result = run_checklist(checklist, RunOptions())
    terminal = render(result, "terminal", color=False)
    markdown = render(result, "markdown")
    assert "ACCEPTED  30 findings" in terminal and "float32 feature store, ML-123" in terminal
    assert "### Accepted findings" in markdown and "float32 feature store, ML-123" in markdown
    assert "### Findings" not in markdown  # nothing left that counts
    assert "ACCEPTED (float32 feature store, ML-123)" in render(result, "junit")
