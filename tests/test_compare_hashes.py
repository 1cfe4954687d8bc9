"""The comparison's fast paths give exactly what its reference paths give.

`column_hashes` (Arrow buffers read in place, values mixed block by block) must equal the
reference `_value_hashes(_normalize(...))` for every layout; the threaded column work must give
the same comparison as one thread; a table's fingerprint must not depend on how it is chunked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import mlcheck.compare as compare
import mlcheck.engine as engine
from mlcheck.checklist import load_checklist
from mlcheck.compare import _normalize, _value_hashes, column_hashes, compare_tables, pair_kind
from mlcheck.engine import LocalEngine

RNG = np.random.default_rng(11)
N = compare._HASH_BLOCK * 2 + 123  # several blocks and a partial one


def _floats() -> pa.Array:
    """Normal values with -0.0, 0.0, +-inf, NaNs of two payloads and nulls planted."""
    values = RNG.normal(size=N)
    values[:6] = [
        -0.0,
        0.0,
        np.inf,
        -np.inf,
        np.nan,
        np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0],
    ]
    mask = RNG.random(N) < 0.1
    return pa.array(values, mask=mask)


def _dictionary(with_null_entry: bool = False) -> pa.Array:
    words = pa.array(["b", "a", None if with_null_entry else "c", "héllo ✓"])
    indices = pa.array(RNG.integers(0, 4, N).astype(np.int32), mask=RNG.random(N) < 0.05)
    return pa.DictionaryArray.from_arrays(indices, words)


LAYOUTS: dict[str, tuple[pa.ChunkedArray, str, pa.DataType]] = {
    "float64 with nulls, -0.0, NaN payloads, infinities": (
        pa.chunked_array([_floats()]),
        "float",
        pa.float64(),
    ),
    "float64 sliced across chunks": (
        pa.chunked_array([_floats().slice(7, 5000), _floats().slice(3)]),
        "float",
        pa.float64(),
    ),
    "int64 with nulls": (
        pa.chunked_array([pa.array(RNG.integers(-(2**62), 2**62, N), mask=RNG.random(N) < 0.1)]),
        "integer",
        pa.int64(),
    ),
    "int8 negative values sign-extend": (
        pa.chunked_array([pa.array(RNG.integers(-128, 127, N).astype(np.int8))]),
        "integer",
        pa.int64(),
    ),
    "uint32": (
        pa.chunked_array([pa.array(RNG.integers(0, 2**32 - 1, N).astype(np.uint32))]),
        "integer",
        pa.uint32(),
    ),
    "dictionary strings, two chunks with different dictionaries": (
        pa.chunked_array([_dictionary(), _dictionary().slice(10, 1000)]),
        "text",
        pa.string(),
    ),
    "dictionary with a null entry (reference path)": (
        pa.chunked_array([_dictionary(with_null_entry=True)]),
        "text",
        pa.string(),
    ),
    "dictionary compared as binary": (pa.chunked_array([_dictionary()]), "binary", pa.binary()),
    "plain strings with nulls": (
        pa.chunked_array([pa.array([None if i % 7 == 0 else f"v{i % 50}" for i in range(N)])]),
        "text",
        pa.string(),
    ),
    "int64 against a float column (reference path)": (
        pa.chunked_array([pa.array(RNG.integers(0, 100, N))]),
        "float",
        pa.float64(),
    ),
    "uint64 beyond int64 (reference path)": (
        pa.chunked_array([pa.array(np.array([2**64 - 1, 0, 5], dtype=np.uint64))]),
        "integer",
        pa.uint64(),
    ),
    "empty float64": (pa.chunked_array([pa.array([], pa.float64())]), "float", pa.float64()),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_column_hashes_equal_the_reference(name: str) -> None:
    column, kind, other = LAYOUTS[name]
    expected = _value_hashes(_normalize(column, kind, other))  # type: ignore[arg-type]
    np.testing.assert_array_equal(column_hashes(column, kind, other), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_add_hashes_adds_the_salted_hashes(name: str) -> None:
    """The salt is folded into the mixing (and nulls' fixed hash): what is added to a row
    hash is still exactly salt * the column's hash, null rows included."""
    column, kind, other = LAYOUTS[name]
    salt = compare._salt("a column")
    total = np.arange(len(column), dtype=np.uint64)
    compare.add_hashes(total, column, kind, other, salt)  # type: ignore[arg-type]
    expected = np.arange(len(column), dtype=np.uint64) + salt * column_hashes(column, kind, other)  # type: ignore[arg-type]
    np.testing.assert_array_equal(total, expected)


def test_name_hash_is_the_bytes_hash_of_the_name() -> None:
    for text in ["", "id", "héllo ✓", "x" * 5000]:
        assert compare._name_hash(text) == compare.bytes_hashes(pa.array([text]))[0]


def test_structured_changes_change_the_value_digest_and_row_hashes() -> None:
    """Numbers use a light mixer; changes with structure in their bits are still seen: every
    value negated, every integer moved by one, and two columns' values swapped in each row."""
    floats = RNG.normal(size=100_000)
    integers = RNG.integers(0, 1000, 100_000)

    def digest(values: np.ndarray, kind: str) -> tuple[int, int, int]:
        return compare._digest(column_hashes(pa.chunked_array([values]), kind, pa.float64()))  # type: ignore[arg-type]

    assert digest(floats, "float") != digest(-floats, "float")
    assert digest(integers, "integer") != digest(integers + 1, "integer")
    a, b = pa.chunked_array([integers]), pa.chunked_array([integers[::-1].copy()])
    rows, swapped = np.zeros(len(integers), np.uint64), np.zeros(len(integers), np.uint64)
    for total, (x, y) in ((rows, (a, b)), (swapped, (b, a))):
        compare.add_hashes(total, x, "integer", pa.int64(), compare._salt("x"))
        compare.add_hashes(total, y, "integer", pa.int64(), compare._salt("y"))
    changed = integers != integers[::-1]
    assert (rows[changed] != swapped[changed]).all()


def test_canonical_zero_and_nan_hash_alike() -> None:
    """-0.0 hashes like 0.0 and every NaN payload like every other, through the fast path."""
    payload = np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
    hashes = column_hashes(
        pa.chunked_array([pa.array([-0.0, 0.0, np.nan, payload])]), "float", pa.float64()
    )
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3] and hashes[0] != hashes[2]


def _engine(tmp_path: Path, research: pa.Table, production: pa.Table) -> LocalEngine:
    pq.write_table(research, tmp_path / "r.parquet", row_group_size=700)
    pq.write_table(production, tmp_path / "p.parquet")
    doc = {
        "version": 1,
        "key": "id",
        "research": {"raw": {"t": {"path": "r.parquet"}}},
        "production": {"raw": {"t": {"path": "p.parquet"}}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return LocalEngine(load_checklist(tmp_path / "c.yaml"))


def _tables() -> tuple[pa.Table, pa.Table]:
    """3000 rows, production shuffled, with: 5 cells of x beyond tolerance, 7 within (1e-12
    relative noise), 4 region values changed, 3 nulls added to n, 2 rows lost."""
    n = 3000
    rng = np.random.default_rng(5)
    research = pa.table(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "n": rng.integers(0, 50, n),
            "region": pa.array(rng.choice(["n", "s", "e", "w"], n)).dictionary_encode(),
        }
    )
    x = research.column("x").to_numpy().copy()
    x[:5] += 1.0
    x[5:12] *= 1 + 1e-12
    region = np.array(research.column("region").to_pylist(), dtype=object)
    region[20:24] = "changed"
    production = research.set_column(1, "x", pa.array(x)).set_column(
        3, "region", pa.array(region.tolist())
    )
    production = production.set_column(
        2, "n", pa.array(research.column("n").to_numpy(), mask=np.arange(n) % 1000 == 1)
    )
    order = rng.permutation(n)[2:]
    return research, production.take(pa.array(order))


def _summary(result: compare.TableComparison) -> dict[str, Any]:
    cells = {
        name: {
            "beyond": c.beyond.tolist(),
            "noise": c.noise.tolist(),
            "right_null_only": c.right_null_only.tolist(),
            "max": (c.max_abs_diff, c.max_rel_diff),
            "examples": c.examples,
        }
        for name, c in result.cells.items()
    }
    stats = {name: dataclasses.asdict(s) for name, s in result.stats.items()}
    return {
        "fingerprints": (result.left_fingerprint, result.right_fingerprint),
        "rows": dataclasses.asdict(result.rows),
        "cells": cells,
        "stats": stats,
    }


def test_threads_give_the_same_comparison_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defects of `_tables` are found alike with four column threads and with one."""
    research, production = _tables()
    config = load_checklist_config()
    monkeypatch.setattr(engine, "WORKERS", 4)
    threaded = compare_tables(
        _engine(tmp_path, research, production), "research.raw.t", "production.raw.t", config
    )
    monkeypatch.setattr(engine, "WORKERS", 1)
    single = compare_tables(
        _engine(tmp_path, research, production), "research.raw.t", "production.raw.t", config
    )
    assert _summary(threaded) == _summary(single)
    assert len(threaded.cells["x"].beyond) == 5 and len(threaded.cells["x"].noise) == 7
    assert (
        len(threaded.cells["region"].beyond) == 4 and len(threaded.cells["n"].right_null_only) == 3
    )
    assert threaded.rows.lost == 2


def test_fingerprint_does_not_depend_on_chunking(tmp_path: Path) -> None:
    """The same rows read as many row groups (research) and as one (production): identical."""
    research, _ = _tables()
    result = compare_tables(
        _engine(tmp_path, research, research),
        "research.raw.t",
        "production.raw.t",
        load_checklist_config(),
    )
    assert result.identical and result.left_fingerprint == result.right_fingerprint


def load_checklist_config() -> Any:
    from mlcheck.stage_config import DataReproducibilityConfig

    return DataReproducibilityConfig(rtol=1e-9, atol=0.0)


def test_kinds_of_the_layouts_are_what_the_comparison_would_choose() -> None:
    """Guards the table above: each layout's kind is the one `pair_kind` gives its types."""
    for name, (column, kind, other) in LAYOUTS.items():
        if "reference path" in name or kind == "binary":
            continue
        assert pair_kind(column.type, other) == kind, name
