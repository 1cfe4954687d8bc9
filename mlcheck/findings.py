"""Findings more than one stage reports in the same words: one builder each, so the wording,
the details and their order stay the same wherever the finding comes from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mlcheck.engines.base import KeyComparison
from mlcheck.results import Finding, Status


def key_absence_findings(
    found: KeyComparison, left: str, right: str, limit: int, hint: str, examples: int
) -> Iterator[Finding]:
    """One finding per slot of a key comparison: its rows whose key the other slot lacks,
    failing beyond `limit`, with duplicate and null key rows counted and the smallest keys as
    examples (a key once per row it has). `hint` may name the other slot as `{other}`.
    Reported by SPL001 (splits) and PRD003 (predictions)."""
    rows = found.rows
    for slot, other, n, total, keys, shown in (
        (left, right, rows.lost, found.left_rows, found.left, rows.lost_examples),
        (right, left, rows.extra, found.right_rows, found.right, rows.extra_examples),
    ):
        yield Finding(
            Status.FAIL if n > limit else Status.PASS,
            f"{n} of {total} rows of {slot} have a key absent from {other}",
            source=slot,
            observed=n,
            threshold=limit,
            hint=hint.format(other=other) if n > limit else None,
            details={
                "rows": total,
                "missing": n,
                "duplicate_key_rows": keys.duplicate_rows,
                "null_key_rows": keys.null_rows,
                "examples": _row_keys(shown, examples),
            },
        )


def _row_keys(shown: Sequence[dict[str, Any]], limit: int) -> list[Any]:
    """Keys of `{"key", "rows"}` examples repeated once per row, the first `limit`."""
    return [e["key"] for e in shown for _ in range(int(e["rows"]))][: max(limit, 0)]
