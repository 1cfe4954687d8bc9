"""Calibration of PERF001's chunk rule: false fails without a change, detection of a late drop.

    python benchmarks/chunk_calibration.py                # 100 null runs + 100 drop runs (minutes)
    python benchmarks/chunk_calibration.py --runs 20      # a quick look

Each run writes a research and a live snapshot to a temporary folder and runs the real check
(PERF001, default thresholds: roc_auc, max_drop 0.02, confidence 0.95, min_labels 100) with
`chunk: {every: 1w}`, through the engine, exactly as `mlcheck run` does.

Research: 20,000 rows of a logistic scorecard (score = sigmoid(-0.5 + 1.5 x1 + 0.5 x2 + c));
the first 60% train, the rest the test split the baseline is measured on. Live: 100 weekly
chunks of Poisson(1000) rows, except week 40, which holds 140 rows (a small labelled week);
labels are delayed, so the last 2 weeks are unlabelled and estimated (CBPE).

Null runs: live traffic from the research relation; every fail is a false fail.
Drop runs: in the last 20 weeks the labels follow a weakened relation whose ROC AUC is 0.05
below the research one (found by bisection on 400,000 rows); detection = the check fails, and
"confined" = no chunk before them fails and the shortest failing window (a chunk, or
the last 2, 4, 8, 16 chunks pooled) lies within them.

"before" applies the rule without multiplicity control to the same runs (a chunk fails when its
95% interval lies wholly below the bar; the window verdicts as reported); "after" is the check's
status. Targets: null false-fail rate <= 2% per run, detection >= 95%.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from mlcheck import metrics
from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.stages import performance_drop

WEEKS, DROP_WEEKS, UNLABELLED_WEEKS = 100, 20, 2
SMALL_WEEK, SMALL_ROWS, WEEK_ROWS = 40, 140, 1000
RESEARCH_ROWS = 20_000
AUC_DROP = 0.05
CATEGORY_EFFECT = np.array([0.0, 0.5, -0.5])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def draw(rng: np.random.Generator, n: int, strength: float = 1.0) -> dict[str, np.ndarray]:
    """Features, the model's score, and labels from the relation scaled by `strength`."""
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    effect = CATEGORY_EFFECT[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    logit = -0.5 + 1.5 * x1 + 0.5 * x2 + effect
    truth = sigmoid(-0.5 + strength * (logit + 0.5))
    return {"x1": x1, "x2": x2, "score": sigmoid(logit), "y": (rng.random(n) < truth).astype(int)}


def auc_of(data: dict[str, np.ndarray]) -> float:
    outcomes = metrics.Outcomes(data["y"], data["score"], None)
    return metrics.compute(metrics.metric_info("binary", "roc_auc"), outcomes)


def weakened_strength(drop: float) -> float:
    """The relation strength whose AUC is `drop` below the full relation's (bisection)."""
    target = auc_of(draw(np.random.default_rng(0), 400_000)) - drop
    low, high = 0.0, 1.0
    for _ in range(25):  # bisection steps, not rows
        middle = (low + high) / 2
        if auc_of(draw(np.random.default_rng(0), 400_000, middle)) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def write_run(folder: Path, rng: np.random.Generator, strength: float | None) -> Path:
    """One run's snapshots and checklist; `strength` weakens the last DROP_WEEKS weeks."""
    research = draw(rng, RESEARCH_ROWS)
    sizes = rng.poisson(WEEK_ROWS, WEEKS)
    sizes[SMALL_WEEK] = SMALL_ROWS
    weeks = [
        draw(rng, int(n), strength if strength and w >= WEEKS - DROP_WEEKS else 1.0)
        for w, n in enumerate(sizes)  # weeks, not rows
    ]
    live = {k: np.concatenate([w[k] for w in weeks]) for k in research}
    week_of = np.repeat(np.arange(WEEKS), sizes)
    start = np.datetime64("2024-01-01T00:00:00", "s")  # a Monday
    within = rng.integers(0, 7 * 86400, len(week_of))
    times = start + (week_of * 7 * 86400 + within).astype("timedelta64[s]")
    labelled = week_of < WEEKS - UNLABELLED_WEEKS
    r_ids, l_ids = np.arange(RESEARCH_ROWS), 10**7 + np.arange(len(week_of))
    split = np.where(r_ids < 0.6 * RESEARCH_ROWS, "train", "test")
    tables = {
        "research": pa.table(
            {"id": r_ids, "score": research["score"], "y": research["y"], "split": split}
        ),
        "live": pa.table({"id": l_ids, "score": live["score"], "event_time": times}),
        "live_labels": pa.table({"id": l_ids[labelled], "y": live["y"][labelled]}),
    }
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
    return write_checklist(folder)


def write_checklist(folder: Path) -> Path:
    doc: dict[str, Any] = {
        "key": "id",
        "task": "binary",
        "research": {"predictions": {"path": "research.parquet"}},
        "production": {
            "live": {
                "predictions": {"path": "live.parquet"},
                "labels": {"path": "live_labels.parquet"},
            }
        },
        "columns": {"target": "y", "score": "score", "split": "split", "timestamp": "event_time"},
        "stages": {"performance_drop": {"chunk": {"every": "1w"}}},
    }
    path = folder / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def verdicts(path: Path) -> dict[str, Any]:
    """The check's status, and the unadjusted rule on the same numbers."""
    checklist = load_checklist(path)
    ctx = StageContext(checklist, LocalEngine(checklist), performance_drop.STAGE, 0)
    spec = REGISTRY.get("PERF001")
    assert spec is not None
    [finding] = list(spec.func(ctx))
    chunks, bar = finding.details["chunks"], finding.threshold
    window_fail = "fail" in (
        finding.details["realized_status"],
        finding.details["estimated_status"],
    )
    below = [i for i, c in enumerate(chunks) if c["upper"] is not None and c["upper"] < bar]
    failing = [i for i, c in enumerate(chunks) if c["status"] == "fail"]
    pooled = [r["chunks"] for r in finding.details["recent"] if r["status"] == "fail"]
    return {
        "pooled": pooled,
        "before": window_fail or bool(below),
        "after": finding.status.value == "fail",
        "failing": failing,
        "n_chunks": len(chunks),
        "message": finding.message,
    }


def simulate(runs: int, strength: float | None, seed: int) -> list[dict[str, Any]]:
    found = []
    for run in range(runs):  # runs, not rows
        with tempfile.TemporaryDirectory() as folder:
            path = write_run(Path(folder), np.random.default_rng([seed, run]), strength)
            found.append(verdicts(path))
    return found


def late_only(found: dict[str, Any], first_drop: int) -> bool:
    """No chunk before the drop fails, and the shortest failing window lies within the drop."""
    early = [i for i in found["failing"] if i < first_drop]
    windows = [*found["pooled"], *(WEEKS - i for i in found["failing"])]
    return not early and min(windows, default=WEEKS) <= WEEKS - first_drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="null runs and drop runs each")
    args = parser.parse_args()
    began = time.perf_counter()
    strength = weakened_strength(AUC_DROP)
    null = simulate(args.runs, None, seed=1)
    drop = simulate(args.runs, strength, seed=2)
    first_drop = WEEKS - DROP_WEEKS
    confined = [r for r in drop if r["after"] and late_only(r, first_drop)]
    print(f"weakened relation strength {strength:.4f} (AUC -{AUC_DROP})")
    print(f"example message: {drop[0]['message']}")
    print(f"chunks per run: {sorted({r['n_chunks'] for r in null + drop})}")
    print("| runs | rule | null false-fail rate | drop detected | confined to the last weeks |")
    print("|---:|---|---:|---:|---:|")
    for rule in ("before", "after"):
        false_fail = np.mean([r[rule] for r in null])
        detected = np.mean([r[rule] for r in drop])
        late = len(confined) / len(drop) if rule == "after" else float("nan")
        print(f"| {args.runs} | {rule} | {false_fail:.1%} | {detected:.1%} | {late:.1%} |")
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
