"""Accepted findings (SPEC 7.3): the checklist's `accept:` entries applied to a stage's results.

An accepted warn/fail keeps its measured status and gains an `Acceptance`; it no longer counts
toward its stage's status or the verdict. An entry past its `until` day counts again, and an
entry that matches no warning or failure of a stage that ran is stale: each of those adds one
warning result under the entry's check id, so every report shows it where the check is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date

from mlcheck.checklist import AcceptSpec
from mlcheck.results import Acceptance, CheckResult, Status

_ACCEPTABLE = (Status.WARN, Status.FAIL)
_STALE_HINT = (
    "The problem it accepted is gone, or the entry names another check, source or column than "
    "the report does: remove or correct the entry."
)
_LAPSED_HINT = "Fix what the finding names, or renew the acceptance with a later `until:`."


def apply_acceptances(
    checks: Sequence[CheckResult],
    entries: Sequence[AcceptSpec],
    stage_checks: Mapping[str, str],
    today: date,
) -> tuple[CheckResult, ...]:
    """`checks` with accepted ones marked, then one warning per stale or lapsed entry.

    `stage_checks` maps the id of every check of this stage to its title.
    """
    mine = [(i, e) for i, e in enumerate(entries) if e.check in stage_checks]
    matched: set[int] = set()
    marked: list[CheckResult] = []
    for check in checks:
        index = _first_match(check, mine)
        if index is not None:
            matched.add(index)
            entry = entries[index]
            if not _lapsed(entry, today):
                check = dataclasses.replace(check, accepted=Acceptance(entry.reason, entry.until))
        marked.append(check)
    notices = [
        _notice(i, e, stage_checks[e.check], stale=i not in matched)
        for i, e in mine
        if i not in matched or _lapsed(e, today)
    ]
    return (*marked, *notices)


def _first_match(check: CheckResult, entries: list[tuple[int, AcceptSpec]]) -> int | None:
    if check.status not in _ACCEPTABLE:
        return None
    return next((i for i, e in entries if e.matches(check.id, check.source, check.column)), None)


def _lapsed(entry: AcceptSpec, today: date) -> bool:
    return entry.until is not None and today > entry.until


def _notice(index: int, entry: AcceptSpec, title: str, *, stale: bool) -> CheckResult:
    keys = (("source", entry.source), ("column", entry.column))
    about = "".join(f", {key} `{value}`" for key, value in keys if value)
    named = f"`accept[{index}]` ({entry.check}{about})"
    if stale:
        message = f"{named} matches no warning or failure: stale"
    else:
        message = f"{named} lapsed on {entry.until}: its findings count again"
    return CheckResult(
        entry.check,
        title,
        Status.WARN,
        message,
        source=entry.source,
        column=entry.column,
        hint=_STALE_HINT if stale else _LAPSED_HINT,
        details={
            "accept_entry": index,
            "reason": entry.reason,
            "until": entry.until,
            "problem": "stale" if stale else "lapsed",
        },
    )
