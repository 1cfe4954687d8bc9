"""Stage 4, prediction_mismatch: every check fires on a spelled-out defect and stays quiet without it.

Each test writes tiny research/production predictions (and features or splits when a check needs
them) as parquet in tmp_path with a checklist, and runs checks through the real engine.
Statistics are checked against numpy/scipy references and hand computations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.stats import rankdata, spearmanr

from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.errors import InputError
from mlcheck.registry import REGISTRY
from mlcheck.results import Finding, Status
from mlcheck.stages import prediction_mismatch as pm

REPO = Path(__file__).resolve().parents[2]
IDS = list(range(1, 11))
SCORES = [0.1, 0.2, 0.3, 0.45, 0.55, 0.6, 0.7, 0.8, 0.9, 0.05]


def write_checklist(
    tmp_path: Path,
    tables: dict[str, pa.Table],
    columns: dict[str, Any] | None = None,
    stage: dict[str, Any] | None = None,
    task: str = "binary",
) -> Path:
    doc: dict[str, Any] = {"key": "id", "research": {}, "production": {}, "task": task}
    for slot, table in tables.items():
        side, role = slot.split(".")
        pq.write_table(table, tmp_path / f"{slot}.parquet")
        doc[side][role] = {"path": f"{slot}.parquet"}
    doc["columns"] = {"score": "score", **(columns or {})}
    doc["stages"] = {pm.STAGE: stage or {}}
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def make_ctx(tmp_path: Path, tables: dict[str, pa.Table], **options: Any) -> StageContext:
    checklist = load_checklist(write_checklist(tmp_path, tables, **options))
    return StageContext(checklist, LocalEngine(checklist), pm.STAGE)


def preds(
    scores: Any,
    ids: list[int] | None = None,
    decision: list[int] | None = None,
    kind: pa.DataType = pa.float64(),
) -> pa.Table:
    data = {"id": pa.array(ids or IDS, pa.int64()), "score": pa.array(scores, kind)}
    if decision is not None:
        data["decision"] = pa.array(decision, pa.int64())
    return pa.table(data)


def decisions(scores: list[float], threshold: float = 0.5) -> list[int]:
    return [int(s >= threshold) for s in scores]


def research() -> pa.Table:
    """Ten keys with valid scores (two per decile, 0.45 and 0.55 near the threshold) and
    decision = score >= 0.5. No defect."""
    return preds(SCORES, decision=decisions(SCORES))


def reversed_rows(table: pa.Table) -> pa.Table:
    return table.take(pa.array(np.arange(table.num_rows)[::-1]))


def run(func: Any, ctx: StageContext) -> list[Finding]:
    return list(func(ctx))


def by_source(items: list[Finding]) -> dict[str | None, Finding]:
    return {f.source: f for f in items}


def pair(tmp_path: Path, production: pa.Table, **options: Any) -> StageContext:
    return make_ctx(
        tmp_path,
        {"research.predictions": research(), "production.predictions": production},
        **options,
    )


# --------------------------------------------------------------------------- skip and quiet


def test_skip_reason_names_missing_predictions_score_and_key(tmp_path: Path) -> None:
    ctx = pair(tmp_path, research())
    assert pm.skip_reason(ctx.checklist) is None
    no_research = ctx.checklist.model_copy(
        update={"research": ctx.checklist.research.model_copy(update={"predictions": None})}
    )
    assert pm.skip_reason(no_research) == "no predictions declared for research"
    no_score = ctx.checklist.model_copy(
        update={"columns": ctx.checklist.columns.model_copy(update={"score": None})}
    )
    assert pm.skip_reason(no_score) == "columns.score is not declared"
    assert (
        pm.skip_reason(ctx.checklist.model_copy(update={"key": None}))
        == "no key declared: predictions are matched on the key"
    )


def test_identical_predictions_in_another_order_pass_every_check(tmp_path: Path) -> None:
    """Production = research with rows reversed; decision column declared."""
    ctx = pair(tmp_path, reversed_rows(research()), columns={"prediction": "decision"})
    results = [f for spec in REGISTRY.for_stage(pm.STAGE) for f in spec.func(ctx)]
    assert {f.status for f in results} == {Status.PASS}
    assert {spec.id for spec in REGISTRY.for_stage(pm.STAGE)} == {f"PRD00{i}" for i in range(1, 8)}
    # PRD001 x2, PRD002, PRD003 x2, PRD004, PRD005, PRD006 x2 (PRD007 is multiclass only)
    assert len(results) == 9


# --------------------------------------------------------------------------- PRD001


def invalid_production() -> pa.Table:
    """Key 1 null, key 2 NaN, key 3 +inf, key 4 1.5, key 5 -0.1; keys 6-10 valid."""
    return preds([None, float("nan"), float("inf"), 1.5, -0.1, *SCORES[5:]])


def test_invalid_outputs_are_counted_by_kind(tmp_path: Path) -> None:
    found = by_source(run(pm.invalid_outputs, pair(tmp_path, invalid_production())))
    assert found[pm.RESEARCH].status is Status.PASS
    bad = found[pm.PRODUCTION]
    assert bad.status is Status.FAIL
    assert bad.observed == pytest.approx(0.5)
    assert bad.details["kinds"] == {"null": 1, "nan": 1, "inf": 1, "out_of_range": 2}
    assert bad.details["examples"][:2] == [
        {"key": 1, "kinds": ["null"], "score": None},
        {"key": 2, "kinds": ["nan"], "score": None},
    ]
    assert [e["key"] for e in bad.details["examples"]] == [1, 2, 3, 4, 5]


def test_invalid_outputs_within_the_allowance_warn(tmp_path: Path) -> None:
    """Same five invalid rows out of ten, `max_invalid_rate: 0.5`."""
    found = by_source(
        run(
            pm.invalid_outputs,
            pair(tmp_path, invalid_production(), stage={"max_invalid_rate": 0.5}),
        )
    )
    assert found[pm.PRODUCTION].status is Status.WARN


def test_regression_outputs_have_no_range(tmp_path: Path) -> None:
    """Regression: 1.5 and -0.1 are valid outputs; null, NaN and inf are not."""
    found = by_source(
        run(pm.invalid_outputs, pair(tmp_path, invalid_production(), task="regression"))
    )
    assert found[pm.PRODUCTION].details["kinds"] == {"null": 1, "nan": 1, "inf": 1}


def test_multiclass_rows_must_sum_to_one(tmp_path: Path) -> None:
    """Three class columns. Production row 2 sums to 0.9; row 3 sums to 1 but has 1.2 and -0.2."""
    good = {"a": [0.2, 0.3, 0.5], "b": [0.3, 0.3, 0.3], "c": [0.5, 0.4, 0.2]}
    bad = {"a": [0.2, 0.3, 1.2], "b": [0.3, 0.2, -0.2], "c": [0.5, 0.4, 0.0]}
    tables = {
        "research.predictions": pa.table({"id": [1, 2, 3], **good}),
        "production.predictions": pa.table({"id": [1, 2, 3], **bad}),
    }
    ctx = make_ctx(tmp_path, tables, columns={"score": ["a", "b", "c"]}, task="multiclass")
    found = by_source(run(pm.invalid_outputs, ctx))
    assert found[pm.RESEARCH].status is Status.PASS
    assert found[pm.PRODUCTION].details["kinds"] == {
        "null": 0,
        "nan": 0,
        "inf": 0,
        "out_of_range": 1,
        "bad_sum": 1,
    }
    assert found[pm.PRODUCTION].details["examples"][0] == {
        "key": 2,
        "kinds": ["bad_sum"],
        "score": {"a": 0.3, "b": 0.2, "c": 0.4},
    }


def test_non_numeric_score_is_an_input_error(tmp_path: Path) -> None:
    ctx = pair(tmp_path, preds(["high"] * 10, kind=pa.string()))
    with pytest.raises(InputError, match="not numeric"):
        run(pm.invalid_outputs, ctx)


# --------------------------------------------------------------------------- PRD002


def features(
    region: list[str], bureau: list[float | None], ids: list[int] | None = None
) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids or IDS, pa.int64()),
            "region": region,
            "bureau_score": pa.array(bureau, pa.float64()),
            "income": [50.0] * len(ids or IDS),
        }
    )


REGION = ["north", "south"] * 4 + ["Atlantis", "south"]


def cause_tables() -> dict[str, pa.Table]:
    """Production scores are NaN on keys 2, 3, 4, 5 and 6.

    production.features (keys 1-5, 7-10; key 6 has no features row): bureau_score null on keys
    2 and 4; region "Atlantis" on keys 3 and 4. Key 5 has nothing wrong.
    research.features: "Atlantis" only on key 9, which research.splits puts in test, so it is
    unseen in TRAINING (keys 1-8).
    Expected: 5 invalid; null inputs 2 (bureau_score); unseen 2 (region=Atlantis); both 1 (key 4);
    unexplained 2 (keys 5, 6); without a features row 1 (key 6).
    """
    nan = float("nan")
    scores = [SCORES[0], nan, nan, nan, nan, nan, *SCORES[6:]]
    prod_ids = [i for i in IDS if i != 6]
    prod_region = [
        "north",
        "south",
        "Atlantis",
        "Atlantis",
        "north",
        "south",
        "north",
        "south",
        "north",
    ]
    prod_bureau = [600.0, None, 610.0, None, 620.0, 640.0, 650.0, 660.0, 670.0]
    split = pa.table({"id": pa.array(IDS, pa.int64()), "split": ["train"] * 8 + ["test"] * 2})
    return {
        "research.predictions": research(),
        "production.predictions": preds(scores),
        "research.features": features(REGION, [600.0] * 10),
        "production.features": features(prod_region, prod_bureau, prod_ids),
        "research.splits": split,
    }


def test_invalid_outputs_are_attributed_to_null_inputs_and_unseen_categories(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, cause_tables(), columns={"split": "split", "categorical": ["region"]})
    (finding,) = run(pm.invalid_output_causes, ctx)
    assert finding.status is Status.FAIL
    details = finding.details
    assert (
        details["invalid"],
        details["explained_by_null_inputs"],
        details["explained_by_unseen_categories"],
    ) == (5, 2, 2)
    assert (
        details["explained_by_both"],
        details["unexplained"],
        details["without_features_row"],
    ) == (1, 2, 1)
    assert details["null_inputs"] == {"bureau_score": 2}
    assert details["unseen_categories"] == [{"column": "region", "value": "Atlantis", "rows": 2}]
    assert details["unexplained_examples"] == [5, 6]
    assert details["reference"] == "8 research training rows"
    assert finding.observed == {
        "explained_by_null_inputs": 2,
        "explained_by_unseen_categories": 2,
        "unexplained": 2,
    }
    assert details["explained_share"] == pytest.approx(3 / 5)
    assert "bureau_score" in finding.message and "'Atlantis'" in finding.message


def test_without_splits_every_research_row_is_the_reference(tmp_path: Path) -> None:
    """Same data without research.splits: key 9's "Atlantis" counts as seen, so only the null
    inputs explain invalid rows."""
    tables = cause_tables()
    del tables["research.splits"]
    (finding,) = run(pm.invalid_output_causes, make_ctx(tmp_path, tables))
    assert finding.details["explained_by_unseen_categories"] == 0
    assert finding.details["unexplained"] == 3
    assert finding.details["reference"].startswith("all 10 research features rows")


def test_attribution_is_quiet_without_invalid_outputs_and_says_when_it_cannot_run(
    tmp_path: Path,
) -> None:
    tables = cause_tables()
    quiet = make_ctx(tmp_path, {**tables, "production.predictions": research()})
    assert [f.status for f in run(pm.invalid_output_causes, quiet)] == [Status.PASS]
    del tables["production.features"]
    (blind,) = run(pm.invalid_output_causes, make_ctx(tmp_path, tables))
    assert blind.status is Status.FAIL
    assert "cannot be attributed" in blind.message


# --------------------------------------------------------------------------- PRD003


def test_keys_predicted_on_one_side(tmp_path: Path) -> None:
    """Production did not score key 10 and scored an extra key 11."""
    ctx = pair(tmp_path, preds(SCORES, ids=[*IDS[:9], 11]))
    found = by_source(run(pm.keys_predicted_on_one_side, ctx))
    assert found[pm.RESEARCH].status is Status.FAIL
    assert found[pm.RESEARCH].details["examples"] == [10]
    assert found[pm.PRODUCTION].details["examples"] == [11]
    allowed = pair(
        tmp_path, preds(SCORES, ids=[*IDS[:9], 11]), stage={"max_missing_predictions": 1}
    )
    assert {f.status for f in run(pm.keys_predicted_on_one_side, allowed)} == {Status.PASS}


def set_aside(findings: list[Finding]) -> Finding:
    """PRD003's finding about rows with a duplicated or null key (source production)."""
    (found,) = [f for f in findings if "duplicated or null key" in f.message]
    return found


def test_duplicate_production_keys_with_conflicting_scores_fail(tmp_path: Path) -> None:
    """Production scored keys 5 and 6 twice, each time differently (0.55/0.99, 0.6/0.01);
    research has no duplicate: the number of rows left out of the key match changed (0 -> 4)."""
    production = preds([*SCORES, 0.99, 0.01], ids=[*IDS, 5, 6])
    found = set_aside(run(pm.keys_predicted_on_one_side, pair(tmp_path, production)))
    assert found.status is Status.FAIL
    assert (found.expected, found.observed) == (0, 4)  # research, production
    assert found.details["production"] == {"duplicate_key_rows": 4, "null_key_rows": 0}
    assert found.details["production_examples"] == [
        {"key": 5, "score": 0.55},
        {"key": 5, "score": 0.99},
        {"key": 6, "score": 0.01},
        {"key": 6, "score": 0.6},
    ]


def test_same_duplicates_on_both_sides_warn_and_are_compared_whole(tmp_path: Path) -> None:
    """Both sides scored key 5 twice: identical rows (production in reverse order) warn; one of
    production's two scores changed (0.99 -> 0.98): 1 of 2 rows differs each way, rate 0.5,
    failing at the default max_mismatch_rate 0 and warning at 0.5."""
    both = preds([*SCORES, 0.99], ids=[*IDS, 5])
    changed = preds([*SCORES, 0.98], ids=[*IDS, 5])

    def judged(production: pa.Table, **options: Any) -> Finding:
        ctx = make_ctx(
            tmp_path,
            {"research.predictions": both, "production.predictions": production},
            **options,
        )
        return set_aside(run(pm.keys_predicted_on_one_side, ctx))

    same = judged(reversed_rows(both))

    assert same.status is Status.WARN
    assert (same.details["research_rows_differing"], same.observed) == (0, 0.0)
    strict, lenient = judged(changed), judged(changed, stage={"max_mismatch_rate": 0.5})
    assert strict.status is Status.FAIL and lenient.status is Status.WARN
    assert strict.observed == 0.5
    assert (
        strict.details["research_rows_differing"],
        strict.details["production_rows_differing"],
    ) == (1, 1)


def test_null_keys_in_equal_numbers_warn(tmp_path: Path) -> None:
    """Key 10 is null on both sides with the same score: warns, nothing differs."""
    table = pa.table({"id": pa.array([*IDS[:9], None], pa.int64()), "score": SCORES})
    found = set_aside(run(pm.keys_predicted_on_one_side, pair(tmp_path, table, stage={})))
    assert found.status is Status.FAIL  # research has no null key: 0 -> 1
    ctx = make_ctx(tmp_path, {"research.predictions": table, "production.predictions": table})
    both = set_aside(run(pm.keys_predicted_on_one_side, ctx))
    assert both.status is Status.WARN
    assert both.details["research"] == {"duplicate_key_rows": 0, "null_key_rows": 1}


def test_e2e_conflicting_duplicate_predictions_exit_1(tmp_path: Path) -> None:
    """The run of the first case above, as a user runs it: not ready, exit 1."""
    tables = {
        "research.predictions": research(),
        "production.predictions": preds([*SCORES, 0.99, 0.01], ids=[*IDS, 5, 6]),
    }
    code, report = mlcheck_json(write_checklist(tmp_path, tables), tmp_path)
    assert (code, report["verdict"]) == (1, "not_ready")
    assert "fail" in [c["status"] for c in stage_checks(report)["PRD003"]]


# --------------------------------------------------------------------------- PRD004


def random_pair(
    tmp_path: Path, production_of: Any, n: int = 200, **options: Any
) -> tuple[StageContext, np.ndarray, np.ndarray]:
    """n random research scores in (0.05, 0.95) and production = production_of(research, rng)."""
    rng = np.random.default_rng(3)
    r = rng.uniform(0.05, 0.95, n)
    p = production_of(r, rng)
    ids = list(range(n))
    tables = {
        "research.predictions": preds(r, ids=ids),
        "production.predictions": preds(p, ids=ids),
    }
    return make_ctx(tmp_path, tables, **options), r, p


def test_float32_noise_within_tolerance_passes_and_is_named(tmp_path: Path) -> None:
    """Production scores went through float32: differences ~1e-8, below atol 1e-6."""
    ctx, r, p = random_pair(tmp_path, lambda r, _: r.astype(np.float32).astype(np.float64))
    (finding,) = run(pm.score_agreement, ctx)
    assert finding.status is Status.PASS
    assert finding.details["pattern"] == "within_tolerance"
    assert finding.details["within_tolerance_differences"] == int((r != p).sum()) > 0
    assert finding.details["max_abs_diff"] == pytest.approx(np.abs(p - r).max())


def test_score_differences_match_numpy_and_scipy(tmp_path: Path) -> None:
    """Production = research + N(0, 0.05) noise on every row: large scattered differences."""
    ctx, r, p = random_pair(tmp_path, lambda r, rng: r + rng.normal(0, 0.05, len(r)))
    (finding,) = run(pm.score_agreement, ctx)
    assert finding.status is Status.FAIL
    assert finding.details["mismatched"] == int((~np.isclose(p, r, rtol=0, atol=1e-6)).sum())
    assert finding.observed == pytest.approx(finding.details["mismatched"] / len(r))
    assert finding.details["max_abs_diff"] == pytest.approx(np.abs(p - r).max())
    assert finding.details["mean_abs_diff"] == pytest.approx(np.abs(p - r).mean())
    assert finding.details["mean_diff"] == pytest.approx((p - r).mean())
    assert finding.details["spearman"] == pytest.approx(spearmanr(r, p).statistic)
    assert finding.details["pattern"] == "large_scattered"
    first = finding.details["examples"][0]
    assert abs(first["difference"]) == pytest.approx(np.abs(p - r).max())


def spearman_of(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> Any:
    """PRD004's rank correlation of research scores x and production scores y (keys 0..n-1)."""
    ids = list(range(len(x)))
    tables = {
        "research.predictions": preds(x, ids=ids),
        "production.predictions": preds(y, ids=ids),
    }
    (finding,) = run(pm.score_agreement, make_ctx(tmp_path, tables))
    return finding.details["spearman"]


def test_spearman_with_ties_matches_scipy(tmp_path: Path) -> None:
    x = np.array([0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.9])
    y = np.array([0.2, 0.1, 0.1, 0.5, 0.4, 0.4, 0.8])
    assert spearman_of(tmp_path, x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert spearman_of(tmp_path, x, np.full_like(x, 0.5)) is None  # y constant: undefined
    assert spearman_of(tmp_path, x[:1], y[:1]) is None


@pytest.mark.parametrize(
    "make_y",
    [
        lambda x, rng: x + rng.normal(0, 1e-12, len(x)),
        lambda x, rng: np.where(rng.random(len(x)) < 0.002, x + 0.3, x),  # a few out of place
        lambda x, rng: rng.random(len(x)),  # unrelated
        lambda x, rng: np.round(x, 2),  # same order, tied
        lambda x, rng: x.copy(),  # identical
    ],
)
def test_spearman_matches_scipy_with_and_without_ties(tmp_path: Path, make_y: Any) -> None:
    """The engine's average ranks (twice, as integers, summed exactly) give scipy's
    correlation of rankdata ranks, with and without ties in x."""
    rng = np.random.default_rng(11)
    for x in (rng.random(2000), np.round(rng.random(2000), 3)):
        y = make_y(x, rng)
        expected = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
        assert spearman_of(tmp_path, x, y) == pytest.approx(expected, abs=1e-12)
        assert expected == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_examples_are_the_largest_differences_ties_by_key(tmp_path: Path) -> None:
    """Research scores k/16 on keys 1-10; production moves them by exact binary fractions:
    1/8, 1/4, 3/16, 1/4, 1/8, 1/4, 3/16, 1/8, 3/16 and to +inf (key 10). Examples: the
    infinite difference first, then 1/4 on keys 2, 4, 6, then 3/16 on keys 3, 7, 9."""
    research_scores = [k / 16 for k in range(1, 11)]
    moves = [2, 4, 3, 4, 2, 4, 3, 2, 3]
    production = [r + m / 16 for r, m in zip(research_scores, moves, strict=False)]
    tables = {
        "research.predictions": preds(research_scores),
        "production.predictions": preds([*production, float("inf")]),
    }
    (finding,) = run(pm.score_agreement, make_ctx(tmp_path, tables, stage={"examples": 7}))
    assert [e["key"] for e in finding.details["examples"]] == [10, 2, 4, 6, 3, 7, 9]
    assert finding.details["examples"][0]["difference"] == float("inf")


def mismatched(tmp_path: Path, a: list[float], b: list[float], **stage: Any) -> int:
    ids = list(range(len(a)))
    tables = {
        "research.predictions": preds(a, ids=ids),
        "production.predictions": preds(b, ids=ids),
    }
    (finding,) = run(pm.score_agreement, make_ctx(tmp_path, tables, stage=stage))
    return int(finding.details["mismatched"])


def test_relative_tolerance_uses_the_larger_magnitude(tmp_path: Path) -> None:
    """a=100, b=100.5: the bound atol + rtol*max(|a|,|b|) is 0.4020 for rtol 0.004 (mismatch)
    and 0.5025 for rtol 0.005 (agree), whichever side is which."""
    assert mismatched(tmp_path, [100.0], [100.5], atol=0.0, rtol=0.004) == 1
    assert mismatched(tmp_path, [100.0], [100.5], atol=0.0, rtol=0.005) == 0
    assert mismatched(tmp_path, [100.5], [100.0], atol=0.0, rtol=0.005) == 0


def test_missing_equals_missing_but_not_a_number(tmp_path: Path) -> None:
    """NaN/NaN and inf/inf agree; NaN/0.3 and 0.3/NaN, inf/-inf, inf/1e308 do not; a null
    research score against a NaN production score agrees (both missing)."""
    nan, inf = float("nan"), float("inf")
    assert mismatched(tmp_path, [nan, nan, 0.3, inf], [nan, 0.3, nan, inf]) == 2
    assert mismatched(tmp_path, [inf, inf], [-inf, 1e308], rtol=1.0) == 2
    ids = [0, 1]
    tables = {
        "research.predictions": preds([None, 0.5], ids=ids),
        "production.predictions": preds([nan, 0.5], ids=ids),
    }
    (finding,) = run(pm.score_agreement, make_ctx(tmp_path, tables))
    assert finding.details["mismatched"] == 0


@pytest.mark.parametrize(
    ("production_of", "pattern"),
    [
        (lambda r, _: r + 0.05, "constant_offset"),
        (lambda r, rng: r + rng.normal(0, 1e-5, len(r)), "tiny_uniform"),
        (lambda r, _: np.where(np.arange(len(r)) < 4, r * 0.5, r), "localized"),
        (lambda r, rng: rng.uniform(0, 1, len(r)), "large_scattered"),
        (lambda r, _: np.where(np.arange(len(r)) == 0, np.nan, r), "invalid_outputs"),
    ],
)
def test_the_pattern_of_differences_is_named(
    tmp_path: Path, production_of: Any, pattern: str
) -> None:
    """Each parametrised production spells its defect: +0.05 on every row; N(0, 1e-5) noise;
    4 of 200 rows halved; fresh random scores; one NaN row."""
    ctx, _, _ = random_pair(tmp_path, production_of)
    (finding,) = run(pm.score_agreement, ctx)
    assert finding.status is Status.FAIL
    assert finding.details["pattern"] == pattern
    atol = pm.admitting(finding.details["max_abs_diff"])  # only tiny_uniform names a value
    assert finding.hint == pm.PATTERN_HINT[pattern].format(atol=atol)


def test_examples_put_real_differences_before_missing_scores(tmp_path: Path) -> None:
    """Key 1's production score is NaN, key 2 moved by +0.1, key 3 by -0.3."""
    scores = list(SCORES)
    scores[0], scores[1], scores[2] = float("nan"), SCORES[1] + 0.1, SCORES[2] - 0.3
    (finding,) = run(pm.score_agreement, pair(tmp_path, preds(scores)))
    assert [e["key"] for e in finding.details["examples"]] == [3, 2, 1]
    assert finding.details["examples"][2] == {
        "key": 1,
        "research": 0.1,
        "production": None,
        "difference": None,
    }


def test_multiclass_agreement_per_class_column(tmp_path: Path) -> None:
    """Class b's probability differs on row 2 (0.3 -> 0.2, moved to c); class a agrees."""
    good = {"a": [0.2, 0.3], "b": [0.3, 0.3], "c": [0.5, 0.4]}
    moved = {"a": [0.2, 0.3], "b": [0.3, 0.2], "c": [0.5, 0.5]}
    tables = {
        "research.predictions": pa.table({"id": [1, 2], **good}),
        "production.predictions": pa.table({"id": [1, 2], **moved}),
    }
    ctx = make_ctx(tmp_path, tables, columns={"score": ["a", "b", "c"]}, task="multiclass")
    found = {f.column: f for f in run(pm.score_agreement, ctx)}
    assert found["a"].status is Status.PASS
    assert found["b"].observed == pytest.approx(0.5)
    assert found["c"].observed == pytest.approx(0.5)


def probabilities(seed: int, n: int = 60, k: int = 4) -> np.ndarray:
    """n rows of k class probabilities (Dirichlet(1), rows sum to 1)."""
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def multiclass_pair(tmp_path: Path, research_p: np.ndarray, production_p: np.ndarray) -> Any:
    names = [f"p_{c}" for c in "abcd"[: research_p.shape[1]]]
    ids = list(range(len(research_p)))
    tables = {
        f"{side}.predictions": pa.table({"id": ids, **dict(zip(names, values.T, strict=True))})
        for side, values in (("research", research_p), ("production", production_p))
    }
    return make_ctx(tmp_path, tables, columns={"score": names}, task="multiclass")


def test_swapped_probability_columns_are_named_a_permutation(tmp_path: Path) -> None:
    """Production wrote class b's probabilities under p_c and c's under p_b (a and d right)."""
    research_p = probabilities(1)
    ctx = multiclass_pair(tmp_path, research_p, research_p[:, [0, 2, 1, 3]])
    found = {f.column: f for f in run(pm.score_agreement, ctx)}
    assert found["p_a"].status is Status.PASS and found["p_d"].status is Status.PASS
    for column, other in (("p_b", "p_c"), ("p_c", "p_b")):
        assert found[column].status is Status.FAIL
        assert found[column].details["pattern"] == "column_permutation"
        assert found[column].details["permutation"] == {"p_b": "p_c", "p_c": "p_b"}
        assert f"research's {column} values are in production's {other}" in found[column].message
        assert "seed" not in (found[column].hint or "")
    (flips,) = run(pm.decision_flips, ctx)
    assert "permuted" in (flips.hint or "") and "threshold" not in (flips.hint or "")


def test_any_permutation_of_probability_columns_is_found(tmp_path: Path) -> None:
    """A 3-cycle: production's p_b holds a's values, p_c holds b's, p_a holds c's."""
    research_p = probabilities(2, k=3)
    ctx = multiclass_pair(tmp_path, research_p, research_p[:, [2, 0, 1]])
    found = {f.column: f for f in run(pm.score_agreement, ctx)}
    expected = {"p_a": "p_b", "p_b": "p_c", "p_c": "p_a"}
    assert {c: f.details.get("permutation") for c, f in found.items()} == dict.fromkeys(
        expected, expected
    )


def test_a_different_multiclass_model_is_not_a_permutation(tmp_path: Path) -> None:
    """Production's probabilities come from another draw: scattered differences, and flips
    explained by the arg-max class (an argmax model has no threshold)."""
    ctx = multiclass_pair(tmp_path, probabilities(3), probabilities(4))
    found = run(pm.score_agreement, ctx)
    assert {f.details["pattern"] for f in found} == {"large_scattered"}
    assert all("permutation" not in f.details for f in found)
    (flips,) = run(pm.decision_flips, ctx)
    assert flips.status is Status.FAIL
    assert flips.hint == pm._ARGMAX_CROSS_HINT and "threshold" not in flips.hint


def test_multiclass_flip_examples_give_the_top_probability(tmp_path: Path) -> None:
    """Each flip example is short: the decided classes and each side's largest probability."""
    research_p, production_p = probabilities(5), probabilities(6)
    (flips,) = run(pm.decision_flips, multiclass_pair(tmp_path, research_p, production_p))
    for example in flips.details["examples"]:
        row = example["key"]
        assert example["research"] == f"p_{'abcd'[int(np.argmax(research_p[row]))]}"
        assert example["research_score"] == pytest.approx(research_p[row].max())
        assert example["production_score"] == pytest.approx(production_p[row].max())


# --------------------------------------------------------------------------- PRD005


def test_flipped_decision_with_float_noise_scores_is_a_rule_change(tmp_path: Path) -> None:
    """Production scores are research's through float32 (within tolerance), but the decision of
    key 4 (score 0.45) is 1 instead of 0."""
    noisy = np.asarray(SCORES, np.float32).astype(np.float64)
    flipped = decisions(SCORES)
    flipped[3] = 1
    ctx = pair(tmp_path, preds(noisy, decision=flipped), columns={"prediction": "decision"})
    assert [f.status for f in run(pm.score_agreement, ctx)] == [Status.PASS]
    (finding,) = run(pm.decision_flips, ctx)
    assert finding.status is Status.FAIL
    assert finding.observed == pytest.approx(0.1)
    assert finding.details["directions"] == {"0->1": 1}
    assert finding.details["flips_with_agreeing_scores"] == 1
    assert finding.details["examples"] == [
        {
            "key": 4,
            "research": "0",
            "production": "1",
            "research_score": 0.45,
            "production_score": pytest.approx(0.45),
        }
    ]
    assert "decision rule differs" in finding.message


def test_scores_crossing_the_threshold_flip_derived_decisions(tmp_path: Path) -> None:
    """No decision column: key 4 moves 0.45 -> 0.55 and key 5 0.55 -> 0.45; key 1 is NaN
    (its decision is missing, not flipped)."""
    scores = list(SCORES)
    scores[0], scores[3], scores[4] = float("nan"), 0.55, 0.45
    (finding,) = run(pm.decision_flips, pair(tmp_path, preds(scores)))
    assert finding.observed == pytest.approx(0.2)
    assert finding.details["directions"] == {"0->1": 1, "1->0": 1}
    assert finding.details["missing_on_one_side"] == 1
    assert "threshold 0.5" in (finding.hint or "")


def test_threshold_is_inclusive(tmp_path: Path) -> None:
    """threshold 0.7: research key 7 scores exactly 0.7 (decision 1), production 0.69 (0)."""
    scores = list(SCORES)
    scores[6] = 0.69
    (finding,) = run(
        pm.decision_flips, pair(tmp_path, preds(scores), stage={"threshold": 0.7, "atol": 0.1})
    )
    assert finding.details["directions"] == {"1->0": 1}
    assert finding.details["flips_with_agreeing_scores"] == 1


def test_multiclass_flips_are_argmax_changes_and_regression_has_none(tmp_path: Path) -> None:
    """Row 2's largest class moves from c (0.4) to b (0.5)."""
    tables = {
        "research.predictions": pa.table(
            {"id": [1, 2], "a": [0.2, 0.3], "b": [0.3, 0.3], "c": [0.5, 0.4]}
        ),
        "production.predictions": pa.table(
            {"id": [1, 2], "a": [0.2, 0.3], "b": [0.3, 0.5], "c": [0.5, 0.2]}
        ),
    }
    (finding,) = run(
        pm.decision_flips,
        make_ctx(tmp_path, tables, columns={"score": ["a", "b", "c"]}, task="multiclass"),
    )
    assert finding.details["directions"] == {"c->b": 1}
    assert run(pm.decision_flips, pair(tmp_path, research(), task="regression")) == []


def test_boolean_and_integer_decisions_compare_by_value(tmp_path: Path) -> None:
    """Production writes the same decisions as booleans: no flip."""
    production = preds(SCORES).append_column(
        "decision", pa.array([bool(d) for d in decisions(SCORES)])
    )
    (finding,) = run(
        pm.decision_flips, pair(tmp_path, production, columns={"prediction": "decision"})
    )
    assert finding.status is Status.PASS
    assert finding.details["flips"] == 0


# --------------------------------------------------------------------------- PRD006


def test_float32_scores_warn_as_precision_loss(tmp_path: Path) -> None:
    found = run(pm.output_dtypes, pair(tmp_path, preds(SCORES, kind=pa.float32())))
    assert [(f.status, f.observed, f.expected) for f in found] == [(Status.WARN, "float", "double")]
    assert "precision loss" in found[0].message


def test_text_decisions_in_another_string_layout_pass(tmp_path: Path) -> None:
    """Defect: PRD006 compared raw Arrow types, so the same text decisions written as string in
    research and as large_string (or a categorical) in production warned. Quiet here; the
    fire case is a float32 production score (above)."""
    labels = ["yes" if d else "no" for d in decisions(SCORES)]
    research_table = preds(SCORES).append_column("decision", pa.array(labels))
    production = preds(SCORES).append_column("decision", pa.array(labels, pa.large_string()))
    tables = {"research.predictions": research_table, "production.predictions": production}
    ctx = make_ctx(tmp_path, tables, columns={"prediction": "decision"})
    assert [f.status for f in run(pm.output_dtypes, ctx)] == [Status.PASS, Status.PASS]


@pytest.mark.parametrize(
    ("research", "production_type", "status", "what"),
    [
        (pa.array([0.1]), pa.float64(), Status.PASS, "same type"),
        (pa.array([0.1]), pa.float32(), Status.WARN, "precision loss"),
        (pa.array([0.5]), pa.float32(), Status.WARN, "narrowed"),  # 0.5 is exact in float32
        (pa.array([0.1], pa.float32()), pa.float64(), Status.WARN, "widened"),
        (pa.array([1]), pa.float64(), Status.WARN, "widened"),  # every integer exact as float
        (pa.array([2**60 + 1]), pa.float64(), Status.WARN, "precision loss"),  # not exact
        (pa.array([300]), pa.int8(), Status.WARN, "precision loss"),  # out of int8's range
        (pa.array([100]), pa.int8(), Status.WARN, "narrowed"),
        (pa.array([0.1]), pa.string(), Status.FAIL, "incompatible"),
        (pa.array([None], pa.null()), pa.float64(), Status.WARN, "no values on one side"),
        # Defect: raw Arrow types were compared, so a layout change warned.
        (pa.array(["yes"]), pa.large_string(), Status.PASS, "same type"),
        (pa.array(["yes"]).dictionary_encode(), pa.string(), Status.PASS, "same type"),
    ],
)
def test_type_changes_are_classified_like_stage_1(
    tmp_path: Path, research: pa.Array, production_type: pa.DataType, status: Status, what: str
) -> None:
    """Research's decision column (values as given) against production's type (all null
    there: only its type matters); a string layout (string vs large_string) or dictionary
    encoding (a categorical decision) is no change."""
    tables = {
        "research.predictions": pa.table({"id": [1], "score": [0.5], "decision": research}),
        "production.predictions": pa.table(
            {"id": [1], "score": [0.5], "decision": pa.array([None], production_type)}
        ),
    }
    ctx = make_ctx(tmp_path, tables, columns={"prediction": "decision"})
    (_, decision) = run(pm.output_dtypes, ctx)
    assert (decision.status, decision.message.rsplit("(", 1)[1].rstrip(")")) == (status, what)


# --------------------------------------------------------------------------- end to end


def mlcheck_json(checklist: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlcheck",
            "run",
            str(checklist),
            "--format",
            "json",
            "-q",
            "-o",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(out.read_text(encoding="utf-8"))


def stage_checks(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    (found,) = [s for s in report["stages"] if s["id"] == pm.STAGE]
    checks: dict[str, list[dict[str, Any]]] = {}
    for item in found["checks"]:
        checks.setdefault(item["id"], []).append(item)
    return checks


def test_e2e_nan_scores_are_attributed_and_flips_fail(tmp_path: Path) -> None:
    """checklists/broken/prediction_mismatch.yaml: production NaN on 40 rows with a null
    bureau_score and 25 rows of the unseen region "Atlantis", and 15 flipped decisions
    (generate.py's docstring); recomputed here with pandas from the files."""
    code, report = mlcheck_json(REPO / "checklists/broken/prediction_mismatch.yaml", tmp_path)
    assert code == 1
    assert report["stopped_at"] == pm.STAGE
    checks = stage_checks(report)
    variant = REPO / "sample_data/credit/broken/prediction_mismatch"
    research_p = pd.read_parquet(variant / "research/predictions.parquet")
    production_p = pd.read_parquet(variant / "production/predictions.parquet")
    features = pd.read_parquet(variant / "production/features.parquet")
    invalid = production_p[production_p.p_default.isna()].merge(features, on="application_id")
    invalid_rows = {c["source"]: c for c in checks["PRD001"]}[pm.PRODUCTION]
    assert invalid_rows["status"] == "fail"
    assert invalid_rows["details"]["invalid"] == len(invalid) == 65
    (causes,) = checks["PRD002"]
    assert causes["status"] == "fail"
    assert (
        causes["details"]["null_inputs"]
        == {"bureau_score": int(invalid.bureau_score.isna().sum())}
        == {"bureau_score": 40}
    )
    assert causes["details"]["unseen_categories"] == [
        {"column": "region", "value": "Atlantis", "rows": int((invalid.region == "Atlantis").sum())}
    ]
    assert causes["details"]["unexplained"] == 0
    merged = research_p.merge(production_p, on="application_id", suffixes=("_r", "_p")).dropna()
    (flips,) = checks["PRD005"]
    assert flips["status"] == "fail"
    assert flips["details"]["flips"] == int((merged.decision_r != merged.decision_p).sum()) == 15


def test_e2e_float_noise_passes_while_a_flipped_decision_fails(tmp_path: Path) -> None:
    """A checklist of predictions only: production scores through float32 and key 4's decision
    flipped. The score check passes, the flip check fails, the run exits 1."""
    noisy = np.asarray(SCORES, np.float32).astype(np.float64)
    flipped = decisions(SCORES)
    flipped[3] = 1
    tables = {
        "research.predictions": research(),
        "production.predictions": preds(noisy, decision=flipped),
    }
    code, report = mlcheck_json(
        write_checklist(tmp_path, tables, columns={"prediction": "decision"}), tmp_path
    )
    assert code == 1
    checks = stage_checks(report)
    assert checks["PRD004"][0]["status"] == "pass"
    assert checks["PRD004"][0]["details"]["pattern"] == "within_tolerance"
    assert checks["PRD005"][0]["status"] == "fail"


def test_e2e_clean_credit_passes_prediction_stage(tmp_path: Path) -> None:
    code, report = mlcheck_json(REPO / "checklists/credit.yaml", tmp_path, "--only", pm.STAGE)
    assert code == 0
    checks = stage_checks(report)
    assert {c["status"] for items in checks.values() for c in items} == {"pass"}
