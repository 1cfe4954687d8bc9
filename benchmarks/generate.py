"""Generate paired research/production snapshots for every slot, N rows x M feature columns.

    python benchmarks/generate.py --rows 1000000 --cols 30 --out benchmarks/data/1m

Seeded and deterministic (numpy + pyarrow only). What it writes, per side:

    research/raw/main.parquet     id, customer_id, the first two thirds of the feature columns
    research/raw/extra.parquet    id, the remaining feature columns (a second raw source)
    research/features.parquet     id, every feature column
    research/splits.parquet       id, customer_id, split (train/validation/test by customer), fold
    research/predictions.parquet  id, score (probability), decision (0/1)
    research/labels.parquet       id, label
    production/...                the same slots except labels: identical content, rows in another
                                  (seeded) order, scores with float noise of about 1e-12
    live/features.parquet         new ids, event_time over 12 weeks, the features drawn afresh
                                  from the same distributions (no drift)
    live/predictions.parquet      id, score, decision
    live/labels.parquet           id, label for the oldest 60% of live rows (delayed labels)

Feature columns: three quarters numeric (float64 and int64), a quarter dictionary-encoded strings
(declared categorical). The clean production side passes every stage, so `mlcheck run` times the
full comparison path rather than stopping early. `--defects` drops 25 raw rows and changes 40 raw
cells of production (stage 1 then fails; with `--keep-going` every stage still runs).

`--differing` makes production really differ, as where mlcheck is used (see `make_differing`):
0.05% of rows dropped from every production slot, 0.1% of rows with one changed float cell,
three features shifted (production and live), and 1% of one categorical feature's rows carrying
a category research never saw (production and live). The fingerprint fast path then no longer
applies, so statistics and cell comparisons are timed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = np.array(["north", "south", "east", "west", "central", "islands"])
LIVE_WEEKS = 12
LABELLED_SHARE = 0.6


def feature_names(cols: int) -> list[str]:
    return [f"c{j:02d}" for j in range(cols)]


def features(rng: np.random.Generator, n: int, cols: int) -> dict[str, pa.Array]:
    """`cols` columns: three quarters numeric (float64/int64), a quarter dictionary strings."""
    data: dict[str, pa.Array] = {}
    for j, name in enumerate(feature_names(cols)):
        if j % 4 == 3:
            codes = rng.integers(0, len(CATEGORIES), n).astype(np.int32)
            data[name] = pa.DictionaryArray.from_arrays(codes, pa.array(CATEGORIES))
        elif j % 4 == 2:
            data[name] = pa.array(rng.integers(0, 1000, n))
        else:
            data[name] = pa.array(rng.normal(j, 1.0 + j / 10, n))
    return data


def scores(table: pa.Table) -> np.ndarray:
    """A probability driven by the first two numeric features (so AUC means something)."""
    z = (table.column("c00").to_numpy() - 0.0) + 0.5 * (table.column("c01").to_numpy() - 1.0)
    return 1.0 / (1.0 + np.exp(-z))


def decisions(score: np.ndarray) -> np.ndarray:
    return (score >= 0.5).astype(np.int8)


def perturb(table: pa.Table, rng: np.random.Generator, lost: int, changed: int) -> pa.Table:
    """Drop `lost` rows and add 1.0 to `changed` cells of the first numeric column."""
    n = table.num_rows
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, lost, replace=False)] = False
    column = table.column("c00").to_numpy().copy()
    column[rng.choice(n, changed, replace=False)] += 1.0
    table = table.set_column(table.schema.get_field_index("c00"), "c00", pa.array(column))
    return table.filter(pa.array(keep))


# --differing: shares of rows, and the features shifted (a float, a float and an integer that
# do not drive the score, so predictions stay comparable) with the categorical one that gets an
# unseen category.
DROPPED_SHARE = 0.0005
CHANGED_SHARE = 0.001
UNSEEN_SHARE = 0.01
SHIFTED = ("c04", "c05", "c06")
UNSEEN_COLUMN = "c03"
UNSEEN = "atlantis"


def _at_least_one(n: int, share: float) -> int:
    return max(1, round(n * share)) if n else 0


def shifted(feats: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Three features moved by half their spread, and 1% unseen category in one categorical."""
    n = feats.num_rows
    for name in SHIFTED:
        if name not in feats.column_names:
            continue
        values = feats.column(name).to_numpy()
        moved = values + (50 if values.dtype.kind == "i" else 0.5 * (values.std() or 1.0))
        feats = feats.set_column(feats.schema.get_field_index(name), name, pa.array(moved))
    if UNSEEN_COLUMN in feats.column_names:
        column = feats.column(UNSEEN_COLUMN).combine_chunks()
        codes = column.indices.to_numpy().copy()
        codes[rng.choice(n, _at_least_one(n, UNSEEN_SHARE), replace=False)] = len(CATEGORIES)
        dictionary = pa.array([*CATEGORIES, UNSEEN])
        unseen = pa.DictionaryArray.from_arrays(codes, dictionary)
        feats = feats.set_column(feats.schema.get_field_index(UNSEEN_COLUMN), UNSEEN_COLUMN, unseen)
    return feats


def changed_cells(feats: pa.Table, rng: np.random.Generator) -> pa.Table:
    """0.1% of rows get one float cell changed (each row in a float column drawn at random)."""
    floats = [f.name for f in feats.schema if pa.types.is_float64(f.type) and f.name != "c00"]
    if not floats or not feats.num_rows:
        return feats
    rows = rng.choice(feats.num_rows, _at_least_one(feats.num_rows, CHANGED_SHARE), replace=False)
    which = rng.integers(0, len(floats), len(rows))
    for j, name in enumerate(floats):
        picked = rows[which == j]
        if len(picked):
            values = feats.column(name).to_numpy().copy()
            values[picked] = values[picked] * 1.5 + 1.0
            feats = feats.set_column(feats.schema.get_field_index(name), name, pa.array(values))
    return feats


def make_differing(
    production: dict[str, pa.Table], rng: np.random.Generator
) -> dict[str, pa.Table]:
    """Production that really differs: rows dropped from every slot (the same ids), changed
    float cells, shifted features and an unseen category (see the module docstring)."""
    ids = production["features"].column("id").to_numpy()
    dropped = rng.choice(ids, _at_least_one(len(ids), DROPPED_SHARE), replace=False)
    out = {}
    for slot, table in production.items():
        keep = ~np.isin(table.column("id").to_numpy(), dropped)
        out[slot] = table.filter(pa.array(keep))
    out["features"] = shifted(changed_cells(out["features"], rng), rng)
    return out


def research_tables(rng: np.random.Generator, rows: int, cols: int) -> dict[str, pa.Table]:
    keys = np.arange(rows, dtype=np.int64)
    customer = keys // 3  # about three applications per customer
    feats = pa.table({"id": keys, **features(rng, rows, cols)})
    # Splits by customer, so no customer spans train and test; folds only for training rows.
    draw = np.random.default_rng(rng.integers(2**32)).random(customer[-1] + 1 if rows else 0)
    by_customer = draw[customer]
    split = np.where(by_customer < 0.7, "train", np.where(by_customer < 0.85, "validation", "test"))
    fold = pa.array(customer % 5, mask=split != "train")
    score = scores(feats)
    label = (rng.random(rows) < score).astype(np.int8)
    return {
        "features": feats,
        "splits": pa.table(
            {
                "id": keys,
                "customer_id": customer,
                "split": split,
                "fold": fold,
            }
        ),
        "predictions": pa.table({"id": keys, "score": score, "decision": decisions(score)}),
        "labels": pa.table({"id": keys, "label": label}),
    }


def raw_sources(feats: pa.Table, customer: pa.ChunkedArray, cols: int) -> dict[str, pa.Table]:
    names = feature_names(cols)
    cut = max(1, (2 * cols) // 3)
    main = feats.select(["id", *names[:cut]]).add_column(1, "customer_id", customer)
    return {"main": main, "extra": feats.select(["id", *names[cut:]])}


def production_tables(
    research: dict[str, pa.Table], rng: np.random.Generator
) -> dict[str, pa.Table]:
    """The same content in another row order; scores carry float noise far below tolerance."""
    order = pa.array(rng.permutation(research["features"].num_rows))
    out = {slot: table.take(order) for slot, table in research.items() if slot != "labels"}
    score = out["predictions"].column("score").to_numpy()
    noisy = score + rng.uniform(-1e-12, 1e-12, len(score)) * (score > 1e-6) * (score < 1 - 1e-6)
    out["predictions"] = out["predictions"].set_column(1, "score", pa.array(noisy))
    return out


def live_tables(seed: int, rows: int, cols: int, differing: bool = False) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    keys = np.arange(rows, dtype=np.int64) + 10**12  # new applications
    seconds = np.sort(rng.integers(0, LIVE_WEEKS * 7 * 86_400, rows))
    times = pa.array(np.datetime64("2025-01-06", "s") + seconds.astype("timedelta64[s]"))
    feats = pa.table({"id": keys, "event_time": times, **features(rng, rows, cols)})
    if differing:
        feats = shifted(feats, rng)
    score = scores(feats)
    label = (rng.random(rows) < score).astype(np.int8)
    labelled = int(rows * LABELLED_SHARE)  # the oldest rows: labels arrive late
    return {
        "features": feats,
        "predictions": pa.table({"id": keys, "score": score, "decision": decisions(score)}),
        "labels": pa.table({"id": keys[:labelled], "label": label[:labelled]}),
    }


def write_snapshots(
    out: Path, rows: int, cols: int, seed: int, defects: bool, differing: bool = False
) -> None:
    rng = np.random.default_rng(seed)
    research = research_tables(rng, rows, cols)
    production = production_tables(research, rng)
    if differing:
        production = make_differing(production, rng)
    for side, tables in (("research", research), ("production", production)):
        (out / side / "raw").mkdir(parents=True, exist_ok=True)
        raw = raw_sources(tables["features"], tables["splits"].column("customer_id"), cols)
        if defects and side == "production":
            raw["main"] = perturb(raw["main"], rng, 25, 40)
        for name, table in raw.items():
            pq.write_table(table, out / side / "raw" / f"{name}.parquet")
        for slot, table in tables.items():
            pq.write_table(table, out / side / f"{slot}.parquet")
        del raw
    del research, production
    (out / "live").mkdir(parents=True, exist_ok=True)
    for slot, table in live_tables(seed + 1, rows, cols, differing).items():
        pq.write_table(table, out / "live" / f"{slot}.parquet")
    categorical = [n for j, n in enumerate(feature_names(cols)) if j % 4 == 3]
    (out / "checklist.yaml").write_text(CHECKLIST.format(categorical=", ".join(categorical)))


CHECKLIST = """\
version: 1
name: benchmark
key: id
research:
  raw:
    main: {{path: research/raw/main.parquet}}
    extra: {{path: research/raw/extra.parquet}}
  features: {{path: research/features.parquet}}
  splits: {{path: research/splits.parquet}}
  predictions: {{path: research/predictions.parquet}}
  labels: {{path: research/labels.parquet}}
production:
  raw:
    main: {{path: production/raw/main.parquet}}
    extra: {{path: production/raw/extra.parquet}}
  features: {{path: production/features.parquet}}
  splits: {{path: production/splits.parquet}}
  predictions: {{path: production/predictions.parquet}}
  live:
    features: {{path: live/features.parquet}}
    predictions: {{path: live/predictions.parquet}}
    labels: {{path: live/labels.parquet}}
columns:
  target: label
  score: score
  prediction: decision
  split: split
  fold: fold
  group: customer_id
  timestamp: event_time
  categorical: [{categorical}]
task: binary
stages:
  performance_drop: {{chunk: {{every: 1w}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defects", action="store_true", help="inject lost rows and changed cells")
    parser.add_argument("--differing", action="store_true", help="production really differs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_snapshots(args.out, args.rows, args.cols, args.seed, args.defects, args.differing)


if __name__ == "__main__":
    main()
