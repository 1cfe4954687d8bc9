"""A research/production pair larger than memory, written in chunks, then one timed run.

    python benchmarks/large.py --rows 100000000 --out /tmp/mlcheck-large --memory-limit 4GB --clean

Writes research and production `main.parquet` (id, five floats, three small integers, one
category: 10 columns, about 50 bytes a row, so 100M rows are ~10 GB for both sides) one
million rows at a time, never holding a side in memory. Production drops 0.05% of the rows,
changes one float cell in 0.1% of them and shifts one feature by 0.1 standard deviations. The
checklist declares them as raw sources and as features (stages 1 and 2; the other stages have
no slots and are skipped). Then it times `mlcheck run --keep-going -f json` with the memory
limit and prints wall seconds, CPU seconds and peak RSS of that process; `--clean` deletes the
folder afterwards (also when the run fails).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 1_000_000
CATEGORIES = pa.array([f"cat{i:02d}" for i in range(40)])
CHECKLIST = """version: 1
name: large
key: id
research:
  raw: {main: {path: research/main.parquet}}
  features: {path: research/main.parquet}
production:
  raw: {main: {path: production/main.parquet}}
  features: {path: production/main.parquet}
"""


def chunk(start: int, rows: int, rng: np.random.Generator) -> pa.Table:
    codes = rng.integers(0, len(CATEGORIES), rows).astype(np.int32)
    columns = {"id": np.arange(start, start + rows, dtype=np.int64)}
    columns |= {f"f{i}": rng.normal(i, 1 + i, rows) for i in range(5)}
    columns |= {f"n{i}": rng.integers(0, 10 ** (i + 1), rows) for i in range(3)}
    table = pa.table(columns)
    category = pa.DictionaryArray.from_arrays(pa.array(codes), CATEGORIES)
    return table.append_column("category", category)


def production(research: pa.Table, rng: np.random.Generator) -> pa.Table:
    rows = research.num_rows
    kept = rng.random(rows) >= 0.0005
    f0 = research.column("f0").to_numpy()
    changed = rng.random(rows) < 0.001
    out = research.set_column(1, "f0", pa.array(np.where(changed, f0 * 1.5 + 1.0, f0)))
    out = out.set_column(2, "f1", pa.array(research.column("f1").to_numpy() + 0.2))
    return out.filter(pa.array(kept))


def write(folder: Path, rows: int, seed: int) -> None:
    for side in ("research", "production"):
        (folder / side).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    first = chunk(0, min(CHUNK, rows), rng)
    with (
        pq.ParquetWriter(folder / "research" / "main.parquet", first.schema) as research,
        pq.ParquetWriter(folder / "production" / "main.parquet", first.schema) as prod,
    ):
        for start in range(0, rows, CHUNK):
            table = first if start == 0 else chunk(start, min(CHUNK, rows - start), rng)
            research.write_table(table)
            prod.write_table(production(table, rng))
    (folder / "checklist.yaml").write_text(CHECKLIST, encoding="utf-8")


def timed_run(folder: Path, memory_limit: str, engine: str) -> None:
    cmd = [sys.executable, "-m", "mlcheck", "run", str(folder / "checklist.yaml"), "-q"]
    cmd += ["--keep-going", "-f", "json", "--memory-limit", memory_limit, "--engine", engine]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    print(
        f"exit {code}: {wall:.1f} s wall, {usage.ru_utime + usage.ru_stime:.1f} s CPU, "
        f"peak RSS {usage.ru_maxrss / 2**20:.2f} GiB {err}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument("--no-run", action="store_true", help="only write the data")
    parser.add_argument("--clean", action="store_true", help="delete the folder afterwards")
    args = parser.parse_args()
    try:
        if not (args.out / "checklist.yaml").exists():
            started = time.perf_counter()
            write(args.out, args.rows, args.seed)
            size = sum(f.stat().st_size for f in args.out.rglob("*.parquet")) / 2**30
            print(f"wrote {size:.1f} GiB in {time.perf_counter() - started:.0f} s", flush=True)
        if not args.no_run:
            timed_run(args.out, args.memory_limit, args.engine)
    finally:
        if args.clean:
            shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
