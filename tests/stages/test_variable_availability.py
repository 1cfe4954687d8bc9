"""Stage 6, variable availability: every check fires on a spelled-out defect and stays quiet without it.

Each test builds a tiny research features table and a tiny live features table, writes them as
parquet in tmp_path with a checklist, and runs one check through the real engine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.errors import InputError
from mlcheck.registry import REGISTRY
from mlcheck.results import Finding, Status
from mlcheck.runner import RunOptions, run_checklist
from mlcheck.stages import variable_availability as va

REPO = Path(__file__).resolve().parents[2]


def make_ctx(
    tmp_path: Path,
    research: pa.Table,
    live: pa.Table,
    columns: dict[str, Any] | None = None,
    stage: dict[str, Any] | None = None,
) -> StageContext:
    """A stage context over two parquet files and a checklist written to tmp_path."""
    pq.write_table(research, tmp_path / "research_features.parquet")
    pq.write_table(live, tmp_path / "live_features.parquet")
    doc = {
        "key": "id",
        "research": {"features": {"path": "research_features.parquet"}},
        "production": {"live": {"features": {"path": "live_features.parquet"}}},
        "columns": columns or {},
        "stages": {"variable_availability": stage or {}},
    }
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    checklist = load_checklist(path)
    return StageContext(checklist, LocalEngine(checklist), va.STAGE)


def findings(func: Any, ctx: StageContext) -> list[Finding]:
    return list(func(ctx))


def by_column(items: list[Finding]) -> dict[str | None, Finding]:
    return {f.column: f for f in items}


def ids(n: int) -> pa.Array:
    return pa.array(np.arange(n, dtype=np.int64))


# --------------------------------------------------------------------------- skip and helpers


def test_skip_reason_names_the_missing_slot(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, pa.table({"id": ids(2)}), pa.table({"id": ids(2)}))
    assert va.skip_reason(ctx.checklist) is None
    no_live = ctx.checklist.model_copy(
        update={"production": ctx.checklist.production.model_copy(update={"live": None})}
    )
    assert va.skip_reason(no_live) == "production.live.features is not declared"
    no_research = ctx.checklist.model_copy(
        update={"research": ctx.checklist.research.model_copy(update={"features": None})}
    )
    assert va.skip_reason(no_research) == "research.features is not declared"


def test_expected_features_default_to_research_columns_without_role(tmp_path: Path) -> None:
    """Without `columns.features`: the key, role columns and ignored columns are not features."""
    research = pa.table(
        {"id": ids(3), "a": [1, 2, 3], "t": [0, 1, 0], "stamp": [1, 2, 3], "b": ["x", "y", "z"]}
    )
    ctx = make_ctx(tmp_path, research, research, columns={"target": "t", "ignore": ["stamp"]})
    assert va.expected_features(ctx) == ["a", "b"]
    declared = make_ctx(tmp_path, research, research, columns={"features": ["b"]})
    assert va.expected_features(declared) == ["b"]


def distance(tmp_path: Path, research: Any, live: Any) -> float | None:
    """The distance of column `x` in research and live tables written to a fresh folder."""
    folder = tmp_path / f"pair{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    ctx = make_ctx(folder, pa.table({"x": research}), pa.table({"x": live}))
    profiles = (va.profile(ctx, va.RESEARCH, "x"), va.profile(ctx, va.LIVE, "x"))
    return va.distribution_distance(*profiles)


def test_normalised_wasserstein_matches_scipy_and_hand_value(tmp_path: Path) -> None:
    research, live = [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]
    got = distance(tmp_path, research, live)
    # Shifting every value by 1 moves the whole mass by 1: W = 1; the research std is sqrt(1.25).
    assert got == pytest.approx(1.0 / math.sqrt(1.25))
    assert got == pytest.approx(wasserstein_distance(research, live) / np.std(research))


def test_wasserstein_from_quantiles_on_large_columns_matches_scipy(tmp_path: Path) -> None:
    """Above QUANTILES values the distance comes from 1024 quantiles: close to scipy's exact one."""
    rng = np.random.default_rng(3)
    research, live = rng.normal(0, 2, 50_000), rng.gamma(2.0, 1.5, 30_000)
    exact = wasserstein_distance(research, live) / np.std(research)
    assert distance(tmp_path, research, live) == pytest.approx(exact, rel=2e-3)
    huge = rng.normal(0.3, 2, 400_000)
    assert distance(tmp_path, research, huge) == pytest.approx(
        wasserstein_distance(research, huge) / np.std(research), abs=0.01
    )
    small = rng.normal(0, 1, 500)  # one exact side, one summarised side
    assert distance(tmp_path, small, live) == pytest.approx(
        wasserstein_distance(small, live) / np.std(small), rel=5e-3
    )


def test_profiles_are_the_sorted_values_or_numpys_inverted_cdf_quantiles(tmp_path: Path) -> None:
    """At most QUANTILES present values: every value, sorted, and numpy's population std;
    more: numpy's inverted-cdf quantiles at the grid midpoints. Nulls and NaNs are left out."""
    rng = np.random.default_rng(4)
    few = rng.exponential(size=700)
    many = rng.integers(0, 40, 3001)
    mask = np.array([False] * 701 + [True])
    research = pa.table({"x": pa.array(np.append(few, [np.nan, np.nan]), mask=mask)})
    live = pa.table({"x": pa.array(many)})
    ctx = make_ctx(tmp_path, research, live)
    exact = va.profile(ctx, va.RESEARCH, "x")
    assert exact is not None and exact.exact and exact.values is not None
    assert np.array_equal(exact.values, np.sort(few)) and exact.std == pytest.approx(np.std(few))
    grid = va.profile(ctx, va.LIVE, "x")
    assert grid is not None and not grid.exact and grid.values is not None
    midpoints = (np.arange(va.QUANTILES) + 0.5) / va.QUANTILES
    reference = np.quantile(many.astype(float), midpoints, method="inverted_cdf")
    assert np.array_equal(grid.values, reference)
    assert grid.std == pytest.approx(np.std(many.astype(float)), rel=1e-12)


def test_sorted_quantiles_are_numpys_inverted_cdf_quantiles() -> None:
    values = np.sort(np.random.default_rng(4).exponential(size=3001))
    reference = np.quantile(
        values, (np.arange(va.QUANTILES) + 0.5) / va.QUANTILES, method="inverted_cdf"
    )
    assert np.array_equal(va._sorted_quantiles(values), reference)


def test_distance_is_none_across_kinds_or_without_values(tmp_path: Path) -> None:
    assert distance(tmp_path, [1.0, 2.0], ["a", "b"]) is None
    assert distance(tmp_path, pa.array([None, None], pa.float64()), [1.0]) is None


def test_jensen_shannon_distance_matches_hand_value_and_scipy(tmp_path: Path) -> None:
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4); JSD = (KL(p||m) + KL(q||m)) / 2 in bits.
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    expected = math.sqrt((kl_p + kl_q) / 2)
    assert distance(tmp_path, ["a", "b"], ["a", "a"]) == pytest.approx(expected)
    assert expected == pytest.approx(jensenshannon([0.5, 0.5], [1.0, 0.0], base=2))
    assert distance(tmp_path, ["x", "y", "y"], ["y", "x", "y"]) == pytest.approx(0.0)


def test_absence_chance_is_one_minus_rate_to_the_power_n() -> None:
    got = va.absence_chance(np.array([0.0, 0.1, 0.5, 1.0]), 10)
    assert got == pytest.approx([1.0, 0.9**10, 0.5**10, 0.0])
    assert va.absence_chance(np.array([0.3]), 0) == pytest.approx([1.0])


# --------------------------------------------------------------------------- VAR001 missing columns


def renamed_tables() -> tuple[pa.Table, pa.Table]:
    """Research has n_open_accounts and tenure; live renamed n_open_accounts to
    num_open_accounts (same values) and dropped tenure with nothing resembling it."""
    rng = np.random.default_rng(1)
    accounts = rng.integers(0, 12, 200)
    research = pa.table(
        {
            "id": ids(200),
            "n_open_accounts": accounts,
            "tenure": rng.normal(5, 2, 200),
            "age": rng.integers(18, 80, 200),
        }
    )
    live = pa.table(
        {
            "id": ids(200),
            "num_open_accounts": accounts,
            "age": rng.integers(18, 80, 200),
            "event_note": ["x"] * 200,
        }
    )
    return research, live


def test_missing_column_fails_and_names_the_rename(tmp_path: Path) -> None:
    research, live = renamed_tables()
    ctx = make_ctx(tmp_path, research, live)
    result = by_column(findings(va.missing_columns, ctx))
    renamed = result["n_open_accounts"]
    assert renamed.status is Status.FAIL
    assert "num_open_accounts" in renamed.message
    assert renamed.details["likely_replacement"]["column"] == "num_open_accounts"
    assert renamed.details["likely_replacement"]["distribution_distance"] == pytest.approx(0.0)
    dropped = result["tenure"]
    assert dropped.status is Status.FAIL
    assert "likely_replacement" not in dropped.details
    assert "no new column" in dropped.message


def test_replacement_found_by_distribution_alone(tmp_path: Path) -> None:
    """`score` became `zz7` (no name resemblance): same dtype and the same values identify it;
    `other` has the same dtype but a far-away distribution and is not proposed."""
    rng = np.random.default_rng(2)
    values = rng.normal(600, 50, 300)
    research = pa.table({"id": ids(300), "score": values})
    live = pa.table({"id": ids(300), "other": values + 500, "zz7": rng.permutation(values)})
    ctx = make_ctx(tmp_path, research, live)
    [finding] = findings(va.missing_columns, ctx)
    assert finding.details["likely_replacement"]["column"] == "zz7"


def test_all_expected_columns_present_passes(tmp_path: Path) -> None:
    research, _ = renamed_tables()
    ctx = make_ctx(tmp_path, research, research)
    [finding] = findings(va.missing_columns, ctx)
    assert finding.status is Status.PASS
    assert finding.message == "all 3 expected features arrive in live data"


# --------------------------------------------------------------------------- VAR002 null rates


def null_tables() -> tuple[pa.Table, pa.Table]:
    """10 rows each. Live: `feed` is entirely null; `partial` went from 0 to 5 missing values
    (three nulls and two NaN); `steady` from 1 to 1 null; `mild` from 0 to 0 (quiet)."""
    research = pa.table(
        {
            "id": ids(10),
            "feed": [1.0] * 10,
            "partial": [2.0] * 10,
            "steady": [None] + [3.0] * 9,
            "mild": list(range(10)),
        }
    )
    live = pa.table(
        {
            "id": ids(10),
            "feed": pa.array([None] * 10, pa.float64()),
            "partial": [None, None, None, math.nan, math.nan, 1.0, 2.0, 3.0, 4.0, 5.0],
            "steady": [None] + [3.5] * 9,
            "mild": list(range(10)),
        }
    )
    return research, live


def test_all_null_and_null_rate_rise_fail(tmp_path: Path) -> None:
    research, live = null_tables()
    ctx = make_ctx(tmp_path, research, live)
    result = by_column(findings(va.null_rates, ctx))
    assert set(result) == {"feed", "partial"}
    assert result["feed"].status is Status.FAIL and "entirely null" in result["feed"].message
    assert result["partial"].status is Status.FAIL
    assert result["partial"].observed == pytest.approx(0.5)  # 5/10 - 0/10, NaN counted as missing
    assert result["partial"].details["live_nulls"] == 5


def test_null_rate_rise_within_threshold_passes(tmp_path: Path) -> None:
    """20 live rows, one new null: +5% exactly, the default limit, so it does not fail."""
    research = pa.table({"id": ids(20), "x": [1.0] * 20})
    live = pa.table({"id": ids(20), "x": [None] + [1.0] * 19})
    [finding] = findings(va.null_rates, make_ctx(tmp_path, research, live))
    assert finding.status is Status.PASS


def test_column_null_on_both_sides_only_warns(tmp_path: Path) -> None:
    table = pa.table({"id": ids(3), "x": pa.array([None] * 3, pa.float64())})
    [finding] = findings(va.null_rates, make_ctx(tmp_path, table, table))
    assert finding.status is Status.WARN


def test_empty_live_table_fails_and_no_check_crashes(tmp_path: Path) -> None:
    """Live has the right columns (a number, a category, a timestamp) and no rows."""
    research = pa.table({"id": ids(3), "x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    live = pa.table(
        {
            "id": ids(0),
            "x": pa.array([], pa.float64()),
            "c": pa.array([], pa.string()),
            "t": pa.array([], pa.timestamp("s")),
        }
    )
    ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "t"})
    [finding] = findings(va.null_rates, ctx)
    assert finding.status is Status.FAIL and "no rows" in finding.message
    statuses = {
        spec.id: [f.status for f in spec.func(ctx)] for spec in REGISTRY.for_stage(va.STAGE)
    }
    assert statuses["VAR001"] == [Status.PASS] and statuses["VAR007"] == [Status.FAIL]


# --------------------------------------------------------------------------- VAR003 constants


def test_column_turned_constant_fails(tmp_path: Path) -> None:
    """Research `income` varies (never 0); live `income` is 0.0 on all 50 rows (a fill value)."""
    research = pa.table({"id": ids(50), "income": np.linspace(1000, 5000, 50)})
    live = pa.table({"id": ids(50), "income": np.zeros(50)})
    [finding] = findings(va.constant_columns, make_ctx(tmp_path, research, live))
    assert finding.status is Status.FAIL
    assert finding.details["value"] == 0.0
    assert finding.details["chance"] == 0.0
    assert (finding.details["research_min"], finding.details["research_max"]) == (1000.0, 5000.0)


def test_constant_ignores_nan_and_works_on_text(tmp_path: Path) -> None:
    """Live `x` is 7.0 or NaN/null on every row and research `x` varies: constant. Live `city` is
    "Oslo" on all 30 rows while research alternates Oslo/Bergen: chance 0.5**30, constant."""
    research = pa.table({"id": ids(30), "x": np.arange(30.0), "city": ["Oslo", "Bergen"] * 15})
    live_x = pa.array([7.0, math.nan, None] * 10)
    live = pa.table({"id": ids(30), "x": live_x, "city": ["Oslo"] * 30})
    result = by_column(findings(va.constant_columns, make_ctx(tmp_path, research, live)))
    assert result["x"].status is Status.FAIL and result["x"].details["live_values"] == 10
    assert result["x"].details["research_share_of_value"] == pytest.approx(1 / 30)
    assert result["city"].status is Status.FAIL
    assert result["city"].details["chance"] == pytest.approx(0.5**30)


def test_constant_is_one_present_value_whatever_the_type(tmp_path: Path) -> None:
    """Live columns (4 rows) against research columns of 100 distinct values: constant are
    `const_nan` (3.0 besides NaN and null), `zeros` (0.0 and -0.0 are one value, reported as
    0.0) and `text_const` (a dictionary column, "a" never seen in research); `all_nan` has no
    value at all, and the others vary."""
    nan = math.nan
    columns = {
        "varies": pa.array([1.0, nan, None, 2.0], pa.float64()),
        "const_nan": pa.array([nan, 3.0, None, 3.0], pa.float64()),
        "all_nan": pa.array([nan, None, nan, nan], pa.float64()),
        "zeros": pa.array([0.0, -0.0, 0.0, -0.0], pa.float64()),
        "f32": pa.array([1.5, 1.5, None, 2.5], pa.float32()),
        "text": pa.array(["a", None, "a", "b"]),
        "text_const": pa.array(["a", None, "a", "a"]).dictionary_encode(),
        "ints": pa.array([1, 2, 3, 4]),
    }
    research = {
        name: pa.array(
            [f"v{i}" for i in range(100)] if pa.types.is_dictionary(array.type) or
            pa.types.is_string(array.type) else np.arange(100).astype(array.type.to_pandas_dtype())
        )
        for name, array in columns.items()
    }  # fmt: skip
    ctx = make_ctx(
        tmp_path, pa.table({"id": ids(100), **research}), pa.table({"id": ids(4), **columns})
    )
    result = by_column(findings(va.constant_columns, ctx))
    assert set(result) == {"const_nan", "zeros", "text_const"}
    assert result["const_nan"].details["research_share_of_value"] == pytest.approx(0.01)
    assert result["const_nan"].details["chance"] == pytest.approx(0.01**2)
    zero = result["zeros"].details["value"]
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0
    assert result["text_const"].details["value"] == "a"
    assert result["text_const"].details["research_share_of_value"] == 0.0


def test_constant_by_sampling_luck_does_not_fail(tmp_path: Path) -> None:
    """Research flag is 1 on 999 of 1000 rows; 10 live rows all 1 happen with chance 0.999**10
    ~ 0.99, far above absence_alpha, so it passes. `varied` stays varied."""
    research = pa.table({"id": ids(1000), "flag": [1] * 999 + [0], "varied": np.arange(1000)})
    live = pa.table({"id": ids(10), "flag": [1] * 10, "varied": np.arange(10)})
    [finding] = findings(va.constant_columns, make_ctx(tmp_path, research, live))
    assert finding.status is Status.PASS


def test_constant_chance_is_share_to_the_power_n(tmp_path: Path) -> None:
    """Research flag is 1 on half the rows; 12 live rows all 1: chance 0.5**12 < 0.001."""
    research = pa.table({"id": ids(10), "flag": [1, 0] * 5})
    live = pa.table({"id": ids(12), "flag": [1] * 12})
    [finding] = findings(va.constant_columns, make_ctx(tmp_path, research, live))
    assert finding.status is Status.FAIL
    assert finding.details["research_share_of_value"] == pytest.approx(0.5)
    assert finding.details["chance"] == pytest.approx(0.5**12)


# --------------------------------------------------------------------------- categories


def category_tables() -> tuple[pa.Table, pa.Table]:
    """Research region: North 300, South 400, East 296, West 4 (rare, < min_count 5).
    Live (1000 rows): North never arrives; South 500, East 400, West 60 (6% rare rows),
    "Moon" 40 (4% unseen). Product is identical on both sides (quiet)."""
    research_region = ["North"] * 300 + ["South"] * 400 + ["East"] * 296 + ["West"] * 4
    live_region = ["South"] * 500 + ["East"] * 400 + ["West"] * 60 + ["Moon"] * 40
    product = ["card", "loan"] * 500
    research = pa.table({"id": ids(1000), "region": research_region, "product": product})
    live = pa.table({"id": ids(1000), "region": live_region, "product": product})
    return research, live


def test_vanished_category_fails_with_its_research_frequency(tmp_path: Path) -> None:
    research, live = category_tables()
    [finding] = findings(va.vanished_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.FAIL and finding.column == "region"
    [north] = finding.details["vanished"]
    assert north["value"] == "North"
    assert north["research_count"] == 300
    assert north["research_rate"] == pytest.approx(0.3)
    assert north["chance"] == pytest.approx(0.7**1000)
    assert "'North'" in finding.message


def test_vanished_category_plausible_by_chance_or_rare_is_quiet(tmp_path: Path) -> None:
    """Research: a 990, b 5 (0.5%), c 5. Live has 20 rows of `a` only: b and c would be absent
    by chance with probability 0.995**20 ~ 0.90, so nothing fails; a research-rare `d` (1 row)
    is ignored altogether."""
    research = pa.table({"id": ids(1001), "cat": ["a"] * 990 + ["b"] * 5 + ["c"] * 5 + ["d"]})
    live = pa.table({"id": ids(20), "cat": ["a"] * 20})
    [finding] = findings(va.vanished_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.PASS


def test_unseen_category_fails_above_rate_with_count(tmp_path: Path) -> None:
    research, live = category_tables()
    [finding] = findings(va.unseen_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.FAIL
    assert finding.observed == pytest.approx(0.04)
    assert finding.details["unseen"] == [
        {"value": "Moon", "count": 40, "rate": pytest.approx(0.04)}
    ]


def test_unseen_category_below_rate_warns(tmp_path: Path) -> None:
    """One live row in 1000 (0.1%) carries "Moon": below max_unseen_rate 1%, so a warning."""
    research = pa.table({"id": ids(1000), "region": ["South"] * 1000})
    live = pa.table({"id": ids(1000), "region": ["South"] * 999 + ["Moon"]})
    [finding] = findings(va.unseen_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.WARN
    assert finding.observed == pytest.approx(0.001)


def test_dictionary_and_string_columns_compare_by_value(tmp_path: Path) -> None:
    """Research region is a dictionary column, live is plain strings with the same values: no
    unseen and no vanished category."""
    values = ["a", "b", "c"] * 10
    research = pa.table({"id": ids(30), "region": pa.array(values).dictionary_encode()})
    live = pa.table({"id": ids(30), "region": values})
    ctx = make_ctx(tmp_path, research, live)
    assert [f.status for f in findings(va.unseen_categories, ctx)] == [Status.PASS]
    assert [f.status for f in findings(va.vanished_categories, ctx)] == [Status.PASS]


def test_declared_integer_categorical_is_checked(tmp_path: Path) -> None:
    """`grade` is an integer declared categorical; live brings code 9, never seen in research."""
    research = pa.table({"id": ids(100), "grade": [1, 2, 3, 4] * 25})
    live = pa.table({"id": ids(100), "grade": [1, 2, 3, 4] * 20 + [9] * 20})
    ctx = make_ctx(tmp_path, research, live, columns={"categorical": ["grade"]})
    [finding] = findings(va.unseen_categories, ctx)
    assert finding.status is Status.FAIL and finding.details["unseen"][0]["value"] == "9"


def test_rare_categories_share_fails_above_limit(tmp_path: Path) -> None:
    research, live = category_tables()
    [finding] = findings(va.rare_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.FAIL
    assert finding.observed == pytest.approx(0.06)
    assert finding.details["rare"] == [{"value": "West", "live_count": 60, "research_count": 4}]


def test_rare_categories_below_limit_pass(tmp_path: Path) -> None:
    """Live carries the research-rare `West` in 2 of 100 rows: 2% <= 5%."""
    research, _ = category_tables()
    live = pa.table(
        {"id": ids(100), "region": ["South"] * 98 + ["West"] * 2, "product": ["card"] * 100}
    )
    [finding] = findings(va.rare_categories, make_ctx(tmp_path, research, live))
    assert finding.status is Status.PASS


def test_category_examples_are_limited_and_sorted(tmp_path: Path) -> None:
    """30 unseen categories with counts 1..30: examples keep the 3 most frequent, largest first."""
    research = pa.table({"id": ids(10), "c": ["seen"] * 10})
    live_values = [f"u{i:02d}" for i in range(1, 31) for _ in range(i)]
    live = pa.table({"id": ids(len(live_values)), "c": live_values})
    ctx = make_ctx(tmp_path, research, live, stage={"examples": 3})
    [finding] = findings(va.unseen_categories, ctx)
    assert [e["value"] for e in finding.details["unseen"]] == ["u30", "u29", "u28"]
    assert finding.details["n_unseen"] == 30


# --------------------------------------------------------------------------- VAR007 staleness


def stale_tables(times: Any) -> tuple[pa.Table, pa.Table]:
    """70 daily live rows; `delinquencies` is null in the last 35 days (an overall null rate of
    50%), `bureau` arrives every day."""
    research = pa.table({"id": ids(70), "delinquencies": np.ones(70), "bureau": np.arange(70.0)})
    live = pa.table(
        {
            "id": ids(70),
            "event_time": times,
            "delinquencies": pa.array([1.0] * 35 + [None] * 35),
            "bureau": np.arange(70.0),
        }
    )
    return research, live


DAYS = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(70) * np.timedelta64(1, "D")


def test_feature_silent_for_weeks_fails_even_with_moderate_null_rate(tmp_path: Path) -> None:
    research, live = stale_tables(pa.array(DAYS))
    ctx = make_ctx(
        tmp_path,
        research,
        live,
        columns={"timestamp": "event_time"},
        stage={"max_null_rate_increase": 0.6},
    )
    assert [f.status for f in findings(va.null_rates, ctx)] == [Status.PASS]
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.FAIL and finding.column == "delinquencies"
    # Last value on day 34 (2024-02-04), window ends on day 69: 35 days of silence.
    assert finding.details["last_seen"] == "2024-02-04T00:00:00"
    assert finding.details["window_end"] == "2024-03-10T00:00:00"
    assert finding.details["silence_days"] == pytest.approx(35.0)


def test_fresh_features_pass_and_report_last_seen(tmp_path: Path) -> None:
    research, live = stale_tables(pa.array(DAYS))
    ctx = make_ctx(
        tmp_path,
        research,
        live,
        columns={"timestamp": "event_time"},
        stage={"max_staleness": "40d"},
    )
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.PASS
    assert finding.details["last_seen"] == {
        "bureau": "2024-03-10T00:00:00",
        "delinquencies": "2024-02-04T00:00:00",
    }


def test_string_timestamps_respect_offsets(tmp_path: Path) -> None:
    """The window ends 2024-03-31T00:00Z; `x` was last seen at 2024-03-01T02:00+03:00, which is
    2024-02-29T23:00Z: 30 days 1 hour of silence, over 30d. Reading the text as wall time would
    give 29 days 22 hours and miss it."""
    times = pa.array(["2024-03-01T02:00:00+03:00", "2024-03-31T00:00:00Z"])
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    live = pa.table({"id": ids(2), "event_time": times, "x": [1.0, None]})
    ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "event_time"})
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.FAIL
    assert finding.details["last_seen"] == "2024-02-29T23:00:00"
    assert finding.details["silence_days"] == pytest.approx(30 + 1 / 24, abs=1e-3)


def test_mixed_naive_and_offset_text_reads_naive_as_utc(tmp_path: Path) -> None:
    times = pa.array(["2024-01-01 00:00:00", "2024-01-20T00:00:00+00:00"])
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    live = pa.table({"id": ids(2), "event_time": times, "x": [1.0, 2.0]})
    ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "event_time"})
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.PASS
    assert finding.details["window_end"] == "2024-01-20T00:00:00"


def test_zone_aware_timestamps_compare_as_instants(tmp_path: Path) -> None:
    """Paris wall times: x last seen 2024-06-01 01:00+02:00 = 2024-05-31T23:00Z."""
    stamps = pa.array(
        np.array(["2024-05-31T23:00:00", "2024-06-10T00:00:00"], dtype="datetime64[us]")
    ).cast(pa.timestamp("us", "Europe/Paris"))
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    live = pa.table({"id": ids(2), "event_time": stamps, "x": [1.0, None]})
    ctx = make_ctx(
        tmp_path, research, live, columns={"timestamp": "event_time"}, stage={"max_staleness": "1d"}
    )
    [finding] = findings(va.stale_features, ctx)
    assert finding.details["last_seen"] == "2024-05-31T23:00:00"
    assert finding.details["timezone"] == "UTC"


@pytest.mark.parametrize("kind", ["us", "text", "date32", "ns"])
def test_sentinel_dates_and_nanoseconds_are_read_as_times(tmp_path: Path, kind: str) -> None:
    """Defect (issue 12.6): times were cast to nanoseconds, so valid sentinel dates (1900-01-01
    as the first live row, 9999-12-31 as the last) were an input error ("out of bounds"), and as
    ISO text a crash (pandas' OutOfBoundsDatetime, exit 3). They are read as they are: the window
    ends 9999-12-31, so `delinquencies` (last seen 2024-02-04) is silent for 2,913,139 days;
    `bureau` arrives on every row. Nanosecond ticks (no sentinel fits) give the same days."""
    days = [d.astype("datetime64[s]").astype(object) for d in DAYS]
    if kind != "ns":
        days[0], days[-1] = datetime(1900, 1, 1), datetime(9999, 12, 31)
    stamps = {
        "us": lambda: pa.array(days, pa.timestamp("us")),
        "text": lambda: pa.array([d.isoformat() for d in days]),
        "date32": lambda: pa.array([d.date() for d in days], pa.date32()),
        "ns": lambda: pa.array(days, pa.timestamp("ns")),
    }[kind]()
    research, live = stale_tables(stamps)
    ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "event_time"})
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.FAIL and finding.column == "delinquencies"
    assert finding.details["last_seen"] == "2024-02-04T00:00:00"
    end = date(9999, 12, 31) if kind != "ns" else date(2024, 3, 10)
    assert finding.details["window_end"] == f"{end.isoformat()}T00:00:00"
    assert finding.details["silence_days"] == (end - date(2024, 2, 4)).days


def test_unreadable_timestamp_is_an_input_error(tmp_path: Path) -> None:
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    for bad in (pa.array(["yesterday", "today"]), pa.array([1, 2])):
        live = pa.table({"id": ids(2), "event_time": bad, "x": [1.0, 2.0]})
        ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "event_time"})
        with pytest.raises(InputError, match="event_time"):
            findings(va.stale_features, ctx)


def test_staleness_without_timestamp(tmp_path: Path) -> None:
    """No timestamp declared: nothing to say. Declared but absent from live: a warning."""
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    assert findings(va.stale_features, make_ctx(tmp_path, research, research)) == []
    ctx = make_ctx(tmp_path, research, research, columns={"timestamp": "event_time"})
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.WARN


def test_all_null_timestamps_fail(tmp_path: Path) -> None:
    research = pa.table({"id": ids(2), "x": [1.0, 2.0]})
    live = pa.table(
        {"id": ids(2), "event_time": pa.array([None, None], pa.timestamp("s")), "x": [1.0, 2.0]}
    )
    ctx = make_ctx(tmp_path, research, live, columns={"timestamp": "event_time"})
    [finding] = findings(va.stale_features, ctx)
    assert finding.status is Status.FAIL and "is null" in finding.message


# --------------------------------------------------------------------------- whole stage


def test_stage_runs_through_the_runner_deterministically(tmp_path: Path) -> None:
    research, live = category_tables()
    ctx = make_ctx(tmp_path, research, live)
    options = RunOptions(only=(va.STAGE,), keep_going=True)
    first = run_checklist(ctx.checklist, options).to_dict()
    second = run_checklist(ctx.checklist, options).to_dict()
    [stage] = [s for s in first["stages"] if s["id"] == va.STAGE]
    assert stage["status"] == "fail"
    assert {c["id"] for c in stage["checks"]} >= {
        "VAR001",
        "VAR002",
        "VAR003",
        "VAR004",
        "VAR005",
        "VAR006",
    }
    for doc in (first, second):
        doc["duration_s"] = 0
        for s in doc["stages"]:
            s["duration_s"] = 0
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stage_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    [stage] = [s for s in report["stages"] if s["id"] == va.STAGE]
    return list(stage["checks"])


def test_e2e_broken_variable_availability_names_every_defect() -> None:
    result = run_cli(
        "run",
        "checklists/broken/variable_availability.yaml",
        "--only",
        va.STAGE,
        "--format",
        "json",
    )
    assert result.returncode == 1, result.stderr
    checks = stage_checks(json.loads(result.stdout))
    failed = {(c["id"], c["column"]): c for c in checks if c["status"] == "fail"}
    assert (
        failed[("VAR001", "n_open_accounts")]["details"]["likely_replacement"]["column"]
        == "num_open_accounts"
    )
    assert [v["value"] for v in failed[("VAR004", "region")]["details"]["vanished"]] == ["North"]
    unseen = failed[("VAR005", "product")]["details"]["unseen"]
    assert unseen[0]["value"] == "bnpl" and unseen[0]["rate"] == pytest.approx(0.04, abs=0.01)
    assert ("VAR007", "delinquencies_12m") in failed


def test_e2e_clean_credit_checklist_passes_the_stage() -> None:
    result = run_cli("run", "checklists/credit.yaml", "--only", va.STAGE, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = stage_checks(json.loads(result.stdout))
    assert checks and all(c["status"] == "pass" for c in checks)
