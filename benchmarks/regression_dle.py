"""Regression without labels: mlcheck's direct loss estimation against NannyML's on its data.

    python benchmarks/regression_dle.py --data DIR

DIR holds NannyML's synthetic car-price files (`regression_synthetic_reference.csv`,
`regression_synthetic_analysis.csv`, `regression_synthetic_analysis_targets.csv`, shipped in
the `nannyml` package under `nannyml/datasets/data/`; Apache-2.0, not redistributed here).
mlcheck does not depend on NannyML: its numbers below were measured once with NannyML 0.13.1
(`DLE(metrics=["mae", "rmse"], chunk_size=6000, tune_hyperparameters=False)`, LightGBM).

The real check (PERF001) runs on the CSV files through the engine: research = the 60,000
reference rows with labels, live = the 60,000 analysis rows without labels, `chunk: {size:
6000}`. Per chunk it prints mlcheck's estimate, NannyML's and the realized value (from the
targets file), and the mean absolute gap of each to the realized values, next to that of
assuming the research level.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pv
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.stages import performance_drop

FEATURES = [
    "car_age",
    "km_driven",
    "price_new",
    "accident_count",
    "door_count",
    "fuel",
    "transmission",
]
# NannyML 0.13.1 DLE per 6,000-row analysis chunk (measured once, see the module docstring).
NANNYML = {
    "mae": [850.4, 849.5, 842.7, 848.8, 843.6, 715.3, 713.1, 711.8, 714.7, 704.7],
    "rmse": [1067.2, 1063.1, 1054.2, 1060.7, 1055.2, 928.5, 928.9, 927.9, 930.4, 919.4],
}
CHUNK = 6000


def checklist(folder: Path, data: Path, metric: str) -> Path:
    doc = {
        "key": "id",
        "task": "regression",
        "research": {
            "predictions": {"path": str(data / "regression_synthetic_reference.csv")},
            "features": {"path": str(data / "regression_synthetic_reference.csv")},
        },
        "production": {
            "live": {
                "predictions": {"path": str(data / "regression_synthetic_analysis.csv")},
                "features": {"path": str(data / "regression_synthetic_analysis.csv")},
            }
        },
        "columns": {"target": "y_true", "score": "y_pred", "features": FEATURES},
        "stages": {"performance_drop": {"metric": metric, "chunk": {"size": CHUNK}}},
    }
    path = folder / f"{metric}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def realized(data: Path, metric: str) -> np.ndarray:
    analysis = pv.read_csv(data / "regression_synthetic_analysis.csv")
    targets = pv.read_csv(data / "regression_synthetic_analysis_targets.csv")
    assert analysis.column("id").equals(targets.column("id"))
    error = targets.column("y_true").to_numpy() - analysis.column("y_pred").to_numpy()
    chunks = error.reshape(-1, CHUNK)
    return np.abs(chunks).mean(axis=1) if metric == "mae" else np.sqrt((chunks**2).mean(axis=1))


def estimated(path: Path) -> tuple[np.ndarray, float, float]:
    loaded = load_checklist(path)
    ctx = StageContext(loaded, LocalEngine(loaded), performance_drop.STAGE, 0)
    spec = REGISTRY.get("PERF001")
    assert spec is not None
    [finding] = list(spec.func(ctx))
    chunks = finding.details["chunks"]
    se = float(np.mean([c["upper"] - c["lower"] for c in chunks]) / (2 * 1.959964))
    return np.array([c["estimated"] for c in chunks]), float(finding.expected), se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of NannyML's CSV files")
    args = parser.parse_args()
    print("| metric | chunk se | mlcheck DLE gap | NannyML DLE gap | research level gap |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for metric in ("mae", "rmse"):  # two metrics, not rows
            began = time.perf_counter()
            ours, baseline, se = estimated(checklist(Path(folder), args.data.resolve(), metric))
            truth, theirs = realized(args.data, metric), np.array(NANNYML[metric])
            print(
                f"| {metric} | {se:.1f} | {np.abs(ours - truth).mean():.1f} | "
                f"{np.abs(theirs - truth).mean():.1f} | {np.abs(baseline - truth).mean():.1f} |"
                f"  ({time.perf_counter() - began:.1f} s)"
            )
            print(f"  mlcheck  {np.round(ours, 1).tolist()}")
            print(f"  NannyML  {theirs.tolist()}")
            print(f"  realized {np.round(truth, 1).tolist()}")


if __name__ == "__main__":
    main()
