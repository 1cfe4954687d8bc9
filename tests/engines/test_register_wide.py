"""DuckDB copies a wide parquet source of few rows into a table once (each question about a
view binds every column: ~0.15 s at 5,000 columns) and reads narrow or long ones in place; a
file read without casts is created straight from the scan. Either way the relation holds the
reader's table: same schema, profiles, rows and count as the reader's table registered as Arrow."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_relation import assert_same_relation  # the same reader-equality test

from mlcheck.checklist import load_checklist
from mlcheck.compare import logical_type
from mlcheck.engine import LocalEngine
from mlcheck.engines import EngineSettings, duck, make_engine

WIDE = 300  # float columns beside the typed ones: past `_COPY_FROM_COLUMNS`


def table_of(width: int, casts: bool) -> pa.Table:
    """Three rows: an id, `width` float columns (a null and a NaN among them), and with `casts`
    millisecond and second timestamps, which DuckDB reads under another type (so the view or
    table is made with casts)."""
    columns: dict[str, pa.Array] = {"id": pa.array([3, 1, 2], pa.int64())}
    columns |= {f"x{j}": pa.array([j + 0.5, None, float("nan")]) for j in range(width)}
    columns["Label"] = pa.array(["b", "a", None]).dictionary_encode()
    if casts:
        columns["millis"] = pa.array([1_000, None, 3], pa.timestamp("ms"))
        columns["seconds"] = pa.array([0, 1, None], pa.timestamp("s"))
    return pa.table(columns)


def relation_kind(local: LocalEngine, slot: str) -> str:
    """'BASE TABLE' (copied) or 'VIEW' (read in place)."""
    agg = local.aggregate
    view = agg._view(local.relation(slot))  # type: ignore[attr-defined]
    found = agg._rows(  # type: ignore[attr-defined]
        "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [view]
    )
    return str(found[0][0])


def registered(tmp_path: Path, table: pa.Table) -> LocalEngine:
    pq.write_table(table, tmp_path / "f.parquet")
    path = tmp_path / "c.yaml"
    doc = {"version": 1, "key": "id", "research": {"features": {"path": "f.parquet"}}}
    path.write_text(yaml.safe_dump({**doc, "production": {}}), encoding="utf-8")
    engine = make_engine(EngineSettings("duckdb", threads=2))
    return LocalEngine(load_checklist(path), aggregate_engine=engine)


def assert_reader_table(local: LocalEngine, slot: str) -> None:
    """`assert_same_relation` (schema, profiles, whole rows) of the fixture's three rows."""
    assert_same_relation(local, slot)
    assert local.aggregate.num_rows(local.relation(slot)) == 3


@pytest.mark.parametrize("casts", [False, True])
def test_wide_and_short_is_copied_into_a_table(tmp_path: Path, casts: bool) -> None:
    local = registered(tmp_path, table_of(WIDE, casts))
    assert relation_kind(local, "research.features") == "BASE TABLE"
    assert_reader_table(local, "research.features")
    # copied on one thread; the engine's own setting (2) holds again afterwards
    threads = local.aggregate._rows("SELECT current_setting('threads')")  # type: ignore[attr-defined]
    assert int(threads[0][0]) == 2


@pytest.mark.parametrize("casts", [False, True])
def test_narrow_is_read_in_place(tmp_path: Path, casts: bool) -> None:
    local = registered(tmp_path, table_of(3, casts))
    assert relation_kind(local, "research.features") == "VIEW"
    assert_reader_table(local, "research.features")


def test_wide_past_the_cell_bound_is_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 rows x 302 columns = 906 cells: past a bound of 900, a view."""
    monkeypatch.setattr(duck, "_COPY_CELLS", 900)
    local = registered(tmp_path, table_of(WIDE, casts=False))
    assert relation_kind(local, "research.features") == "VIEW"
    assert_reader_table(local, "research.features")


def test_catalog_types_are_the_types_duckdb_answers_in_arrow() -> None:
    """Every catalog type name `_CATALOG_TYPES` maps is the Arrow type of DuckDB's own answer
    about such a column (the registration check reads the catalog instead of an answer)."""
    engine = make_engine(EngineSettings("duckdb", threads=1))
    names = list(duck._CATALOG_TYPES)
    items = ", ".join(f"CAST(NULL AS {t}) AS c{i}" for i, t in enumerate(names))
    engine._con.execute(f"CREATE TABLE every_type AS SELECT {items}")  # type: ignore[attr-defined]
    listed = engine._catalog_types("every_type")  # type: ignore[attr-defined]
    answered = engine._con.sql("SELECT * FROM every_type LIMIT 0").to_arrow_table().schema  # type: ignore[attr-defined]
    assert listed == list(duck._CATALOG_TYPES.values())
    assert [logical_type(t) for t in answered.types] == [logical_type(t) for t in listed]
    engine.close()  # type: ignore[attr-defined]


def test_a_type_outside_the_catalog_map_is_read_from_an_answer(tmp_path: Path) -> None:
    """A decimal column: not in `_CATALOG_TYPES`, so its type comes from an empty answer."""
    table = table_of(WIDE, casts=False).append_column(
        "price", pa.array([1, 2, None], pa.decimal128(9, 2))
    )
    local = registered(tmp_path, table)
    assert relation_kind(local, "research.features") == "BASE TABLE"
    assert_reader_table(local, "research.features")
