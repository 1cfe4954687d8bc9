"""Checklists whose production features are the research features cast to float32.

`breast_cancer`: scikit-learn's breast cancer data (569 rows, 30 float64 features), as research
features; production stored them as float32. Defect: every one of the 30 columns narrowed to
float32 (FEAT012 warns once per column in JSON; reports show one entry naming 30 columns).

`wide`: 2,000 rows of 300 generated float64 columns (seeded normal values times 1e3), production
cast to float32. Defect: 300 narrowed columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHECKLIST = """\
version: 1
name: {name}
key: row_id
research:
  features: {{path: research.parquet}}
production:
  features: {{path: production.parquet}}
{extra}"""


def write_float32_case(folder: Path, name: str, extra: str = "") -> Path:
    """Write the research/production parquet files and a checklist for `name`; return its path."""
    research = _breast_cancer() if name == "breast_cancer" else _wide()
    production = research.cast(
        pa.schema(
            [
                pa.field(f.name, pa.float32() if pa.types.is_float64(f.type) else f.type)
                for f in research.schema
            ]
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(research, folder / "research.parquet")
    pq.write_table(production, folder / "production.parquet")
    path = folder / "checklist.yaml"
    path.write_text(CHECKLIST.format(name=name, extra=extra), encoding="utf-8")
    return path


def _breast_cancer() -> pa.Table:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    columns = {n.replace(" ", "_"): data.data[:, i] for i, n in enumerate(data.feature_names)}
    return pa.table({"row_id": np.arange(len(data.data)), **columns})


def _wide() -> pa.Table:
    values = np.random.default_rng(16).normal(size=(2000, 300)) * 1e3
    columns = {f"f{i:03d}": values[:, i] for i in range(300)}
    return pa.table({"row_id": np.arange(2000), **columns})
