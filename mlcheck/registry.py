"""The explicit, ordered registry of checks. Ids are stable and unique; duplicates are rejected."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlcheck.results import STAGE_ORDER, Finding

if TYPE_CHECKING:
    from mlcheck.context import StageContext

CheckFunc = Callable[["StageContext"], Iterable[Finding]]
_ID_PATTERN = re.compile(r"^[A-Z]{2,6}\d{3}$")


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: a stable id, its stage, the function, and its threshold keys."""

    id: str
    stage: str
    func: CheckFunc
    thresholds: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """The first line of the check function's docstring."""
        doc = (self.func.__doc__ or self.id).strip()
        return doc.splitlines()[0].strip().rstrip(".")

    @property
    def explanation(self) -> str:
        """The docstring below its first line: what it measures, why, causes, fixes."""
        lines = (self.func.__doc__ or "").strip().splitlines()[1:]
        return _dedent("\n".join(lines)).strip()


class Registry:
    """Checks in registration order; the stage modules are imported in the spec's stage order."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckSpec] = {}

    def register(self, spec: CheckSpec) -> None:
        if not _ID_PATTERN.match(spec.id):
            raise ValueError(f"check id {spec.id!r} must look like ABC001")
        if spec.id in self._checks:
            raise ValueError(f"duplicate check id {spec.id!r}")
        if spec.stage not in STAGE_ORDER:
            raise ValueError(f"check {spec.id!r} names unknown stage {spec.stage!r}")
        self._checks[spec.id] = spec

    def for_stage(self, stage: str) -> list[CheckSpec]:
        return [c for c in self._checks.values() if c.stage == stage]

    def get(self, check_id: str) -> CheckSpec | None:
        return self._checks.get(check_id.upper())

    def all(self) -> list[CheckSpec]:
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        return sorted(self._checks.values(), key=lambda c: order[c.stage])


REGISTRY = Registry()


def check(
    check_id: str, stage: str, thresholds: tuple[str, ...] = ()
) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as check `check_id` of `stage`."""

    def decorate(func: CheckFunc) -> CheckFunc:
        REGISTRY.register(CheckSpec(check_id, stage, func, thresholds))
        return func

    return decorate


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)
