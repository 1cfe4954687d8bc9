"""Column names an engine's SQL cannot spell (engines/duck.py `quoted`). DuckDB has no identifier
for an empty name and scans such an Arrow column as `v<position>`, renaming a real column of that
name: the empty name is registered under a stand-in, so every question about it (and about the
real `v1`) is answered as on Spark, which spells `` itself. Parquet holding an empty name is
Unsupported on DuckDB (its reader calls it `C<position>`): the caller registers the reader's
Arrow table instead (LocalEngine.relation)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.engines import AggregateEngine, duck
from mlcheck.engines.base import Unsupported

# Defect: the second column's name is empty (a CSV header `v1,,b`); `v1` is the name DuckDB
# would have given the empty one.
UNNAMED = pa.table({"v1": [1, 2, 2], "": [3, 4, 5], "b": ["x", "y", "y"]})


def test_quoted_spells_every_name() -> None:
    """No defect: quotes doubled; the empty name becomes the stand-in, never `""`."""
    assert duck.quoted('a "b"') == '"a ""b"""'
    assert duck.quoted("") == '"' + duck.EMPTY_NAME + '"'


def test_every_column_is_answered_beside_an_unnamed_one(engine: AggregateEngine) -> None:
    engine.register("t", UNNAMED)
    name = "t"
    assert engine.schema(name).names == ["v1", "", "b"]
    assert engine.num_rows(name) == 3
    counts = engine.counts(name, ["v1", "", "b"])
    assert counts["v1"].column("v").to_pylist() == [1, 2]  # the real v1, not the unnamed one
    assert counts["v1"].column("n").to_pylist() == [1, 2]
    assert counts[""].column("v").to_pylist() == [3, 4, 5]
    assert counts["b"].column("v").to_pylist() == ["x", "y"]


def test_a_join_keeps_the_empty_name(engine: AggregateEngine) -> None:
    """A relation the engine builds (a join) names the column "" in its schema too."""
    name = "t"
    engine.register(name, UNNAMED.append_column("id", pa.array([1, 2, 3])))
    engine.register("other", pa.table({"id": [1, 2, 3], "y": [0, 1, 0]}))
    engine.register_join("joined", name, "other", ["id"])
    assert "" in engine.schema("joined").names
    assert engine.counts("joined", [""])[""].column("v").to_pylist() == [3, 4, 5]


def test_a_table_holding_the_stand_in_too_is_unsupported() -> None:
    """Defect: a column named like the stand-in beside an empty name (ambiguous)."""
    engine = duck.DuckDBEngine()
    both = pa.table({"": [1], duck.EMPTY_NAME: [2]})
    with pytest.raises(Unsupported):
        engine.register("t", both)


def test_duckdb_refuses_parquet_with_an_empty_name(tmp_path: Path) -> None:
    """Defect: the parquet file itself holds the empty name; read in place it would be `C1`."""
    path = tmp_path / "unnamed.parquet"
    pq.write_table(UNNAMED, path)
    with pytest.raises(Unsupported, match="empty column name"):
        duck.DuckDBEngine().register("t", path)


# Defect: two columns whose names differ only in case; DuckDB binds "INCOME" to `income`.
CASED = pa.table({"income": [1.0, 2.0], "INCOME": [10.0, 20.0], "Income": [5.0, 6.0]})


def test_duckdb_tells_apart_names_differing_in_case(tmp_path: Path) -> None:
    """Each name is registered under an identifier of its own (`duck.identifier`), and the
    answers name the columns as the table does."""
    engine = duck.DuckDBEngine()
    engine.register("arrow", CASED)
    assert engine.schema("arrow").names == CASED.column_names
    for name in CASED.column_names:
        got = engine.counts("arrow", [name])[name].column("v").to_pylist()
        assert got == CASED.column(name).to_pylist()


def test_duckdb_parquet_with_names_differing_in_case_is_unsupported(tmp_path: Path) -> None:
    """DuckDB's own parquet scan renames the second name (`INCOME_1`): the caller falls back
    to the reader's Arrow table, which the test above shows apart."""
    pq.write_table(CASED, tmp_path / "cased.parquet")
    with pytest.raises(Unsupported, match="renames"):
        duck.DuckDBEngine().register("parquet", tmp_path / "cased.parquet")


def test_duckdb_refuses_a_name_spelled_like_another_names_identifier() -> None:
    """Defect: `income (mlcheck case 3f)` beside `INCOME` would be one identifier to DuckDB."""
    clash = pa.table({"INCOME": [1], duck.identifier("INCOME").lower(): [2]})
    with pytest.raises(Unsupported, match="differing in case"):
        duck.DuckDBEngine().register("t", clash)


def test_identifiers_decode_to_their_names() -> None:
    for name in ["", "a", "Age", "AGE", "x (mlcheck case 1)", "É", "a\nB"]:
        assert duck._decoded(duck.identifier(name)) == name
    assert len({duck.identifier(n).lower() for n in ["age", "Age", "AGE", "aGe"]}) == 4


def test_duckdb_tells_apart_non_ascii_case() -> None:
    """No defect: DuckDB folds ASCII letters only, so `é` and `É` are two columns to it."""
    engine = duck.DuckDBEngine()
    engine.register("t", pa.table({"é": [1], "É": [2]}))
    assert engine.counts("t", ["É"])["É"].column("v").to_pylist() == [2]
