"""Stage 2 asks the clip quantiles (two whole-column reads) only of columns whose unexplained
pairs hold a side's own extreme (`CellCauses.extremes`); the diagnosis stays the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_feature_parity import _context

from mlcheck.checklist import Checklist
from mlcheck.feature_compare import compare_features


def _tables(n: int, clipped: bool) -> tuple[pa.Table, pa.Table]:
    """Values 1..n in both; production adds 0.5 to 31, 32, 33 (no extreme, no quantile's
    neighbour) and, when `clipped`, clips at [5, n - 4] where research does not."""
    raw = np.arange(1.0, n + 1.0)
    production = raw.copy()
    production[[30, 31, 32]] += 0.5
    if clipped:
        production = np.clip(production, 5.0, n - 4.0)
    ids = np.arange(1, n + 1)
    return pa.table({"id": ids, "x": raw}), pa.table({"id": ids, "x": production})


def _comparison(tmp_path: Path, research: pa.Table, production: pa.Table) -> Any:
    pq.write_table(research, tmp_path / "research.parquet")
    pq.write_table(production, tmp_path / "production.parquet")
    doc = {
        "research": {"features": {"path": "research.parquet"}},
        "production": {"features": {"path": "production.parquet"}},
        "base_dir": str(tmp_path),
        "key": "id",
    }
    ctx = _context(Checklist.model_validate(doc))
    return ctx, compare_features(ctx)


@pytest.mark.parametrize("clipped", [False, True])
def test_quantiles_only_for_columns_touching_an_extreme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clipped: bool
) -> None:
    """Three middle cells changed: no pair on an extreme, so no quantiles are read and no clip
    is found; with production clipped too, the quantiles are read and the clip is found (4 low
    and 4 high cells, as FEAT010's own test counts them)."""
    from mlcheck.engines.duck import DuckDBEngine

    asked: list[str] = []
    original = DuckDBEngine.sorted_values_many

    def counting(self: DuckDBEngine, name: str, columns: Any, *a: Any, **k: Any) -> Any:
        asked.extend(columns)
        return original(self, name, columns, *a, **k)

    monkeypatch.setattr(DuckDBEngine, "sorted_values_many", counting)
    _, cmp = _comparison(tmp_path, *_tables(100, clipped))
    diagnosis = cmp.diagnoses["x"]
    if clipped:
        assert asked == ["x", "x"]
        assert (diagnosis.clipped_low, diagnosis.clipped_high) == (4, 4)
        assert diagnosis.count("other") == 3
    else:
        assert asked == []
        assert diagnosis.clip is None and diagnosis.count("other") == 3
