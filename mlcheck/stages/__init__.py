"""The stages, imported in the spec's order so the registry lists checks in that order.

Each stage module defines `STAGE` (its id), `skip_reason(checklist) -> str | None` (why the stage
cannot run with the declared inputs, or None) and registers its checks with `@check`.
A stage that is not built yet has no module here and does not appear in reports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from mlcheck.checklist import Checklist
from mlcheck.results import STAGE_ORDER

SkipReason = Callable[[Checklist], "str | None"]


def _load() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    for stage in STAGE_ORDER:
        try:
            module = importlib.import_module(f"mlcheck.stages.{stage}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mlcheck.stages.{stage}":
                raise
            continue
        modules[stage] = module
    return modules


STAGE_MODULES: dict[str, ModuleType] = _load()


def available_stages() -> list[str]:
    return list(STAGE_MODULES)


def skip_reason(stage: str, checklist: Checklist) -> str | None:
    reason: str | None = STAGE_MODULES[stage].skip_reason(checklist)
    return reason
