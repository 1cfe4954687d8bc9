"""Every aggregate primitive against a hand computation or a plain-Python reference of the
comparison rules (symmetric tolerance, NaN = NaN, -0.0 = 0.0, null vs NaN differs, inf equals
same-sign inf only), and against the in-memory engine's `compare_tables` for parity."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.compare import _normalize, column_stats, compare_tables, pair_kind
from mlcheck.engine import LocalEngine
from mlcheck.engines import AggregateEngine, EngineSettings, make_engine
from mlcheck.engines.base import Tolerance

Register = Callable[[str, pa.Table], str]
NAN, INF = float("nan"), float("inf")


def research_production() -> tuple[pa.Table, pa.Table]:
    """Planted defects (research -> production), key `id`:
    - id 1: x 1.0 -> 1.0 + 1e-12 (within tolerance); id 2: x 2.0 -> 2.5 (beyond);
    - id 3: NaN on both sides (equal); id 4: null -> 1.0 (null in research only);
    - id 8: -0.0 -> 0.0 (equal); id 9: inf -> inf (equal); id 10: inf -> -inf (beyond);
    - id 11: NaN -> null (beyond: null vs NaN differs, null in production only);
    - id 12: 5.0 -> inf (beyond; a finite value is never close to an infinity);
    - id 5 twice in research (duplicate, and lost); ids 6 and 7 (twice) only in production;
    - one research row with a null id; s: 'b' -> 'B' at id 2; i: 3 -> 30 at id 3.
    """
    research = pa.table(
        {
            "id": [1, 2, 3, 4, 5, 5, None, 8, 9, 10, 11, 12],
            "x": [1.0, 2.0, NAN, None, 1.0, 2.0, 3.0, -0.0, INF, INF, NAN, 5.0],
            "s": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"],
            "i": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        }
    )
    production = pa.table(
        {
            "id": [1, 2, 3, 4, 6, 7, 7, 8, 9, 10, 11, 12],
            "x": [1.0 + 1e-12, 2.5, NAN, 1.0, 1.0, 2.0, 3.0, 0.0, INF, -INF, None, INF],
            "s": ["a", "B", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"],
            "i": [1, 2, 30, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        }
    )
    return research, production


KINDS: dict[str, Any] = {"x": "float", "s": "text", "i": "integer"}


def test_key_comparison_counts_by_hand(engine: AggregateEngine, register: Register) -> None:
    research, production = research_production()
    left, right = register("L", research), register("R", production)
    found = engine.key_comparison(left, right, ["id"], KINDS, Tolerance(1e-9, 0.0), 10)
    assert (found.left_rows, found.right_rows, found.matched) == (12, 12, 9)
    assert (found.left.null_rows, found.left.duplicate_rows, found.left.duplicate_keys) == (1, 2, 1)
    assert (found.right.null_rows, found.right.duplicate_rows, found.right.duplicate_keys) == (
        0,
        2,
        1,
    )
    assert found.left.duplicate_examples == ({"key": 5, "rows": 2},)
    assert found.right.duplicate_examples == ({"key": 7, "rows": 2},)
    rows = found.rows
    assert (rows.lost, rows.lost_keys, rows.extra, rows.extra_keys) == (2, 1, 3, 2)
    assert rows.lost_examples == ({"key": 5, "rows": 2},)
    assert rows.extra_examples == ({"key": 6, "rows": 1}, {"key": 7, "rows": 2})
    x = found.columns["x"]
    # beyond: 2 (2.0/2.5), 4 (null/1.0), 10 (inf/-inf), 11 (NaN/null), 12 (5/inf); within: 1
    assert (x.compared, x.beyond, x.within) == (9, 5, 1)
    assert (x.null_left_only, x.null_right_only) == (1, 1)
    assert x.max_abs_diff == INF and math.isnan(x.max_rel_diff or 0) is False
    assert [e["key"] for e in x.examples] == [2, 4, 10, 11, 12]
    assert x.examples[0] == {"key": 2, "research": 2.0, "production": 2.5}
    s, i = found.columns["s"], found.columns["i"]
    assert (s.beyond, s.within, s.examples) == (
        1,
        0,
        ({"key": 2, "research": "b", "production": "B"},),
    )
    assert (i.beyond, i.max_abs_diff, i.max_rel_diff) == (1, 27.0, 27.0 / 30.0)


def test_examples_are_capped_and_first_by_key(engine: AggregateEngine, register: Register) -> None:
    """200 changed cells, shuffled: the 3 examples are the 3 smallest keys, whatever the order."""
    ids = np.arange(1000)
    order = np.random.default_rng(3).permutation(1000)
    research = pa.table({"id": ids[order], "v": ids[order].astype(float)})
    changed = np.where(ids % 5 == 0, ids + 0.5, ids)[order]
    production = pa.table({"id": ids[order][::-1], "v": changed[::-1]})
    found = engine.key_comparison(
        register("L", research), register("R", production), ["id"], {"v": "float"},
        Tolerance(0.0, 0.0), 3,
    )  # fmt: skip
    v = found.columns["v"]
    assert v.beyond == 200
    assert [e["key"] for e in v.examples] == [0, 5, 10]


def reference_cells(a: list[Any], b: list[Any], rtol: float, atol: float) -> tuple[int, int, float]:
    """(beyond, within, max abs) by the written rules, one pair at a time."""
    beyond = within = 0
    largest = -1.0
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            beyond += (x is None) != (y is None)
            continue
        if x == y or (math.isnan(x) and math.isnan(y)):
            continue
        if not math.isnan(abs(x - y)):
            largest = max(largest, abs(x - y))
        finite = math.isfinite(x) and math.isfinite(y)
        if finite and abs(x - y) <= atol + rtol * max(abs(x), abs(y)):
            within += 1
        else:
            beyond += 1
    return beyond, within, largest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cells_match_the_rules_on_random_values(
    engine: AggregateEngine, register: Register, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pool = [0.0, -0.0, 1.0, 1.0 + 1e-10, -1.0, INF, -INF, NAN, None, 1e300, 2.5, 2.5000001]
    a = [pool[j] for j in rng.integers(0, len(pool), 400)]
    b = [pool[j] for j in rng.integers(0, len(pool), 400)]
    ids = list(range(400))
    found = engine.key_comparison(
        register("L", pa.table({"id": ids, "v": pa.array(a, pa.float64())})),
        register("R", pa.table({"id": ids, "v": pa.array(b, pa.float64())})),
        ["id"], {"v": "float"}, Tolerance(1e-6, 1e-12), 5,
    )  # fmt: skip
    beyond, within, largest = reference_cells(a, b, 1e-6, 1e-12)
    v = found.columns["v"]
    assert (v.beyond, v.within) == (beyond, within)
    assert v.max_abs_diff == (largest if largest >= 0 else None)
    assert v.null_left_only == sum(x is None and y is not None for x, y in zip(a, b, strict=True))


def local_comparison(tmp_path: Path, research: pa.Table, production: pa.Table) -> Any:
    pq.write_table(research, tmp_path / "r.parquet")
    pq.write_table(production, tmp_path / "p.parquet")
    doc = {
        "version": 1,
        "key": "id",
        "research": {"raw": {"t": {"path": "r.parquet"}}},
        "production": {"raw": {"t": {"path": "p.parquet"}}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    local = LocalEngine(load_checklist(tmp_path / "c.yaml"))
    config = local.checklist.stages.data_reproducibility
    return compare_tables(local, "research.raw.t", "production.raw.t", config), config


def test_parity_on_timestamps_and_booleans(
    engine: AggregateEngine, register: Register, tmp_path: Path
) -> None:
    """Timestamps (ms against us: compared in microseconds, differences in seconds) and
    booleans, against `compare_tables`: id 2's time moves 90.5 s, id 3's flag flips."""
    base = np.datetime64("2024-05-01T12:00:00", "ms") + np.arange(5) * 1000
    research = pa.table(
        {"id": [1, 2, 3, 4, 5], "t": pa.array(base), "b": [True, False, True, None, False]}
    )
    moved = base.astype("datetime64[us]").copy()
    moved[1] += np.timedelta64(90_500_000, "us")
    production = pa.table(
        {"id": [1, 2, 3, 4, 5], "t": pa.array(moved), "b": [True, False, False, None, False]}
    )
    cmp, config = local_comparison(tmp_path, research, production)
    found = engine.key_comparison(
        register("L", research), register("R", production), ["id"],
        {"t": "temporal", "b": "boolean"}, Tolerance(config.rtol, config.atol), config.examples,
    )  # fmt: skip
    assert found.columns["t"].max_abs_diff == 90.5
    for name, cells in cmp.cells.items():
        mine = found.columns[name]
        assert (mine.beyond, mine.max_abs_diff, mine.max_rel_diff) == (
            cells.n_beyond, cells.max_abs_diff, cells.max_rel_diff,
        ), name  # fmt: skip
        assert [e["key"] for e in mine.examples] == [e["key"] for e in cells.examples]


def test_parity_with_the_in_memory_engine(
    engine: AggregateEngine, register: Register, tmp_path: Path
) -> None:
    """The same counts, maxima and examples as `compare_tables` on the planted defects."""
    research, production = research_production()
    cmp, config = local_comparison(tmp_path, research, production)
    found = engine.key_comparison(
        register("L", research), register("R", production), ["id"], KINDS,
        Tolerance(config.rtol, config.atol), config.examples,
    )  # fmt: skip
    assert found.matched == cmp.join.matched
    assert (found.rows.lost, found.rows.extra) == (cmp.rows.lost, cmp.rows.extra)
    assert found.rows.lost_examples == cmp.rows.lost_examples
    assert found.rows.extra_examples == cmp.rows.extra_examples
    assert found.left.duplicate_examples == cmp.keys.left_duplicate_examples
    for name, cells in cmp.cells.items():
        mine = found.columns[name]
        assert (mine.beyond, mine.within) == (cells.n_beyond, cells.n_noise), name
        assert mine.null_left_only == len(cells.left_null_only)
        assert mine.null_right_only == len(cells.right_null_only)
        assert (mine.max_abs_diff, mine.max_rel_diff) == (cells.max_abs_diff, cells.max_rel_diff)
        assert repr(mine.examples) == repr(cells.examples)  # NaN-safe equality


def test_composite_key_examples_are_records(engine: AggregateEngine, register: Register) -> None:
    research = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1, 2, 3]})
    production = pa.table({"a": [1, 2, 2], "b": ["x", "x", "z"], "v": [1, 4, 3]})
    found = engine.key_comparison(
        register("L", research), register("R", production), ["a", "b"], {"v": "integer"},
        Tolerance(0, 0), 5,
    )  # fmt: skip
    assert found.rows.lost_examples == ({"key": {"a": 1, "b": "y"}, "rows": 1},)
    assert found.rows.extra_examples == ({"key": {"a": 2, "b": "z"}, "rows": 1},)
    assert found.columns["v"].examples == (
        {"key": {"a": 2, "b": "x"}, "research": 3, "production": 4},
    )


# ---- profiles


def profile_values() -> pa.Table:
    rng = np.random.default_rng(5)
    x = rng.normal(3, 2, 500)
    x[[3, 9]] = np.nan
    return pa.table(
        {
            "x": pa.array(x, mask=np.arange(500) % 50 == 1),
            "i": pa.array(rng.integers(-5, 5, 500)),
            "s": pa.array(rng.choice(["a", "b", "c", "d"], 500)),
            "t": pa.array(np.datetime64("2024-01-01", "s") + rng.integers(0, 10**6, 500)),
            "z": pa.array(
                np.datetime64("2024-03-30", "ms") + rng.integers(0, 10**9, 500),
                pa.timestamp("ms", tz="Europe/Paris"),
            ),
            "d": pa.array(np.datetime64("2020-01-01", "D") + rng.integers(0, 900, 500)),
        }
    )


def test_profiles_against_numpy_and_exact_sums(engine: AggregateEngine, register: Register) -> None:
    name = register("T", profile_values())
    table = profile_values().cast(engine.schema(name))  # parquet stores seconds as microseconds
    kinds: dict[str, Any] = {
        c: pair_kind(table.schema.field(c).type, table.schema.field(c).type)
        for c in table.column_names
    }
    found = engine.profiles(name, kinds, 3)
    for column, kind in kinds.items():
        norm = _normalize(table.column(column), kind, table.schema.field(column).type)
        reference = column_stats(norm.values, norm.valid, kind, 3, norm.unit_ns)
        mine = found[column]
        for stat in ("count", "nulls", "nans", "distinct", "min", "max", "top"):
            assert getattr(mine, stat) == getattr(reference, stat), (column, stat)
    values = [v for v in table.column("x").to_pylist() if v is not None and not math.isnan(v)]
    exact = math.fsum(values)
    mean = exact / len(values)
    assert found["x"].sum == exact and found["x"].mean == mean
    assert found["x"].std == math.sqrt(
        math.fsum((v - mean) * (v - mean) for v in values) / (len(values) - 1)
    )
    assert found["x"].abs_sum == math.fsum(abs(v) for v in values)
    assert found["i"].sum == math.fsum(table.column("i").to_pylist())


def test_exact_sum_where_float_order_matters(engine: AggregateEngine, register: Register) -> None:
    """1e16 + 1 - 1e16 in any order: a naive sum gives 0 or 2; the exact sum is 1 (tiny and
    subnormal values included)."""
    values = [1e16, 1.0, -1e16, 5e-324, -5e-324, 1e-300, 3.0, -3.0] * 50
    found = engine.profiles(register("T", pa.table({"x": values})), {"x": "float"}, 0)["x"]
    assert found.sum == math.fsum(values) == 50.0 + 50e-300


def test_answers_identical_across_thread_counts(tmp_path: Path) -> None:
    """Byte-identical answers with 1 and 4 threads over 300k rows (parallel sums included)."""
    rng = np.random.default_rng(9)
    n = 300_000
    research = pa.table({"id": np.arange(n), "x": rng.normal(0, 1e6, n) ** 3})
    production = pa.table({"id": np.arange(n), "x": research.column("x").to_numpy() * (1 + 1e-9)})
    answers = []
    for threads in (1, 4):
        engine = make_engine(EngineSettings("duckdb", threads=threads))
        engine.register("L", research)
        engine.register("R", production)
        cmp = engine.key_comparison("L", "R", ["id"], {"x": "float"}, Tolerance(1e-12, 0), 5)
        answers.append(repr((cmp, engine.profiles("L", {"x": "float"}, 3))))
    assert answers[0] == answers[1]


# ---- value counts, quantiles, crosstabs, multisets


def test_value_counts_per_group(engine: AggregateEngine, register: Register) -> None:
    rng = np.random.default_rng(2)
    g = rng.choice(["w1", "w2", "w3"], 300)
    v = rng.choice(["a", "b", "c", None], 300)
    found = engine.value_counts(register("T", pa.table({"g": g, "v": v})), "v", by="g")
    for group in ("w1", "w2", "w3"):
        counts = Counter(x for x, y in zip(v, g, strict=True) if y == group and x is not None)
        expected = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        assert found[group] == expected
    whole = engine.value_counts("T", "v")
    assert sum(n for _, n in whole[None]) == sum(x is not None for x in v)


def test_quantiles_are_numpy_inverted_cdf(engine: AggregateEngine, register: Register) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=97)
    g = np.where(np.arange(97) < 40, "a", "b")
    found = engine.quantiles(
        register("T", pa.table({"x": x, "g": g})), "x", [0, 0.1, 0.5, 0.9, 1], by="g"
    )
    for group in ("a", "b"):
        values = x[g == group]
        assert found[group] == tuple(
            np.quantile(values, [0, 0.1, 0.5, 0.9, 1], method="inverted_cdf")
        )


def test_crosstab_over_matched_keys(engine: AggregateEngine, register: Register) -> None:
    research = pa.table(
        {"id": [1, 2, 3, 4, 5], "split": ["train", "train", "test", "test", "train"]}
    )
    production = pa.table(
        {"id": [1, 2, 3, 4, 9], "split": ["train", "test", "test", "test", "train"]}
    )
    found = engine.crosstab(
        register("L", research), register("R", production), ["id"], "split", "split"
    )
    assert found == {("test", "test"): 2, ("train", "test"): 1, ("train", "train"): 1}


def test_multiset_difference_against_counter(engine: AggregateEngine, register: Register) -> None:
    research = pa.table({"a": [1, 1, 2, 3, None], "f": [0.0, 0.0, NAN, 1.5, 2.0]})
    production = pa.table({"a": [1, 2, 3, 3, None], "f": [-0.0, NAN, 1.5, 1.5, 2.0]})
    found = engine.multiset_difference(
        register("L", research), register("R", production), ["a", "f"], 5
    )
    # -0.0 equals 0.0 and NaN equals NaN: (1, 0.0) is lost once, (3, 1.5) extra once
    assert (found.lost, found.extra, found.lost_keys, found.extra_keys) == (1, 1, 1, 1)
    assert found.lost_examples == ({"row": {"a": 1, "f": 0.0}, "research": 2, "production": 1},)
    assert found.extra_examples == ({"row": {"a": 3, "f": 1.5}, "research": 1, "production": 2},)


def test_memory_limit_threads_and_spill_folder(tmp_path: Path) -> None:
    engine = make_engine(
        EngineSettings("duckdb", memory_limit="300MB", threads=1, temp_directory=str(tmp_path))
    )
    limit, threads, spill = engine._rows(  # type: ignore[attr-defined]
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )[0]
    assert threads == 1 and Path(spill).parent.parent == tmp_path
    assert limit.endswith("MiB") and 280 <= float(limit.split()[0]) <= 300
    engine.close()  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []  # the database file and spill folder are gone


def test_tables_larger_than_the_memory_limit_complete(tmp_path: Path) -> None:
    """Two 1M-row parquet files (24 MB each in Arrow) under a 40 MB limit: the tables
    and the join spill to disk, and the answer equals the unlimited engine's."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    for side in ("l", "r"):
        columns = {"id": rng.permutation(n), "x": rng.normal(size=n), "y": rng.normal(size=n)}
        pq.write_table(pa.table(columns), tmp_path / f"{side}.parquet")
    answers = []
    for limit in ("40MB", None):
        engine = make_engine(
            EngineSettings("duckdb", memory_limit=limit, threads=2, temp_directory=str(tmp_path))
        )
        engine.register("L", tmp_path / "l.parquet")
        engine.register("R", tmp_path / "r.parquet")
        kinds: dict[str, Any] = {"x": "float", "y": "float"}
        answers.append(repr(engine.key_comparison("L", "R", ["id"], kinds, Tolerance(0, 0), 3)))
    assert answers[0] == answers[1]
    assert "beyond=1000000" in answers[0]


@pytest.mark.parametrize("n", [25, 50, 100, 150, 20010])
def test_quantiles_where_n_times_p_lands_just_above_an_integer(
    engine: AggregateEngine, register: Register, n: int
) -> None:
    """25 * 0.28 is 7.000000000000001 in doubles: numpy's inverted_cdf takes the 8th value;
    DuckDB's quantile_disc took the 7th. Every engine gives numpy's element, per group (a
    group of n values beside one of 25) and over the whole relation."""
    probabilities = [i / 100 for i in range(1, 100)] + [1 / 3, 2 / 3, 0.001, 0.999]
    values = np.random.default_rng(n).permutation(np.arange(n + 25, dtype=float))
    groups = (np.arange(n + 25) >= n).astype(np.int64)
    name = register("Q", pa.table({"x": values, "g": groups}))
    found = engine.quantiles(name, "x", probabilities, by="g")
    whole = engine.quantiles(register("W", pa.table({"x": values[:n]})), "x", probabilities)
    for g, part in ((0, values[:n]), (1, values[n:])):
        expected = np.quantile(part, probabilities, method="inverted_cdf")
        assert found[g] == tuple(float(v) for v in expected)
    reference = np.quantile(values[:n], probabilities, method="inverted_cdf")
    assert whole == {None: tuple(float(v) for v in reference)}


def test_sums_are_exact_on_the_grid_below_the_largest_value(
    engine: AggregateEngine, register: Register
) -> None:
    """Float sums are exact sums of the values cut to the grid 2**(E - 122), E the binary
    exponent of the largest magnitude, rounded once: math.fsum's answer for values spanning
    30 orders of magnitude; a value below the grid (1e-300 beside 1e300) is left out."""
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1, 3000) * 10.0 ** rng.integers(-15, 15, 3000)
    name = register("S", pa.table({"x": values, "y": [1e300, 1e-300, -1e300] * 1000}))
    found = engine.profiles(name, {"x": "float", "y": "float"}, 0)
    assert found["x"].sum == math.fsum(values)
    assert found["x"].abs_sum == math.fsum(abs(values))
    assert found["y"].sum == 0.0 and math.fsum([1e300, 1e-300, -1e300] * 1000) == 1e-297
