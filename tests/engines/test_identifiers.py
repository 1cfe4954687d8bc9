"""Column names an engine's SQL cannot spell (engines/duck.py `quoted`): DuckDB has no identifier
for an empty name, so a question about such a column raises `Unsupported` (the caller falls back
to reading the table) instead of a parser error that crashed the checks; every other column of
the same relation is still answered. Spark spells the empty name (``) and answers."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

from mlcheck.engines import AggregateEngine, duck
from mlcheck.engines.base import Unsupported

# Defect: the second column's name is empty (a CSV header `a,,b`).
UNNAMED = pa.table({"a": [1, 2, 2], "": [3, 4, 5], "b": ["x", "y", "y"]})


def test_duckdb_quoted_refuses_the_empty_name() -> None:
    with pytest.raises(Unsupported, match="empty"):
        duck.quoted("")


def test_duckdb_quoted_doubles_quotes() -> None:
    """No defect: any non-empty name is spelled, quotes doubled."""
    assert duck.quoted('a "b"') == '"a ""b"""'


def test_other_columns_are_answered_beside_an_unnamed_one(
    engine: AggregateEngine, register: Callable[[str, pa.Table], str]
) -> None:
    name = register("t", UNNAMED)
    assert engine.num_rows(name) == 3
    counts = engine.counts(name, ["a", "b"])
    assert counts["a"].column("n").to_pylist() == [1, 2]
    assert counts["b"].column("v").to_pylist() == ["x", "y"]


def test_the_unnamed_column_is_unsupported_or_answered(
    engine: AggregateEngine, register: Callable[[str, pa.Table], str]
) -> None:
    name = register("t", UNNAMED)
    if engine.name == "duckdb":
        with pytest.raises(Unsupported):
            engine.counts(name, [""])
    else:
        assert engine.counts(name, [""])[""].column("v").to_pylist() == [3, 4, 5]
