"""What every finding says, on the bundled sample data and every broken checklist.

- Hints are read in a terminal, where `details` is not shown: a hint may name a details field
  (`details.pairs`) only when that finding's details has it, and the numbers a user must act on
  (labels needed) are in the message itself.
- One order everywhere: a finding that gives `expected` compares the two sides, `expected` being
  research's value and `observed` production's; reports show them labelled, research first,
  and the message names research before production.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlcheck.checklist import load_checklist
from mlcheck.reporters.common import observed_vs
from mlcheck.results import CheckResult
from mlcheck.runner import RunOptions, run_checklist

REPO = Path(__file__).resolve().parents[1]
CHECKLISTS = [REPO / "checklists/credit.yaml", *sorted((REPO / "checklists/broken").glob("*.yaml"))]
DETAIL_REFERENCE = re.compile(r"details\.([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def findings() -> list[tuple[str, CheckResult]]:
    """(checklist name, result) for every check of every stage, all stages run."""
    found = []
    for path in CHECKLISTS:
        result = run_checklist(load_checklist(path), RunOptions(keep_going=True))
        found += [(path.stem, c) for stage in result.stages for c in stage.checks]
    return found


def test_the_bundled_checklists_give_warnings_and_failures(
    findings: list[tuple[str, CheckResult]],
) -> None:
    hinted = [c for _, c in findings if c.hint]
    assert len(hinted) > 30 and {c.id[:3] for c in hinted} >= {"RAW", "FEA", "SPL", "PRD", "PER"}


def test_hints_name_only_details_fields_the_finding_has(
    findings: list[tuple[str, CheckResult]],
) -> None:
    wrong = [
        (name, c.id, field)
        for name, c in findings
        for field in DETAIL_REFERENCE.findall(c.hint or "")
        if field not in c.details
    ]
    assert not wrong, wrong


def test_a_warning_short_of_labels_says_how_many_in_its_message(
    findings: list[tuple[str, CheckResult]],
) -> None:
    short = [c for _, c in findings if c.id == "PERF001" and c.details.get("labels_needed")]
    assert short, "the sample data has a PERF001 warning short of labels"
    for check in short:
        needed = check.details["labels_needed"]
        assert f"about {needed:,} labelled live rows" in check.message, check.message


def test_two_sided_values_read_research_then_production(
    findings: list[tuple[str, CheckResult]],
) -> None:
    two_sided = [(name, c) for name, c in findings if c.expected is not None]
    assert len({c.id for _, c in two_sided}) >= 8
    for name, check in two_sided:
        shown = observed_vs(check)
        assert shown.startswith("research "), (name, check.id, shown)
        if check.observed is not None:
            assert ", production " in shown, (name, check.id, shown)
        message = check.message
        if "research" in message and "production" in message:
            assert message.index("research") < message.index("production"), (name, message)


def test_a_version_change_is_shown_research_first(
    findings: list[tuple[str, CheckResult]],
) -> None:
    """The reported case: scikit-learn 1.4.2 in research, 1.5.0 in production."""
    (check,) = [
        c for name, c in findings if name == "feature_parity" and c.source == "scikit-learn"
    ]
    assert (check.expected, check.observed) == ("1.4.2", "1.5.0")
    assert observed_vs(check) == "research 1.4.2, production 1.5.0"
    assert check.message.startswith("scikit-learn 1.4.2 in research, 1.5.0 in production")
