"""Time `mlcheck run --keep-going` against the floor of reading every input file with pyarrow.

    python benchmarks/run.py --rows 100000 1000000 --cols 30

For each size it generates paired snapshots (cached under benchmarks/data/), measures the floor
(pyarrow reading every file of both sides, best of 3, in a fresh process), then runs mlcheck
in a fresh process, and prints rows, columns, floor, mlcheck, ratio, peak RSS and time per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLOOR_SCRIPT = """
import sys, time, pyarrow.parquet as pq, pathlib
files = sorted(pathlib.Path(sys.argv[1]).rglob('*.parquet'))
best = min((lambda t0: ([pq.read_table(f) for f in files], time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(best)
"""


def ensure_data(rows: int, cols: int, defects: bool) -> Path:
    out = HERE / "data" / f"{rows}x{cols}{'-d' if defects else ''}"
    if not (out / "checklist.yaml").exists():
        cmd = [
            sys.executable,
            str(HERE / "generate.py"),
            "--rows",
            str(rows),
            "--cols",
            str(cols),
            "--out",
            str(out),
        ]
        subprocess.run(cmd + (["--defects"] if defects else []), check=True)
    return out


def floor_seconds(data: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", FLOOR_SCRIPT, str(data)], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def run_mlcheck(data: Path) -> tuple[float, float, dict[str, float], int]:
    cmd = [
        sys.executable,
        "-m",
        "mlcheck",
        "run",
        str(data / "checklist.yaml"),
        "--format",
        "json",
        "--keep-going",
        "-q",
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=errf)
        # wait4 gives this one child's peak RSS (KiB on Linux), not the max over every child so far.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        errf.seek(0)
        if code not in (0, 1):
            sys.exit(f"mlcheck exited {code}: {errf.read().decode()[-2000:]}")
        report = json.loads(out.read())
    stages = {s["id"]: s["duration_s"] for s in report["stages"]}
    stages["in-run"] = report["duration_s"]
    return elapsed, usage.ru_maxrss / 1024, stages, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--defects", action="store_true")
    args = parser.parse_args()
    print("| rows | cols | floor s | mlcheck s | ratio | peak RSS MiB | exit | per stage s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for rows in args.rows:
        data = ensure_data(rows, args.cols, args.defects)
        floor = floor_seconds(data)
        elapsed, peak, stages, code = run_mlcheck(data)
        per_stage = ", ".join(f"{k.split('_')[0]} {v:.2f}" for k, v in stages.items())
        print(
            f"| {rows:,} | {args.cols} | {floor:.2f} | {elapsed:.2f} | {elapsed / floor:.1f}x | {peak:,.0f} | {code} | {per_stage} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
