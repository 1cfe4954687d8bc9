"""The seam's primitives in one process, on the generated differing pair read in place.

    python benchmarks/primitives.py --rows 1000000 --cols 33 [--engine duckdb spark] [--threads 2]
    python benchmarks/primitives.py --wide 5000            # 20 rows x 5,000 float columns

Times (wall and this process's CPU; Spark's JVM is another process, so compare its wall) each
question stage 1 asks of the raw `main` sources: registering both sides in place, the key
comparison of every column, profiles of every column on each side, the whole-row multiset
difference, and a 99-point quantile grid per categorical value. The data is generate.py's
`--differing` pair (cached under benchmarks/data/, as run.py makes it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcheck.compare import pair_kind
from mlcheck.engines import EngineSettings, make_engine
from mlcheck.engines.base import Tolerance


def timed(label: str, ask: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    answer = ask()
    print(
        f"  {label:<28}{time.perf_counter() - wall:>8.2f} s wall {time.process_time() - cpu:>7.2f} s CPU",
        flush=True,
    )
    return answer


def pair(engine: Any, left: Path, right: Path) -> None:
    timed(
        "register both (in place)",
        lambda: (engine.register("L", left), engine.register("R", right)),
    )
    schema = engine.schema("L")
    kinds = {f.name: pair_kind(f.type, f.type) for f in schema}
    compared = {c: k for c, k in kinds.items() if c != "id"}
    timed(
        "key_comparison",
        lambda: engine.key_comparison("L", "R", ["id"], compared, Tolerance(1e-9, 0.0), 5),
    )
    timed("profiles research", lambda: engine.profiles("L", kinds, 10))
    timed("profiles production", lambda: engine.profiles("R", kinds, 10))
    timed("multiset_difference", lambda: engine.multiset_difference("L", "R", list(kinds), 5))
    text = next((c for c, k in kinds.items() if k == "text"), None)
    floats = [c for c, k in kinds.items() if k == "float"]
    if text and floats:
        grid = [i / 100 for i in range(1, 100)]
        timed("quantiles by category", lambda: engine.quantiles("L", floats[0], grid, by=text))


def wide(engine: Any, cols: int, folder: Path) -> None:
    rng = np.random.default_rng(0)
    names = [f"f{i:05d}" for i in range(cols)]
    research = pa.table({"id": np.arange(20), **{n: rng.normal(size=20) for n in names}})
    production = research.set_column(1, names[0], pa.array(rng.normal(size=20)))
    pq.write_table(research, folder / "r.parquet")
    pq.write_table(production, folder / "p.parquet")
    pair(engine, folder / "r.parquet", folder / "p.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=33)
    parser.add_argument("--engine", nargs="+", default=["duckdb"], choices=["duckdb", "spark"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--wide", type=int, default=0, help="20 rows x this many columns instead")
    args = parser.parse_args()
    for name in args.engine:
        settings = EngineSettings(name, memory_limit=args.memory_limit, threads=args.threads)
        engine = timed(f"{name}: start", lambda s=settings: make_engine(s))  # type: ignore[misc]
        try:
            if args.wide:
                with tempfile.TemporaryDirectory() as folder:
                    wide(engine, args.wide, Path(folder))
            else:
                from run import ensure_data  # benchmarks/run.py: the cached differing pair

                data = ensure_data(args.rows, args.cols, False, differing=True)
                raw = Path("raw") / "main.parquet"
                pair(engine, data / "research" / raw, data / "production" / raw)
        finally:
            engine.close()


if __name__ == "__main__":
    main()
