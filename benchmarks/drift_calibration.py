"""Calibration of mlcheck's drift rule: false alarms without drift, detection with it.

    python benchmarks/drift_calibration.py                 # the full table (a few minutes)
    python benchmarks/drift_calibration.py --scale 0.1     # a quick look with 10% of the runs

For n = 100 ... 1,000,000 rows per side, each run draws a research and a live sample of five
features and applies the rule performance_drop uses (PERF002) with its default thresholds:
drift = effect size >= threshold AND Benjamini-Hochberg-adjusted p-value (across the five
features of the run) < drift_alpha.

Features: `normal` N(0, 1); `skewed` lognormal(0, 1); `discrete` Poisson(3) (ties);
`categorical` four categories with shares 0.4/0.3/0.2/0.1; `many_cats` 50 categories with
Zipf-like shares (rare ones get pooled for the chi-square test).

No-drift runs: both sides from the same distributions; every alarm is a false alarm.
Shifted runs: live `normal` moved by 0.1 standard deviation, and the 0.1 share of `categorical`
doubled to 0.2 (the other shares scaled down); detection rate = share of runs where the shifted
feature is flagged. Targets: at most 1% false alarms per feature at every n; the 0.1 sd shift
detected in at least 95% of runs for n >= 10,000.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from mlcheck import drift
from mlcheck.stage_config import PerformanceDropConfig

SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
RUNS = {100: 2000, 1_000: 2000, 10_000: 1000, 100_000: 200, 1_000_000: 30}
FEATURES = ("normal", "skewed", "discrete", "categorical", "many_cats")
CATEGORY_SHARES = np.array([0.4, 0.3, 0.2, 0.1])
DOUBLED_SHARES = np.append(CATEGORY_SHARES[:3] * 0.8 / 0.9, 0.2)
ZIPF_SHARES = 1 / np.arange(1, 51) / np.sum(1 / np.arange(1, 51))

Sampler = Callable[[np.random.Generator, int], np.ndarray]


def numeric_samplers(shift: float) -> dict[str, Sampler]:
    return {
        "normal": lambda rng, n: rng.normal(shift, 1.0, n),
        "skewed": lambda rng, n: rng.lognormal(0.0, 1.0, n),
        "discrete": lambda rng, n: rng.poisson(3.0, n).astype(np.float64),
    }


def category_counts(rng: np.random.Generator, n: int, shares: np.ndarray) -> np.ndarray:
    return rng.multinomial(n, shares).astype(np.float64)


def one_run(rng: np.random.Generator, n: int, shifted: bool) -> dict[str, bool]:
    """Draw both sides, measure every feature, decide with BH across the run's features."""
    results: dict[str, drift.NumericDrift | drift.CategoricalDrift | None] = {}
    live_numeric = numeric_samplers(0.1 if shifted else 0.0)
    for name, research_sampler in numeric_samplers(0.0).items():
        reference = np.sort(research_sampler(rng, n))
        results[name] = drift.numeric_drift(reference, np.sort(live_numeric[name](rng, n)))
    live_shares = DOUBLED_SHARES if shifted else CATEGORY_SHARES
    results["categorical"] = drift.categorical_drift(
        category_counts(rng, n, CATEGORY_SHARES), category_counts(rng, n, live_shares)
    )
    results["many_cats"] = drift.categorical_drift(
        category_counts(rng, n, ZIPF_SHARES), category_counts(rng, n, ZIPF_SHARES)
    )
    adjusted = drift.benjamini_hochberg([r.p_value if r else np.nan for r in results.values()])
    return {name: decide(r, p) for (name, r), p in zip(results.items(), adjusted, strict=True)}


def decide(result: drift.NumericDrift | drift.CategoricalDrift | None, p_adjusted: float) -> bool:
    config = PerformanceDropConfig()
    if result is None or not p_adjusted < config.drift_alpha:
        return False
    return drift.material(
        result,
        wasserstein=config.drift_wasserstein,
        jensen_shannon=config.drift_jensen_shannon,
        psi=config.drift_psi,
    )


def rates(n: int, runs: int, shifted: bool, seed: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, n, int(shifted)])
    flags = np.array([[one_run(rng, n, shifted)[f] for f in FEATURES] for _ in range(runs)])
    return dict(zip(FEATURES, flags.mean(axis=0), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default runs")
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    config = PerformanceDropConfig()
    print(
        f"rule: effect >= threshold (Wasserstein {config.drift_wasserstein} sd; JS "
        f"{config.drift_jensen_shannon} or PSI {config.drift_psi}) AND BH-adjusted p < "
        f"{config.drift_alpha}\n"
    )
    header = "".join(f"{f:>12}" for f in FEATURES)
    print(f"{'':>15} | {'false alarms per feature, no drift':^60} | {'detection, shifted':^29} |")
    print(f"{'n':>9} {'runs':>5} | {header} | {'0.1 sd':>12} {'2x share':>16} | time")
    for n in SIZES:
        runs = max(5, round(RUNS[n] * args.scale))
        started = time.perf_counter()
        quiet = rates(n, runs, shifted=False, seed=args.seed)
        moved = rates(n, runs, shifted=True, seed=args.seed)
        cells = "".join(f"{quiet[f]:>12.2%}" for f in FEATURES)
        print(
            f"{n:>9,} {runs:>5} | {cells} | {moved['normal']:>12.1%} {moved['categorical']:>16.1%} |"
            f" {time.perf_counter() - started:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
