"""The comparison engine shared by stages 1 and 2 (`mlcheck.compare`).

Tables are tiny and written to parquet in tmp_path; each test's docstring spells out the
defects it plants. References: numpy (statistics), hand computations (counts, differences),
collections.Counter (top values, multisets).
"""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.compare import (
    TableComparison,
    bytes_hashes,
    classify_dtype_change,
    column_stats,
    compare_tables,
    pair_kind,
    stat_differences,
    within_tolerance,
)
from mlcheck.engine import LocalEngine


def engine_for(
    tmp_path: Path,
    research: pa.Table,
    production: pa.Table,
    *,
    key: str | list[str] | None = "id",
    stage: dict[str, Any] | None = None,
    ignore: list[str] | None = None,
) -> LocalEngine:
    """An engine over one raw source `t` written as parquet on each side."""
    pq.write_table(research, tmp_path / "r.parquet")
    pq.write_table(production, tmp_path / "p.parquet")
    doc: dict[str, Any] = {
        "version": 1,
        "research": {"raw": {"t": {"path": "r.parquet"}}},
        "production": {"raw": {"t": {"path": "p.parquet"}}},
    }
    if key is not None:
        doc["key"] = key
    if ignore:
        doc["columns"] = {"ignore": ignore}
    if stage:
        doc["stages"] = {"data_reproducibility": stage}
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return LocalEngine(load_checklist(path))


def compare(
    tmp_path: Path, research: pa.Table, production: pa.Table, **kwargs: Any
) -> TableComparison:
    engine = engine_for(tmp_path, research, production, **kwargs)
    config = engine.checklist.stages.data_reproducibility
    return compare_tables(
        engine, "research.raw.t", "production.raw.t", config, ignore=engine.checklist.columns.ignore
    )


def shuffled(table: pa.Table, seed: int = 0) -> pa.Table:
    return table.take(pa.array(np.random.default_rng(seed).permutation(table.num_rows)))


# --------------------------------------------------------------------------- tolerance


def test_tolerance_is_symmetric_where_numpy_isclose_is_not() -> None:
    """a=1, b=2, rtol=0.5: np.isclose scales by |b| only, so it says close one way and not the
    other; the symmetric rule scales by max(|a|, |b|) = 2 and says close both ways."""
    a, b = np.array([1.0]), np.array([2.0])
    assert np.isclose(a, b, rtol=0.5, atol=0)[0] and not np.isclose(b, a, rtol=0.5, atol=0)[0]
    assert within_tolerance(a, b, 0.5, 0.0)[0] and within_tolerance(b, a, 0.5, 0.0)[0]


def test_tolerance_matches_hand_rule_and_special_values() -> None:
    """Random pairs against |a-b| <= atol + rtol*max(|a|,|b|); NaN==NaN, inf==inf, -0.0==0.0,
    inf != -inf, NaN != number."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=2000)
    b = a * (1 + rng.normal(scale=2e-9, size=2000))
    expected = np.abs(a - b) <= 1e-12 + 1e-9 * np.maximum(np.abs(a), np.abs(b))
    assert 0 < expected.sum() < len(a)  # the sample exercises both outcomes
    np.testing.assert_array_equal(within_tolerance(a, b, 1e-9, 1e-12), expected)
    special_a = np.array([np.nan, np.inf, -0.0, np.inf, np.nan])
    special_b = np.array([np.nan, np.inf, 0.0, -np.inf, 1.0])
    assert within_tolerance(special_a, special_b, 0.0, 0.0).tolist() == [
        True,
        True,
        True,
        False,
        False,
    ]


# --------------------------------------------------------------------------- hashing and fingerprint


def test_bytes_hashes_depend_only_on_the_value() -> None:
    """The same strings hashed alone, sliced, in other chunks, as large_string or next to a
    2 MB value (crossing a hashing block) get the same hashes; 100k distinct strings get 100k
    distinct hashes; "ab"/"a"+"b"-style neighbours and "" vs null layouts are told apart."""
    words = ["hello", "", "ab", "a", "b", "ba", "héllo ✓"]
    alone = bytes_hashes(pa.array(words))
    chunked = bytes_hashes(
        pa.chunked_array([pa.array(["zz", *words[:3]]).slice(1), pa.array(words[3:])])
    )
    large = bytes_hashes(pa.array(words, pa.large_string()))
    big = "x" * (2 << 20)
    around = bytes_hashes(pa.array([big, *words, big]))
    np.testing.assert_array_equal(alone, chunked)
    np.testing.assert_array_equal(alone, large)
    np.testing.assert_array_equal(alone, around[1:-1])
    assert around[0] == around[-1] == bytes_hashes(pa.array([big]))[0]
    assert len(set(alone.tolist())) == len(words)
    many = bytes_hashes(pa.array([f"k{i}" for i in range(100_000)]))
    assert len(np.unique(many)) == 100_000


def test_fingerprint_ignores_row_and_column_order(tmp_path: Path) -> None:
    """Production = research with rows shuffled and columns reordered: same fingerprint,
    `identical`, and the expensive comparisons are skipped (stats and cells empty)."""
    research = pa.table(
        {"id": [1, 2, 3, 4], "x": [0.5, -0.0, float("nan"), None], "s": ["a", None, "", "b"]}
    )
    production = shuffled(research).select(["s", "x", "id"])
    result = compare(tmp_path, research, production)
    assert result.identical and result.left_fingerprint == result.right_fingerprint
    assert result.stats == {} and result.cells == {}


def test_identical_keyed_tables_are_compared_without_importing_pandas(tmp_path: Path) -> None:
    """Arrow's to_numpy and pa.array import pandas (~0.3 s) on first use; the comparison of
    identical tables (the common case: hashes, fingerprints, the key join of a shuffled copy)
    reads Arrow's buffers instead. Checked in a fresh interpreter."""
    n = 5000
    research = pa.table(
        {
            "id": np.arange(n),
            "x": np.random.default_rng(0).normal(size=n),
            "c": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
        }
    )
    engine_for(tmp_path, research, shuffled(research))
    code = (
        "import sys; from mlcheck.checklist import load_checklist; "
        "from mlcheck.engine import LocalEngine; from mlcheck.compare import compare_tables; "
        "from mlcheck.stage_config import DataReproducibilityConfig as C; "
        f"e = LocalEngine(load_checklist({str(tmp_path / 'checklist.yaml')!r})); "
        "r = compare_tables(e, 'research.raw.t', 'production.raw.t', C()); "
        "print(r.identical, r.join.matched, 'pandas' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["True", str(n), "False"]


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("x", lambda t: t.set_column(1, "x", pa.array([0.5, 2.0, 3.0, 4.0]))),  # one cell
        ("s", lambda t: t.set_column(2, "s", pa.array(["a", "b", "c", None]))),  # "d" -> null
        # values swapped between rows: every column keeps its multiset of values
        ("x", lambda t: t.set_column(1, "x", pa.array([2.0, 1.0, 3.0, 4.0]))),
        ("id", lambda t: t.set_column(0, "id", pa.array([1, 2, 3, 4], pa.int32()))),  # type only
    ],
)
def test_fingerprint_changes_with_any_cell_or_type(
    tmp_path: Path, column: str, change: Any
) -> None:
    """Research id 1..4, x 1..4, s a..d; production changes one thing (see the parameters)."""
    research = pa.table({"id": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, 4.0], "s": ["a", "b", "c", "d"]})
    result = compare(tmp_path, research, shuffled(change(research)))
    assert not result.identical and result.left_fingerprint != result.right_fingerprint


def test_zero_valued_rows_still_count(tmp_path: Path) -> None:
    """Research has three all-zero rows, production two (no key): the fingerprint and the row
    multiset both see the lost row although every value hashes like the others."""
    research = pa.table({"a": [0, 0, 0], "b": [0.0, 0.0, 0.0]})
    production = research.slice(0, 2)
    result = compare(tmp_path, research, production, key=None)
    assert not result.identical
    assert (result.rows.lost, result.rows.extra) == (1, 0)


# --------------------------------------------------------------------------- dtype changes


_BIG = 2**53 + 1
CASES = [
    (pa.array([1, 2], pa.int32()), pa.int64(), "widening"),
    (pa.array([1.5], pa.float32()), pa.float64(), "widening"),
    (pa.array([1, 2**40], pa.int64()), pa.float64(), "widening"),  # exact as float64
    (pa.array([1, _BIG], pa.int64()), pa.float64(), "precision_loss"),
    (pa.array([True, False]), pa.int8(), "widening"),
    (pa.array([0.1], pa.float64()), pa.float32(), "precision_loss"),
    (pa.array([0.5, None], pa.float64()), pa.float32(), "narrowing"),  # survives the cast
    (pa.array([1, -5], pa.int64()), pa.int32(), "narrowing"),
    (pa.array([2**40], pa.int64()), pa.int32(), "precision_loss"),  # overflow
    (pa.array([1.0, 3.0]), pa.int64(), "narrowing"),
    (pa.array([1.5]), pa.int64(), "precision_loss"),
    (
        pa.array([decimal.Decimal("1.234")], pa.decimal128(10, 3)),
        pa.decimal128(10, 2),
        "precision_loss",
    ),
    (pa.array([decimal.Decimal("1.23")], pa.decimal128(10, 2)), pa.decimal128(12, 4), "widening"),
    (pa.array([1_500], pa.timestamp("us")), pa.timestamp("ms"), "precision_loss"),  # coarsened
    (pa.array([2_000], pa.timestamp("us")), pa.timestamp("ms"), "narrowing"),  # whole ms
    (pa.array([1], pa.timestamp("ms")), pa.timestamp("us"), "widening"),
    (pa.array([1], pa.timestamp("ms")), pa.timestamp("ms", tz="UTC"), "incompatible"),
    (
        pa.array([1], pa.timestamp("ms", tz="UTC")),
        pa.timestamp("ms", tz="Europe/Paris"),
        "widening",
    ),
    (pa.array([dt.date(2024, 1, 1)]), pa.timestamp("s"), "widening"),
    (pa.array([1, 2]), pa.string(), "incompatible"),
    (pa.array([1, 0]), pa.bool_(), "incompatible"),
    (pa.array(["1"]), pa.int64(), "incompatible"),
    (pa.nulls(2), pa.float64(), "widening"),
    (pa.array([1.0]), pa.null(), "precision_loss"),
]


@pytest.mark.parametrize(
    ("values", "target", "kind"), CASES, ids=[f"{v.type}->{t}:{k}" for v, t, k in CASES]
)
def test_dtype_changes_are_classified(values: pa.Array, target: pa.DataType, kind: str) -> None:
    """Research values of one type against production's type; classification by the rule of
    `DtypeChange` (value-aware: a lossless cast of these values is widening or narrowing)."""
    change = classify_dtype_change("c", pa.chunked_array([values]), target)
    assert change is not None and change.kind == kind


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (pa.string(), pa.large_string()),
        (pa.dictionary(pa.int32(), pa.string()), pa.string()),
        (pa.binary(), pa.large_binary()),
    ],
)
def test_layouts_are_not_dtype_changes(left: pa.DataType, right: pa.DataType) -> None:
    """String/binary layouts and dictionary encoding change no value: no DtypeChange."""
    values = pa.chunked_array([pa.array(["a", "b"]).cast(left)])
    assert classify_dtype_change("c", values, right) is None


def test_pair_kinds() -> None:
    assert pair_kind(pa.int32(), pa.int64()) == "integer"
    assert pair_kind(pa.int64(), pa.float32()) == "float"
    assert pair_kind(pa.uint64(), pa.int64()) == "integer"  # exact, not through float64
    assert pair_kind(pa.decimal128(5, 2), pa.float64()) == "float"
    assert pair_kind(pa.timestamp("s"), pa.date32()) == "temporal"
    assert pair_kind(pa.int64(), pa.string()) == "text"
    assert pair_kind(pa.null(), pa.string()) == "text"
    assert pair_kind(pa.list_(pa.int64()), pa.list_(pa.int64())) == "uncomparable"


# --------------------------------------------------------------------------- statistics


def _stats(values: pa.Array, kind: Any, top: int = 3) -> Any:
    from mlcheck.compare import _normalize

    norm = _normalize(pa.chunked_array([values]), kind, values.type)
    return column_stats(norm.values, norm.valid, kind, top, norm.unit_ns)


def test_float_statistics_match_numpy() -> None:
    """500 normal values with 20 nulls and 7 NaNs: count, nulls, nans, min, max, mean, std
    (ddof=1), sum and distinct against numpy's nan-aware functions on the non-null values."""
    rng = np.random.default_rng(7)
    x = rng.normal(10, 3, 500)
    x[rng.choice(500, 7, replace=False)] = np.nan
    mask = np.zeros(500, bool)
    mask[rng.choice(500, 20, replace=False)] = True
    stats = _stats(pa.array(x, mask=mask), "float")
    ref = x[~mask]
    assert (stats.count, stats.nulls, stats.nans) == (480, 20, int(np.isnan(ref).sum()))
    assert stats.min == np.nanmin(ref) and stats.max == np.nanmax(ref)
    assert stats.mean == pytest.approx(np.nanmean(ref), rel=1e-13)
    assert stats.std == pytest.approx(np.nanstd(ref, ddof=1), rel=1e-12)
    assert stats.sum == pytest.approx(np.nansum(ref), rel=1e-13)
    assert stats.distinct == len(np.unique(ref[~np.isnan(ref)])) + 1  # NaN counts once
    assert stats.top == ()


def test_statistics_do_not_depend_on_row_order() -> None:
    """Sums run over sorted values, so a permutation gives bit-identical statistics."""
    x = np.random.default_rng(1).lognormal(size=10_001) * 1e6
    assert _stats(pa.array(x), "float") == _stats(pa.array(x[::-1].copy()), "float")


def test_integer_text_and_temporal_statistics_by_hand() -> None:
    """Integers [3, 1, 3, 2, 3, 1, None]: top (3,3),(1,2),(2,1) ties by value; text top values
    ties by value; timestamps min/max as ISO strings."""
    ints = _stats(pa.array([3, 1, 3, 2, 3, 1, None]), "integer")
    assert ints.top == ((3, 3), (1, 2), (2, 1)) and ints.distinct == 3 and ints.nulls == 1
    assert (ints.min, ints.max, ints.sum, ints.mean) == (1, 3, 13.0, 13 / 6)
    words = ["b", "a", "c", "a", "b", None]
    text = _stats(pa.array(words), "text", top=2)
    counts = Counter(w for w in words if w is not None)
    assert text.top == tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2])
    assert (text.min, text.max, text.distinct) == ("a", "c", 3)
    stamps = _stats(
        pa.array([dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 1, 2)], pa.timestamp("s")),
        "temporal",
    )
    assert (stamps.min, stamps.max) == ("2024-01-02T00:00:00", "2024-05-01T12:00:00")


def test_stat_tolerance_admits_cell_noise_and_flags_a_shift() -> None:
    """Every value moved by at most rtol relative (cell noise): no statistic differs. Every
    value moved by 3*rtol: mean, sum, min and max differ."""
    rng = np.random.default_rng(5)
    a = rng.normal(50, 10, 5000)
    rtol = 1e-6
    noisy = a * (1 + rtol * rng.uniform(-1, 1, a.size))
    assert within_tolerance(a, noisy, rtol, 0.0).all()
    left, right = _stats(pa.array(a), "float"), _stats(pa.array(noisy), "float")
    assert stat_differences("float", left, right, rtol, 0.0) == ()
    shifted = _stats(pa.array(a * (1 + 3 * rtol)), "float")
    flagged = {d.stat for d in stat_differences("float", left, shifted, rtol, 0.0)}
    assert {"mean", "sum", "min", "max"} <= flagged


def test_an_infinite_statistic_agrees_only_with_the_same_infinity() -> None:
    """Defect: an infinite max/mean/sum made the tolerance rtol * inf infinite, so research's
    finite max 3 "agreed" with production's inf. Research [1, 2, 3]; production [1, 2, inf]
    (a division by an imputed 0): max, mean and sum differ (std is NaN against finite). Quiet:
    [1, 2, inf] against [1, 2 + 1e-12, inf] (noise beside the same infinity) differs in nothing."""
    finite, infinite = (
        _stats(pa.array([1.0, 2.0, 3.0]), "float"),
        _stats(pa.array([1.0, 2.0, np.inf]), "float"),
    )
    flagged = {d.stat for d in stat_differences("float", finite, infinite, 1e-7, 1e-9)}
    assert flagged == {"max", "mean", "sum", "std"}
    noisy = _stats(pa.array([1.0, 2.0 + 1e-12, np.inf]), "float")
    assert stat_differences("float", infinite, noisy, 1e-7, 1e-9) == ()


# --------------------------------------------------------------------------- cells


def _cells_fixture() -> tuple[pa.Table, pa.Table]:
    """Keys 1..8. Column x (float): key 2 beyond tolerance (2.0 -> 2.5), key 3 float noise
    (3.0 -> 3.0000000000003, rel 1e-13), key 4 null in research only (production 4.0), key 5
    null in production only, key 6 NaN on both (equal), key 7 -0.0 vs 0.0 (equal), key 8 null
    on both (equal). Column n (int): key 1 10 -> 11. Column s (text): key 8 "h" -> "H".
    Column t (timestamp ms vs us): key 1 one millisecond later, the rest the same instants."""
    research = pa.table(
        {
            "id": list(range(1, 9)),
            "x": [1.0, 2.0, 3.0, None, 5.0, float("nan"), -0.0, None],
            "n": [10, 20, 30, 40, 50, 60, 70, 80],
            "s": list("abcdefgh"),
            "t": pa.array([1000 * i for i in range(8)], pa.timestamp("ms")),
        }
    )
    production = pa.table(
        {
            "id": list(range(1, 9)),
            "x": [1.0, 2.5, 3.0000000000003, 4.0, None, float("nan"), 0.0, None],
            "n": [11, 20, 30, 40, 50, 60, 70, 80],
            "s": list("abcdefgH"),
            "t": pa.array([1_000_000 * i for i in range(8)], pa.timestamp("us")),
        }
    )
    t = production.column("t").to_numpy().astype(np.int64)
    t[0] += 1000
    production = production.set_column(4, "t", pa.array(t, pa.timestamp("us")))
    return research, shuffled(production, seed=2)


def test_cell_comparison_counts_and_positions(tmp_path: Path) -> None:
    """See `_cells_fixture` for the planted differences and the equal special values."""
    research, production = _cells_fixture()
    result = compare(tmp_path, research, production, stage={"rtol": 1e-9})
    x = result.cells["x"]
    keys = np.asarray(research.column("id"))[result.join.left_rows]  # type: ignore[union-attr]
    assert sorted(keys[x.beyond]) == [2, 4, 5]
    assert keys[x.noise].tolist() == [3]
    assert keys[x.left_null_only].tolist() == [4] and keys[x.right_null_only].tolist() == [5]
    assert x.right_values(x.left_null_only).to_pylist() == [4.0]  # production's fill value
    assert x.max_abs_diff == pytest.approx(0.5) and x.max_rel_diff == pytest.approx(0.2)
    assert [e["key"] for e in x.examples] == [2, 4, 5]
    assert x.examples[0] == {"key": 2, "research": 2.0, "production": 2.5}
    assert (result.cells["n"].n_beyond, result.cells["s"].n_beyond) == (1, 1)
    assert result.cells["s"].examples[0] == {"key": 8, "research": "h", "production": "H"}
    t = result.cells["t"]
    assert t.n_beyond == 1 and t.max_abs_diff == pytest.approx(0.001)  # seconds


def test_integers_are_exact_whatever_the_tolerance(tmp_path: Path) -> None:
    """n: 10 -> 11 on key 1 stays beyond tolerance with rtol 0.5 (integers carry no noise),
    while x's 2.0 -> 2.5 becomes noise."""
    research, production = _cells_fixture()
    result = compare(tmp_path, research, production, stage={"rtol": 0.5})
    assert result.cells["n"].n_beyond == 1 and result.cells["n"].n_noise == 0
    assert result.cells["x"].n_noise == 2  # keys 2 and 3


def test_examples_limit_and_order(tmp_path: Path) -> None:
    """40 keys in descending file order, every v changed: 3 examples, the 3 smallest keys."""
    ids = list(range(40, 0, -1))
    research = pa.table({"id": ids, "v": [float(i) for i in ids]})
    production = pa.table({"id": ids, "v": [float(i) + 1 for i in ids]})
    result = compare(tmp_path, research, production, stage={"examples": 3})
    assert [e["key"] for e in result.cells["v"].examples] == [1, 2, 3]
    assert result.cells["v"].n_beyond == 40


def test_retyped_columns_compare_by_value(tmp_path: Path) -> None:
    """a int64 -> float64 (3 -> 3.0 equal, 4 -> 4.5 differs); b int64 -> string ("5" equals 5,
    "x" differs); dtype changes are reported separately."""
    research = pa.table({"id": [1, 2], "a": [3, 4], "b": [5, 6]})
    production = pa.table({"id": [1, 2], "a": [3.0, 4.5], "b": ["5", "x"]})
    result = compare(tmp_path, research, production)
    assert result.cells["a"].n_beyond == 1 and result.cells["b"].n_beyond == 1
    assert {c.column: c.kind for c in result.dtype_changes} == {
        "a": "widening",
        "b": "incompatible",
    }


def test_composite_key_examples(tmp_path: Path) -> None:
    """Key (k1, k2); the cell of (b, 1) changes; examples carry the key as a mapping."""
    research = pa.table({"k1": ["a", "a", "b"], "k2": [1, 2, 1], "v": [1, 2, 3]})
    production = pa.table({"k1": ["b", "a", "a"], "k2": [1, 2, 1], "v": [4, 2, 1]})
    result = compare(tmp_path, research, production, key=["k1", "k2"])
    assert result.cells["v"].examples == (
        {"key": {"k1": "b", "k2": 1}, "research": 3, "production": 4},
    )


# --------------------------------------------------------------------------- keys and rows


def test_key_diagnostics_lost_extra_duplicates_nulls(tmp_path: Path) -> None:
    """Research ids 1..6 plus a null id; production lacks 2 and 5, adds 9 and 8, repeats 3
    three times and has two null ids. Lost: 2 rows (keys 2, 5); extra: 2 (8, 9); production
    duplicates: 3 rows of 1 key, left out of matching along with the null-key rows."""
    research = pa.table({"id": [1, 2, 3, 4, 5, 6, None], "v": [1, 2, 3, 4, 5, 6, 7]})
    production = pa.table(
        {"id": [9, 3, 1, 3, 4, 6, 3, 8, None, None], "v": [9, 3, 1, 3, 4, 6, 3, 8, 0, 0]}
    )
    result = compare(tmp_path, research, production)
    rows, keys = result.rows, result.keys
    assert keys is not None and result.join is not None
    assert (rows.lost, rows.extra, rows.lost_keys, rows.extra_keys) == (2, 2, 2, 2)
    assert [e["key"] for e in rows.lost_examples] == [2, 5]
    assert [e["key"] for e in rows.extra_examples] == [8, 9]
    assert (keys.left_null_rows, keys.right_null_rows) == (1, 2)
    assert (keys.right_duplicate_rows, keys.right_duplicate_keys) == (3, 1)
    assert keys.right_duplicate_examples == ({"key": 3, "rows": 3},)
    assert result.join.matched == 3  # keys 1, 4, 6
    assert result.row_set_differs()


def test_int_key_against_text_key_matches_as_text(tmp_path: Path) -> None:
    """Research id int64, production id string with the same values: rows match, the key
    column is named in `compared_as_text` and reported as an incompatible dtype change."""
    research = pa.table({"id": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
    production = pa.table({"id": ["3", "1", "2"], "v": [3.0, 1.0, 2.0]})
    result = compare(tmp_path, research, production)
    assert result.keys is not None and result.keys.compared_as_text == ("id",)
    assert (result.rows.lost, result.rows.extra, result.join.matched) == (0, 0, 3)  # type: ignore[union-attr]
    assert result.cells["v"].n_beyond == 0
    assert [c.kind for c in result.dtype_changes] == ["incompatible"]


def test_without_key_rows_compare_as_multisets(tmp_path: Path) -> None:
    """No key. Research rows: (1,a) twice, (2,b), (3,c); production: (1,a) once, (2,b),
    (4,d) twice. Lost: one copy of (1,a) and (3,c) = 2 rows, 2 distinct; extra: 2 rows of
    (4,d), 1 distinct. Examples carry the copies on each side."""
    research = pa.table({"n": [1, 1, 2, 3], "s": ["a", "a", "b", "c"]})
    production = shuffled(pa.table({"n": [1, 2, 4, 4], "s": ["a", "b", "d", "d"]}))
    result = compare(tmp_path, research, production, key=None)
    rows = result.rows
    assert rows.by == "row" and not result.keyed and result.cells == {}
    assert (rows.lost, rows.lost_keys, rows.extra, rows.extra_keys) == (2, 2, 2, 1)
    lost = sorted((e["row"]["n"], e["research"], e["production"]) for e in rows.lost_examples)
    assert lost == [(1, 2, 1), (3, 1, 0)]
    assert [(e["row"], e["production"]) for e in rows.extra_examples] == [({"n": 4, "s": "d"}, 2)]


def test_rename_guess_needs_telling_content(tmp_path: Path) -> None:
    """Research's a (1, 2, 3) is production's b; research's c and production's d are both all
    null and e/f both constant 7: only a -> b is named (null or constant columns match anything)."""
    research = pa.table(
        {"id": [1, 2, 3], "a": [1, 2, 3], "c": pa.nulls(3, pa.int64()), "e": [7, 7, 7]}
    )
    production = pa.table(
        {"id": [1, 2, 3], "b": [1, 2, 3], "d": pa.nulls(3, pa.int64()), "f": [7, 7, 7]}
    )
    assert compare(tmp_path, research, production).renamed == {"a": "b"}


def test_key_absent_on_one_side_falls_back_to_multiset(tmp_path: Path) -> None:
    """Production renamed id to app_id: no usable key, `key_problem` says which side lacks it."""
    research = pa.table({"id": [1, 2], "v": [1, 2]})
    production = pa.table({"app_id": [1, 2], "v": [1, 2]})
    result = compare(tmp_path, research, production)
    assert not result.keyed and result.key_problem == "production lacks key column(s) id"
    assert result.renamed == {"id": "app_id"}
    assert (result.missing_columns, result.extra_columns) == (("id",), ("app_id",))


# --------------------------------------------------------------------------- odds and ends


def test_ignored_columns_are_never_compared(tmp_path: Path) -> None:
    """`ingested_at` differs on every row and production adds `batch`; both ignored: identical."""
    research = pa.table({"id": [1, 2], "v": [1, 2], "ingested_at": [1, 2]})
    production = pa.table({"id": [1, 2], "v": [1, 2], "ingested_at": [8, 9], "batch": [0, 0]})
    result = compare(tmp_path, research, production, ignore=["ingested_at", "batch"])
    assert result.identical and result.extra_columns == ()


def test_unchanged_columns_skip_statistics(tmp_path: Path) -> None:
    """Only v changes; u keeps its values: u's StatsComparison is `identical` without stats."""
    research = pa.table({"id": [1, 2, 3], "u": [1.0, 2.0, 3.0], "v": [1.0, 2.0, 3.0]})
    production = pa.table({"id": [1, 2, 3], "u": [1.0, 2.0, 3.0], "v": [1.0, 2.0, 9.0]})
    result = compare(tmp_path, research, production)
    assert result.stats["u"].identical and result.stats["u"].left is None
    assert {d.stat for d in result.stats["v"].differences} >= {"max", "mean", "sum"}


def test_result_is_memoised(tmp_path: Path) -> None:
    research = pa.table({"id": [1], "v": [1]})
    engine = engine_for(tmp_path, research, research)
    config = engine.checklist.stages.data_reproducibility
    first = compare_tables(engine, "research.raw.t", "production.raw.t", config)
    assert compare_tables(engine, "research.raw.t", "production.raw.t", config) is first


def test_empty_all_null_and_nested_columns(tmp_path: Path) -> None:
    """Zero rows on both sides: identical. All-null column against values: every cell a null
    on one side. A list column: listed as uncomparable, nothing crashes."""
    empty = pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.float64())})
    assert compare(tmp_path, empty, empty).identical
    research = pa.table({"id": [1, 2], "v": pa.nulls(2, pa.float64()), "l": [[1], [2]]})
    production = pa.table({"id": [1, 2], "v": [1.0, 2.0], "l": [[1], [3]]})
    result = compare(tmp_path, research, production)
    assert len(result.cells["v"].left_null_only) == 2 and result.cells["v"].n_beyond == 2
    assert "l" in result.uncomparable and "l" not in result.cells


def test_finite_against_infinity_is_a_difference_with_relative_tolerance() -> None:
    """Research 2.0 / 5.0 became +inf / -inf in production (division by an imputed 0): with
    rtol > 0, |2 - inf| <= rtol * inf would hold arithmetically; it must still count as a difference."""
    research = np.array([2.0, 5.0, np.inf, 1.0])
    production = np.array([np.inf, -np.inf, np.inf, 1.0 + 1e-12])
    assert within_tolerance(research, production, 1e-7, 1e-9).tolist() == [False, False, True, True]
    assert within_tolerance(production, research, 1e-7, 1e-9).tolist() == [False, False, True, True]


def test_integers_beyond_two_to_the_53_compare_exactly(tmp_path: Path) -> None:
    """Defect: int columns against float or uint64 columns were cast to float64 in safe mode, so
    any integer above 2**53 crashed every stage-1 check; uint64 against int64 went through
    float64, where 2**60 + 1 and 2**60 + 3 are equal. Planted: h uint64 2**60 + 1 -> int64
    2**60 + 3 on key 1 (a difference of 2); u uint64 2**63 + 5 -> int64 -(2**63) + 5 on key 2
    (the same 64 bits, different numbers); f int64 2**60 + 1 -> float64 2**60 (the nearest
    float, so equal as floats)."""
    ids = pa.array([1, 2, 3])
    research = pa.table(
        {
            "id": ids,
            "h": pa.array([2**60 + 1, 5, 6], pa.uint64()),
            "u": pa.array([7, 2**63 + 5, 8], pa.uint64()),
            "f": pa.array([2**60 + 1, 5, 6], pa.int64()),
        }
    )
    production = pa.table(
        {
            "id": ids,
            "h": pa.array([2**60 + 3, 5, 6], pa.int64()),
            "u": pa.array([7, -(2**63) + 5, 8], pa.int64()),
            "f": pa.array([float(2**60), 5.0, 6.0]),
        }
    )
    result = compare(tmp_path, research, production)
    h, u, f = result.cells["h"], result.cells["u"], result.cells["f"]
    assert h.beyond.tolist() == [0] and h.max_abs_diff == 2.0
    assert u.beyond.tolist() == [1] and u.max_abs_diff == float(2**64)
    assert f.n_beyond == 0 and f.n_noise == 0
    # min is 5 on both sides; the float64 sum/mean/std cannot see a difference of 2 at 2**60
    assert {d.stat for d in result.stats["h"].differences} == {"max", "top"}
    assert {c.column: c.kind for c in result.dtype_changes}["f"] == "precision_loss"


def test_dictionary_encoded_keys_sort_group_and_show_as_values(tmp_path: Path) -> None:
    """Defect: a dictionary-typed key (a pandas categorical id) crashed every stage-1 check when
    keys were grouped or sorted for examples. Research ids a, b, b, d, c (b duplicated) and
    production c, a, e, b, b as categoricals with their own dictionaries: d lost, e extra, b
    duplicated on both sides, x of c changed 5 -> 9; examples show plain values in key order."""
    research = pa.table({"id": pa.array(list("abbdc")).dictionary_encode(), "x": [1, 2, 3, 4, 5]})
    production = pa.table({"id": pa.array(list("caebb")).dictionary_encode(), "x": [9, 1, 7, 2, 3]})
    result = compare(tmp_path, research, production)
    assert result.rows.lost_examples == ({"key": "d", "rows": 1},)
    assert result.rows.extra_examples == ({"key": "e", "rows": 1},)
    assert result.keys is not None and result.keys.left_duplicate_examples == (
        {"key": "b", "rows": 2},
    )
    assert result.cells["x"].examples == ({"key": "c", "research": 5, "production": 9},)
    assert result.excluded_rows is not None and result.excluded_rows.lost == 0
