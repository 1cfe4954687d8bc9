"""Golden snapshots of every report format on hand-built results (see conftest.py).

A change to a report's layout shows up here as a diff. Regenerate on purpose with
`MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters` and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlcheck.reporters import render

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("MLCHECK_UPDATE_GOLDEN") == "1"

# file name -> (fixture, format, render options)
CASES: dict[str, tuple[str, str, dict[str, object]]] = {
    "full.txt": ("full_result", "terminal", {"color": False}),
    "full_verbose.txt": ("full_result", "terminal", {"color": False, "verbose": True}),
    "full_80.txt": ("full_result", "terminal", {"color": False, "width": 80}),
    "full.md": ("full_result", "markdown", {}),
    "full_verbose.md": ("full_result", "markdown", {"verbose": True}),
    "full.json": ("full_result", "json", {}),
    "full.xml": ("full_result", "junit", {}),
    "full_fail_on_warn.xml": ("full_result", "junit", {"fail_on_warn": True}),
    "stopped.txt": ("stopped_result", "terminal", {"color": False}),
    "stopped.md": ("stopped_result", "markdown", {}),
    "stopped.json": ("stopped_result", "json", {}),
    "stopped.xml": ("stopped_result", "junit", {}),
    "ready.txt": ("ready_result", "terminal", {"color": False}),
    "ready.md": ("ready_result", "markdown", {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_matches_golden_file(name: str, request: pytest.FixtureRequest) -> None:
    fixture, fmt, options = CASES[name]
    actual = render(request.getfixturevalue(fixture), fmt, **options)
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} is missing; run MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters"
    assert actual == path.read_bytes().decode("utf-8")


def test_every_golden_file_is_checked() -> None:
    """A stale snapshot nobody compares against would rot silently."""
    on_disk = {p.name for p in GOLDEN.iterdir() if p.suffix in {".txt", ".md", ".json", ".xml"}}
    assert on_disk == set(CASES)
