"""Time `mlcheck run --keep-going` against the floor of reading every input file with pyarrow.

    python benchmarks/run.py                                  # 100k and 1M rows x 30 columns
    python benchmarks/run.py --rows 1000000 --cols 60 --drift   # covariate drift of 60 features
    python benchmarks/run.py --rows 10000000 --repeat 1 --clean                 # 10M, then delete

For each size it generates paired snapshots once (cached under benchmarks/data/, see
generate.py), then alternates, `--repeat` times, fresh processes: the floor (pyarrow reading
every parquet file of research, production and live once, imports done first, the faster of
`pq.read_table` and `ParquetFile.read`) and `mlcheck run --format json -q --keep-going`. It
prints the best time of each and their ratio (measured in the same run, so machine load affects
them alike). mlcheck's time is a whole process (interpreter start, imports, reading, six stages,
report), so the floor's whole process (interpreter start, importing pyarrow, the read) is shown
too, with mlcheck's ratio to it; the stricter ratio, to the read alone, is the one judged. Then
mlcheck's peak RSS (the largest of its runs) against the Arrow size of the data,
the CLI's import time, and mlcheck's time per stage from its report.

`--differing` uses data whose production side really differs (generate.py `--differing`: rows
dropped, changed float cells, shifted features, an unseen category) and measures against the
floor the issue names: a whole process that reads every file with pyarrow and computes each
column's count, nulls, min, max, mean and std. It prints wall and CPU seconds (user + system of
the whole process) of both and their ratios, per `--only` selection (`--only-sets` times several
selections in one run, e.g. `data_reproducibility` and the full run).

`--engine duckdb spark` times each engine in turn; `--memory-limit 3GB` passes the cap on
(CPU seconds include every process mlcheck starts, Spark's JVM among them; peak RSS is the
mlcheck process's own: with Spark, its JVM's heap is not included).

    python benchmarks/run.py --differing --rows 1000000 2000000 --cols 33 --only-sets all
    python benchmarks/run.py --differing --rows 10000000 --cols 33 --repeat 1 --memory-limit 3GB

`--drift` times covariate drift alone (check PERF002 over every feature, the whole live window
and its weekly chunks) in a fresh process whose tables are already read and whose imports are
done.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUT = "v2"  # bump when generate.py writes a different layout, so cached data is rebuilt
FLOOR_SCRIPT = """
import pathlib, sys, time
import pyarrow.dataset, pyarrow.parquet as pq  # imports (pandas among them) are not reading
files = sorted(pathlib.Path(sys.argv[1]).rglob('*.parquet'))
def read(f):
    if sys.argv[2] == 'read_table':
        return pq.read_table(f)
    with pq.ParquetFile(f) as handle:
        return handle.read()
start = time.perf_counter()
tables = [read(f) for f in files]  # once, in a fresh process: cold memory, as mlcheck reads
print(time.perf_counter() - start, sum(t.nbytes for t in tables))
"""
DRIFT_SCRIPT = """
import sys, time
from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
import mlcheck.stages  # registers the checks
checklist = load_checklist(sys.argv[1])
engine = LocalEngine(checklist)
for slot in ("research.features", "research.splits", "production.live.features"):
    engine.table(slot)  # reading is the floor's part, not drift's
import scipy.special  # the p-values' functions: imported once per run, like the CLI
ctx = StageContext(checklist, engine, "performance_drop")
start, cpu = time.perf_counter(), time.process_time()
findings = list(REGISTRY.get("PERF002").func(ctx))
print(time.perf_counter() - start, time.process_time() - cpu, len(findings))
"""
STATS_FLOOR_SCRIPT = """
import pathlib, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
def stats(column):
    out = [len(column), column.null_count]
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_dictionary(column.type):
        column = column.cast(kind)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        out += [pc.min_max(column), pc.mean(column), pc.stddev(column, ddof=1)]
    elif not pa.types.is_nested(kind):
        out += [pc.min_max(column)]
    return out
files = sorted(pathlib.Path(sys.argv[1]).rglob('*.parquet'))
for f in files:
    table = pq.read_table(f)
    [stats(table.column(i)) for i in range(table.num_columns)]
"""
IMPORT_SCRIPT = (
    "import time; t = time.perf_counter(); import mlcheck.cli; print(time.perf_counter() - t)"
)
STAGE_NAMES = {
    "data_reproducibility": "data",
    "feature_parity": "features",
    "split_reproducibility": "splits",
    "prediction_mismatch": "predictions",
    "performance_drop": "performance",
    "variable_availability": "availability",
}


@dataclass
class Measurement:
    floor: float = float("inf")
    floor_process: float = float("inf")
    data_bytes: int = 0
    mlcheck: float = float("inf")
    peak_mib: float = 0.0
    startup: float = float("inf")
    code: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def ensure_data(rows: int, cols: int, defects: bool, differing: bool = False) -> Path:
    suffix = ("-d" if defects else "") + ("-x" if differing else "")
    out = HERE / "data" / f"{LAYOUT}-{rows}x{cols}{suffix}"
    if not (out / "checklist.yaml").exists():
        cmd = [sys.executable, str(HERE / "generate.py"), "--rows", str(rows), "--cols", str(cols)]
        cmd += ["--out", str(out)] + (["--defects"] if defects else [])
        cmd += ["--differing"] if differing else []
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"generated {out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def floor_seconds(data: Path) -> tuple[float, float, int]:
    """The faster plain pyarrow read of every file (`pq.read_table`, `ParquetFile.read`), each
    in a fresh process: the read alone, the whole process (interpreter start, imports, read and
    exit, as mlcheck's own time is taken), and the data's Arrow size."""
    best, process, size = float("inf"), float("inf"), 0
    for method in ("read_table", "parquet_file"):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", FLOOR_SCRIPT, str(data), method],
            capture_output=True,
            text=True,
            check=True,
        )
        process = min(process, time.perf_counter() - start)
        seconds, size_text = result.stdout.split()
        best, size = min(best, float(seconds)), int(size_text)
    return best, process, size


def import_seconds() -> float:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def drift_seconds(data: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of covariate drift over every feature, and the number of features."""
    result = subprocess.run(
        [sys.executable, "-c", DRIFT_SCRIPT, str(data / "checklist.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu, features = result.stdout.split()
    return float(wall), float(cpu), int(features)


def run_mlcheck(data: Path, only: list[str]) -> tuple[float, float, dict[str, float], int]:
    """Wall seconds, peak RSS (MiB), per-stage seconds and exit code of one fresh run."""
    cmd = [sys.executable, "-m", "mlcheck", "run", str(data / "checklist.yaml")]
    cmd += ["--format", "json", "--keep-going", "-q"] + [f"--only={s}" for s in only]
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
    stages = {s["id"]: s["duration_s"] for s in report["stages"] if s["status"] != "skipped"}
    return elapsed, usage.ru_maxrss / 1024, stages, code


def measure(data: Path, repeat: int, only: list[str]) -> Measurement:
    """Best of `repeat` alternating floor and mlcheck runs (alternating spreads load alike)."""
    m = Measurement()
    for _ in range(repeat):
        floor, process, m.data_bytes = floor_seconds(data)
        m.floor, m.floor_process = min(m.floor, floor), min(m.floor_process, process)
        elapsed, peak, stages, m.code = run_mlcheck(data, only)
        m.peak_mib = max(m.peak_mib, peak)
        if elapsed < m.mlcheck:
            m.mlcheck, m.stages = elapsed, stages
        m.startup = min(m.startup, import_seconds())
    return m


HEADER = (
    "| rows | cols | floor s | mlcheck s | ratio | floor process s | ratio to process "
    "| peak RSS MiB | data MiB | import s | exit | per stage s |"
    "\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def row(rows: int, cols: int, m: Measurement) -> str:
    per_stage = ", ".join(f"{STAGE_NAMES.get(k, k)} {v:.2f}" for k, v in m.stages.items())
    return (
        f"| {rows:,} | {cols} | {m.floor:.2f} | {m.mlcheck:.2f} | {m.mlcheck / m.floor:.2f}x "
        f"| {m.floor_process:.2f} | {m.mlcheck / m.floor_process:.2f}x "
        f"| {m.peak_mib:,.0f} | {m.data_bytes / 2**20:,.0f} | {m.startup:.2f} | {m.code} "
        f"| {per_stage} |"
    )


@dataclass
class Process:
    """One whole process: wall and CPU (user + system) seconds, peak RSS, exit code, stdout."""

    wall: float
    cpu: float
    peak_mib: float
    code: int
    stdout: bytes


def timed_process(cmd: list[str]) -> Process:
    """The command's wall and CPU seconds including every process it started (Spark's JVM
    outlives the Python process that launched it: as a child subreaper this process inherits
    and reaps it, so its CPU joins the figure); peak RSS is the command's own process's."""
    _become_subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=errf)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        _reap_descendants()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        errf.seek(0)
        if code not in (0, 1):
            sys.exit(f"{cmd[:4]} exited {code}: {errf.read().decode()[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Process(wall, cpu, usage.ru_maxrss / 1024, code, out.read())


def _become_subreaper() -> None:
    """Orphaned descendants (a JVM left behind by its launcher) become this process's children
    (Linux prctl PR_SET_CHILD_SUBREAPER; elsewhere their CPU is simply not counted)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_descendants(grace_s: float = 120.0) -> None:
    """Wait until every inherited descendant has ended (a JVM shuts down after its driver)."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


@dataclass
class Versus:
    """Best wall and best CPU of the floor and of mlcheck over alternating runs."""

    floor_wall: float = float("inf")
    floor_cpu: float = float("inf")
    wall: float = float("inf")
    cpu: float = float("inf")
    peak_mib: float = 0.0
    code: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def mlcheck_command(data: Path, only: list[str], extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "mlcheck", "run", str(data / "checklist.yaml")]
    return cmd + ["--format", "json", "--keep-going", "-q"] + [f"--only={s}" for s in only] + extra


def versus_floor(data: Path, repeat: int, only: list[str], extra: list[str]) -> Versus:
    v = Versus()
    for _ in range(repeat):
        floor = timed_process([sys.executable, "-c", STATS_FLOOR_SCRIPT, str(data)])
        v.floor_wall, v.floor_cpu = min(v.floor_wall, floor.wall), min(v.floor_cpu, floor.cpu)
        run = timed_process(mlcheck_command(data, only, extra))
        v.peak_mib, v.code, v.cpu = max(v.peak_mib, run.peak_mib), run.code, min(v.cpu, run.cpu)
        if run.wall < v.wall:
            report = json.loads(run.stdout)
            v.wall = run.wall
            v.stages = {
                s["id"]: s["duration_s"] for s in report["stages"] if s["status"] != "skipped"
            }
    return v


DIFFERING_HEADER = (
    "| rows | cols | run | floor wall s | floor CPU s | mlcheck wall s | mlcheck CPU s "
    "| wall ratio | CPU ratio | peak RSS MiB | exit | per stage s |"
    "\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def differing_row(rows: int, cols: int, label: str, v: Versus) -> str:
    per_stage = ", ".join(f"{STAGE_NAMES.get(k, k)} {t:.2f}" for k, t in v.stages.items())
    return (
        f"| {rows:,} | {cols} | {label} | {v.floor_wall:.2f} | {v.floor_cpu:.2f} | {v.wall:.2f} "
        f"| {v.cpu:.2f} | {v.wall / v.floor_wall:.2f}x | {v.cpu / v.floor_cpu:.2f}x "
        f"| {v.peak_mib:,.0f} | {v.code} | {per_stage} |"
    )


def run_differing(args: argparse.Namespace) -> None:
    """The issue-14 table: each size x each selection against the column-statistics floor."""
    selections = [s.split(",") if s != "all" else [] for s in args.only_sets] or [args.only]
    print(DIFFERING_HEADER, flush=True)
    for rows in args.rows:
        data = ensure_data(rows, args.cols, args.defects, differing=True)
        try:
            for only in selections:
                for engine in args.engine:
                    extra = [*args.mlcheck_args, "--engine", engine]
                    extra += ["--memory-limit", args.memory_limit] if args.memory_limit else []
                    v = versus_floor(data, args.repeat, only, extra)
                    label = f"{','.join(only) or 'full --keep-going'} ({engine})"
                    print(differing_row(rows, args.cols, label, v), flush=True)
        finally:
            if args.clean:
                shutil.rmtree(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--defects", action="store_true", help="production with lost/changed rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--only", action="append", default=[], help="time only this stage")
    parser.add_argument("--clean", action="store_true", help="delete generated data afterwards")
    parser.add_argument("--drift", action="store_true", help="time covariate drift alone")
    parser.add_argument("--differing", action="store_true", help="production really differs")
    parser.add_argument(
        "--only-sets",
        nargs="+",
        default=[],
        help="with --differing: selections to time, comma-separated stages or 'all'",
    )
    parser.add_argument(
        "--mlcheck-args",
        type=shlex.split,
        default=[],
        help="extra `mlcheck run` options in one quoted string ('--engine duckdb ')",
    )
    parser.add_argument(
        "--engine",
        nargs="+",
        default=["duckdb"],
        choices=["duckdb", "spark"],
        help="with --differing: time each engine (a column per engine; CPU includes Spark's "
        "JVM, peak RSS does not)",
    )
    parser.add_argument("--memory-limit", help="with --differing: mlcheck's --memory-limit")
    args = parser.parse_args()
    if args.differing:
        run_differing(args)
        return
    print(DRIFT_HEADER if args.drift else HEADER, flush=True)
    for rows in args.rows:
        data = ensure_data(rows, args.cols, args.defects)
        try:
            line = drift_row(rows, data, args.repeat) if args.drift else None
            print(line or row(rows, args.cols, measure(data, args.repeat, args.only)), flush=True)
        finally:
            if args.clean:
                shutil.rmtree(data)


DRIFT_HEADER = "| rows | features | drift s | cpu s |\n|---:|---:|---:|---:|"


def drift_row(rows: int, data: Path, repeat: int) -> str:
    """Best of `repeat` runs of covariate drift alone."""
    wall, cpu, features = min(drift_seconds(data) for _ in range(repeat))
    return f"| {rows:,} | {features} | {wall:.2f} | {cpu:.2f} |"


if __name__ == "__main__":
    main()
