"""The engine's key join and value counts, checked against pandas as the reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import mlcheck.engine as engine_module
from mlcheck.checklist import load_checklist
from mlcheck.engine import (
    KeyJoin,
    LocalEngine,
    as_text,
    decoded,
    join_keys,
    key_table,
    merge_join,
    sort_key,
    value_counts,
)


def chunked(values: list[object], type_: pa.DataType | None = None) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values, type=type_)])


def reference_join(left: list[object], right: list[object]) -> set[tuple[int, int]]:
    """Pairs (left row, right row) whose key is non-null and unique on both sides, via pandas."""
    lf = pd.DataFrame({"k": pd.Series(left, dtype=object), "li": range(len(left))}).dropna(
        subset=["k"]
    )
    rf = pd.DataFrame({"k": pd.Series(right, dtype=object), "ri": range(len(right))}).dropna(
        subset=["k"]
    )
    lf = lf[~lf["k"].duplicated(keep=False)]
    rf = rf[~rf["k"].duplicated(keep=False)]
    merged = lf.merge(rf, on="k")
    return set(zip(merged["li"], merged["ri"], strict=True))


def test_join_pairs_unique_keys_and_sets_aside_duplicates_and_nulls() -> None:
    """Left keys 1,2,3,3,null,5; right keys 2,1,3,6,5,5: only 1 and 2 are unique on both sides;
    3 is duplicated on the left, 5 on the right, 6 exists only on the right, null never matches."""
    join = join_keys(("id",), [chunked([1, 2, 3, 3, None, 5])], [chunked([2, 1, 3, 6, 5, 5])])
    assert set(zip(join.left_rows, join.right_rows, strict=True)) == {(0, 1), (1, 0)}
    assert join.left_duplicate_rows.tolist() == [2, 3]
    assert join.right_duplicate_rows.tolist() == [4, 5]
    assert join.left_null_rows.tolist() == [4]
    assert join.right_only.tolist() == [3]
    assert join.left_only.tolist() == []


def test_join_compares_int_and_string_keys_as_text() -> None:
    """The key is int64 in research and text in production (a CSV export): "7" still matches 7."""
    join = join_keys(("id",), [chunked([7, 8])], [chunked(["8", "7", "9"])])
    assert set(zip(join.left_rows, join.right_rows, strict=True)) == {(0, 1), (1, 0)}
    assert join.right_only.tolist() == [2]


def test_join_on_a_composite_key() -> None:
    """(a, b) pairs: (1, x) and (2, y) match; (1, y) exists only on the left."""
    left = [chunked([1, 2, 1]), chunked(["x", "y", "y"])]
    right = [chunked([2, 1]), chunked(["y", "x"])]
    join = join_keys(("a", "b"), left, right)
    assert set(zip(join.left_rows, join.right_rows, strict=True)) == {(0, 1), (1, 0)}
    assert join.left_only.tolist() == [2]


def _pairs(left: pa.ChunkedArray, right: pa.ChunkedArray) -> set[tuple[int, int]]:
    join = join_keys(("k",), [left], [right])
    return set(zip(join.left_rows.tolist(), join.right_rows.tolist(), strict=True))


def test_keys_typed_differently_join_in_a_common_type() -> None:
    """Defect: keys typed timestamp[ns] in research and timestamp[us] in production were
    compared as text ("...00.000000000" vs "...00.000000") and never matched. The same instants
    now match in the finer unit; a date matches the timestamp at its midnight; a float id 2.0
    matches int 2 while 2.5 matches nothing; int64 2**60 + 1 never matches float 2**60 (text
    fallback, no false match); a uint64 key beyond int64 matches exactly; naive against
    zone-aware timestamps mean different things and stay apart (text)."""
    days = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    ns, us = chunked(days.tolist(), pa.timestamp("ns")), chunked(days, pa.timestamp("us"))
    assert _pairs(ns, us[::-1]) == {(0, 1), (1, 0)}
    dates = chunked([dt.date(2024, 1, 2)], pa.date32())
    assert _pairs(dates, chunked(days, pa.timestamp("ms"))) == {(0, 1)}
    assert _pairs(chunked([1, 2, 3]), chunked([2.0, 2.5, 1.0])) == {(0, 2), (1, 0)}
    assert _pairs(chunked([2**60 + 1]), chunked([float(2**60)])) == set()
    assert _pairs(chunked([2**63 + 1, 5], pa.uint64()), chunked([5, 7])) == {(1, 0)}
    assert _pairs(chunked([2**63 + 1], pa.uint64()), chunked([-1, 7])) == set()
    aware = chunked(days, pa.timestamp("us", tz="UTC"))
    assert _pairs(us, aware) == set()


def test_key_table_decodes_dictionary_keys_of_the_rows_asked() -> None:
    """A categorical id column (dictionary) comes back as plain strings, only rows 2 and 0, in
    that order, and sorts by value (Arrow cannot sort a dictionary column)."""
    table = pa.table({"id": pa.array(list("cab")).dictionary_encode(), "n": [1, 2, 3]})
    keys = key_table(table, ["id", "n"], np.array([2, 0]))
    assert keys.schema.types == [pa.string(), pa.int64()]
    assert keys.to_pylist() == [{"id": "b", "n": 3}, {"id": "c", "n": 1}]
    assert key_table(table, ["id"]).sort_by("id").column("id").to_pylist() == ["a", "b", "c"]


def test_as_text_decodes_dictionaries_and_keeps_the_container() -> None:
    """The one text conversion stages share: a categorical of ints (2, 7, 2) becomes the plain
    strings "2", "7", "2" (not its indices), an Array stays an Array, a ChunkedArray a
    ChunkedArray; `decoded` leaves a non-dictionary column as it is."""
    categorical = pa.array([2, 7, 2]).dictionary_encode()
    assert as_text(categorical).to_pylist() == ["2", "7", "2"]
    assert isinstance(as_text(categorical), pa.Array)
    chunks = pa.chunked_array([categorical])
    assert isinstance(as_text(chunks), pa.ChunkedArray) and as_text(chunks).type == pa.string()
    plain = chunked([1.5])
    assert decoded(plain) is plain


# --------------------------------------------------------------------------- slots of a checklist


def engine_over(tmp_path: Path, doc: dict[str, Any], tables: dict[str, pa.Table]) -> LocalEngine:
    """An engine over a checklist `doc` whose sources are these tables written as parquet."""
    for name, table in tables.items():
        pq.write_table(table, tmp_path / name)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"version": 1, **doc}), encoding="utf-8")
    return LocalEngine(load_checklist(tmp_path / "c.yaml"))


def test_split_mapping_takes_the_key_its_files_declare(tmp_path: Path) -> None:
    """Defect: a splits mapping whose every file declares `key: id` (no top-level key) had no
    key, so the split stage stopped with an input error. Research's files agree on `id`; the
    production files disagree (id vs row), so production falls back to the checklist's (none)."""
    table = pa.table({"id": [1, 2], "row": [0, 1]})
    doc = {
        "research": {"splits": {s: {"path": "t.parquet", "key": "id"} for s in ("a", "b")}},
        "production": {
            "splits": {"a": {"path": "t.parquet", "key": "id"}, "b": {"path": "t.parquet"}}
        },
    }
    engine = engine_over(tmp_path, doc, {"t.parquet": table})
    assert engine.key("research.splits") == ["id"]
    assert engine.key("production.splits") is None


def test_split_mapping_labels_each_row_with_its_file(tmp_path: Path) -> None:
    """The split column of a mapping (now built by Arrow, not a Python list per row): train.parquet
    holds ids 1-3, test.parquet ids 4-5 with a stale `split` column (replaced), and empty.parquet
    no rows: ids 1-3 labelled train and 4-5 test, typed string."""
    tables = {
        "train.parquet": pa.table({"id": [1, 2, 3]}),
        "test.parquet": pa.table({"id": [4, 5], "split": ["x", "y"]}),
        "empty.parquet": pa.table({"id": pa.array([], pa.int64())}),
    }
    mapping = {name.split(".")[0]: {"path": name} for name in tables}
    doc = {"key": "id", "research": {"splits": mapping}, "production": {"splits": mapping}}
    table = engine_over(tmp_path, doc, tables).table("research.splits")
    assert table.schema.field("split").type == pa.string()
    ids, splits = table.column("id").to_pylist(), table.column("split").to_pylist()
    labels = dict(zip(ids, splits, strict=True))
    assert labels == {1: "train", 2: "train", 3: "train", 4: "test", 5: "test"}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 12)), max_size=30),
    st.lists(st.one_of(st.none(), st.integers(0, 12)), max_size=30),
)
def test_join_matches_pandas(left: list[int | None], right: list[int | None]) -> None:
    if not left or not right:
        return
    join = join_keys(("k",), [chunked(left, pa.int64())], [chunked(right, pa.int64())])
    assert set(
        zip(join.left_rows.tolist(), join.right_rows.tolist(), strict=True)
    ) == reference_join(left, right)


@pytest.mark.parametrize("values", [["b", "a", "c", "a", "b"], ["c", "b", "a", "b", "a"]])
def test_value_counts_breaks_ties_by_value_not_row_order(values: list[str]) -> None:
    """a and b both occur twice: a comes first whatever order the rows arrive in."""
    distinct, counts = value_counts(chunked(values))
    assert distinct.to_pylist() == ["a", "b", "c"]
    assert counts.tolist() == [2, 2, 1]


def test_value_counts_matches_pandas_and_skips_nulls() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 500).astype(float)
    values[::17] = np.nan
    distinct, counts = value_counts(pa.chunked_array([pa.array(values, from_pandas=True)]))
    expected = pd.Series(values).value_counts()
    assert dict(zip(distinct.to_pylist(), counts.tolist(), strict=True)) == expected.to_dict()
    assert counts.tolist() == sorted(counts.tolist(), reverse=True)


def test_join_when_every_key_on_one_side_is_null() -> None:
    """Production keys are all null: nothing matches, every research row is lost, nothing crashes."""
    join = join_keys(("id",), [chunked([1, 2])], [chunked([None, None], pa.int64())])
    assert join.matched == 0
    assert join.left_only.tolist() == [0, 1]
    assert join.right_null_rows.tolist() == [0, 1]


# --------------------------------------------------------------------------- merge join fast path


def _fields(join: KeyJoin) -> dict[str, list[int]]:
    names = ("left_rows", "right_rows", "left_only", "right_only")
    names += ("left_duplicate_rows", "right_duplicate_rows", "left_null_rows", "right_null_rows")
    return {name: getattr(join, name).tolist() for name in names}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(-3, 12), max_size=30),
    st.lists(st.integers(-3, 12), max_size=30),
    st.booleans(),
)
def test_merge_join_equals_the_general_join(
    left: list[int], right: list[int], ordered: bool
) -> None:
    """Integer keys without nulls (repeats, keys on one side, any order, or sorted when `ordered`)
    give field-for-field the same KeyJoin from the sorted merge as from the hash-code join."""
    if ordered:
        left, right = sorted(left), sorted(right)
    lcol, rcol = chunked(left, pa.int32()), chunked(right, pa.int64())
    expected = join_keys(("k",), [lcol], [rcol])
    got = merge_join(("k",), sort_key(lcol), sort_key(rcol))
    assert _fields(got) == _fields(expected)


def test_merge_join_pairs_a_shuffled_copy() -> None:
    """Production holds research's 1000 keys in another order: every row pairs with its key."""
    keys = np.arange(1000) * 7
    order = np.random.default_rng(1).permutation(1000)
    join = merge_join(
        ("k",), sort_key(chunked(keys.tolist())), sort_key(chunked(keys[order].tolist()))
    )
    assert join.left_rows.tolist() == list(range(1000))
    np.testing.assert_array_equal(keys[order][join.right_rows], keys)
    assert join.left_only.size == join.right_only.size == 0


def test_sort_key_keeps_sorted_rows_without_an_order() -> None:
    """Keys already ascending (repeats allowed) need no sort; descending keys get their order."""
    assert sort_key(chunked([1, 2, 2, 5])).order is None
    shuffled = sort_key(chunked([5, 1, 3]))
    assert shuffled.values.tolist() == [1, 3, 5] and shuffled.order.tolist() == [1, 2, 0]


@pytest.mark.parametrize(
    ("keys", "by_slot"),
    [
        (np.random.default_rng(2).permutation(5000), True),  # row ids 0..n-1 shuffled
        (np.random.default_rng(3).permutation(5000) - 7919, True),  # negative ids
        (np.random.default_rng(4).permutation(4000)[:2000] + 2**62, True),  # gaps, big ids
        (np.array([4, 2, 4, 1, 3, 0]), False),  # a repeat: sorted instead
        (np.array([2**40, 5, -(2**50), 7]), False),  # too wide a range for slots: sorted
    ],
)
def test_sort_key_orders_unique_dense_keys_as_a_sort_does(keys: np.ndarray, by_slot: bool) -> None:
    """Unique keys in a narrow range are placed by slot rather than sorted: the same values
    and, as unique keys have one order, the very order a sort gives."""
    assert (engine_module._dense_sort(keys) is not None) == by_slot
    got = sort_key(chunked(keys.tolist()))
    assert got.order is not None
    np.testing.assert_array_equal(got.values, np.sort(keys))
    np.testing.assert_array_equal(keys[got.order], got.values)
    if by_slot:
        np.testing.assert_array_equal(got.order, np.argsort(keys, kind="stable"))


def test_int64_values_and_arrays_convert_without_arrow_to_numpy() -> None:
    """Keys read from Arrow's buffers: sliced chunks, an empty chunk, narrower ints; and row
    numbers handed back as an int64 Arrow array (read-only numpy included)."""
    column = pa.chunked_array(
        [pa.array([9, 8, 7, 6]).slice(1, 2), pa.array([], pa.int64()), pa.array([5, 4])]
    )
    assert engine_module._int64_values(column).tolist() == [8, 7, 5, 4]
    narrow = pa.chunked_array([pa.array([3, -1], pa.int8())])
    assert engine_module._int64_values(narrow).tolist() == [3, -1]
    assert engine_module._int64_values(pa.chunked_array([], pa.int64())).tolist() == []
    rows = np.arange(10)[::3]
    rows.flags.writeable = False
    array = engine_module.int64_array(rows)
    assert array.type == pa.int64() and array.to_pylist() == [0, 3, 6, 9]
    assert engine_module.int64_array(np.zeros(0, np.int32)).to_pylist() == []


def test_aligned_only_when_every_row_pairs_with_its_own_position() -> None:
    """Same keys in the same order: aligned. Shuffled, a key missing or repeated: not."""
    keys = chunked([3, 1, 2])
    assert merge_join(("k",), sort_key(keys), sort_key(chunked([3, 1, 2]))).aligned
    assert join_keys(("k",), [keys], [chunked([3, 1, 2])]).aligned
    assert not merge_join(("k",), sort_key(keys), sort_key(chunked([1, 2, 3]))).aligned
    assert not merge_join(("k",), sort_key(keys), sort_key(chunked([3, 1]))).aligned
    assert not merge_join(("k",), sort_key(keys), sort_key(chunked([3, 1, 2, 2]))).aligned


def test_release_after_forgets_only_what_no_later_stage_reads(tmp_path: Path) -> None:
    """raw.a is its own file; raw.b shares features' file. After stage 1 the raw-only table and
    every memo about raw slots are dropped, the shared file stays; asking again reads again."""
    table = pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
    for name in ("a.parquet", "f.parquet"):
        pq.write_table(table, tmp_path / name)
    side = {"raw": {"a": {"path": "a.parquet"}, "b": {"path": "f.parquet"}}}
    doc = {
        "version": 1,
        "key": "id",
        "research": {**side, "features": {"path": "f.parquet"}},
        "production": {**side, "features": {"path": "f.parquet"}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    engine = LocalEngine(load_checklist(tmp_path / "c.yaml"))
    engine.table("research.raw.a")  # a join alone reads its key columns, not the table
    join = engine.join("research.raw.a", "production.raw.a")
    features = engine.table("research.features")
    engine.table("research.raw.b")
    assert len(engine._tables) == 2  # a.parquet and f.parquet, each read once
    engine.release_after("feature_parity")  # nothing is last read by stage 2
    assert engine.join("research.raw.a", "production.raw.a") is join
    engine.release_after("data_reproducibility")
    assert not any("research.raw.a" in key or "research.raw.b" in key for key in engine._memo)
    assert len(engine._tables) == 1 and engine.table("research.features") is features
    assert engine.join("research.raw.a", "production.raw.a").matched == 3  # read again


def _hashed_value_counts(array: pa.ChunkedArray) -> tuple[list[object], list[int]]:
    """Arrow's value_counts, ordered as engine.value_counts orders (count down, then value)."""
    counts = pc.value_counts(array.drop_null())
    values = counts.field("values")
    values = values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values
    pairs = sorted(
        zip(values.to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda p: (-p[1], p[0]),
    )
    return [v for v, _ in pairs], [n for _, n in pairs]


def test_dictionary_value_counts_equal_hashed_counts() -> None:
    """Category counts by bincount of shared-dictionary codes (nulls, unused entries, several
    chunks) equal Arrow's hashed value_counts; chunks with different dictionaries, and a
    dictionary holding a value twice, take the hashing path and agree too."""
    shared = pa.array(["a", "b", "c", "d"])
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1, None, 3], pa.int32()), shared)
    second = pa.DictionaryArray.from_arrays(pa.array([1, 1, 0], pa.int32()), shared)
    other = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["x", "a"]))
    doubled = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2], pa.int32()), pa.array(["a", "a", "b"])
    )
    for chunks, fast in (([first, second], True), ([first, other], False), ([doubled], False)):
        array = pa.chunked_array(chunks)
        assert (engine_module._dictionary_counts(array) is not None) is fast
        values, counts = engine_module.value_counts(array)
        assert (values.to_pylist(), counts.tolist()) == _hashed_value_counts(array)


# ---- set operations on sorted row positions (np.union1d / np.isin without hashing)

sorted_positions = st.lists(st.integers(0, 60), max_size=40).map(
    lambda values: np.array(sorted(set(values)), dtype=np.int64)
)


@given(sorted_positions, sorted_positions)
@settings(max_examples=200, deadline=None)
def test_union_sorted_equals_numpy_union1d(a: np.ndarray, b: np.ndarray) -> None:
    merged = engine_module.union_sorted(a, b)
    assert merged.dtype == np.int64
    assert merged.tolist() == np.union1d(a, b).tolist()


@given(st.lists(st.integers(-5, 70), max_size=40), sorted_positions)
@settings(max_examples=200, deadline=None)
def test_in_sorted_equals_numpy_isin(values: list[int], members: np.ndarray) -> None:
    array = np.array(values, dtype=np.int64)
    assert engine_module.in_sorted(array, members).tolist() == np.isin(array, members).tolist()


def test_union_sorted_of_disjoint_and_overlapping_positions() -> None:
    """Hand-written: disjoint runs interleave; a shared position appears once."""
    a, b = np.array([1, 4, 9]), np.array([0, 4, 5, 10])
    assert engine_module.union_sorted(a, b).tolist() == [0, 1, 4, 5, 9, 10]
    assert engine_module.union_sorted(a, np.zeros(0, np.int64)).tolist() == [1, 4, 9]
