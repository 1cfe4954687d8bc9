"""Golden snapshots of the HTML report: the hand-built results of conftest.py, the bundled sample
data (checklists/credit.yaml) and every checklist under checklists/broken/.

The sample reports are rendered from real in-process runs without durations (`timings=False`),
so a change to a stage's findings or to the report's layout shows up as a diff of
tests/golden/*.html. Regenerate on purpose with `MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters`
and read the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render
from mlcheck.results import RunResult
from mlcheck.runner import RunOptions, run_checklist

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("MLCHECK_UPDATE_GOLDEN") == "1"
SAMPLE_CHECKLISTS = {
    "sample_credit.html": "checklists/credit.yaml",
    **{
        f"sample_broken_{p.stem}.html": f"checklists/broken/{p.name}"
        for p in sorted((ROOT / "checklists" / "broken").glob("*.yaml"))
    },
}
HAND_BUILT = {
    "full.html": "full_result",
    "stopped.html": "stopped_result",
    "ready.html": "ready_result",
}


def sample_result(checklist: str) -> RunResult:
    """A default run (stops at the first failing stage), named by its path from the repository."""
    result = run_checklist(load_checklist(ROOT / checklist), RunOptions())
    return dataclasses.replace(result, checklist=checklist)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} is missing; run MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters"
    assert actual == path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_hand_built_report_matches_golden_file(name: str, request: pytest.FixtureRequest) -> None:
    check_golden(name, render(request.getfixturevalue(HAND_BUILT[name]), "html"))


@pytest.mark.parametrize("name", sorted(SAMPLE_CHECKLISTS))
def test_sample_data_report_matches_golden_file(name: str) -> None:
    actual = render(sample_result(SAMPLE_CHECKLISTS[name]), "html", timings=False)
    assert len(actual.encode("utf-8")) < 2_000_000  # SPEC 7.4: under 2 MB for the sample data
    check_golden(name, without_style_sheet(actual))


def without_style_sheet(page: str) -> str:
    """The page with its style sheet elided: the hand-built goldens keep it, and a change of
    colour should not rewrite eight more files."""
    start, end = page.index("<style>\n") + len("<style>\n"), page.index("</style>")
    return page[:start] + "/* the style sheet: see tests/golden/full.html */\n" + page[end:]


def test_every_html_golden_file_is_checked() -> None:
    on_disk = {p.name for p in GOLDEN.glob("*.html")}
    assert on_disk == set(HAND_BUILT) | set(SAMPLE_CHECKLISTS)
    assert len(SAMPLE_CHECKLISTS) == 8  # the sample data and the seven broken variants
