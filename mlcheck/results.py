"""Frozen result objects of a run. Reporters render these; nothing here does I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

import numpy as np

STAGE_ORDER: tuple[str, ...] = (
    "data_reproducibility",
    "feature_parity",
    "split_reproducibility",
    "prediction_mismatch",
    "performance_drop",
    "variable_availability",
)


class Status(str, Enum):
    """Outcome of a check or a stage. Stages add `skipped` and `not_run`."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    Status.SKIPPED: 0,
    Status.NOT_RUN: 0,
    Status.PASS: 1,
    Status.WARN: 2,
    Status.FAIL: 3,
    Status.ERROR: 4,
}


def worst(statuses: Sequence[Status]) -> Status:
    """The most severe status; an empty list passes."""
    return max(statuses, key=lambda s: s.severity, default=Status.PASS)


@dataclass(frozen=True)
class Finding:
    """What one check says about one subject (a source, a column); the runner adds id and title."""

    status: Status
    message: str
    source: str | None = None
    column: str | None = None
    observed: Any = None
    expected: Any = None
    threshold: Any = None
    hint: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Acceptance:
    """Why a warning or failure is accepted (the checklist's `accept:` entry), and until when."""

    reason: str
    until: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "until": self.until.isoformat() if self.until else None}


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    message: str
    source: str | None = None
    column: str | None = None
    observed: Any = None
    expected: Any = None
    threshold: Any = None
    hint: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    # Set on a warn/fail matched by an `accept:` entry: it keeps its status but no longer counts.
    accepted: Acceptance | None = None

    @property
    def counts(self) -> bool:
        """Whether this result counts toward its stage's status and the verdict."""
        return self.accepted is None

    @classmethod
    def from_finding(cls, check_id: str, title: str, finding: Finding) -> CheckResult:
        return cls(
            id=check_id,
            title=title,
            status=finding.status,
            message=finding.message,
            source=finding.source,
            column=finding.column,
            observed=finding.observed,
            expected=finding.expected,
            threshold=finding.threshold,
            hint=finding.hint,
            details=finding.details,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "source": self.source,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "observed": to_jsonable(self.observed),
            "expected": to_jsonable(self.expected),
            "threshold": to_jsonable(self.threshold),
            "details": to_jsonable(self.details),
        }
        if self.accepted is not None:  # only accepted results carry the key
            data["accepted"] = self.accepted.to_dict()
        return data


@dataclass(frozen=True)
class StageResult:
    id: str
    status: Status
    duration_s: float = 0.0
    reason: str | None = None
    checks: tuple[CheckResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class RunResult:
    checklist: str
    name: str | None
    verdict: str  # "ready" | "not_ready"
    stopped_at: str | None
    duration_s: float
    stages: tuple[StageResult, ...]
    mlcheck_version: str = ""
    # Every registered check of each stage as (id, title), including stages that did not run, so
    # JUnit can keep one test case per check whatever happened. Not part of the JSON report.
    planned: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.verdict == "ready"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "mlcheck_version": self.mlcheck_version,
            "checklist": self.checklist,
            "verdict": self.verdict,
            "stopped_at": self.stopped_at,
            "duration_s": round(self.duration_s, 3),
            "stages": [s.to_dict() for s in self.stages],
        }


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas/datetime values to plain JSON; non-finite floats become strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return to_jsonable(value.item())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _float(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (datetime, date, np.datetime64)):
        return str(value) if isinstance(value, np.datetime64) else value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "as_py"):
        return to_jsonable(value.as_py())
    return str(value)


def _float(x: float) -> float | str:
    # JSON has no NaN/inf; spell them so a reader sees them rather than a parse error.
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    # 12 significant digits keep JSON byte-identical across platforms' last-bit noise.
    return float(f"{x:.12g}")
