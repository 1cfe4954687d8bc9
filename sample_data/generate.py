"""Generate the credit-risk sample data that mlcheck's examples, tests and checklists use.

    python sample_data/generate.py            # rewrites sample_data/credit/ in place
    python sample_data/generate.py --out DIR  # writes the same files under DIR instead

Seeded and deterministic (numpy ``default_rng``), written with pyarrow only, runs in seconds.

The story: a lender scores loan applications with a fixed logistic model of nine features.
``research/`` is what the training notebook produced; ``production/`` is the production pipeline
replayed on the same raw inputs (clean: identical content, rows in another order, scores within
float noise < 1e-9); ``live/`` is twelve weeks of traffic after research with mild natural drift
and delayed labels (only the older 60% of rows are labelled). ``broken/<variant>/`` holds one
production variant per stage; each variant's function docstring lists its defects with exact
counts, and ``checklists/broken/<variant>.yaml`` points at it (unchanged slots point at the
clean files).
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SEED = 20240501
N_RESEARCH = 5000
N_SINGLE_CUSTOMERS = 4200  # customers with one application; the other 400 have two
N_LIVE = 6000
LIVE_LABELLED_SHARE = 0.6
# Live outcomes come from their own random stream, chosen so that the clean labelled window is a
# typical draw (default rate 0.206 vs 0.210 expected from the scores; ROC AUC 0.79 in every
# chunk of 1500): a clean example must not look like label drift or a performance drop by chance.
LIVE_LABEL_STREAM = 103
N_RAW_INCOME_NULLS = 400
N_ISLANDS = 4  # the rare region: only these research rows, all in train
RESEARCH_START = np.datetime64("2024-01-01T00:00:00", "s")
RESEARCH_END = np.datetime64("2025-01-01T00:00:00", "s")
LIVE_START = np.datetime64("2025-01-06T00:00:00", "s")
LIVE_END = LIVE_START + np.timedelta64(12 * 7, "D")
LOAN_CLIP_PERCENTILES = (0.5, 99.5)

REGIONS = ("North", "South", "East", "West", "Central")
REGION_PROBS = (0.10, 0.27, 0.23, 0.22, 0.18)
PRODUCTS = ("personal_loan", "auto_loan", "credit_card")
PRODUCT_PROBS = (0.5, 0.3, 0.2)
# The fixed model: log-odds effects (an unknown category has effect 0).
REGION_EFFECT = {
    "North": 0.10,
    "South": -0.05,
    "East": 0.0,
    "West": -0.10,
    "Central": 0.05,
    "Islands": 0.2,
}
PRODUCT_EFFECT = {"personal_loan": 0.0, "auto_loan": -0.2, "credit_card": 0.25}
INTERCEPT = -1.9
FEATURES = [
    "income",
    "age",
    "region",
    "product",
    "loan_amount",
    "debt_to_income",
    "bureau_score",
    "n_open_accounts",
    "delinquencies_12m",
]
RESEARCH_PACKAGES = {
    "numpy": "1.26.4",
    "pandas": "2.1.4",
    "pyarrow": "14.0.2",
    "scikit-learn": "1.4.2",
    "scipy": "1.11.4",
}
RESEARCH_ENV = {
    "python": "3.11.7",
    "platform": "Linux-5.15.0-1057-azure-x86_64-with-glibc2.35",
    "packages": RESEARCH_PACKAGES,
}
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 9}

Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class Research:
    """The research snapshot, one entry per application (row i of every array is one key)."""

    ids: np.ndarray
    customer_id: np.ndarray
    customer_index: np.ndarray  # 0..4199 single-application customers, 4200.. two applications
    raw: Columns
    features: Columns
    split: np.ndarray
    fold: np.ndarray  # -1 outside train
    p: np.ndarray
    labels: np.ndarray
    income_median: float
    loan_bounds: tuple[float, float]
    bureau_median: float


@dataclass(frozen=True)
class Live:
    """Live traffic in time order; only the first `n_labelled` rows have published labels."""

    ids: np.ndarray
    event_time: np.ndarray
    raw: Columns
    features: Columns
    p: np.ndarray
    labels: np.ndarray
    n_labelled: int


# --------------------------------------------------------------------------- simulation


def simulate_applications(
    rng: np.random.Generator,
    n: int,
    start: np.datetime64,
    end: np.datetime64,
    *,
    region_probs: tuple[float, ...] = REGION_PROBS,
    income_scale: float = 1.0,
    bureau_shift: float = 0.0,
) -> Columns:
    """Raw application and bureau columns for `n` applications, sorted by time."""
    span = int((end - start) / np.timedelta64(1, "s"))
    applied_at = start + np.sort(rng.integers(0, span, n)).astype("timedelta64[s]")
    # Declared annual income: right-skewed (lognormal), to the cent, floored at 8000.
    income = np.maximum(np.round(rng.lognormal(np.log(48000 * income_scale), 0.55, n), 2), 8000.0)
    product = np.array(PRODUCTS)[rng.choice(len(PRODUCTS), n, p=PRODUCT_PROBS)]
    loan_median = np.select(
        [product == "auto_loan", product == "credit_card"], [22000.0, 4000.0], 12000.0
    )
    principal = np.maximum(np.round(loan_median * rng.lognormal(0.0, 0.55, n) / 50) * 50, 500.0)
    loan_amount = np.round(principal * 1.015, 2)  # principal plus a 1.5% origination fee
    term_choices = np.array([12, 24, 36, 48, 60])
    term_months = np.where(product == "credit_card", 12, term_choices[rng.integers(1, 5, n)])
    bureau = rng.normal(680 + bureau_shift, 60, n) + 15 * np.log(income / 48000)
    n_open = rng.poisson(3.5, n)
    debt_ratio = rng.lognormal(np.log(0.3), 0.6, n) * (1 + 0.05 * n_open)
    return {
        "applied_at": applied_at,
        "income": income,
        "age": np.clip(np.round(rng.normal(41, 12, n)), 21, 79).astype(np.int64),
        "region": np.array(REGIONS)[rng.choice(len(REGIONS), n, p=region_probs)],
        "product": product,
        "loan_amount": loan_amount,
        "term_months": term_months.astype(np.int64),
        "bureau_score": np.clip(np.round(bureau), 300, 850).astype(np.int64),
        "n_open_accounts": n_open.astype(np.int64),
        "total_debt": np.maximum(np.round(income * debt_ratio, 2), 0.01),
        "delinquencies_12m": rng.poisson(0.25 + 0.6 * (bureau < 620), n).astype(np.int64),
    }


def build_features(raw: Columns, income_median: float, loan_bounds: tuple[float, float]) -> Columns:
    """The feature pipeline: impute income with the research median, clip loan amounts at the
    research percentiles, debt-to-income from bureau debt and (imputed) income."""
    income = np.where(np.isnan(raw["income"]), income_median, raw["income"])
    return {
        "income": income,
        "age": raw["age"],
        "region": raw["region"],
        "product": raw["product"],
        "loan_amount": np.clip(raw["loan_amount"], *loan_bounds),
        "debt_to_income": raw["total_debt"] / income,
        "bureau_score": raw["bureau_score"],
        "n_open_accounts": raw["n_open_accounts"],
        "delinquencies_12m": raw["delinquencies_12m"],
    }


def log_odds(features: Columns, bureau_fill: float = 680.0) -> np.ndarray:
    """The fixed scorecard. A null bureau score is scored at `bureau_fill`; an unknown region or
    product gets effect 0 (this is how the *research* pipeline handles them)."""
    bureau = np.asarray(features["bureau_score"], dtype=np.float64)
    bureau = np.where(np.isnan(bureau), bureau_fill, bureau)
    region = category_effect(features["region"], REGION_EFFECT)
    product = category_effect(features["product"], PRODUCT_EFFECT)
    return (
        INTERCEPT
        - 0.9 * (bureau - 680) / 60
        + 0.9 * np.log(np.maximum(features["debt_to_income"], 0.01) / 0.3)
        - 0.35 * np.log(features["income"] / 50000)
        - 0.25 * (features["age"] - 40) / 12
        + 0.45 * features["delinquencies_12m"]
        + 0.12 * (features["loan_amount"] - 15000) / 10000
        + 0.04 * (features["n_open_accounts"] - 4)
        + region
        + product
    )


def category_effect(values: np.ndarray, effects: dict[str, float]) -> np.ndarray:
    """Map each value to its effect (0 when unknown), looping over distinct values only."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([effects.get(str(v), 0.0) for v in distinct])[inverse]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def draw_labels(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return (rng.random(len(p)) < p).astype(np.int64)


def decisions(p: np.ndarray) -> np.ndarray:
    return (p >= 0.5).astype(np.int64)


# --------------------------------------------------------------------------- research and live


def build_research(rng: np.random.Generator) -> Research:
    """Research snapshot: raw columns, features, group-aware splits, scores and labels."""
    raw = simulate_applications(rng, N_RESEARCH, RESEARCH_START, RESEARCH_END)
    n_customers = N_SINGLE_CUSTOMERS + (N_RESEARCH - N_SINGLE_CUSTOMERS) // 2
    customer_ids = np.sort(rng.choice(np.arange(10000, 100000), n_customers, replace=False))
    slots = np.concatenate(
        [np.arange(N_SINGLE_CUSTOMERS), np.repeat(np.arange(N_SINGLE_CUSTOMERS, n_customers), 2)]
    )
    customer_index = rng.permutation(slots)
    split, fold = customer_splits(rng, n_customers)
    # A customer keeps one region across applications.
    region = np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n_customers, p=REGION_PROBS)]
    singles_in_train = np.flatnonzero(
        (np.arange(n_customers) < N_SINGLE_CUSTOMERS) & (split == "train")
    )
    region[rng.choice(singles_in_train, N_ISLANDS, replace=False)] = "Islands"
    raw["region"] = region[customer_index]
    raw["income"] = with_nulls(rng, raw["income"], N_RAW_INCOME_NULLS)
    income_median = float(np.nanmedian(raw["income"]))
    low, high = np.percentile(raw["loan_amount"], LOAN_CLIP_PERCENTILES)
    loan_bounds = (float(low), float(high))
    features = build_features(raw, income_median, loan_bounds)
    p = sigmoid(log_odds(features))
    return Research(
        ids=100001 + np.arange(N_RESEARCH, dtype=np.int64),
        customer_id=customer_ids[customer_index],
        customer_index=customer_index,
        raw=raw,
        features=features,
        split=split[customer_index],
        fold=fold[customer_index],
        p=p,
        labels=draw_labels(rng, p),
        income_median=income_median,
        loan_bounds=loan_bounds,
        bureau_median=float(np.median(raw["bureau_score"])),
    )


def customer_splits(rng: np.random.Generator, n_customers: int) -> tuple[np.ndarray, np.ndarray]:
    """70/15/15 train/validation/test by customer (no customer spans splits); 5 folds in train."""
    rank = np.empty(n_customers, dtype=np.int64)
    rank[rng.permutation(n_customers)] = np.arange(n_customers)
    n_train, n_valid = int(0.7 * n_customers), int(0.15 * n_customers)
    split = np.where(
        rank < n_train, "train", np.where(rank < n_train + n_valid, "validation", "test")
    )
    fold = np.where(rank < n_train, rank % 5, -1)
    return split.astype(object), fold


def with_nulls(rng: np.random.Generator, values: np.ndarray, count: int) -> np.ndarray:
    out = values.astype(np.float64).copy()
    out[rng.choice(len(out), count, replace=False)] = np.nan
    return out


def build_live(rng: np.random.Generator, research: Research) -> Live:
    """Twelve weeks after research: mild natural drift (incomes +1%, bureau scores +2 points,
    region mix nudged), the same model, labels drawn for every row but published for the older
    60% only (delayed labels)."""
    raw = simulate_applications(
        rng,
        N_LIVE,
        LIVE_START,
        LIVE_END,
        region_probs=(0.105, 0.265, 0.23, 0.22, 0.18),
        income_scale=1.01,
        bureau_shift=2.0,
    )
    raw["region"][rng.choice(N_LIVE, 6, replace=False)] = "Islands"
    raw["income"] = with_nulls(rng, raw["income"], int(0.08 * N_LIVE))
    features = build_features(raw, research.income_median, research.loan_bounds)
    p = sigmoid(log_odds(features))
    return Live(
        ids=500001 + np.arange(N_LIVE, dtype=np.int64),
        event_time=raw["applied_at"],
        raw=raw,
        features=features,
        p=p,
        labels=draw_labels(np.random.default_rng([SEED, LIVE_LABEL_STREAM]), p),
        n_labelled=int(LIVE_LABELLED_SHARE * N_LIVE),
    )


# --------------------------------------------------------------------------- tables and files


def applications_table(ids: np.ndarray, customer_id: np.ndarray, raw: Columns) -> pa.Table:
    return pa.table(
        {
            "application_id": ids,
            "customer_id": customer_id.astype(np.int64),
            "applied_at": pa.array(raw["applied_at"], pa.timestamp("s")),
            "income": pa.array(raw["income"], pa.float64(), from_pandas=True),
            "age": raw["age"],
            "region": pa.array(raw["region"], pa.string()),
            "product": pa.array(raw["product"], pa.string()),
            "loan_amount": raw["loan_amount"],
            "term_months": raw["term_months"],
        }
    )


def bureau_table(ids: np.ndarray, raw: Columns) -> pa.Table:
    columns = ["bureau_score", "n_open_accounts", "total_debt", "delinquencies_12m"]
    return pa.table({"application_id": ids, **{c: nullable(raw[c]) for c in columns}})


def features_table(
    ids: np.ndarray, features: Columns, event_time: np.ndarray | None = None
) -> pa.Table:
    head: dict[str, object] = {"application_id": ids}
    if event_time is not None:
        head["event_time"] = pa.array(event_time, pa.timestamp("s"))
    return pa.table({**head, **{c: nullable(features[c]) for c in FEATURES}})


def nullable(values: np.ndarray) -> pa.Array:
    """Strings as utf8; NaN in a float column becomes null (the raw income gaps)."""
    if values.dtype.kind in "OU":
        return pa.array(values, pa.string())
    return pa.array(values, from_pandas=True)


def set_nulls(table: pa.Table, column: str, rows: np.ndarray) -> pa.Table:
    """`table` with `column` null on `rows` (keeps the column's type)."""
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[rows] = True
    values = table.column(column).combine_chunks()
    nulled = pc.if_else(pa.array(mask), pa.nulls(table.num_rows, values.type), values)
    return table.set_column(table.schema.get_field_index(column), column, nulled)


def replace_column(table: pa.Table, column: str, values: pa.Array | np.ndarray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def splits_table(
    ids: np.ndarray, customer_id: np.ndarray, split: np.ndarray, fold: np.ndarray
) -> pa.Table:
    return pa.table(
        {
            "application_id": ids,
            "customer_id": customer_id.astype(np.int64),
            "split": pa.array(split, pa.string()),
            "fold": pa.array(fold, pa.int64(), mask=fold < 0),
        }
    )


def predictions_table(
    ids: np.ndarray, p: np.ndarray, decision: np.ndarray | None = None
) -> pa.Table:
    decision = decisions(p) if decision is None else decision
    return pa.table({"application_id": ids, "p_default": p, "decision": decision})


def labels_table(ids: np.ndarray, labels: np.ndarray) -> pa.Table:
    return pa.table({"application_id": ids, "defaulted": labels})


def shuffled(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Production writes rows in its own order (same content)."""
    return table.take(pa.array(rng.permutation(table.num_rows)))


def write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(table, str(path))
    else:
        pq.write_table(table, str(path), **PARQUET_OPTIONS)


def write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def requirements_text(packages: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))


def research_tables(research: Research) -> dict[str, pa.Table]:
    """Every research table, by its path under research/ (and production/, same names)."""
    ids, raw = research.ids, research.raw
    return {
        "raw/applications.csv": applications_table(ids, research.customer_id, raw),
        "raw/bureau.parquet": bureau_table(ids, raw),
        "features.parquet": features_table(ids, research.features),
        "splits.csv": splits_table(ids, research.customer_id, research.split, research.fold),
        "predictions.parquet": predictions_table(ids, research.p),
        "labels.parquet": labels_table(ids, research.labels),
    }


def write_clean(out: Path, research: Research, live: Live, rng: np.random.Generator) -> None:
    """research/, production/ (same content, shuffled rows, float noise < 1e-12 on scores), live/."""
    tables = research_tables(research)
    for name, table in tables.items():
        write(table, out / "research" / name)
    write_text(
        json.dumps(RESEARCH_ENV, indent=2, sort_keys=True) + "\n",
        out / "research" / "environment.json",
    )
    for name, table in tables.items():
        if name == "labels.parquet":
            continue  # production replays the pipeline; labels are research's
        if name == "predictions.parquet":
            noisy = table.column("p_default").to_numpy() * (
                1 + rng.uniform(-1e-12, 1e-12, table.num_rows)
            )
            table = replace_column(table, "p_default", noisy)
        write(shuffled(table, rng), out / "production" / name)
    write_text(requirements_text(RESEARCH_PACKAGES), out / "production" / "requirements.txt")
    for name, table in live_tables(live).items():
        write(table, out / "live" / name)


def live_tables(live: Live, labels: np.ndarray | None = None) -> dict[str, pa.Table]:
    """Live features (with event_time, in time order), predictions, and the labelled older rows."""
    ids, n_labelled = live.ids, live.n_labelled
    labels = live.labels if labels is None else labels
    return {
        "features.parquet": features_table(ids, live.features, live.event_time),
        "predictions.parquet": predictions_table(ids, live.p),
        "labels.parquet": labels_table(ids[:n_labelled], labels[:n_labelled]),
    }


# --------------------------------------------------------------------------- broken variants
# Each function writes broken/<variant>/ and documents its injected defects with exact counts;
# the counts are asserted by tests/test_sample_data.py. Slots a variant does not change are
# served by the clean files (see checklists/broken/<variant>.yaml).

DR_LOST_ROWS = 37
DR_CHANGED_LOANS = 12
DR_LOAN_FACTOR = 1.10


def broken_data_reproducibility(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """data_reproducibility: the raw data production received differs.

    broken/data_reproducibility/raw/applications.csv (vs research/raw/applications.csv):
      - exactly 37 rows lost (their application_ids are absent; no extra rows);
      - `term_months` re-typed int -> string: every cell is written like "36m" (4963 rows);
      - exactly 12 `loan_amount` cells (on kept rows) multiplied by 1.10 and rounded to cents
        (each a +10% change, far beyond 1%); every other cell identical.
    broken/data_reproducibility/raw/bureau.parquet (vs research/raw/bureau.parquet):
      - `total_debt` stored as float32 instead of float64 (precision loss): 4801 of 5000 cells
        differ from research beyond rtol 1e-9 (max relative difference 5.7e-8); other columns,
        keys and row count identical.
    Both files have their rows in a shuffled order. Later stages use the clean production files.
    """
    variant = out / "data_reproducibility" / "raw"
    apps = research_tables(research)["raw/applications.csv"]
    kept = np.sort(rng.choice(apps.num_rows, apps.num_rows - DR_LOST_ROWS, replace=False))
    apps = apps.take(pa.array(kept))
    loans = apps.column("loan_amount").to_numpy().copy()
    changed = rng.choice(apps.num_rows, DR_CHANGED_LOANS, replace=False)
    loans[changed] = np.round(loans[changed] * DR_LOAN_FACTOR, 2)
    apps = replace_column(apps, "loan_amount", loans)
    terms = np.char.add(apps.column("term_months").to_numpy().astype(str), "m")
    apps = replace_column(apps, "term_months", pa.array(terms, pa.string()))
    write(shuffled(apps, rng), variant / "applications.csv")
    bureau = research_tables(research)["raw/bureau.parquet"]
    debt32 = bureau.column("total_debt").cast(pa.float32(), safe=False)
    write(
        shuffled(replace_column(bureau, "total_debt", debt32.combine_chunks()), rng),
        variant / "bureau.parquet",
    )


FP_LOAN_CLIP_PERCENTILES = (1.0, 99.0)
FP_PACKAGES = {**RESEARCH_PACKAGES, "scikit-learn": "1.5.0", "numpy": "1.26.3"}


def broken_feature_parity(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """feature_parity: same raw data (clean production raw), different features.

    broken/feature_parity/features.parquet (vs research/features.parquet, rows shuffled):
      - `income`: the 400 rows whose raw income is null are imputed with 0.0 instead of the
        research median (research fill: the median of non-null raw incomes,
        46616.399999999994; production fill: 0.0);
      - `loan_amount`: clipped at the 1st/99th percentiles of raw loan_amount instead of the
        0.5th/99.5th: exactly 89 cells differ (39 raised to the 1st percentile,
        50 lowered to the 99th);
      - `debt_to_income`: stored as float32 (precision loss, every finite cell within rtol 1e-7
        of research); and, as the consequence of the 0.0 income fill, +inf on the same 400 rows;
      - every other column identical.
    broken/feature_parity/requirements.txt: scikit-learn 1.4.2 -> 1.5.0 (minor change: fails),
      numpy 1.26.4 -> 1.26.3 (patch change: warns); other pins identical.
    """
    variant = out / "feature_parity"
    raw = research.raw
    low, high = np.percentile(raw["loan_amount"], FP_LOAN_CLIP_PERCENTILES)
    bounds = (float(low), float(high))
    with np.errstate(divide="ignore"):  # debt / 0.0 income is +inf, as production computes it
        features = build_features(raw, 0.0, bounds)
    features["debt_to_income"] = features["debt_to_income"].astype(np.float32)
    write(shuffled(features_table(research.ids, features), rng), variant / "features.parquet")
    write_text(requirements_text(FP_PACKAGES), variant / "requirements.txt")


def broken_split_reproducibility(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """split_reproducibility: raw and features identical; splits re-drawn without a seed.

    broken/split_reproducibility/splits.csv (vs research/splits.csv, same 5000 keys, rows shuffled):
      - the (split, fold) assignments of single-application customers are permuted within each
        class of `defaulted` (a stratified re-draw with another seed), so split sizes, fold sizes
        and the class balance of every split are exactly research's: 1948 keys change split
        and 1620 more stay in train but change fold;
      - customer 94809 (two applications, both train in research) now has application
        103602 in train (fold 0) and 100471 in test: exactly one customer spans train and test.
        (100471 traded places with a single-application test row of the same class, which keeps
        the proportions exact.)
    """
    split, fold = research.split.copy(), research.fold.copy()
    labels, customer = research.labels, research.customer_index
    single = customer < N_SINGLE_CUSTOMERS
    for label in (0, 1):
        rows = np.flatnonzero(single & (labels == label))
        source = rng.permutation(rows)
        split[rows], fold[rows] = research.split[source], research.fold[source]
    mover, partner = spanning_pair(rng, research, split)
    split[[mover, partner]], fold[[mover, partner]] = (
        split[[partner, mover]],
        fold[[partner, mover]],
    )
    table = splits_table(research.ids, research.customer_id, split, fold)
    write(shuffled(table, rng), out / "split_reproducibility" / "splits.csv")


def spanning_pair(
    rng: np.random.Generator, research: Research, split: np.ndarray
) -> tuple[int, int]:
    """A train row of a two-application train customer, and a single-customer test row of the
    same class to trade places with."""
    customer, labels = research.customer_index, research.labels
    doubles_in_train = np.flatnonzero(
        (customer >= N_SINGLE_CUSTOMERS) & (research.split == "train")
    )
    mover = int(rng.choice(doubles_in_train))
    partners = np.flatnonzero(
        (customer < N_SINGLE_CUSTOMERS) & (split == "test") & (labels == labels[mover])
    )
    return mover, int(rng.choice(partners))


PM_NULL_BUREAU = 40
PM_ATLANTIS = 25
PM_FLIPS = 15


def broken_prediction_mismatch(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """prediction_mismatch: stages 1-3 pass, production serving mishandles two input defects.

    Both sides (broken/prediction_mismatch/research/ and .../production/, raw and features,
    identical content, production rows shuffled) differ from the clean data in the same way:
      - exactly 40 rows have a null `bureau_score` (raw bureau.parquet and features.parquet);
      - exactly 25 other rows have region "Atlantis" (raw applications.csv and features.parquet),
        all in validation/test rows of research/splits.csv, never in train.
    research/predictions.parquet: the research pipeline handles both (null bureau score scored at
      the research median 680.5, unknown region effect 0): all 5000 scores valid (they differ
      from research/predictions.parquet on 60 of the 65 rows; the other 5 were East, effect 0).
    production/predictions.parquet (vs the research predictions above):
      - `p_default` is NaN (and `decision` null) on exactly those 65 rows (40 + 25);
      - exactly 15 other rows have p_default replaced by 1 - p (their research scores lie
        between 0.35 and 0.48 or 0.52 and 0.65), so the score moves across 0.5 and `decision` flips;
      - the other 4920 rows are identical to research.
    Splits, labels and environments are the clean files.
    """
    variant = out / "prediction_mismatch"
    atlantis, null_bureau = pm_defect_rows(rng, research)
    tables = research_tables(research)
    apps = tables["raw/applications.csv"]
    region = np.asarray(research.raw["region"]).copy()
    region[atlantis] = "Atlantis"
    apps = replace_column(apps, "region", pa.array(region, pa.string()))
    bureau = set_nulls(tables["raw/bureau.parquet"], "bureau_score", null_bureau)
    features = replace_column(tables["features.parquet"], "region", pa.array(region, pa.string()))
    features = set_nulls(features, "bureau_score", null_bureau)
    scored = {c: features.column(c).to_numpy(zero_copy_only=False) for c in FEATURES}
    p = sigmoid(log_odds(scored, bureau_fill=research.bureau_median))
    research_predictions = predictions_table(research.ids, p)
    for name, table in {
        "raw/applications.csv": apps,
        "raw/bureau.parquet": bureau,
        "features.parquet": features,
    }.items():
        write(table, variant / "research" / name)
        write(shuffled(table, rng), variant / "production" / name)
    write(research_predictions, variant / "research" / "predictions.parquet")
    invalid = np.concatenate([null_bureau, atlantis])
    write(
        shuffled(served_predictions(rng, research.ids, p, invalid), rng),
        variant / "production" / "predictions.parquet",
    )


def pm_defect_rows(rng: np.random.Generator, research: Research) -> tuple[np.ndarray, np.ndarray]:
    """25 single-application validation/test rows for "Atlantis"; 40 other rows for null bureau."""
    single = research.customer_index < N_SINGLE_CUSTOMERS
    holdout = np.isin(research.split, ["validation", "test"])
    usual = research.raw["region"] != "Islands"
    atlantis = np.sort(
        rng.choice(np.flatnonzero(single & holdout & usual), PM_ATLANTIS, replace=False)
    )
    others = np.setdiff1d(np.flatnonzero(usual), atlantis)
    return atlantis, np.sort(rng.choice(others, PM_NULL_BUREAU, replace=False))


def served_predictions(
    rng: np.random.Generator, ids: np.ndarray, p: np.ndarray, invalid: np.ndarray
) -> pa.Table:
    """Production's outputs: NaN where serving failed, 15 scores moved across the threshold."""
    served = p.copy()
    near = np.abs(p - 0.5)
    candidates = np.setdiff1d(np.flatnonzero((near > 0.02) & (near < 0.15)), invalid)
    flips = rng.choice(candidates, PM_FLIPS, replace=False)
    served[flips] = 1.0 - served[flips]
    served[invalid] = np.nan
    missing = np.zeros(len(p), dtype=bool)
    missing[invalid] = True
    decision = pa.array(decisions(served), pa.int64(), mask=missing)
    return pa.table({"application_id": ids, "p_default": served, "decision": decision})


CONCEPT_SHRINK = 0.6  # the scorecard's signal keeps 60% of its strength...
CONCEPT_AGE_EFFECT = 0.6  # ...and older applicants became riskier (the sign of age reversed)


def broken_performance_drop(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """performance_drop: concept drift on live traffic; inputs and scores unchanged.

    broken/performance_drop/live/labels.parquet replaces live/labels.parquet: the same 3600
    older rows are labelled, but `defaulted` is drawn from a changed relationship (log-odds
    0.6 * (z - mean z) + mean z + 0.6 * (age - 40) / 12 instead of the scorecard's z). Live
    features and predictions are the clean files (same input and score distributions), so only
    performance and concept-drift checks can see it: realized ROC AUC of p_default on the
    labelled rows is 0.665 vs 0.792 on the clean labels and 0.795 on the research
    test split (a drop of 0.13); default rate 0.191 vs 0.206.
    """
    labels = draw_labels(rng, sigmoid(concept_drifted_log_odds(live.features)))
    write(
        live_tables(live, labels)["labels.parquet"],
        out / "performance_drop" / "live" / "labels.parquet",
    )


def concept_drifted_log_odds(features: Columns) -> np.ndarray:
    z = log_odds(features)
    return (
        CONCEPT_SHRINK * (z - z.mean())
        + z.mean()
        + CONCEPT_AGE_EFFECT * (features["age"] - 40) / 12
    )


DRIFT_BUREAU_POINTS = -30  # half the research standard deviation of bureau_score (~60)


def broken_performance_drift(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """performance_drift: covariate drift of the most important feature.

    broken/performance_drift/live/{features,predictions,labels}.parquet replace the live files:
    the same applications with `bureau_score` lowered by 30 points (clipped to 300-850), a
    mean shift of -0.48 research standard deviations (research mean 680.9, clean live
    682.0, drifted live 652.0);
    every other feature identical to live/features.parquet. Scores are the same model on the
    shifted inputs and labels are redrawn from it (the relationship is unchanged), so
    bureau_score (importance 0.35), the score and the label rate drift: default rate 0.274
    on the 3600 labelled rows vs 0.206 in clean live (realized ROC AUC stays 0.80).
    """
    features = dict(live.features)
    features["bureau_score"] = np.clip(features["bureau_score"] + DRIFT_BUREAU_POINTS, 300, 850)
    p = sigmoid(log_odds(features))
    drifted = replace(live, features=features, p=p)
    for name, table in live_tables(drifted, draw_labels(rng, p)).items():
        write(table, out / "performance_drift" / "live" / name)


VA_STALE_DAYS = 35
VA_NEW_PRODUCT_SHARE = 0.04


def broken_variable_availability(
    out: Path, research: Research, live: Live, rng: np.random.Generator
) -> None:
    """variable_availability: live inputs go missing, stale, or new.

    broken/variable_availability/live/ replaces the three live files (vs live/):
      - region "North" no longer arrives: its 612 live rows are gone from features,
        predictions and labels (5388 rows remain, 3239 labelled);
      - `delinquencies_12m` stops arriving: null on the 2239 rows with event_time on or
        after 2025-02-24T00:00:00 (the last 5 weeks); its last non-null event_time is 2025-02-23T23:01:41,
        35.0 days before the last live event (2025-03-30T23:53:45);
      - a new product "bnpl" on exactly 216 rows (4% of the remaining rows), never seen in
        research;
      - `n_open_accounts` renamed `num_open_accounts` (same values, same position).
    Predictions and labels are the clean live rows minus the North rows (the model was served
    the inputs; the feature log lost them).
    """
    tables = live_tables(live)
    keep = np.flatnonzero(np.asarray(live.raw["region"]) != "North")
    features = tables["features.parquet"].take(pa.array(keep))
    stale_from = LIVE_END - np.timedelta64(VA_STALE_DAYS, "D")
    event_time = np.asarray(live.event_time)[keep]
    features = set_nulls(features, "delinquencies_12m", np.flatnonzero(event_time >= stale_from))
    product = features.column("product").to_numpy(zero_copy_only=False).copy()
    product[rng.choice(len(keep), round(VA_NEW_PRODUCT_SHARE * len(keep)), replace=False)] = "bnpl"
    features = replace_column(features, "product", pa.array(product, pa.string()))
    features = features.rename_columns(
        ["num_open_accounts" if c == "n_open_accounts" else c for c in features.column_names]
    )
    variant = out / "variable_availability" / "live"
    write(features, variant / "features.parquet")
    write(tables["predictions.parquet"].take(pa.array(keep)), variant / "predictions.parquet")
    labelled = keep[keep < live.n_labelled]
    write(tables["labels.parquet"].take(pa.array(labelled)), variant / "labels.parquet")


VARIANTS = [
    broken_data_reproducibility,
    broken_feature_parity,
    broken_split_reproducibility,
    broken_prediction_mismatch,
    broken_performance_drop,
    broken_performance_drift,
    broken_variable_availability,
]


# --------------------------------------------------------------------------- entry point


def generate(out_dir: Path) -> None:
    """Write every file under `out_dir` (research/, production/, live/, broken/)."""
    for sub in ("research", "production", "live", "broken"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    rng = np.random.default_rng(SEED)
    research = build_research(rng)
    live = build_live(rng, research)
    write_clean(out_dir, research, live, rng)
    for number, variant in enumerate(VARIANTS, start=1):
        # Each variant has its own stream so changing one never changes another.
        variant(out_dir / "broken", research, live, np.random.default_rng([SEED, number]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "credit", help="output folder"
    )
    args = parser.parse_args(argv)
    generate(args.out)


if __name__ == "__main__":
    main()
