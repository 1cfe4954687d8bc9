"""Fixtures of the robustness suite; the builders live in robustness_support.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from robustness_support import Outcome, Project, run_in_process


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The clean project (every stage has inputs; `mlcheck run` exits 0), not yet written."""
    return Project(tmp_path)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """`mlcheck run CHECKLIST --format json [extra]` in this process (fast)."""

    def run(checklist: Path, *extra: str) -> Outcome:
        return run_in_process(checklist, capsys, *extra)

    return run
