"""Support for the robustness suite: a small, complete, clean project to break one file at a time.

`Project` holds every input of a checklist that exercises all six stages — raw sources, features,
splits, predictions, labels, environments and live traffic — as pyarrow tables, bytes or text keyed
by their path under the project folder, plus the checklist itself as a mapping. A corpus case edits
one of them (swaps a file's bytes, a column, a checklist key) and writes the project to tmp_path.

The clean project is a credit-style binary task, seeded and tiny (1000 research rows, 1000 live
rows): research and production hold identical content (production rows shuffled), live traffic
comes from the same distributions, so `mlcheck run` exits 0. Outcomes of a run are read either
in-process (`run_in_process`, fast) or from a real `python -m mlcheck` subprocess (`run_process`).
A corpus `Case` bundles one defect with the outcome it must produce (`assert_outcome`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.cli import main
from mlcheck.errors import EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]
N_RESEARCH = 1000
N_LIVE = 1000
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
REGIONS = np.array(["North", "South", "East", "West"])
PRODUCTS = np.array(["personal_loan", "auto_loan", "mortgage"])
PACKAGES = {"numpy": "1.26.4", "pandas": "2.1.4", "scikit-learn": "1.4.2"}

File = pa.Table | bytes | str


# --------------------------------------------------------------------------- clean data


def _applicants(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Applicant attributes, bureau data and a default probability from a fixed logistic model."""
    income = np.round(rng.lognormal(10.6, 0.4, n), 2)
    loan = np.round(rng.lognormal(9.3, 0.5, n), 2)
    total_debt = np.round(loan * rng.uniform(0.5, 3.0, n), 2)
    score = rng.integers(300, 851, n)
    delinquencies = rng.poisson(0.4, n)
    dti = np.round(total_debt / income, 6)
    logit = -1.5 + 1.2 * dti - 0.008 * (score - 600) + 0.5 * delinquencies
    p_default = 1.0 / (1.0 + np.exp(-logit))
    return {
        "income": income,
        "age": rng.integers(21, 76, n),
        "region": REGIONS[rng.integers(0, len(REGIONS), n)],
        "product": PRODUCTS[rng.integers(0, len(PRODUCTS), n)],
        "loan_amount": loan,
        "term_months": rng.choice([12, 24, 36, 60], n),
        "debt_to_income": dti,
        "total_debt": total_debt,
        "bureau_score": score,
        "n_open_accounts": rng.integers(0, 12, n),
        "delinquencies_12m": delinquencies,
        "p_default": p_default,
        "defaulted": (rng.uniform(size=n) < p_default).astype(np.int64),
    }


def _splits(rng: np.random.Generator, customers: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """train/validation/test by customer (no group spans two splits); folds 0-4 on train only."""
    draw = rng.uniform(size=int(customers.max()) + 1)[customers]
    split = np.where(draw < 0.6, "train", np.where(draw < 0.8, "validation", "test"))
    folds = customers % 5
    return split, pa.array(folds, pa.int64(), mask=split != "train")


def _research_tables(rng: np.random.Generator) -> dict[str, File]:
    n = N_RESEARCH
    ids = np.arange(100_001, 100_001 + n)
    customers = rng.integers(0, n // 2, n)
    data = _applicants(rng, n)
    applied = np.datetime64("2024-01-01T00:00:00") + np.sort(rng.integers(0, 90 * 86400, n))
    split, fold = _splits(rng, customers)
    applications = {
        "application_id": ids,
        "customer_id": customers,
        "applied_at": applied.astype("datetime64[s]"),
        **{c: data[c] for c in ("income", "age", "region", "product", "loan_amount")},
        "term_months": data["term_months"],
    }
    bureau_cols = ("bureau_score", "n_open_accounts", "total_debt", "delinquencies_12m")
    return {
        "raw/applications.csv": pa.table(applications),
        "raw/bureau.parquet": pa.table(
            {"application_id": ids, **{c: data[c] for c in bureau_cols}}
        ),
        "features.parquet": pa.table({"application_id": ids, **{c: data[c] for c in FEATURES}}),
        "splits.csv": pa.table(
            {"application_id": ids, "customer_id": customers, "split": split, "fold": fold}
        ),
        "predictions.parquet": _predictions(ids, data["p_default"]),
        "labels.parquet": pa.table({"application_id": ids, "defaulted": data["defaulted"]}),
    }


def _predictions(ids: np.ndarray, p_default: np.ndarray) -> pa.Table:
    decision = (p_default >= 0.5).astype(np.int64)
    return pa.table({"application_id": ids, "p_default": p_default, "decision": decision})


def _live_tables(rng: np.random.Generator) -> dict[str, File]:
    n = N_LIVE
    ids = np.arange(500_001, 500_001 + n)
    data = _applicants(rng, n)
    start = np.datetime64("2024-04-01T00:00:00", "ms")
    event_time = start + np.sort(rng.integers(0, 84 * 86400 * 1000, n)).astype("timedelta64[ms]")
    labelled = int(n * 0.6)  # delayed labels: only the older rows have them
    return {
        "live/features.parquet": pa.table(
            {"application_id": ids, "event_time": event_time, **{c: data[c] for c in FEATURES}}
        ),
        "live/predictions.parquet": _predictions(ids, data["p_default"]),
        "live/labels.parquet": pa.table(
            {"application_id": ids[:labelled], "defaulted": data["defaulted"][:labelled]}
        ),
    }


def clean_files() -> dict[str, File]:
    """Every input file of the clean project by relative path (production rows shuffled)."""
    rng = np.random.default_rng(20240601)
    research = _research_tables(rng)
    files: dict[str, File] = {f"research/{k}": v for k, v in research.items()}
    for name in ("raw/applications.csv", "raw/bureau.parquet", "features.parquet", "splits.csv"):
        table = research[name]
        assert isinstance(table, pa.Table)
        files[f"production/{name}"] = table.take(rng.permutation(table.num_rows))
    files["production/predictions.parquet"] = research["predictions.parquet"]
    files.update(_live_tables(rng))
    env = {"python": "3.11.7", "platform": "Linux-x86_64", "packages": PACKAGES}
    files["research/environment.json"] = json.dumps(env, indent=2, sort_keys=True) + "\n"
    files["production/requirements.txt"] = "".join(f"{k}=={v}\n" for k, v in PACKAGES.items())
    return files


def clean_checklist() -> dict[str, Any]:
    """The checklist mapping of the clean project (paths relative to the project folder)."""

    def side(name: str) -> dict[str, Any]:
        return {
            "raw": {
                "applications": {"path": f"{name}/raw/applications.csv"},
                "bureau": {"path": f"{name}/raw/bureau.parquet"},
            },
            "features": {"path": f"{name}/features.parquet"},
            "splits": {"path": f"{name}/splits.csv"},
            "predictions": {"path": f"{name}/predictions.parquet"},
        }

    production = side("production")
    production["environment"] = {"path": "production/requirements.txt"}
    production["live"] = {
        role: {"path": f"live/{role}.parquet"} for role in ("features", "predictions", "labels")
    }
    research = side("research")
    research["labels"] = {"path": "research/labels.parquet"}
    research["environment"] = {"path": "research/environment.json"}
    return {
        "version": 1,
        "name": "robustness project",
        "key": "application_id",
        "research": research,
        "production": production,
        "columns": {
            "target": "defaulted",
            "score": "p_default",
            "prediction": "decision",
            "split": "split",
            "fold": "fold",
            "group": "customer_id",
            "timestamp": "event_time",
            "features": list(FEATURES),
            "categorical": ["region", "product"],
        },
        "task": "binary",
        "stages": {"performance_drop": {"chunk": {"size": 250}}},
    }


_CLEAN: dict[str, File] = {}


def _clean_cached() -> dict[str, File]:
    if not _CLEAN:
        _CLEAN.update(clean_files())
    return _CLEAN


# --------------------------------------------------------------------------- the project


@dataclass
class Project:
    """A project folder in the making: edit `files` / `checklist`, then `write()`.

    `checklist_text`, when set, is written verbatim instead of dumping `checklist` (for YAML
    that no mapping can produce: tabs, duplicate keys, bad bytes).
    """

    root: Path
    files: dict[str, File] = field(default_factory=lambda: dict(_clean_cached()))
    checklist: dict[str, Any] = field(default_factory=clean_checklist)
    checklist_text: str | bytes | None = None

    @property
    def checklist_path(self) -> Path:
        return self.root / "checklist.yaml"

    def table(self, name: str) -> pa.Table:
        value = self.files[name]
        assert isinstance(value, pa.Table), f"{name} is not a table here"
        return value

    def edit(self, name: str, change: Callable[[pa.Table], pa.Table]) -> None:
        self.files[name] = change(self.table(name))

    def set_column(self, name: str, column: str, values: pa.Array | pa.ChunkedArray) -> None:
        table = self.table(name)
        index = table.column_names.index(column)
        self.files[name] = table.set_column(index, column, values)

    def source(self, dotted: str) -> dict[str, Any]:
        """The checklist entry at a dotted path, e.g. `production.live.features`."""
        node: Any = self.checklist
        for part in dotted.split("."):
            node = node[part]
        assert isinstance(node, dict)
        return node

    def write(self) -> Path:
        for name, content in self.files.items():
            write_file(self.root / name, content)
        if self.checklist_text is None:
            text = yaml.safe_dump(self.checklist, sort_keys=False, allow_unicode=True)
            self.checklist_path.write_text(text, encoding="utf-8")
        elif isinstance(self.checklist_text, bytes):
            self.checklist_path.write_bytes(self.checklist_text)
        else:
            self.checklist_path.write_text(self.checklist_text, encoding="utf-8")
        return self.checklist_path

    def yaml_text(self) -> str:
        return yaml.safe_dump(copy.deepcopy(self.checklist), sort_keys=False, allow_unicode=True)


def write_file(path: Path, content: File) -> None:
    """A table by its extension (csv, parquet, feather); bytes and text as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif path.suffix == ".csv":
        pacsv.write_csv(content, str(path))
    elif path.suffix == ".parquet":
        pq.write_table(content, str(path))
    elif path.suffix in (".feather", ".arrow"):
        feather.write_feather(content, str(path))
    else:
        raise AssertionError(f"no writer for {path.name}")


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


# --------------------------------------------------------------------------- running the CLI


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    warnings: tuple[str, ...] = ()

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]

    def checks(self) -> list[dict[str, Any]]:
        return [c for s in self.report["stages"] for c in s["checks"]]

    def stage(self, stage_id: str) -> dict[str, Any]:
        return next(s for s in self.report["stages"] if s["id"] == stage_id)


def run_in_process(checklist: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Outcome:
    """`mlcheck run CHECKLIST --format json [extra]` through `mlcheck.cli.main` in this process.

    Warnings are recorded with the outcome: a run must not leak numpy/scipy warnings to stderr.
    """
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            main(["run", str(checklist), "--format", "json", *extra])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        else:
            raise AssertionError("main() returned without an exit code")
    captured = capsys.readouterr()
    shown = tuple(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught)
    return Outcome(code, captured.out, captured.err, shown)


def run_process(checklist: Path, *extra: str, cwd: Path | None = None) -> Outcome:
    """The real CLI in a subprocess: `python -m mlcheck run CHECKLIST --format json [extra]`."""
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTHONHASHSEED", None)  # each process its own string hashing: results must not care
    proc = subprocess.run(
        [sys.executable, "-m", "mlcheck", "run", str(checklist), "--format", "json", *extra],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=180,
        cwd=cwd or REPO,
        env=env,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def strip_durations(value: Any) -> Any:
    """A report without its timings (`duration_s` anywhere), for comparing runs."""
    if isinstance(value, dict):
        return {k: strip_durations(v) for k, v in value.items() if k != "duration_s"}
    if isinstance(value, list):
        return [strip_durations(v) for v in value]
    return value


def run_processes(runs: Sequence[tuple[Path, tuple[str, ...]]], workers: int = 3) -> list[Outcome]:
    """Several real CLI runs, three at a time (most of each is Python importing mlcheck)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda run: run_process(run[0], *run[1]), runs))


def file_states(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `folder`: (sha256, size, mtime in ns), by relative path."""
    states = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            states[path.relative_to(folder).as_posix()] = (digest, info.st_size, info.st_mtime_ns)
    return states


# --------------------------------------------------------------------------- corpus cases


@dataclass(frozen=True)
class Case:
    """One bad input: how to build it, the exit code it must give, and what the output names.

    `names`: substrings of stderr for an input error (exit 2), else of the JSON report. `expect`,
    for a completed run, asserts what the report says about the defect. `target` runs the CLI on
    that path (relative to the project) instead of the checklist. `process`: also run it through
    a real `python -m mlcheck` subprocess.
    """

    id: str
    build: Callable[[Project], None]
    code: int
    names: tuple[str, ...] = ()
    expect: Callable[[Outcome], None] | None = None
    target: str | None = None
    process: bool = False

    def prepare(self, root: Path) -> Path:
        """Build the case's project under `root`; the path to give `mlcheck run`."""
        project = Project(root)
        self.build(project)
        checklist = project.write()
        return root / self.target if self.target else checklist


def assert_outcome(case: Case, outcome: Outcome) -> None:
    """The case's exit code, never a traceback, and a message or report naming the defect."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code == case.code, (outcome.code, outcome.stderr, outcome.stdout[:2000])
    assert not outcome.warnings, outcome.warnings
    if case.code == EXIT_USAGE:
        _assert_input_error(case, outcome)
    else:
        _assert_completed(case, outcome)


def _assert_input_error(case: Case, outcome: Outcome) -> None:
    """One `error:` line; further lines only indented (one per checklist problem, or a hint)."""
    assert outcome.stdout == "", "an input error writes no report"
    lines = outcome.stderr.rstrip("\n").split("\n")
    assert lines[0].startswith("error: "), outcome.stderr
    assert all(line.startswith("  ") for line in lines[1:]), outcome.stderr
    assert len(lines) <= 4, outcome.stderr
    for name in case.names:
        assert name in outcome.stderr, (name, outcome.stderr)


def _assert_completed(case: Case, outcome: Outcome) -> None:
    assert outcome.stderr == "", outcome.stderr
    report = outcome.report
    assert report["verdict"] == ("ready" if case.code == 0 else "not_ready")
    assert all(c["status"] != "error" for c in outcome.checks())
    for name in case.names:
        assert name in outcome.stdout, name
    if case.expect is not None:
        case.expect(outcome)
