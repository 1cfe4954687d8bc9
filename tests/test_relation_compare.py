"""`compare_relations` (the aggregate seam) against `compare_tables` (the in-memory engine,
the reference): the same comparison for each defect below, asked of the engine instead."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import mlcheck.relation_compare as rc
from mlcheck.checklist import load_checklist
from mlcheck.compare import compare_tables
from mlcheck.engine import LocalEngine

N = 200
BASE = pa.table(
    {
        "id": np.arange(N, dtype=np.int64),
        "x": np.linspace(-1.0, 1.0, N),
        "n": pa.array([None if i % 7 == 0 else float(i) for i in range(N)]),
        "s": pa.array([f"v{i % 13}" for i in range(N)]).dictionary_encode(),
        "t": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) for i in range(N)]),
        "k": np.arange(N, dtype=np.int32) % 5,
    }
)


def engine_for(tmp_path: Path, research: pa.Table, production: pa.Table, key: Any = "id") -> Any:
    doc: dict[str, Any] = {"version": 1, "research": {"raw": {}}, "production": {"raw": {}}}
    for side, table in (("research", research), ("production", production)):
        pq.write_table(table, tmp_path / f"{side}.parquet")
        doc[side]["raw"]["t"] = {"path": f"{side}.parquet"}
    if key:
        doc["key"] = key
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return LocalEngine(load_checklist(path))


@dataclasses.dataclass(frozen=True)
class Config:
    rtol: float = 1e-9
    atol: float = 0.0
    examples: int = 10


def both(tmp_path: Path, research: pa.Table, production: pa.Table, **kw: Any) -> Any:
    engine = engine_for(tmp_path, research, production, **kw)
    slots = ("research.raw.t", "production.raw.t")
    seam = rc.compare_relations(engine, *slots, Config())
    reference = rc.from_tables(compare_tables(engine, *slots, Config()))
    return seam, reference


def assert_same(seam: Any, reference: Any, *, multiset_examples: bool = True) -> None:
    for f in dataclasses.fields(rc.RelationComparison):
        a, b = getattr(seam, f.name), getattr(reference, f.name)
        if f.name in ("rows", "excluded_rows") and a is not None and a.by == "row":
            # Row examples are sorted by value on the seam, by hash in memory: same set.
            assert (a.lost, a.extra, a.lost_keys, a.extra_keys) == (
                b.lost, b.extra, b.lost_keys, b.extra_keys
            )  # fmt: skip
            if multiset_examples:
                key = lambda e: repr(sorted(e["row"].items()))  # noqa: E731
                assert sorted(a.lost_examples, key=key) == sorted(b.lost_examples, key=key)
                assert sorted(a.extra_examples, key=key) == sorted(b.extra_examples, key=key)
            continue
        if f.name == "stats":
            b = {c: unshown_distinct(seam, c, s) for c, s in b.items()}
            # Float sums: exact on the engine, numpy's sorted sum in memory (last digits).
            assert close(
                {k: dataclasses.asdict(v) for k, v in a.items()},
                {k: dataclasses.asdict(v) for k, v in b.items()},
            ), f.name
        else:
            assert a == b, f.name


def unshown_distinct(seam: Any, column: str, stats: Any) -> Any:
    """The reference's statistics as the seam asks them: a float column's distinct count is
    left out where the report shows only the differing statistics (`explains`)."""
    if stats.kind != "float" or stats.left is None or not seam.explains(column):
        return stats
    left, right = (dataclasses.replace(s, distinct=None) for s in (stats.left, stats.right))
    return dataclasses.replace(stats, left=left, right=right)


def close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True)
    return bool(a == b)


@pytest.fixture(autouse=True)
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seam answers itself here: falling back to compare_tables would prove nothing."""
    real = rc.compare_tables
    calls: list[Any] = []

    def fallback(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(rc, "compare_tables", fallback)
    yield
    assert not calls, "the seam fell back to the in-memory engine"


def test_identical_content_in_another_order(tmp_path: Path) -> None:
    """Rows reversed: identical fingerprints, the same digits as the in-memory engine's."""
    seam, reference = both(tmp_path, BASE, BASE.take(np.arange(N)[::-1]))
    assert seam.identical and seam.left_fingerprint == seam.right_fingerprint
    assert_same(seam, reference)


def test_lost_rows_changed_cells_retyped_columns(tmp_path: Path) -> None:
    """Rows 3 and 150 lost; x of rows 11-15 scaled; n null on row 22; t in ms and k int32 ->
    int8 (narrowing: every value survives); s as plain text; a column renamed."""
    production = BASE.filter(pa.array([i not in (3, 150) for i in range(N)]))
    x = production.column("x").to_numpy().copy()
    x[10:15] *= 1.5
    n = production.column("n").to_pylist()
    n[21] = None  # row 22
    production = (
        production.set_column(1, "x", pa.array(x))
        .set_column(2, "n", pa.array(n))
        .set_column(3, "s", production.column("s").cast(pa.string()))
        .set_column(4, "t", production.column("t").cast(pa.timestamp("ms")))
        .set_column(5, "k", production.column("k").cast(pa.int8()))
        .append_column("extra", pa.array(np.ones(N - 2)))
    )
    research = BASE.append_column("old", pa.array(np.arange(N) * 3.0))
    production = production.append_column(
        "new", pa.array(np.arange(N)[[i not in (3, 150) for i in range(N)]] * 3.0)
    )
    seam, reference = both(tmp_path, research, production)
    assert seam.rows.lost == 2 and seam.cells["x"].beyond == 5 and seam.cells["n"].beyond == 1
    assert {c.column: c.kind for c in seam.dtype_changes} == {"k": "narrowing", "t": "narrowing"}
    assert_same(seam, reference)


def test_rename_guess_and_precision_loss(tmp_path: Path) -> None:
    """x renamed to x2 (same values), n float64 -> float32 with values that round."""
    production = BASE.rename_columns(["id", "x2", "n", "s", "t", "k"])
    production = production.set_column(2, "n", production.column("n").cast(pa.float32()))
    research = BASE.set_column(2, "n", pa.array([None if i % 7 == 0 else i / 10 for i in range(N)]))
    production = production.set_column(2, "n", research.column("n").cast(pa.float32()))
    seam, reference = both(tmp_path, research, production)
    assert seam.renamed == {"x": "x2"}
    assert [(c.column, c.kind) for c in seam.dtype_changes] == [("n", "precision_loss")]
    assert_same(seam, reference)


def test_keys_typed_differently_and_shared_duplicates(tmp_path: Path) -> None:
    """Production writes id as text; both sides repeat id 5 and have a null id, production
    changed x on one of those rows: compared whole, as a multiset."""
    ids = pa.array([None if i == 7 else (5 if i == 6 else i) for i in range(N)], pa.int64())
    research = BASE.set_column(0, "id", ids)
    x = research.column("x").to_numpy().copy()
    x[6] = 42.0
    production = research.set_column(0, "id", ids.cast(pa.string())).set_column(1, "x", pa.array(x))
    seam, reference = both(tmp_path, research, production)
    assert seam.keys is not None and seam.keys.compared_as_text == ("id",)
    assert seam.keys.left_duplicate_rows == 2 and seam.keys.left_null_rows == 1
    assert seam.excluded_rows is not None and seam.excluded_rows.lost == 1
    # Example keys show in the type the keys were matched in (text), not research's.
    assert seam.keys.left_duplicate_examples == ({"key": "5", "rows": 2},)
    assert reference.keys.left_duplicate_examples == ({"key": 5, "rows": 2},)
    keys = dataclasses.replace(
        seam.keys,
        left_duplicate_examples=({"key": 5, "rows": 2},),
        right_duplicate_examples=reference.keys.right_duplicate_examples,
    )
    assert_same(dataclasses.replace(seam, keys=keys), reference, multiset_examples=False)


def test_without_a_key_rows_are_a_multiset(tmp_path: Path) -> None:
    """No key: row 0 duplicated in production, row 1 lost."""
    production = pa.concat_tables([BASE.slice(0, 1), BASE.slice(0, 1), BASE.slice(2)])
    seam, reference = both(tmp_path, BASE, production, key=None)
    assert (seam.rows.by, seam.rows.lost, seam.rows.extra) == ("row", 1, 1)
    assert_same(seam, reference)


def test_durations_fall_back_with_the_same_report(tmp_path: Path, monkeypatch: Any) -> None:
    """A duration column (DuckDB holds it as an interval): the in-memory engine answers."""
    monkeypatch.undo()  # this test expects the fallback
    table = BASE.append_column("d", pa.array(np.arange(N), pa.duration("s")))
    engine = engine_for(tmp_path, table, table.slice(1))
    seam = rc.compare_relations(engine, "research.raw.t", "production.raw.t", Config())
    assert seam.rows.lost == 1 and "d" in seam.compared_columns


def test_pair_digests_spare_unchanged_columns_not_swapped_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows reversed; x of ids 0 and 1 swapped (x's values are the same multiset, its pairs are
    not) and n changed on id 9: only x and n are asked cell by cell; the others are proved
    equal by their (key, value) pair digests, with the same answer as the reference."""
    x = BASE.column("x").to_numpy().copy()
    x[[0, 1]] = x[[1, 0]]
    n = BASE.column("n").to_pylist()
    n[9] = 1e6
    production = BASE.set_column(1, "x", pa.array(x)).set_column(2, "n", pa.array(n))
    engine = engine_for(tmp_path, BASE, production.take(np.arange(N)[::-1]))
    asked: list[tuple[str, ...]] = []
    real = engine.aggregate.key_comparison

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(tuple(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.aggregate, "key_comparison", spy)
    slots = ("research.raw.t", "production.raw.t")
    seam = rc.compare_relations(engine, *slots, Config())
    assert asked == [("x", "n")]
    assert seam.cells["x"].beyond == 2 and seam.cells["n"].beyond == 1
    assert seam.cells["s"].compared == N and seam.cells["s"].beyond == 0
    monkeypatch.undo()
    reference = rc.from_tables(compare_tables(engine, *slots, Config()))
    assert_same(seam, reference)
