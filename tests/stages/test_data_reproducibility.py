"""Stage 1, data_reproducibility: every check fires on a spelled-out defect and stays quiet without it.

Each test writes tiny research/production raw sources as parquet in tmp_path with a checklist
and runs the check functions through the real engine (or the whole stage through the runner).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.reporters.json_report import render
from mlcheck.results import Finding, Status
from mlcheck.runner import RunOptions, run_checklist
from mlcheck.stages import data_reproducibility as dr

BASE = pa.table({"id": [1, 2, 3, 4, 5], "x": [0.5, 1.5, 2.5, 3.5, 4.5], "s": list("abcde")})


def write_checklist(
    tmp_path: Path,
    research: dict[str, pa.Table],
    production: dict[str, pa.Table],
    *,
    key: str | None = "id",
    stage: dict[str, Any] | None = None,
) -> Path:
    """A checklist whose raw sources are these tables, written as parquet."""
    doc: dict[str, Any] = {"version": 1, "research": {"raw": {}}, "production": {"raw": {}}}
    for side, tables in (("research", research), ("production", production)):
        for name, table in tables.items():
            pq.write_table(table, tmp_path / f"{side}_{name}.parquet")
            doc[side]["raw"][name] = {"path": f"{side}_{name}.parquet"}
    if key is not None:
        doc["key"] = key
    doc["stages"] = {dr.STAGE: stage or {}}
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def make_ctx(
    tmp_path: Path, research: pa.Table, production: pa.Table, **kwargs: Any
) -> StageContext:
    """One raw source `t` on each side."""
    checklist = load_checklist(
        write_checklist(tmp_path, {"t": research}, {"t": production}, **kwargs)
    )
    return StageContext(checklist, LocalEngine(checklist), dr.STAGE)


def run(func: Any, ctx: StageContext) -> list[Finding]:
    return list(func(ctx))


def one(func: Any, ctx: StageContext) -> Finding:
    findings = run(func, ctx)
    assert len(findings) == 1, findings
    return findings[0]


def with_column(table: pa.Table, name: str, values: Any) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def test_skip_reason() -> None:
    """No raw sources on either side: skipped with the reason; one side suffices to run."""
    plain = {"version": 1, "research": {}, "production": {}}
    assert "no raw sources" in (dr.skip_reason(load_checklist_from(plain)) or "")
    plain["research"] = {"raw": {"t": {"path": "r.csv"}}}
    assert dr.skip_reason(load_checklist_from(plain)) is None


def load_checklist_from(doc: dict[str, Any]) -> Any:
    from mlcheck.checklist import Checklist

    return Checklist.model_validate(doc)


# --------------------------------------------------------------------------- RAW001


def test_raw001_fires_for_a_source_on_one_side(tmp_path: Path) -> None:
    """Research declares raw sources a and b; production only a."""
    path = write_checklist(tmp_path, {"a": BASE, "b": BASE}, {"a": BASE})
    checklist = load_checklist(path)
    found = run(dr.source_present, StageContext(checklist, LocalEngine(checklist), dr.STAGE))
    assert [(f.source, f.status) for f in found] == [("a", Status.PASS), ("b", Status.FAIL)]
    assert found[1].message == "declared in research.raw only" and "production.raw.b" in (
        found[1].hint or ""
    )


def test_raw001_quiet_when_both_sides_declare(tmp_path: Path) -> None:
    finding = one(dr.source_present, make_ctx(tmp_path, BASE, BASE))
    assert finding.status is Status.PASS and "5 and 5 rows" in finding.message


# --------------------------------------------------------------------------- RAW002


def test_raw002_missing_column_with_rename_guess(tmp_path: Path) -> None:
    """Production renamed x to amount (same values) and dropped s."""
    production = BASE.drop_columns(["s"]).rename_columns(["id", "amount"])
    finding = one(dr.same_columns, make_ctx(tmp_path, BASE, production))
    assert finding.status is Status.FAIL and finding.observed == 2
    assert finding.details["missing"] == ["x", "s"] and finding.details["extra"] == ["amount"]
    assert finding.details["renamed"] == {"x": "amount"} and "x -> amount" in (finding.hint or "")


def test_raw002_extra_column_only_warns(tmp_path: Path) -> None:
    """Production adds column `batch`."""
    production = BASE.append_column("batch", pa.array([0] * 5))
    finding = one(dr.same_columns, make_ctx(tmp_path, BASE, production))
    assert finding.status is Status.WARN and finding.details["extra"] == ["batch"]


def test_raw002_quiet(tmp_path: Path) -> None:
    assert (
        one(dr.same_columns, make_ctx(tmp_path, BASE, BASE.select(["s", "x", "id"]))).status
        is Status.PASS
    )


# --------------------------------------------------------------------------- RAW003


def test_raw003_classifies_each_change(tmp_path: Path) -> None:
    """x float64 -> float32 with 0.1-style values (precision loss: fail); id int64 -> int32
    (narrowing, every id fits: warn); s unchanged."""
    research = with_column(BASE, "x", pa.array([0.1, 0.2, 0.3, 0.4, 0.7]))
    production = with_column(research, "x", research.column("x").cast(pa.float32()))
    production = with_column(production, "id", production.column("id").cast(pa.int32()))
    found = {f.column: f for f in run(dr.column_types, make_ctx(tmp_path, research, production))}
    assert set(found) == {"id", "x"}
    assert found["x"].status is Status.FAIL and found["x"].details["kind"] == "precision_loss"
    assert (found["x"].expected, found["x"].observed) == ("float64", "float32")
    assert found["id"].status is Status.WARN and found["id"].details == {
        "kind": "narrowing",
        "key_column": True,
    }


def test_raw003_key_retyped_to_text(tmp_path: Path) -> None:
    """Production writes id as text: incompatible (fail), and the hint says rows match as text."""
    production = with_column(BASE, "id", BASE.column("id").cast(pa.string()))
    finding = one(dr.column_types, make_ctx(tmp_path, BASE, production))
    assert finding.status is Status.FAIL and "matched on its text form" in (finding.hint or "")


def test_raw003_quiet(tmp_path: Path) -> None:
    finding = one(dr.column_types, make_ctx(tmp_path, BASE, BASE))
    assert (
        finding.status is Status.PASS and finding.message == "types unchanged in 3 common columns"
    )


# --------------------------------------------------------------------------- RAW004


def test_raw004_fires_on_lost_rows_and_respects_thresholds(tmp_path: Path) -> None:
    """Production has 3 of research's 5 rows: fails at max_lost_rows 0, passes at 2."""
    finding = one(dr.row_counts, make_ctx(tmp_path, BASE, BASE.slice(0, 3)))
    assert finding.status is Status.FAIL and (finding.observed, finding.expected) == (3, 5)
    assert "(-2)" in finding.message and "RAW007" in (finding.hint or "")
    relaxed = one(
        dr.row_counts, make_ctx(tmp_path, BASE, BASE.slice(0, 3), stage={"max_lost_rows": 2})
    )
    assert relaxed.status is Status.PASS


def test_raw004_fires_on_extra_rows(tmp_path: Path) -> None:
    """Production repeats research's first row: one row more."""
    production = pa.concat_tables([BASE, BASE.slice(0, 1)])
    assert one(dr.row_counts, make_ctx(tmp_path, BASE, production)).status is Status.FAIL
    relaxed = make_ctx(tmp_path, BASE, production, stage={"max_extra_rows": 1})
    assert one(dr.row_counts, relaxed).status is Status.PASS


def test_raw004_quiet_reports_identical_fingerprints(tmp_path: Path) -> None:
    """Same rows in reverse order."""
    finding = one(dr.row_counts, make_ctx(tmp_path, BASE, BASE.take(pa.array([4, 3, 2, 1, 0]))))
    assert finding.status is Status.PASS and finding.details["identical"] is True
    assert finding.details["research_fingerprint"] == finding.details["production_fingerprint"]


# --------------------------------------------------------------------------- RAW005


def test_raw005_null_keys(tmp_path: Path) -> None:
    """Production's id is null on one row (research none): fail. Both sides null on the same
    number of rows: warn (a shared defect, rows left out of matching)."""
    nulled = with_column(BASE, "id", pa.array([1, 2, None, 4, 5]))
    finding = one(dr.key_present_not_null, make_ctx(tmp_path, BASE, nulled))
    assert finding.status is Status.FAIL and (finding.expected, finding.observed) == (0, 1)
    assert one(dr.key_present_not_null, make_ctx(tmp_path, nulled, nulled)).status is Status.WARN


def test_raw005_key_column_absent_on_one_side(tmp_path: Path) -> None:
    """Production renamed id to app_id: fail; comparison falls back to a row multiset."""
    production = BASE.rename_columns(["app_id", "x", "s"])
    finding = one(dr.key_present_not_null, make_ctx(tmp_path, BASE, production))
    assert (
        finding.status is Status.FAIL and finding.message == "key column(s) id absent in production"
    )


def test_raw005_quiet_and_keyless_source(tmp_path: Path) -> None:
    """No null keys: pass. A source without the key column on both sides: pass (multiset)."""
    assert one(dr.key_present_not_null, make_ctx(tmp_path, BASE, BASE)).status is Status.PASS
    keyless = BASE.drop_columns(["id"])
    finding = one(dr.key_present_not_null, make_ctx(tmp_path, keyless, keyless))
    assert finding.status is Status.PASS and "multiset" in finding.message


# --------------------------------------------------------------------------- RAW006


def test_raw006_duplicate_keys(tmp_path: Path) -> None:
    """Production repeats id 2 twice more (3 rows with key 2) and id 5 once more (2 rows)."""
    production = pa.concat_tables([BASE, BASE.slice(1, 1), BASE.slice(1, 1), BASE.slice(4, 1)])
    finding = one(dr.key_unique, make_ctx(tmp_path, BASE, production))
    assert finding.status is Status.FAIL and (finding.expected, finding.observed) == (0, 5)
    assert finding.details["production_examples"] == [{"key": 2, "rows": 3}, {"key": 5, "rows": 2}]
    same = one(dr.key_unique, make_ctx(tmp_path, production, production))
    assert same.status is Status.WARN


def test_raw006_quiet(tmp_path: Path) -> None:
    assert one(dr.key_unique, make_ctx(tmp_path, BASE, BASE)).status is Status.PASS


# --------------------------------------------------------------------------- RAW007 / RAW008


def test_raw007_lost_keys_sorted_examples(tmp_path: Path) -> None:
    """Production keeps ids 1 and 3 only: ids 2, 4, 5 lost, listed in key order."""
    production = BASE.take(pa.array([2, 0]))
    finding = one(dr.lost_rows, make_ctx(tmp_path, BASE, production))
    assert finding.status is Status.FAIL and finding.observed == 3 and finding.threshold == 0
    assert [e["key"] for e in finding.details["examples"]] == [2, 4, 5]
    relaxed = one(dr.lost_rows, make_ctx(tmp_path, BASE, production, stage={"max_lost_rows": 3}))
    assert relaxed.status is Status.PASS


def test_raw007_without_key_compares_rows(tmp_path: Path) -> None:
    """No key; production lacks research's last row (id 5) entirely."""
    finding = one(dr.lost_rows, make_ctx(tmp_path, BASE, BASE.slice(0, 4), key=None))
    assert finding.status is Status.FAIL and finding.details["by"] == "row"
    assert "declare `key:`" in (finding.hint or "")  # float noise would count without a key
    assert finding.details["examples"] == [
        {"row": {"id": 5, "x": 4.5, "s": "e"}, "research": 1, "production": 0}
    ]


def test_raw008_extra_keys(tmp_path: Path) -> None:
    """Production adds ids 7 and 6."""
    added = pa.table({"id": [7, 6], "x": [0.0, 0.0], "s": ["z", "y"]})
    finding = one(dr.extra_rows, make_ctx(tmp_path, BASE, pa.concat_tables([added, BASE])))
    assert finding.status is Status.FAIL and finding.observed == 2
    assert [e["key"] for e in finding.details["examples"]] == [6, 7]


def test_raw007_raw008_quiet(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, BASE, BASE)
    assert (
        one(dr.lost_rows, ctx).status is Status.PASS
        and one(dr.extra_rows, ctx).status is Status.PASS
    )


# --------------------------------------------------------------------------- RAW009


def test_raw009_without_key_any_statistic_difference_fails(tmp_path: Path) -> None:
    """No key; production doubles x on every row: x's min, max, mean, std and sum differ."""
    production = with_column(BASE, "x", pa.array([1.0, 3.0, 5.0, 7.0, 9.0]))
    finding = one(dr.column_statistics, make_ctx(tmp_path, BASE, production, key=None))
    assert finding.status is Status.FAIL and finding.column == "x"
    stats = {d["stat"] for d in finding.details["differences"]}
    assert stats == {"min", "max", "mean", "std", "sum"}
    assert finding.details["research"]["mean"] == pytest.approx(2.5)
    assert finding.details["production"]["mean"] == pytest.approx(5.0)


def test_raw009_with_key_differences_explained_by_rows_pass(tmp_path: Path) -> None:
    """Keyed; production lost id 5: x and s statistics differ, explained by the lost row."""
    finding = one(dr.column_statistics, make_ctx(tmp_path, BASE, BASE.slice(0, 4)))
    assert finding.status is Status.PASS and set(finding.details["explained"]) == {"x", "s"}


def test_raw009_quiet_with_noise(tmp_path: Path) -> None:
    """No key; x carries relative noise 1e-12 (below rtol 1e-9): statistics agree."""
    noisy = with_column(BASE, "x", pa.array(np.asarray(BASE.column("x")) * (1 + 1e-12)))
    finding = one(dr.column_statistics, make_ctx(tmp_path, BASE, noisy, key=None))
    assert finding.status is Status.PASS and finding.message == "statistics of 3 columns agree"


# --------------------------------------------------------------------------- RAW010


def test_raw010_cells_beyond_tolerance(tmp_path: Path) -> None:
    """x of ids 2 and 4 changed by +1; x of id 1 carries 1e-12 relative noise; s of id 3 'c'->'C'."""
    x = np.asarray(BASE.column("x")).copy()
    x[[1, 3]] += 1
    x[0] *= 1 + 1e-12
    production = with_column(with_column(BASE, "x", pa.array(x)), "s", pa.array(list("abCde")))
    found = {f.column: f for f in run(dr.cell_values, make_ctx(tmp_path, BASE, production))}
    assert found["x"].status is Status.FAIL and found["x"].observed == 2
    assert found["x"].details["within_tolerance"] == 1
    assert [e["key"] for e in found["x"].details["examples"]] == [2, 4]
    assert "1 more within tolerance" in found["x"].message
    assert found["s"].details["examples"] == [{"key": 3, "research": "c", "production": "C"}]
    relaxed = run(
        dr.cell_values, make_ctx(tmp_path, BASE, production, stage={"max_mismatched_cells": 2})
    )
    assert {f.status for f in relaxed} == {Status.WARN}


def test_raw010_noise_only_passes_with_its_count(tmp_path: Path) -> None:
    """Every x carries relative noise 1e-12: one passing finding counting 5 noisy cells."""
    noisy = with_column(BASE, "x", pa.array(np.asarray(BASE.column("x")) * (1 + 1e-12)))
    finding = one(dr.cell_values, make_ctx(tmp_path, BASE, noisy))
    assert finding.status is Status.PASS and finding.column == "x"
    assert finding.details["within_tolerance"] == 5 and finding.details["beyond_tolerance"] == 0


def test_raw010_hints_name_the_pattern(tmp_path: Path) -> None:
    """x null in production on id 1 (null hint); y rounded to float32 (precision hint)."""
    research = BASE.append_column("y", pa.array([0.1, 0.2, 0.3, 0.4, 0.6]))
    production = with_column(research, "x", pa.array([None, 1.5, 2.5, 3.5, 4.5]))
    production = with_column(
        production, "y", research.column("y").cast(pa.float32()).cast(pa.float64())
    )
    found = {f.column: f for f in run(dr.cell_values, make_ctx(tmp_path, research, production))}
    assert found["x"].hint is not None and found["x"].hint.startswith("Nulls on one side")
    assert found["y"].hint is not None and found["y"].hint.startswith("Small relative differences")


def test_raw010_quiet_identical_and_keyless(tmp_path: Path) -> None:
    identical = one(dr.cell_values, make_ctx(tmp_path, BASE, BASE))
    assert identical.status is Status.PASS and "fingerprint" in identical.message
    reordered_types = with_column(BASE, "id", BASE.column("id").cast(pa.int32()))
    agree = one(dr.cell_values, make_ctx(tmp_path, BASE, reordered_types))
    assert agree.status is Status.PASS and agree.message == "all 2 columns agree on 5 matched rows"
    keyless = one(dr.cell_values, make_ctx(tmp_path, BASE, BASE.slice(0, 4), key=None))
    assert keyless.status is Status.PASS and "RAW007" in keyless.message


DUPS = pa.table({"id": [1, 2, 2, None, 5], "x": [0.5, 1.5, 1.6, 3.5, 4.5], "s": list("abcde")})


def test_raw010_shared_duplicate_and_null_keys_with_changed_values_fail(tmp_path: Path) -> None:
    """Defect: both sides have id 2 twice and one null id, so RAW005/RAW006 only warn and the
    rows were left out of every comparison: production's changed values there (x 1.6 -> 9.0 on
    a duplicated id-2 row, s 'd' -> 'D' on the null-key row) passed unseen, exit 0. Now those
    rows are compared whole as a multiset: 2 research rows lack an identical production row."""
    production = with_column(
        with_column(DUPS, "x", pa.array([0.5, 1.5, 9.0, 3.5, 4.5])), "s", pa.array(list("abcDe"))
    )
    ctx = make_ctx(tmp_path, DUPS, production)
    finding = next(f for f in run(dr.cell_values, ctx) if f.column is None)
    assert finding.status is Status.FAIL and finding.observed == 2
    assert finding.details["research_rows"] == 2 and finding.details["production_rows"] == 2
    assert {e["row"]["x"] for e in finding.details["research_examples"]} == {1.6, 3.5}
    assert {e["row"]["x"] for e in finding.details["production_examples"]} == {9.0, 3.5}
    statistics = one(dr.column_statistics, ctx)  # x's max changed: explained by those rows
    assert statistics.status is Status.PASS and "x" in statistics.details["explained"]


def test_raw010_shared_duplicate_keys_with_equal_rows_stay_quiet(tmp_path: Path) -> None:
    """Both sides have id 2 twice and one null id with the same rows, production in another
    order; only s of id 5 changed ('e' -> 'E'): the one finding is that cell."""
    production = with_column(DUPS.take([0, 2, 1, 3, 4]), "s", pa.array(list("acbdE")))
    findings = run(dr.cell_values, make_ctx(tmp_path, DUPS, production))
    assert [(f.column, f.observed) for f in findings] == [("s", 1)]


# --------------------------------------------------------------------------- the stage as a whole


def test_stage_through_the_runner_is_deterministic(tmp_path: Path) -> None:
    """Two sources: `a` clean (rows shuffled), `b` with a lost row. The stage fails, stops the
    run, and two runs render byte-identical JSON (timings aside)."""
    shuffled = BASE.take(pa.array([3, 1, 4, 0, 2]))
    path = write_checklist(tmp_path, {"a": BASE, "b": BASE}, {"a": shuffled, "b": BASE.slice(1)})
    checklist = load_checklist(path)
    results = [run_checklist(checklist, RunOptions()) for _ in range(2)]
    stage = results[0].stages[0]
    assert stage.id == dr.STAGE and stage.status is Status.FAIL
    assert results[0].stopped_at == dr.STAGE
    failing = sorted({(c.id, c.source) for c in stage.checks if c.status is Status.FAIL})
    assert failing == [("RAW004", "b"), ("RAW007", "b")]
    assert render(results[0], timings=False) == render(results[1], timings=False)
    json.loads(render(results[0], timings=False))  # valid JSON (no NaN)


def test_every_check_explains_itself() -> None:
    """Ids RAW001..RAW010 in order, each with a title and a multi-line explanation."""
    specs = REGISTRY.for_stage(dr.STAGE)
    assert [s.id for s in specs] == [f"RAW{i:03d}" for i in range(1, 11)]
    for spec in specs:
        assert spec.title and "Why:" in spec.explanation and "Fix:" in spec.explanation
