"""`cell_causes` on a table wider than one screening statement: DuckDB screens it unpivoted
(one comparison per kind, `causes._unpivoted_screen`) and materializes only the differing
columns; the answer must be the one the side-by-side screen gives, and the hand count.
DuckDB only: Spark keeps the side-by-side screen (its local test session ran out of heap on
these 340 columns)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.engines import AggregateEngine, EngineSettings, duck, make_engine
from mlcheck.engines.base import Tolerance
from mlcheck.engines.causes import CauseRule

TOL = Tolerance(rtol=1e-7, atol=1e-9)
ROWS = 12
START = datetime(2024, 1, 1)


def _wide_pairs() -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Ids 0..11, production in reverse order, 300 float, 20 integer, 10 text and 10 timestamp
    columns. Differing cells by construction (the returned counts): f7 in ids 3 and 5 (one of
    them a null in production), f299 in id 0 (NaN in research, 1.0 in production), i4 in id 11,
    t2 in id 6 (null in research), ts9 in id 1 (one second later). Id 2 is twice in research
    (not a matched pair), so its changed f100 is not a cell difference. f50 holds NaN on both
    sides of id 4 and -0.0 against 0.0 in id 8: equal."""
    ids = list(range(ROWS))
    left: dict[str, list[Any]] = {"id": ids}
    left |= {f"f{j}": [float(j * 100 + r) for r in ids] for j in range(300)}
    left |= {f"i{j}": [j * 1000 + r for r in ids] for j in range(20)}
    left |= {f"t{j}": [f"v{j}-{r}" for r in ids] for j in range(10)}
    left |= {f"ts{j}": [START + timedelta(days=r, hours=j) for r in ids] for j in range(10)}
    right = {c: list(v) for c, v in left.items()}
    right["f7"][3], right["f7"][5] = 1e9, None
    left["f299"][0], right["f299"][0] = float("nan"), 1.0
    right["i4"][11] = -1
    left["t2"][6] = None
    right["ts9"][1] = START + timedelta(days=1, hours=9, seconds=1)
    left["f50"][4] = right["f50"][4] = float("nan")
    left["f50"][8], right["f50"][8] = -0.0, 0.0
    research = pa.table(left)
    research = pa.concat_tables([research, research.slice(2, 1)])  # id 2 twice
    research = research.set_column(
        research.column_names.index("f100"),
        "f100",
        pa.array([*research.column("f100").to_pylist()[:-1], 12345.0]),
    )
    production = pa.table(right).take(pa.array(range(ROWS - 1, -1, -1)))
    return research, production, {"f7": 2, "f299": 1, "i4": 1, "t2": 1, "ts9": 1}


def _rules(table: pa.Table) -> dict[str, CauseRule]:
    kinds = {"f": "float", "i": "integer", "t": "text"}
    out = {}
    for c in table.column_names[1:]:
        kind = "temporal" if c.startswith("ts") else kinds[c[0]]
        out[c] = CauseRule(kind, precision_rtol=1e-6 if kind == "float" else None)  # type: ignore[arg-type]
    return out


@pytest.fixture
def engine() -> Iterator[AggregateEngine]:
    started = make_engine(EngineSettings("duckdb", threads=2))
    yield started
    started.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["arrow", "parquet"])
def test_wide_table_differing_cells_counted_by_hand(
    engine: AggregateEngine, tmp_path: Path, how: str
) -> None:
    research, production, expected = _wide_pairs()
    for name, table in (("l", research), ("r", production)):
        if how == "arrow":
            engine.register(name, table)
        else:
            pq.write_table(table, tmp_path / f"{name}.parquet")
            engine.register(name, tmp_path / f"{name}.parquet")
    found = engine.cell_causes("l", "r", ["id"], _rules(research), TOL, 3, 2)
    counted = {c: sum(f.counts.values()) for c, f in found.items() if f.counts}
    assert counted == expected
    assert dict(found["f7"].counts) == {"emptied": 1, "other": 1}
    assert dict(found["f299"].counts) == {"filled": 1}
    assert found["ts9"].max_abs_diff == 1.0
    assert [e["key"] for e in found["f7"].examples] == [3, 5]


@pytest.mark.parametrize("top", [0, 3])
def test_wide_screen_answers_as_the_side_by_side_screen(
    monkeypatch: pytest.MonkeyPatch, top: int
) -> None:
    research, production, _ = _wide_pairs()
    answers = []
    for unpivot in (duck._CAUSES_DIALECT.unpivot, None):
        monkeypatch.setattr(duck, "_CAUSES_DIALECT", replace(duck._CAUSES_DIALECT, unpivot=unpivot))
        engine = make_engine(EngineSettings("duckdb", threads=2))
        engine.register("l", research)
        engine.register("r", production)
        answers.append(engine.cell_causes("l", "r", ["id"], _rules(research), TOL, 5, top))
        engine.close()  # type: ignore[attr-defined]
    assert repr(answers[0]) == repr(answers[1])  # NaN examples: equal as text, not as floats
    assert sum(1 for f in answers[0].values() if f.counts) == 5
