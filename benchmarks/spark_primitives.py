"""Every aggregate primitive on Spark (local mode) beside DuckDB, on the same parquet files.

    python benchmarks/spark_primitives.py --rows 100000 [--threads 2] [--repeat 2]

Research and production share `rows` keys (production drops 0.1% and adds as many, changes
0.5% of one float column); columns: id, three floats, an integer, a text, a timestamp.
Prints wall seconds per primitive and engine (best of `--repeat`; Spark's first run includes
its JIT warm-up, so the best is the steady state) and whether the answers are identical.
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

from mlcheck.engines import EngineSettings, make_engine
from mlcheck.engines.base import Tolerance

KINDS: dict[str, Any] = {
    "f1": "float", "f2": "float", "f3": "float", "n": "integer", "c": "text", "t": "temporal",
}  # fmt: skip


def tables(rows: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(0)
    research = {
        "id": np.arange(rows),
        "f1": rng.normal(size=rows),
        "f2": rng.exponential(size=rows),
        "f3": rng.normal(5, 2, rows),
        "n": rng.integers(0, 1000, rows),
        "c": rng.choice(["a", "b", "c", "d", "e"], rows),
        "t": np.datetime64("2024-01-01", "s") + rng.integers(0, 10**7, rows),
    }
    production = dict(research)
    changed = rng.random(rows) < 0.005
    production["f1"] = np.where(changed, research["f1"] + 0.5, research["f1"])
    moved = rng.random(rows) < 0.001
    production["id"] = np.where(moved, research["id"] + rows, research["id"])
    return pa.table(research), pa.table(production)


def questions(engine: Any) -> dict[str, Any]:
    return {
        "key_comparison": lambda: engine.key_comparison(
            "L", "R", ["id"], KINDS, Tolerance(1e-9, 0.0), 5
        ),
        "profiles": lambda: engine.profiles("L", KINDS, 5),
        "value_counts": lambda: engine.value_counts("L", "c", by="n"),
        "quantiles": lambda: engine.quantiles("L", "f1", np.linspace(0, 1, 11), by="c"),
        "crosstab": lambda: engine.crosstab("L", "R", ["id"], "c", "c"),
        "multiset_difference": lambda: engine.multiset_difference("L", "R", ["c", "n", "f1"], 5),
    }


def timed(engine: Any, repeat: int) -> tuple[dict[str, float], dict[str, str]]:
    seconds, answers = {}, {}
    for name, ask in questions(engine).items():
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            answer = ask()
            best = min(best, time.perf_counter() - start)
        seconds[name], answers[name] = best, repr(answer)
    return seconds, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from mlcheck.engines.spark import SparkEngine

    with tempfile.TemporaryDirectory() as folder:
        research, production = tables(args.rows)
        pq.write_table(research, Path(folder) / "r.parquet")
        pq.write_table(production, Path(folder) / "p.parquet")
        results = {}
        start = time.perf_counter()
        spark = SparkEngine(EngineSettings("spark", threads=args.threads, memory_limit="2g"))
        startup = time.perf_counter() - start
        duck = make_engine(EngineSettings("duckdb", threads=args.threads))
        for label, engine in (("duckdb", duck), ("spark", spark)):
            engine.register("L", Path(folder) / "r.parquet")
            engine.register("R", Path(folder) / "p.parquet")
            results[label] = timed(engine, args.repeat)
        spark.close()
    print(f"{args.rows} rows per side, {args.threads} threads; Spark session start {startup:.1f} s")
    print(f"{'primitive':<22}{'duckdb s':>10}{'spark s':>10}{'ratio':>8}  same answer")
    for name in results["duckdb"][0]:
        d, s = results["duckdb"][0][name], results["spark"][0][name]
        same = results["duckdb"][1][name] == results["spark"][1][name]
        print(f"{name:<22}{d:>10.3f}{s:>10.3f}{s / d:>8.1f}  {same}")


if __name__ == "__main__":
    main()
