"""The one read-only view a check gets: the checklist, its stage's thresholds, the engine, the seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcheck.checklist import Checklist, Columns
from mlcheck.engine import LocalEngine


@dataclass(frozen=True)
class StageContext:
    checklist: Checklist
    engine: LocalEngine
    stage: str
    seed: int = 0

    @property
    def config(self) -> Any:
        """This stage's thresholds (a frozen pydantic model from `stage_config`)."""
        return getattr(self.checklist.stages, self.stage)

    @property
    def columns(self) -> Columns:
        return self.checklist.columns

    @property
    def task(self) -> str:
        return self.checklist.task

    def declared(self, slot: str) -> bool:
        return self.engine.declared(slot)

    def rng_seed(self, *salt: str) -> int:
        """A seed derived from the run's seed and a salt, so checks do not share random streams."""
        import zlib

        return (self.seed * 1_000_003 + zlib.crc32("/".join(salt).encode())) % (2**32)
