"""Stage 1's pair digests with a few lost or extra keys: each side's digest minus that of its
unmatched rows (handed over by DuckDB's `key_comparison`) proves a column's matched cells
equal, so only the columns that differ are compared by a join. The report is the in-memory
engine's (the reference), digit for digit."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from test_relation_compare import BASE, Config, N, assert_same, engine_for

import mlcheck.relation_compare as rc
from mlcheck.compare import Kind, compare_tables
from mlcheck.engines import EngineSettings, make_engine
from mlcheck.engines.base import Settle, Tolerance

SLOTS = ("research.raw.t", "production.raw.t")


def with_zeros_and_nans(table: pa.Table) -> pa.Table:
    """Two more columns: `z` 0.0 on even ids, `w` NaN on every third id."""
    z = [0.0 if i % 2 == 0 else float(i) for i in range(table.num_rows)]
    w = [float("nan") if i % 3 == 0 else float(i) for i in range(table.num_rows)]
    return table.append_column("z", pa.array(z)).append_column("w", pa.array(w))


def production_of(research: pa.Table) -> pa.Table:
    """Ids 3 and 150 lost, ids 1000 and 1001 added, rows reversed; x scaled on ids 11-15
    (beyond tolerance), n moved by 1e-13 relative on id 20 (within), z -0.0 for 0.0.
    (Not a column of zeros alone: a value hash of 0.0 is 0, so its digest ignores the count.)"""
    kept = research.filter(pa.array([i not in (3, 150) for i in range(N)]))
    added = research.slice(0, 2).set_column(0, "id", pa.array([1000, 1001], pa.int64()))
    production = pa.concat_tables([kept, added])
    ids = production.column("id").to_numpy()
    x = production.column("x").to_numpy().copy()
    x[(ids >= 11) & (ids <= 15)] *= 1.5
    n = production.column("n").to_pylist()
    n[int(np.flatnonzero(ids == 20)[0])] *= 1 + 1e-13
    production = production.set_column(1, "x", pa.array(x)).set_column(2, "n", pa.array(n))
    z = pc.multiply(production.column("z"), -1.0)  # -0.0 for 0.0 (and -i for the odd ids)
    z = pc.if_else(pc.equal(production.column("z"), 0.0), z, production.column("z"))
    production = production.set_column(6, "z", z)
    return production.take(np.arange(production.num_rows)[::-1])


def spied_settle(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, frozenset[str]]]:
    """Every call of the comparison's `prove`: (research rows, production rows, proven)."""
    calls: list[tuple[int, int, frozenset[str]]] = []
    real = rc._settle

    def settle(*args: Any) -> Settle:
        found = real(*args)

        def prove(left: pa.Table, right: pa.Table) -> frozenset[str]:
            proven = found.prove(left, right)
            calls.append((left.num_rows, right.num_rows, proven))
            return proven

        return dataclasses.replace(found, prove=prove)

    monkeypatch.setattr(rc, "_settle", settle)
    return calls


def test_lost_and_extra_rows_leave_unchanged_columns_proven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    research = with_zeros_and_nans(BASE)
    engine = engine_for(tmp_path, research, production_of(research))
    calls = spied_settle(monkeypatch)
    seam = rc.compare_relations(engine, *SLOTS, Config())
    # -0.0 = 0.0 and NaN = NaN hash alike: z and w are proven with s, t and k.
    assert calls == [(2, 2, frozenset({"s", "t", "k", "z", "w"}))]
    assert seam.cells["x"].beyond == 5 and seam.cells["n"].within == 1
    assert seam.cells["z"] == rc._equal_cells("z", "float", N - 2)
    assert seam.cells["w"] == rc._equal_cells("w", "float", N - 2)
    monkeypatch.undo()
    reference = rc.from_tables(compare_tables(engine, *SLOTS, Config()))
    assert_same(seam, reference)


def test_duplicated_keys_are_no_proof(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production repeats id 40's row: pairs with id 40 are set aside, nothing is settled."""
    research = with_zeros_and_nans(BASE)
    production = production_of(research)
    repeated = production.filter(pc.equal(production.column("id"), 40))
    production = pa.concat_tables([production, repeated])
    engine = engine_for(tmp_path, research, production)
    calls = spied_settle(monkeypatch)
    seam = rc.compare_relations(engine, *SLOTS, Config())
    assert calls == [] and seam.keys is not None and seam.keys.right_duplicate_rows == 2
    monkeypatch.undo()
    assert_same(seam, rc.from_tables(compare_tables(engine, *SLOTS, Config())))


KINDS: dict[str, Kind] = {"v": "float", "s": "text"}


def duck_sides() -> Any:
    engine = make_engine(EngineSettings("duckdb", threads=2))
    left = pa.table({"k": [1, 2, 3, 4], "v": [0.5, 1.5, 2.5, 3.5], "s": ["a", "b", "c", "d"]})
    right = pa.table({"k": [2, 3, 4, 9], "v": [1.5, 7.0, 3.5, 0.0], "s": ["b", "c", "d", "e"]})
    engine.register("L", left)
    engine.register("R", right)
    return engine


def test_engine_hands_over_unmatched_rows_and_skips_proven_columns() -> None:
    """Key 1 only in research, key 9 only in production: `prove` sees exactly those rows; a
    column it proves is left out, the others are compared as without it."""
    engine = duck_sides()
    seen: list[tuple[list[Any], list[Any]]] = []

    def prove(left: pa.Table, right: pa.Table) -> frozenset[str]:
        seen.append((left.to_pylist(), right.to_pylist()))
        return frozenset({"s"})

    columns = (("k", "s"), ("k", "v", "s"))
    found = engine.key_comparison(
        "L", "R", ["k"], KINDS, Tolerance(1e-9, 0.0), 5, settle=Settle(columns, prove)
    )
    plain = engine.key_comparison("L", "R", ["k"], KINDS, Tolerance(1e-9, 0.0), 5)
    engine.close()
    assert seen == [([{"k": 1, "s": "a"}], [{"k": 9, "v": 0.0, "s": "e"}])]
    assert set(found.columns) == {"v"} and found.columns["v"] == plain.columns["v"]
    assert found.columns["v"].beyond == 1 and plain.columns["s"].beyond == 0
    assert dataclasses.replace(found, columns=plain.columns) == plain


def test_engine_does_not_settle_past_the_limit() -> None:
    """Two unmatched keys against a limit of one: every column is compared."""
    engine = duck_sides()
    calls: list[int] = []

    def prove(left: pa.Table, right: pa.Table) -> frozenset[str]:
        calls.append(1)
        return frozenset(KINDS)

    settle = Settle((("k", "v"), ("k", "v")), prove, limit=1)
    found = engine.key_comparison("L", "R", ["k"], KINDS, Tolerance(1e-9, 0.0), 5, settle=settle)
    engine.close()
    assert calls == [] and set(found.columns) == set(KINDS)
