"""mlcheck/findings.py: the key-absence finding SPL001 and PRD003 both report, built once."""

from __future__ import annotations

from mlcheck.compare import RowDifference
from mlcheck.engines.base import KeyComparison, KeyCounts
from mlcheck.findings import key_absence_findings
from mlcheck.results import Status

HINT = "{other} lacks them"


def _comparison(lost: int, extra: int) -> KeyComparison:
    """Research 10 rows, production 9: `lost` research rows (keys 3 twice, then 7) and `extra`
    production rows (key 42) have no partner; production has one duplicated key (2 rows)."""
    lost_examples = ({"key": 3, "rows": 2}, {"key": 7, "rows": 1}) if lost else ()
    extra_examples = ({"key": 42, "rows": 1},) if extra else ()
    rows = RowDifference("key", lost, extra, min(lost, 2), extra, lost_examples, extra_examples)
    return KeyComparison(
        key=("id",),
        left_rows=10,
        right_rows=9,
        matched=7,
        left=KeyCounts(null_rows=0, duplicate_rows=0, duplicate_keys=0, duplicate_examples=()),
        right=KeyCounts(null_rows=1, duplicate_rows=2, duplicate_keys=1, duplicate_examples=()),
        rows=rows,
    )


def test_keys_on_one_side_fail_beyond_the_limit() -> None:
    """Defect: 3 research rows (keys 3, 3, 7) and 1 production row (key 42) lack a partner."""
    left, right = key_absence_findings(_comparison(3, 1), "research", "production", 0, HINT, 2)
    assert (left.status, right.status) == (Status.FAIL, Status.FAIL)
    assert left.message == "3 of 10 rows of research have a key absent from production"
    assert right.message == "1 of 9 rows of production have a key absent from research"
    assert (left.source, left.observed, left.threshold) == ("research", 3, 0)
    assert left.hint == "production lacks them" and right.hint == "research lacks them"
    assert left.details == {
        "rows": 10,
        "missing": 3,
        "duplicate_key_rows": 0,
        "null_key_rows": 0,
        "examples": [3, 3],  # a key once per row, the first `examples` (2)
    }
    assert right.details["duplicate_key_rows"] == 2 and right.details["null_key_rows"] == 1
    assert right.details["examples"] == [42]


def test_within_the_limit_passes_without_a_hint() -> None:
    """No defect beyond the limit: 3 and 1 rows with a limit of 3."""
    found = list(key_absence_findings(_comparison(3, 1), "a", "b", 3, HINT, 10))
    assert [f.status for f in found] == [Status.PASS, Status.PASS]
    assert [f.hint for f in found] == [None, None]
    assert found[0].details["examples"] == [3, 3, 7]


def test_no_examples_asked() -> None:
    found = list(key_absence_findings(_comparison(3, 0), "a", "b", 0, HINT, 0))
    assert found[0].details["examples"] == [] and found[1].status is Status.PASS
