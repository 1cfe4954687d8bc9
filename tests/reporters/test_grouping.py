"""Grouped findings (SPEC 7.5): one entry per check and cause in terminal and markdown, one
finding per column in JSON. Pure helpers first, then the float32 tables end to end
(float32_tables.py: 30 breast-cancer features and 300 generated ones cast to float32).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from float32_tables import write_float32_case

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render
from mlcheck.reporters.common import (
    FindingGroup,
    count_subjects,
    detail_tables,
    group_results,
    not_selected,
    observed_summary,
    problem_groups,
    stage_tally,
    subjects,
)
from mlcheck.results import Acceptance, CheckResult, RunResult, StageResult, Status
from mlcheck.runner import RunOptions, run_checklist


def _r(
    check_id: str, status: Status, column: str | None, hint: str | None = "h", **kw: object
) -> CheckResult:
    return CheckResult(
        check_id, "title", status, f"{column} msg", source="s", column=column, hint=hint, **kw
    )  # type: ignore[arg-type]


def test_results_group_by_check_status_and_cause_in_first_seen_order() -> None:
    results = [
        _r("FEAT008", Status.FAIL, "a", hint="imputation"),
        _r("FEAT012", Status.WARN, "a"),
        _r("FEAT008", Status.FAIL, "b", hint="clipping"),
        _r("FEAT012", Status.WARN, "b"),
        _r("FEAT008", Status.FAIL, "c", hint="imputation"),
        _r("FEAT012", Status.FAIL, "c"),
    ]
    groups = group_results("feature_parity", results)
    assert [(g.id, g.status.value, [r.column for r in g.results]) for g in groups] == [
        ("FEAT008", "fail", ["a", "c"]),
        ("FEAT012", "warn", ["a", "b"]),
        ("FEAT008", "fail", ["b"]),
        ("FEAT012", "fail", ["c"]),
    ]


def test_accepted_results_group_apart_and_do_not_count() -> None:
    accepted = _r("FEAT012", Status.WARN, "b", accepted=Acceptance("ok"))
    stage = StageResult(
        "feature_parity", Status.WARN, 0, None, (_r("FEAT012", Status.WARN, "a"), accepted)
    )
    assert [len(g) for g in problem_groups(stage)] == [1]
    assert stage_tally(stage) == "1 warn, 1 accepted"


def test_problem_groups_put_the_most_severe_first() -> None:
    stage = StageResult(
        "x",
        Status.ERROR,
        0,
        None,
        (
            _r("A001", Status.WARN, "a"),
            _r("A002", Status.PASS, "a"),
            _r("A003", Status.ERROR, None),
            _r("A004", Status.FAIL, "a"),
        ),
    )
    assert [g.id for g in problem_groups(stage)] == ["A003", "A004", "A001"]


def test_subjects_list_columns_per_source_and_count_the_rest() -> None:
    results = tuple(_r("FEAT012", Status.WARN, f"c{i}") for i in range(12))
    results += (CheckResult("FEAT012", "t", Status.WARN, "m", source="t", column="z", hint="h"),)
    group = FindingGroup("feature_parity", results)
    assert subjects(group, limit=3) == "s: c0, c1, c2, … (9 more); t: z"
    assert count_subjects(group) == "13 columns"
    sources = FindingGroup("x", (_r("A", Status.FAIL, None), _r("A", Status.FAIL, None)))
    assert count_subjects(sources) == "1 sources" or count_subjects(sources) == "2 sources"


def test_observed_summary_is_a_range_for_numbers_and_one_value_when_all_agree() -> None:
    numbers = FindingGroup(
        "x",
        tuple(
            _r("A001", Status.FAIL, c, observed=v, threshold=0) for c, v in (("a", 3), ("b", 12))
        ),
    )
    assert observed_summary(numbers) == "3 … 12 (limit 0)"
    same = FindingGroup(
        "x", tuple(_r("A001", Status.WARN, c, observed="float32") for c in ("a", "b"))
    )
    assert observed_summary(same) == "float32"
    one = FindingGroup("x", (_r("A001", Status.FAIL, "a", observed=3, expected=2),))
    assert observed_summary(one) == "research 2, production 3"
    two_sided = FindingGroup(
        "x",
        tuple(
            _r("A001", Status.WARN, c, observed="float32", expected="float64") for c in ("a", "b")
        ),
    )
    assert observed_summary(two_sided) == "research float64, production float32"


def test_details_become_a_scalar_table_and_one_table_per_record_list_or_matrix() -> None:
    details = {
        "rows": 37,
        "causes": {"imputation": 3},
        "examples": [{"key": 1, "research": 2.5}, {"key": 2, "production": None}],
        "matrix": {"train": {"test": 12, "train": 88}},
        "levels": [0.05, 0.5],
    }
    scalars, examples, matrix = detail_tables(details)
    assert scalars.rows == (("rows", "37"), ("causes", "imputation=3"), ("levels", "0.05, 0.5"))
    assert examples.headers == ("key", "research", "production")
    assert examples.rows == (("1", "2.5", "null"), ("2", "null", "null"))
    assert (matrix.title, matrix.headers, matrix.rows) == (
        "matrix",
        ("", "test", "train"),
        (("train", "12", "88"),),
    )
    many = detail_tables({"chunks": [{"i": i} for i in range(30)]}, max_rows=20)[0]
    assert len(many.rows) == 20 and many.more == 10


def test_not_selected_means_left_out_by_only_or_skip() -> None:
    assert not_selected(StageResult("x", Status.SKIPPED, reason="not selected (--only)"))
    assert not not_selected(StageResult("x", Status.SKIPPED, reason="no raw sources declared"))


# --------------------------------------------------------------------------- float32 tables


@pytest.fixture(scope="module")
def float32_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    folder = tmp_path_factory.mktemp("float32")
    return {
        name: run_checklist(load_checklist(write_float32_case(folder / name, name)), RunOptions())
        for name in ("breast_cancer", "wide")
    }


@pytest.mark.parametrize(("name", "columns"), [("breast_cancer", 30), ("wide", 300)])
def test_json_keeps_one_finding_per_float32_column(
    float32_runs: dict[str, RunResult], name: str, columns: int
) -> None:
    data = json.loads(render(float32_runs[name], "json"))
    feat012 = [c for s in data["stages"] for c in s["checks"] if c["id"] == "FEAT012"]
    assert len(feat012) == columns and all(c["status"] == "warn" for c in feat012)


@pytest.mark.parametrize(("name", "columns"), [("breast_cancer", 30), ("wide", 300)])
@pytest.mark.parametrize("width", [80, 110])
def test_terminal_shows_one_float32_entry_on_one_screen(
    float32_runs: dict[str, RunResult], name: str, columns: int, width: int
) -> None:
    text = render(float32_runs[name], "terminal", color=False, width=width)
    assert len(text.splitlines()) <= 50
    # its row and its hint (whose `accept:` advice names the check once more)
    assert text.count("FEAT012") - text.count("{check: FEAT012") == 2
    assert f"↳ FEAT012 [{columns} columns]" in text
    assert re.search(rf"…[\s│]+\({columns - 8}[\s│]+more\)", text)


@pytest.mark.parametrize(("name", "columns"), [("breast_cancer", 30), ("wide", 300)])
def test_markdown_shows_one_float32_entry_naming_every_column(
    float32_runs: dict[str, RunResult], name: str, columns: int
) -> None:
    text = render(float32_runs[name], "markdown")
    assert text.count("#### ") == 1
    assert f"— `production.features`: {columns} columns" in text
    named = set(re.findall(r"`([a-z_0-9]+)`", text))
    research = [c for c in float32_runs[name].stages[1].checks if c.id == "FEAT012"]
    listed = min(columns, 5 + 100)  # 5 with their messages, then up to 100 names
    assert len({c.column for c in research} & named) == listed
    assert len(text) < 12_000


def test_grouped_reports_render_the_sample_float32_table_without_json_dumps(
    float32_runs: dict[str, RunResult],
) -> None:
    text = render(float32_runs["breast_cancer"], "markdown")
    assert "```json" not in text and "| detail | value |" in text
    assert "`mean_radius` is float64" in text  # backtick spans in messages render as code


def test_float32_fixture_files_are_real_float32(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = write_float32_case(tmp_path, "breast_cancer")
    research = pq.read_schema(path.parent / "research.parquet")
    production = pq.read_schema(path.parent / "production.parquet")
    assert str(research.field("mean_radius").type) == "double"
    assert str(production.field("mean_radius").type) == "float"
    assert len(production.names) == 31  # row_id and 30 features
