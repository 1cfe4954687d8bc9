"""Time stages 1 and 2 on wide, short tables: ROWS rows x COLS float columns per side.

    python benchmarks/wide.py                       # 20 rows x 1000, 2500 and 5000 columns
    python benchmarks/wide.py --cols 5000 --identical
    python benchmarks/wide.py --cols 5000 --same --stages data_reproducibility

The same table is written as research and production raw source and features (production's rows
reversed and one cell of the last column changed, so the fingerprint fast path cannot decide
and every column is compared cell by cell; `--identical`: production = research; `--same`:
every column holds the same values). Each size runs `mlcheck run --only data_reproducibility
--only feature_parity --keep-going` in a fresh process (`--repeat` times, the run of least CPU
kept) and prints its wall and CPU time (CPU is steadier on a shared machine) and each stage's
time from the report. Per-column work must be linear: CPU per 1000 columns should not grow
with the column count. Data goes to a temporary folder, deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

STAGES = ("data_reproducibility", "feature_parity")


def write_project(folder: Path, rows: int, cols: int, identical: bool, same: bool) -> Path:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(1 if same else cols, rows)).repeat(cols if same else 1, axis=0)
    columns = {"id": np.arange(rows)} | {f"c{i}": values[i] for i in range(cols)}
    research = pa.table(columns)
    production = research if identical else research.take(np.arange(rows)[::-1])
    if not identical:  # one cell differs: the run cannot stop at the fingerprint
        last = production.column(cols).to_numpy().copy()
        last[0] += 1.0
        production = production.set_column(cols, f"c{cols - 1}", pa.array(last))
    for side, table in (("research", research), ("production", production)):
        pq.write_table(table, folder / f"{side}_raw.parquet")
        pq.write_table(table, folder / f"{side}_features.parquet")
    checklist = folder / "wide.yaml"
    checklist.write_text(
        "version: 1\nkey: id\n"
        + "".join(
            f"{side}:\n  raw: {{wide: {{path: {side}_raw.parquet}}}}\n"
            f"  features: {{path: {side}_features.parquet}}\n"
            for side in ("research", "production")
        )
    )
    return checklist


def run_once(checklist: Path, stages: list[str]) -> tuple[float, float, dict[str, float]]:
    """(wall seconds, CPU seconds, seconds per stage) of one fresh `mlcheck run` process."""
    selection = [arg for stage in stages for arg in ("--only", stage)]
    command = ["mlcheck", "run", str(checklist), "--format", "json", "-q", "--keep-going"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command + selection, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    report = json.loads(done.stdout)
    return elapsed, cpu, {s["id"]: s["duration_s"] for s in report["stages"] if s["id"] in stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--cols", type=int, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--identical", action="store_true", help="production = research")
    parser.add_argument("--same", action="store_true", help="every column holds the same values")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = parser.parse_args()
    print(f"{'rows x cols':>14} {'wall':>8} {'CPU':>8} {'CPU/1000 cols':>14}  per stage, wall (s)")
    for cols in args.cols:
        with tempfile.TemporaryDirectory() as folder:
            checklist = write_project(Path(folder), args.rows, cols, args.identical, args.same)
            runs = [run_once(checklist, args.stages) for _ in range(args.repeat)]
        wall, cpu, stages = min(runs, key=lambda run: run[1])
        per_stage = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
        print(
            f"{args.rows:>5} x {cols:<6} {wall:>7.2f}s {cpu:>7.2f}s {cpu / cols * 1000:>13.2f}s"
            f"  {per_stage}"
        )


if __name__ == "__main__":
    main()
