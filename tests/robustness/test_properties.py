"""Property-based robustness: for any generated input, mlcheck answers with 0, 1 or 2, never 3.

- the checklist loader, on random YAML-ish text and on random mappings, returns a checklist or
  raises ChecklistError whose problems are single lines;
- the source readers, on random bytes written as csv/parquet/jsonl, return a table or raise an
  InputError with a one-line message;
- whole runs (`mlcheck.cli.main`, in-process, `--keep-going` so every stage runs): the clean
  project with one file replaced by a random pyarrow table, with realistic defects in up to three
  files (rows dropped or repeated, a column renamed, nulled, given NaN/inf/-0.0/extremes/odd text,
  or re-typed), or with random edits to its checklist, exits 0, 1 or 2 with no traceback, no
  crashed check, and (for 0/1) a JSON report.

Examples are few (tens), seeded and without deadline so the suite stays fast and repeatable on a
busy 2-core machine. To hunt for new failures, run with MLCHECK_PROPERTY_EXAMPLES=500 (unseeded).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from robustness_support import Project, clean_checklist

from mlcheck.checklist import Checklist, load_checklist
from mlcheck.cli import main
from mlcheck.errors import ChecklistError, InputError
from mlcheck.sources import read_source

EXPLORE = int(os.environ.get("MLCHECK_PROPERTY_EXAMPLES", "0"))  # more, unseeded, when hunting
FEW = settings(
    max_examples=EXPLORE or 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not EXPLORE,
)
RUNS = settings(
    max_examples=EXPLORE or 25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not EXPLORE,
)


@contextlib.contextmanager
def fresh_dir() -> Iterator[Path]:
    """An empty folder for one example, removed afterwards (hypothesis runs many per test)."""
    with tempfile.TemporaryDirectory(prefix="mlcheck-prop-") as folder:
        yield Path(folder)


# --------------------------------------------------------------------------- the loader

VOCABULARY = [
    "version:",
    "name:",
    "key:",
    "research:",
    "production:",
    "raw:",
    "features:",
    "splits:",
    "predictions:",
    "labels:",
    "environment:",
    "live:",
    "path:",
    "url:",
    "query:",
    "table:",
    "format:",
    "columns:",
    "read_options:",
    "delimiter:",
    "target:",
    "score:",
    "stages:",
    "task:",
    "binary",
    "parquet",
    "data_reproducibility:",
    "rtol:",
    "chunk:",
    "size:",
    "${HOME}",
    "${MLCHECK_PROPERTY_UNSET}",
    "${X:-default}",
    "x-shared:",
    "&anchor",
    "*anchor",
    "<<:",
    "!!str",
    "!!python/name:os.system",
    "1",
    "-0.0",
    ".inf",
    ".nan",
    "null",
    "~",
    "true",
    "yes",
    "0x1F",
    "1e9",
    "2024-01-01",
    "é",
    "🙂",
    "'",
    '"',
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "|",
    ">",
    "?",
    "%YAML 1.2",
    "---",
    "...",
    "a.csv",
    "sqlite:///x.db",
    "\\t",
    "\x00",
]
INDENTS = ["", "", "  ", "    ", "      ", "\t", " "]
yaml_lines = st.tuples(
    st.sampled_from(INDENTS), st.lists(st.sampled_from(VOCABULARY), max_size=5)
).map(lambda parts: parts[0] + " ".join(parts[1]))
yaml_ish = st.one_of(
    st.lists(yaml_lines, max_size=14).map("\n".join),
    st.text(max_size=200),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
)

KEYS = [
    "version",
    "name",
    "key",
    "research",
    "production",
    "raw",
    "features",
    "splits",
    "predictions",
    "labels",
    "environment",
    "live",
    "path",
    "url",
    "query",
    "table",
    "format",
    "columns",
    "key",
    "target",
    "score",
    "stages",
    "task",
    "feature_parity",
    "rtol",
    "x-any",
    "base_dir",
    "lines",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["binary", "parquet", "a.csv", "train", "30d", "${MLCHECK_PROPERTY_UNSET}"]),
)
mappings = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
    ),
    max_leaves=25,
)


def _assert_loads_or_explains(path: Path) -> None:
    """A checklist, or a ChecklistError whose every problem is one line; nothing else."""
    try:
        loaded = load_checklist(path)
    except ChecklistError as exc:
        assert exc.problems, exc.message
        assert all("\n" not in p and p.strip() for p in exc.problems), exc.problems
        return
    assert isinstance(loaded, Checklist)


@FEW
@given(text=yaml_ish)
def test_loader_on_random_yaml_text(text: str) -> None:
    with fresh_dir() as folder:
        path = folder / "checklist.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        _assert_loads_or_explains(path)


@FEW
@given(document=mappings)
def test_loader_on_random_mappings(document: Any) -> None:
    with fresh_dir() as folder:
        path = folder / "checklist.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        _assert_loads_or_explains(path)


# --------------------------------------------------------------------------- the readers

CSV_PIECES = [
    "a",
    "b",
    "1",
    "2.5",
    "-0.0",
    "inf",
    "NaN",
    "",
    '"',
    '""',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    " ",
    "é",
    "\x00",
    "true",
    "2024-01-01",
    "2024-01-01T00:00:00+02:00",
    "x y",
]
csv_text = st.lists(st.sampled_from(CSV_PIECES), max_size=40).map("".join)
random_bytes = st.one_of(
    csv_text.map(lambda t: t.encode("utf-8")),
    csv_text.map(lambda t: t.encode("utf-16")),
    st.binary(max_size=300),
)


def _reader_checklist(folder: Path, name: str) -> Checklist:
    doc = {"key": "a", "research": {"features": {"path": name}}, "production": {}}
    (folder / "checklist.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_checklist(folder / "checklist.yaml")


@FEW
@given(
    data=random_bytes,
    name=st.sampled_from(["t.csv", "t.tsv", "t.csv.gz", "t.parquet", "t.jsonl", "t.feather"]),
)
def test_readers_on_random_bytes(data: bytes, name: str) -> None:
    with fresh_dir() as folder:
        (folder / name).write_bytes(data)
        checklist = _reader_checklist(folder, name)
        assert checklist.research.features is not None
        try:
            table = read_source(checklist.research.features, checklist, "research.features")
        except InputError as exc:
            assert "\n" not in exc.message and "research.features" in exc.message, exc.message
            return
    assert isinstance(table, pa.Table) and table.num_columns > 0
    assert len(set(table.column_names)) == table.num_columns


# --------------------------------------------------------------------------- whole runs

KINDS = [
    "int",
    "float",
    "text",
    "bool",
    "timestamp",
    "timestamp_tz",
    "null",
    "decimal",
    "date",
    "list",
    "key_range",
]


def _values(draw: st.DrawFn, kind: str, n: int) -> pa.Array:
    """n random values of one kind (with nulls), as a pyarrow array."""

    def items(element: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.none() | element, min_size=n, max_size=n))

    if kind == "int":
        return pa.array(items(st.integers(-(2**63), 2**63 - 1)), pa.int64())
    if kind == "key_range":  # near the clean keys: partial matches, duplicates
        return pa.array(items(st.integers(100_000, 100_040)), pa.int64())
    if kind == "float":
        return pa.array(items(st.floats(allow_nan=True, allow_infinity=True)), pa.float64())
    if kind == "text":
        return pa.array(items(st.text(max_size=6)), pa.string())
    if kind == "bool":
        return pa.array(items(st.booleans()), pa.bool_())
    if kind in ("timestamp", "timestamp_tz"):
        seconds = items(st.integers(0, 4_000_000_000))
        unit = pa.timestamp("s", tz="Asia/Kolkata" if kind == "timestamp_tz" else None)
        return pa.array(seconds, unit)
    if kind == "date":
        return pa.array(items(st.dates(dt.date(1970, 1, 1), dt.date(2100, 1, 1))), pa.date32())
    if kind == "decimal":
        numbers = items(st.decimals(-(10**6), 10**6, places=2, allow_nan=False))
        return pa.array(numbers, pa.decimal128(12, 2))
    if kind == "list":
        return pa.array(items(st.lists(st.integers(-5, 5), max_size=3)), pa.list_(pa.int64()))
    return pa.nulls(n)


@st.composite
def random_tables(draw: st.DrawFn, like: pa.Table, csv: bool) -> pa.Table:
    """A table shaped a little like `like`: some of its column names (key first, usually),
    random types and values, 0-40 rows, maybe extra columns."""
    n = draw(st.integers(0, 40))
    kept = [c for c in like.column_names if draw(st.integers(0, 3)) > 0]
    extra = draw(st.lists(st.text(min_size=1, max_size=5), max_size=2))
    kinds = [k for k in KINDS if not (csv and k == "list")]
    columns: dict[str, pa.Array] = {}
    for name in dict.fromkeys([*kept, *extra]):
        kind = "key_range" if name == "application_id" and draw(st.booleans()) else None
        columns[name] = _values(draw, kind or draw(st.sampled_from(kinds)), n)
    assume(columns)
    return pa.table(columns)


_CLEAN_PROJECT = Project(Path("."))  # only its files: tables to shape the random ones like
REPLACEABLE = sorted(n for n, v in _CLEAN_PROJECT.files.items() if isinstance(v, pa.Table))


def _run(checklist: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            main(["run", str(checklist), "--format", "json", *extra])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def _assert_clean_exit(code: int, out: str, err: str) -> None:
    event(f"exit {code}")
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), (code, err, out[-3000:])
    if code == 2:
        assert err.startswith("error: "), err
        return
    report = json.loads(out)
    crashed = [c for s in report["stages"] for c in s["checks"] if c["status"] == "error"]
    assert not crashed, crashed


@RUNS
@given(data=st.data(), name=st.sampled_from(REPLACEABLE))
def test_run_with_one_random_table(data: st.DataObject, name: str) -> None:
    like = _CLEAN_PROJECT.table(name)
    table = data.draw(random_tables(like, csv=name.endswith(".csv")), label=name)
    with fresh_dir() as folder:
        project = Project(folder)
        project.files[name] = table
        _assert_clean_exit(*_run(project.write(), "--keep-going"))


SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324]
SPECIAL_INTS = [2**63 - 1, -(2**63), 0, -1]
SPECIAL_TEXT = ["", " ", "NaN", "null", "🙂", "a,b", 'x"y', "line\nbreak", "é" * 50]
CASTS = [pa.string(), pa.large_string(), pa.float32(), pa.float64(), pa.int32(), pa.bool_()]


def _specials(draw: st.DrawFn, column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """`column` with a special value (NaN, inf, -0.0, extremes, odd text) at `rows`."""
    kind = column.type
    if pa.types.is_floating(kind):
        values = column.to_numpy().astype(np.float64)  # a copy: nulls become NaN
        values[rows] = draw(st.sampled_from(SPECIAL_FLOATS))
        return pa.array(values)
    if pa.types.is_integer(kind) and column.null_count == 0:
        values = column.to_numpy().astype(np.int64)
        values[rows] = draw(st.sampled_from(SPECIAL_INTS))
        return pa.array(values)
    if pa.types.is_string(kind):
        mask = np.zeros(len(column), dtype=bool)
        mask[rows] = True
        return pc.if_else(pa.array(mask), draw(st.sampled_from(SPECIAL_TEXT)), column)
    return _nulls(column, rows)


def _nulls(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.if_else(pa.array(mask), pa.nulls(len(column), column.type), column)


@st.composite
def perturbed(draw: st.DrawFn, table: pa.Table) -> pa.Table:
    """The table with one realistic defect: rows dropped or repeated, a column renamed, nulled,
    given special values, or re-typed."""
    kind = draw(st.sampled_from(["subset", "duplicate", "rename", "nulls", "specials", "cast"]))
    n = table.num_rows
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = np.flatnonzero(rng.random(n) < draw(st.sampled_from([0.001, 0.05, 0.5, 1.0])))
    if kind == "subset":
        return table.take(pa.array(rows, pa.int64()))
    if kind == "duplicate":
        return pa.concat_tables([table, table.take(pa.array(rows, pa.int64()))])
    index = draw(st.integers(0, table.num_columns - 1))
    name, column = table.column_names[index], table.column(index)
    if kind == "rename":
        new = draw(st.text(max_size=4).filter(lambda s: s not in table.column_names))
        return table.rename_columns(
            [new if i == index else c for i, c in enumerate(table.column_names)]
        )
    if kind == "nulls":
        return table.set_column(index, name, _nulls(column, rows))
    if kind == "specials":
        return table.set_column(index, name, _specials(draw, column, rows))
    try:
        changed = column.cast(draw(st.sampled_from(CASTS)), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        changed = column.dictionary_encode() if pa.types.is_string(column.type) else column
    return table.set_column(index, name, changed)


@RUNS
@given(data=st.data(), name=st.sampled_from(REPLACEABLE), times=st.integers(1, 3))
def test_run_with_perturbed_tables(data: st.DataObject, name: str, times: int) -> None:
    with fresh_dir() as folder:
        project = Project(folder)
        for step in range(times):  # the first defect in `name`, later ones anywhere
            target = data.draw(st.sampled_from(REPLACEABLE)) if step else name
            project.files[target] = data.draw(perturbed(project.table(target)), label=target)
        _assert_clean_exit(*_run(project.write(), "--keep-going"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a nested mapping, for picking what to edit."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    return found


CHECKLIST_PATHS = _paths(clean_checklist())
STAGE_SETTINGS = {
    "stages.data_reproducibility.rtol": st.floats(0, 1) | st.just(-1.0),
    "stages.feature_parity.packages": st.lists(st.text(max_size=5), max_size=3),
    "stages.split_reproducibility.temporal": st.booleans(),
    "stages.split_reproducibility.holdout": st.lists(st.sampled_from(["test", "validation", "x"])),
    "stages.prediction_mismatch.threshold": st.floats(-1, 2, allow_nan=False),
    "stages.performance_drop.metric": st.sampled_from(
        ["roc_auc", "accuracy", "log_loss", "brier", "f1", "rmse", "macro_f1", "unknown"]
    ),
    "stages.performance_drop.chunk": st.sampled_from(
        [{"size": 1}, {"size": 7}, {"every": "1d"}, {"every": "1w"}, {"every": "5s"}]
    ),
    "stages.performance_drop.baseline": st.floats(-1, 2, allow_nan=False),
    "stages.variable_availability.max_staleness": st.sampled_from(["1s", "0d", "30d", "1w", "x"]),
    "columns.timestamp": st.sampled_from(["event_time", "income", "region", "nope"]),
    "columns.score": st.sampled_from(
        ["p_default", "decision", "income", ["p_default", "decision"]]
    ),
    "columns.target": st.sampled_from(["defaulted", "decision", "region"]),
    "columns.split": st.sampled_from(["split", "fold", "customer_id"]),
    "columns.group": st.sampled_from(["customer_id", "split", "application_id"]),
    "columns.features": st.lists(
        st.sampled_from(["income", "region", "event_time", "decision", "x"])
    ),
    "columns.importance": st.dictionaries(st.sampled_from(["income", "age", "x"]), st.floats(0, 5)),
    "task": st.sampled_from(["binary", "multiclass", "regression"]),
    "key": st.sampled_from(["application_id", "customer_id", ["application_id", "customer_id"]]),
}
edits = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(sorted(STAGE_SETTINGS))),
        st.tuples(st.just("delete"), st.sampled_from(CHECKLIST_PATHS)),
    ),
    min_size=1,
    max_size=3,
)


def _apply(doc: dict[str, Any], edit: tuple[str, Any], data: st.DataObject) -> None:
    kind, where = edit
    parts = tuple(where.split(".")) if isinstance(where, str) else where
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else {}
    if not isinstance(node, dict):
        return
    if kind == "delete":
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = data.draw(STAGE_SETTINGS[where], label=where)


@pytest.fixture(scope="module")
def written_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("edited"))
    project.write()
    return project


@RUNS
@given(data=st.data(), changes=edits)
def test_run_with_random_checklist_edits(
    data: st.DataObject, changes: list[tuple[str, Any]], written_project: Project
) -> None:
    doc = clean_checklist()
    for change in changes:
        _apply(doc, change, data)
    path = written_project.root / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    _assert_clean_exit(*_run(path, "--keep-going"))
