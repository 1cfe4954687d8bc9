"""Generate paired research/production snapshots for every slot, N rows x M feature columns.

Seeded and deterministic. Production differs from research in controlled ways (a handful of
lost rows and changed cells in one raw source is optional via --defects) so the benchmark times
the real comparison path, not only the identical-fingerprint fast path.

    python benchmarks/generate.py --rows 1000000 --cols 30 --out benchmarks/data/1m
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = np.array(["north", "south", "east", "west", "central", "islands"])


def feature_table(rng: np.random.Generator, keys: np.ndarray, cols: int) -> pa.Table:
    """`cols` columns: three quarters numeric (float64/int64), a quarter dictionary-encoded strings."""
    n = len(keys)
    data: dict[str, pa.Array] = {"id": pa.array(keys)}
    for j in range(cols):
        if j % 4 == 3:
            codes = rng.integers(0, len(CATEGORIES), n).astype(np.int32)
            data[f"c{j:02d}"] = pa.DictionaryArray.from_arrays(codes, pa.array(CATEGORIES))
        elif j % 4 == 2:
            data[f"c{j:02d}"] = pa.array(rng.integers(0, 1000, n))
        else:
            data[f"c{j:02d}"] = pa.array(rng.normal(j, 1.0 + j / 10, n))
    return pa.table(data)


def perturb(table: pa.Table, rng: np.random.Generator, lost: int, changed: int) -> pa.Table:
    """Drop `lost` rows and add 1.0 to `changed` cells of the first numeric column."""
    n = table.num_rows
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, lost, replace=False)] = False
    column = table.column("c00").to_numpy().copy()
    column[rng.choice(n, changed, replace=False)] += 1.0
    table = table.set_column(table.schema.get_field_index("c00"), "c00", pa.array(column))
    return table.filter(pa.array(keep))


def write_snapshots(out: Path, rows: int, cols: int, seed: int, defects: bool) -> None:
    rng = np.random.default_rng(seed)
    keys = np.arange(rows, dtype=np.int64)
    research = feature_table(rng, keys, cols)
    production = perturb(research, rng, 25, 40) if defects else research
    score = 1 / (1 + np.exp(-(research.column("c00").to_numpy() - 0.0)))
    label = (rng.random(rows) < score).astype(np.int8)
    split = np.where(
        rng.random(rows) < 0.7, "train", np.where(rng.random(rows) < 0.5, "validation", "test")
    )
    live = feature_table(np.random.default_rng(seed + 1), keys, cols)
    live_score = 1 / (1 + np.exp(-live.column("c00").to_numpy()))
    live_label = (np.random.default_rng(seed + 2).random(rows) < live_score).astype(np.int8)
    for side, table in (("research", research), ("production", production)):
        (out / side / "raw").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / side / "raw" / "main.parquet")
        pq.write_table(table, out / side / "features.parquet")
        pq.write_table(pa.table({"id": keys, "split": split}), out / side / "splits.parquet")
        pq.write_table(pa.table({"id": keys, "score": score}), out / side / "predictions.parquet")
    pq.write_table(pa.table({"id": keys, "label": label}), out / "research" / "labels.parquet")
    (out / "live").mkdir(parents=True, exist_ok=True)
    pq.write_table(live, out / "live" / "features.parquet")
    pq.write_table(
        pa.table({"id": keys, "score": live_score}), out / "live" / "predictions.parquet"
    )
    pq.write_table(pa.table({"id": keys, "label": live_label}), out / "live" / "labels.parquet")
    (out / "checklist.yaml").write_text(CHECKLIST)


CHECKLIST = """\
version: 1
name: benchmark
key: id
research:
  raw: {main: {path: research/raw/main.parquet}}
  features: {path: research/features.parquet}
  splits: {path: research/splits.parquet}
  predictions: {path: research/predictions.parquet}
  labels: {path: research/labels.parquet}
production:
  raw: {main: {path: production/raw/main.parquet}}
  features: {path: production/features.parquet}
  splits: {path: production/splits.parquet}
  predictions: {path: production/predictions.parquet}
  live:
    features: {path: live/features.parquet}
    predictions: {path: live/predictions.parquet}
    labels: {path: live/labels.parquet}
columns: {target: label, score: score, split: split}
task: binary
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defects", action="store_true", help="inject lost rows and changed cells")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_snapshots(args.out, args.rows, args.cols, args.seed, args.defects)


if __name__ == "__main__":
    main()
