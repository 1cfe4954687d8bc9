"""`mlcheck init`: a starting checklist guessed from a research folder and a production folder.

Finds raw sources, features, splits, predictions, labels and environment files by name and by
content, proposes the key and the column roles, and writes a commented YAML checklist whose paths
are relative to the output file's folder. Only schemas, headers and the first `SAMPLE_ROWS` rows
of each file are read. A `live/` folder inside or next to the production folder becomes
`production.live`. Every guess is marked `# guessed: ...` in the file so a person can check it.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import yaml
from pydantic import ValidationError

from mlcheck.checklist import Checklist
from mlcheck.errors import InputError, InternalError, UsageError
from mlcheck.stage_config import StagesConfig
from mlcheck.urls import is_database_url, is_object_store, mask_url

if TYPE_CHECKING:
    import pyarrow.fs as pafs

SAMPLE_ROWS = 2000
_JSONL_SAMPLE_BYTES = 1 << 20
ROLES = ("features", "splits", "predictions", "labels")
SPLIT_NAMES = {
    "train",
    "training",
    "test",
    "testing",
    "validation",
    "valid",
    "val",
    "holdout",
    "dev",
    "eval",
    "oot",
}
_DATA_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "arrow",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_NAME_HINTS = {
    "features": {"features", "feature", "x", "inputs", "input", "design", "matrix", "fe"},
    "predictions": {
        "predictions",
        "prediction",
        "preds",
        "pred",
        "scores",
        "score",
        "probs",
        "proba",
        "probabilities",
        "output",
        "outputs",
        "yhat",
        "inference",
        "scored",
    },
    "labels": {
        "labels",
        "label",
        "y",
        "target",
        "targets",
        "truth",
        "outcome",
        "outcomes",
        "actuals",
        "actual",
    },
    "splits": {
        "splits",
        "split",
        "folds",
        "fold",
        "assignment",
        "assignments",
        "partition",
        "partitions",
        "sets",
    },
}
_RAW_HINTS = {"raw", "source", "sources", "landing", "ingest", "staging", "extract"}
_ID_NAME = re.compile(r"(^id$|_id$|^id_|[a-z]id$|_key$|^key$|uuid|guid)", re.IGNORECASE)
_SCORE_NAME = re.compile(r"(score|prob|proba|^p_|_p$|pred|yhat|likelihood|risk)", re.IGNORECASE)
_PREDICTION_NAME = re.compile(r"(decision|pred|class|label|yhat|approved|flag)", re.IGNORECASE)
_TARGET_NAME = re.compile(
    r"^(y|target|label|labels|outcome|truth|actual|class|is_.*|has_.*|.*default.*|.*churn.*|.*fraud.*|bad)$",
    re.IGNORECASE,
)
_TIME_NAME = re.compile(r"(time|date|_at$|^ts$|timestamp|datetime)", re.IGNORECASE)
_PIN_LINE = re.compile(
    r"^\s*[A-Za-z0-9][A-Za-z0-9_.\-\[\],]*\s*(==|===|~=|>=|@)\s*\S", re.MULTILINE
)
_SAFE_SCALAR = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./\-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class DataFile:
    """One table found in a folder (or a database, a bucket): where it is and its first rows."""

    path: PurePath  # a remote table's is its name in the bucket or database
    parts: tuple[str, ...]  # path relative to the scanned folder, lower case
    sample: pa.Table
    spec: dict[str, str] | None = None  # a remote table's source, as the checklist writes it

    @property
    def stem(self) -> str:
        name = self.path.name.lower()
        for suffix in (".gz", *_DATA_SUFFIXES):
            name = name.removesuffix(suffix)
        return name

    @property
    def names(self) -> list[str]:
        return list(self.sample.column_names)


@dataclass
class Folder:
    """What one folder holds: tables, an environment file, and files that were left out."""

    root: Path | str  # a folder, or a database url / bucket prefix
    tables: list[DataFile] = field(default_factory=list)
    environment: Path | None = None
    skipped: list[str] = field(default_factory=list)


def scan(root: Path, exclude: Path | None = None) -> Folder:
    """Every readable table and the environment file under `root` (sorted, so runs are stable)."""
    folder = Folder(root)
    for path in _candidates(root, exclude):
        if _is_environment(path):
            folder.environment = folder.environment or path
            continue
        if data_format(path) is None:
            continue
        try:
            sample = read_sample(path)
        except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
            folder.skipped.append(f"{path.relative_to(root)}: unreadable ({first_line(exc)})")
            continue
        if sample.num_columns == 0:
            folder.skipped.append(f"{path.relative_to(root)}: no columns")
            continue
        folder.tables.append(
            DataFile(path, tuple(p.lower() for p in path.relative_to(root).parts), sample)
        )
    return folder


def _candidates(root: Path, exclude: Path | None) -> Iterable[Path]:
    """Files under root, and parquet dataset folders as one entry; hidden entries skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = here / name
            if name.startswith(".") or (exclude is not None and sub.resolve() == exclude.resolve()):
                continue
            if _is_parquet_dataset(sub):
                yield sub
            else:
                keep.append(name)
        dirnames[:] = keep
        yield from (here / f for f in sorted(filenames) if not f.startswith("."))


def _is_parquet_dataset(folder: Path) -> bool:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    return bool(files) and all(p.suffix.lower() in (".parquet", ".pq") for p in files)


def data_format(path: Path) -> str | None:
    return "parquet" if path.is_dir() else format_of_name(path)


def format_of_name(path: PurePath) -> str | None:
    """The table format a file name implies (`x.csv.gz` -> csv), or None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _DATA_SUFFIXES.get(suffixes[-1]) if suffixes else None


def _is_environment(path: Path) -> bool:
    """`mlcheck env capture` JSON, a conda environment.yml, or pip pins in a .txt file."""
    suffix = path.suffix.lower()
    if (
        path.is_dir()
        or suffix not in (".json", ".yml", ".yaml", ".txt")
        or path.stat().st_size > 5_000_000
    ):
        return False
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    if suffix == ".json":
        return _json_has_packages(text)
    if suffix in (".yml", ".yaml"):
        return re.search(r"^dependencies\s*:", text, re.MULTILINE) is not None
    return _PIN_LINE.search(text) is not None


def _json_has_packages(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("packages"), dict)


def read_sample(
    path: PurePath, rows: int = SAMPLE_ROWS, fs: pafs.FileSystem | None = None, is_dir: bool = False
) -> pa.Table:
    """The schema and at most `rows` first rows of a table file (never the whole file); `fs`
    reaches a remote one (`path` is then its path there)."""
    fmt = "parquet" if is_dir else format_of_name(path) if fs else data_format(Path(path))
    if fmt == "parquet" and (is_dir or (fs is None and Path(path).is_dir())):
        import pyarrow.dataset as ds  # imports pandas: only for a partitioned folder

        return ds.dataset(str(path), filesystem=fs, format="parquet", partitioning="hive").head(
            rows
        )
    opener = _Opener(str(path), fs)
    if fmt == "parquet":
        parquet = pq.ParquetFile(opener.file())
        batch = next(parquet.iter_batches(batch_size=rows), None)
        return (
            pa.Table.from_batches([batch])
            if batch is not None
            else parquet.schema_arrow.empty_table()
        )
    if fmt in ("csv", "tsv"):
        return _csv_sample(opener, "\t" if fmt == "tsv" else ",", rows)
    if fmt == "arrow":
        return _ipc_sample(opener, rows)
    return _jsonl_sample(opener, rows)


@dataclass(frozen=True)
class _Opener:
    """Opens a local file, or a remote one through its pyarrow file system."""

    path: str
    fs: pafs.FileSystem | None

    def file(self) -> pa.NativeFile:
        return self.fs.open_input_file(self.path) if self.fs else pa.memory_map(self.path)

    def stream(self, compression: str | None = "detect") -> pa.NativeFile:
        if self.fs:
            return self.fs.open_input_stream(self.path, compression=compression)
        return pa.input_stream(self.path, compression=compression)


def _csv_sample(opener: _Opener, delimiter: str, rows: int) -> pa.Table:
    stream = opener.stream()
    convert = pacsv.ConvertOptions(
        null_values=["", "NA", "NaN", "null", "NULL", "None", "nan", "N/A"],
        strings_can_be_null=True,
    )
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=1 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=convert,
    )
    return _first_rows(reader, reader.schema, rows)


def _ipc_sample(opener: _Opener, rows: int) -> pa.Table:
    source = opener.file()
    try:
        reader = pa.ipc.open_file(source)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        return _first_rows(batches, reader.schema, rows)
    except pa.ArrowInvalid:
        source.seek(0)
        stream = pa.ipc.open_stream(source)
        return _first_rows(stream, stream.schema, rows)


def _jsonl_sample(opener: _Opener, rows: int) -> pa.Table:
    with opener.stream(None) as handle:
        head = handle.read(_JSONL_SAMPLE_BYTES)
    if len(head) == _JSONL_SAMPLE_BYTES:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    return pajson.read_json(io.BytesIO(head)).slice(0, rows)


def _first_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema, rows: int) -> pa.Table:
    taken, total = [], 0
    for batch in batches:
        taken.append(batch)
        total += batch.num_rows
        if total >= rows:
            break
    return pa.Table.from_batches(taken, schema=schema).slice(0, rows)


def first_line(exc: BaseException) -> str:
    """An error's first line, or its type when it has no message (EOFError() has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- column guesses


def _values(sample: pa.Table, name: str) -> pa.ChunkedArray:
    column = sample.column(name)
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _is_numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def _is_text(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_dictionary(dtype)
    )


def _distinct(sample: pa.Table, name: str) -> int:
    return int(pc.count_distinct(_values(sample, name)).as_py())


def _unit_interval(sample: pa.Table, name: str) -> bool:
    """A float column whose sampled values all lie in [0, 1] (a probability)."""
    column = _values(sample, name)
    if not pa.types.is_floating(column.type) or column.null_count == len(column):
        return False
    bounds = pc.min_max(column).as_py()
    return bool(bounds["min"] >= 0.0 and bounds["max"] <= 1.0)


def split_column(sample: pa.Table, skip: set[str]) -> str | None:
    """A text column whose sampled values are all split names (train/test/validation...)."""
    for name in sample.column_names:
        column = _values(sample, name)
        if name in skip or not _is_text(column.type) or column.null_count == len(column):
            continue
        seen = {str(v).strip().lower() for v in pc.unique(column.drop_null()).to_pylist()}
        if seen and seen <= SPLIT_NAMES:
            return name
    return None


def score_column(sample: pa.Table, skip: set[str]) -> str | None:
    """A probability column: [0, 1] floats named like a score first, then any [0, 1] float."""
    unit = [n for n in sample.column_names if n not in skip and _unit_interval(sample, n)]
    named = [n for n in unit if _SCORE_NAME.search(n)]
    return (named or unit or [None])[0]


def prediction_column(sample: pa.Table, skip: set[str]) -> str | None:
    """A hard label next to the score: a low-cardinality int/bool/text column."""
    options = [n for n in sample.column_names if n not in skip and _is_label_like(sample, n)]
    named = [n for n in options if _PREDICTION_NAME.search(n)]
    return (named or options or [None])[0]


def _is_label_like(sample: pa.Table, name: str) -> bool:
    dtype = _values(sample, name).type
    if not (pa.types.is_integer(dtype) or pa.types.is_boolean(dtype) or _is_text(dtype)):
        return False
    return 0 < _distinct(sample, name) <= 20


def target_column(sample: pa.Table, skip: set[str]) -> str | None:
    names = [n for n in sample.column_names if n not in skip]
    named = [n for n in names if _TARGET_NAME.match(n)]
    if named:
        return named[0]
    return names[0] if len(names) == 1 else None


def time_column(sample: pa.Table, skip: set[str]) -> str | None:
    """A timestamp/date column, else one named like a time whose text parses as a timestamp."""
    for name in sample.column_names:
        dtype = _values(sample, name).type
        if name not in skip and (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
            return name
    for name in sample.column_names:
        if name not in skip and _TIME_NAME.search(name) and _parses_as_time(sample, name):
            return name
    return None


def _parses_as_time(sample: pa.Table, name: str) -> bool:
    column = _values(sample, name)
    if not _is_text(column.type):
        return False
    try:
        column.cast(pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def infer_task(labels: pa.Table | None, target: str | None, score_is_probability: bool) -> str:
    """binary with two target values, regression for a many-valued numeric target, else multiclass."""
    if labels is None or target is None or target not in labels.column_names:
        return "binary" if score_is_probability else "regression"
    distinct = _distinct(labels, target)
    if distinct <= 2:
        return "binary"
    numeric_many = pa.types.is_floating(_values(labels, target).type) or distinct > 20
    return (
        "regression" if numeric_many and _is_numeric(_values(labels, target).type) else "multiclass"
    )


def propose_key(tables: list[DataFile]) -> tuple[str | None, str]:
    """The id-like column found in the most tables and unique in every sample that has it."""
    counts: dict[str, int] = {}
    for table in tables:
        for name in table.names:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda n: (-counts[n], not _ID_NAME.search(n), n))
    for name in ranked:
        holders = [t for t in tables if name in t.names]
        if _ID_NAME.search(name) and all(_unique(t.sample, name) for t in holders):
            return (
                name,
                f"id-like, unique in the sampled rows of {len(holders)} of {len(tables)} tables",
            )
    return None, "no id-like column is unique in every table"


def _unique(sample: pa.Table, name: str) -> bool:
    column = sample.column(name)
    return column.null_count == 0 and _distinct(sample, name) == sample.num_rows


# --------------------------------------------------------------------------- role assignment


def role_scores(table: DataFile, key: str | None) -> dict[str, int]:
    """Evidence for each role from the file's name, its folder and its columns."""
    tokens = set(re.split(r"[^a-z0-9]+", table.stem)) - {""}
    folders = set(table.parts[:-1])
    skip = {key} if key else set()
    others = [n for n in table.names if n not in skip]
    scores = {role: 2 * bool(tokens & hints) for role, hints in _NAME_HINTS.items()}
    scores["splits"] += 3 * (split_column(table.sample, skip) is not None)
    has_score = score_column(table.sample, skip)
    scores["predictions"] += 2 * bool(
        has_score and (_SCORE_NAME.search(has_score) or len(others) <= 3)
    )
    scores["labels"] += 2 * bool(
        len(others) == 1 or (len(others) <= 2 and target_column(table.sample, skip))
    )
    scores["features"] += 1 * (len(others) >= 4)
    scores["raw"] = 5 * bool((folders | tokens) & _RAW_HINTS)
    return scores


@dataclass
class Layout:
    """The tables of one side by role; `raw` maps a source name to its table."""

    features: DataFile | None = None
    splits: DataFile | dict[str, DataFile] | None = None
    predictions: DataFile | None = None
    labels: DataFile | None = None
    raw: dict[str, DataFile] = field(default_factory=dict)
    environment: Path | None = None


def assign(folder: Folder, key: str | None, roles: tuple[str, ...] = ROLES) -> Layout:
    """Each table to its best-supported role; one table per role, the rest are raw sources."""
    layout = Layout(environment=folder.environment)
    scored = [(table, role_scores(table, key)) for table in folder.tables]
    claims: dict[str, list[tuple[int, DataFile]]] = {}
    leftovers = []
    for table, scores in scored:
        best = max((*roles, "raw"), key=lambda r: (scores.get(r, 0), r == "raw"))
        if scores.get(best, 0) == 0 or best == "raw":
            leftovers.append(table)
        else:
            claims.setdefault(best, []).append((scores[best], table))
    for role, options in claims.items():
        options.sort(key=lambda o: (-o[0], len(o[1].parts), str(o[1].path)))
        setattr(layout, role, options[0][1])
        leftovers += [t for _, t in options[1:]]
    if layout.splits is None and "splits" in roles:
        layout.splits, leftovers = _split_files(leftovers)
    layout.raw = _raw_names(sorted(leftovers, key=lambda t: str(t.path)))
    return layout


def _split_files(tables: list[DataFile]) -> tuple[dict[str, DataFile] | None, list[DataFile]]:
    """Files named exactly like splits (train.csv, test.csv) form a splits mapping."""
    named = [t for t in tables if t.stem in SPLIT_NAMES]
    if len(named) < 2:
        return None, tables
    return {t.stem: t for t in named}, [t for t in tables if t not in named]


def _raw_names(tables: list[DataFile]) -> dict[str, DataFile]:
    names: dict[str, DataFile] = {}
    for table in tables:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", table.stem).strip("_") or "source"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names[name] = table
    return names


def find_live(production: Path) -> Path | None:
    """`live/` inside the production folder, else next to it."""
    for candidate in (production / "live", production.parent / "live"):
        if candidate.is_dir():
            return candidate
    return None


# --------------------------------------------------------------------------- roles of columns


@dataclass
class Roles:
    key: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # role -> why it was guessed
    values: dict[str, Any] = field(default_factory=dict)  # role -> column(s)
    task: str = "binary"
    score_is_probability: bool = False


def propose_roles(
    research: Layout, production: Layout, live: Layout | None, key: str | None, key_note: str
) -> Roles:
    roles = Roles(key=key, notes={"key": key_note})
    skip = {key} if key else set()
    _splits_roles(roles, research.splits, skip)
    _prediction_roles(roles, research.predictions or (live.predictions if live else None), skip)
    _drop_where_absent(
        roles, "prediction", [production.predictions, live.predictions if live else None]
    )
    labels = research.labels or (live.labels if live else None)
    if labels is not None:
        target = target_column(labels.sample, skip | set(roles.values.values()))
        _note(roles, "target", target, f"the label column of {where(labels)}")
    time_source = (live.features if live else None) or research.features
    if time_source is not None:
        _note(
            roles,
            "timestamp",
            time_column(time_source.sample, skip),
            f"a time column of {where(time_source)}",
        )
    roles.task = infer_task(
        labels.sample if labels else None, roles.values.get("target"), roles.score_is_probability
    )
    _feature_roles(roles, research.features, skip)
    return roles


def where(table: DataFile) -> str:
    """A short name of a table for notes: its folder and file name."""
    return f"{table.path.parent.name}/{table.path.name}"


def _note(roles: Roles, role: str, column: str | None, why: str) -> None:
    if column is not None:
        roles.values[role] = column
        roles.notes[role] = why


def _splits_roles(
    roles: Roles, splits: DataFile | dict[str, DataFile] | None, skip: set[str]
) -> None:
    if isinstance(splits, dict):
        first = next(iter(splits.values()))
        if "split" in first.names:
            roles.values["split"] = (
                "split"  # the file name decides; a `split` column would be replaced
            )
        splits = first
    if splits is None:
        return
    _note(
        roles,
        "split",
        split_column(splits.sample, skip),
        f"values are split names in {where(splits)}",
    )
    folds = [
        n
        for n in splits.names
        if "fold" in n.lower() and pa.types.is_integer(_values(splits.sample, n).type)
    ]
    _note(roles, "fold", folds[0] if folds else None, f"an integer fold column of {where(splits)}")
    groups = [
        n
        for n in splits.names
        if n not in skip and _ID_NAME.search(n) and not _unique(splits.sample, n)
    ]
    if groups:
        roles.notes["group"] = groups[0]  # only suggested: a wrong group would fail a clean split


def _prediction_roles(roles: Roles, predictions: DataFile | None, skip: set[str]) -> None:
    if predictions is None:
        return
    score = score_column(predictions.sample, skip)
    if score is not None:
        _note(roles, "score", score, f"a probability in [0, 1] in {where(predictions)}")
        roles.score_is_probability = True
    else:
        floats = [
            n
            for n in predictions.names
            if n not in skip and pa.types.is_floating(_values(predictions.sample, n).type)
        ]
        _note(
            roles,
            "score",
            floats[0] if floats else None,
            f"a numeric output of {where(predictions)}",
        )
    used = skip | {v for v in roles.values.values() if isinstance(v, str)}
    _note(
        roles,
        "prediction",
        prediction_column(predictions.sample, used),
        f"a hard label next to the score in {where(predictions)}",
    )


def _drop_where_absent(roles: Roles, role: str, tables: list[DataFile | None]) -> None:
    """A guessed column that another table of its kind lacks is left out: every predictions
    table is read with it, so the checklist would not run."""
    name = roles.values.get(role)
    if isinstance(name, str) and any(t is not None and name not in t.names for t in tables):
        del roles.values[role]
        roles.notes.pop(role, None)


def _feature_roles(roles: Roles, features: DataFile | None, skip: set[str]) -> None:
    if features is None:
        return
    taken = skip | {v for v in roles.values.values() if isinstance(v, str)}
    names = [n for n in features.names if n not in taken]
    if names:
        roles.values["features"] = names
        roles.notes["features"] = f"every other column of {where(features)}"
    categorical = [n for n in names if _is_text(features.sample.column(n).type)]
    if categorical:
        roles.values["categorical"] = categorical
        roles.notes["categorical"] = "text columns"


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class InitResult:
    output: Path
    text: str
    summary: list[str]


Location = Path | str  # a folder, or a database url / bucket prefix (see init_remote.py)


def init_checklist(
    research_dir: Location, production_dir: Location, output: Path, *, force: bool = False
) -> InitResult:
    """Scan both sides, guess, write the checklist to `output` (refusing to overwrite)."""
    research, production = _location(research_dir), _location(production_dir)
    if output.exists() and not force:
        raise UsageError(f"{output} already exists; pass --force to overwrite it")
    text, summary = propose(research, production, output.resolve().parent)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    return InitResult(output, text, summary)


def _location(given: Location) -> Location:
    """A database url or an object-store prefix as given; else a folder that must exist."""
    if isinstance(given, str) and (is_database_url(given) or is_object_store(given)):
        return given
    folder = Path(given)
    if not folder.is_dir():
        raise UsageError(
            f"{folder} is not a folder, a database url or a bucket prefix; "
            "`mlcheck init RESEARCH PRODUCTION`"
        )
    return folder


def _scan(location: Location, exclude: Location | None, *, live: bool = False) -> Folder:
    if isinstance(location, Path):
        return scan(location, exclude if isinstance(exclude, Path) else None)
    from mlcheck.init_remote import scan_remote

    return scan_remote(location, live=live)


def _find_live(production: Location) -> Location | None:
    if isinstance(production, Path):
        return find_live(production)
    from mlcheck.init_remote import find_live_prefix

    return find_live_prefix(production)


def propose(research_dir: Location, production_dir: Location, base: Path) -> tuple[str, list[str]]:
    """The checklist text for the two sides, with paths relative to `base`, and a summary."""
    live_dir = _find_live(production_dir)
    research_folder, production_folder = (
        _scan(research_dir, live_dir),
        _scan(production_dir, live_dir),
    )
    live_folder = _scan(live_dir, None, live=True) if live_dir is not None else None
    every = (
        research_folder.tables
        + production_folder.tables
        + (live_folder.tables if live_folder else [])
    )
    if not research_folder.tables and not production_folder.tables:
        raise InputError(
            "no data files (csv, tsv, parquet, feather, arrow, jsonl) or tables found in "
            f"{_shown(research_dir)} or {_shown(production_dir)}"
        )
    key, key_note = propose_key(every)
    research, production = assign(research_folder, key), assign(production_folder, key)
    live = assign(live_folder, key, ("features", "predictions", "labels")) if live_folder else None
    roles = propose_roles(research, production, live, key, key_note)
    writer = _Writer(base)
    text = writer.render(
        research_dir,
        production_dir,
        research,
        production,
        live,
        roles,
        [research_folder, production_folder, *([live_folder] if live_folder else [])],
    )
    _check_valid(text, base)
    return text, writer.summary


def _shown(location: Location) -> str:
    return mask_url(location) if isinstance(location, str) else str(location)


def _check_valid(text: str, base: Path) -> None:
    """What init writes must load as a checklist; anything else is a bug here."""
    try:
        Checklist.model_validate({**yaml.safe_load(text), "base_dir": str(base)})
    except (ValidationError, yaml.YAMLError) as exc:
        raise InternalError(
            f"mlcheck init produced an invalid checklist: {first_line(exc)}"
        ) from None


def scalar(value: str) -> str:
    """A YAML scalar: bare when unambiguous, else a JSON-quoted string (valid YAML)."""
    bare = _SAFE_SCALAR.match(value) and value.lower() not in _YAML_WORDS
    if bare and not re.fullmatch(r"[-+]?[0-9_.]+(e[-+]?[0-9]+)?", value, re.IGNORECASE):
        return value
    return json.dumps(value, ensure_ascii=False)


class _Writer:
    """Builds the commented YAML text line by line."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.lines: list[str] = []
        self.summary: list[str] = []

    def path(self, target: PurePath | str) -> str:
        """A local path relative to the checklist; a remote one as it is (password masked)."""
        if isinstance(target, str):
            return mask_url(target)
        if not isinstance(target, Path):  # a table in a database or an object in a bucket
            return target.as_posix()
        return Path(os.path.relpath(target.resolve(), self.base)).as_posix()

    def source(
        self, indent: str, name: str, table: DataFile | Path | None, comment: str = ""
    ) -> None:
        if table is None:
            return
        tail = f"    # {comment}" if comment else ""
        if isinstance(table, DataFile) and table.spec is not None:
            fields = ", ".join(f"{k}: {scalar(v)}" for k, v in table.spec.items())
            self.lines.append(f"{indent}{name}: {{{fields}}}{tail}")
            return
        path = table if isinstance(table, Path) else table.path
        self.lines.append(f"{indent}{name}: {{path: {scalar(self.path(path))}}}{tail}")

    def render(
        self,
        research_dir: Location,
        production_dir: Location,
        research: Layout,
        production: Layout,
        live: Layout | None,
        roles: Roles,
        folders: list[Folder],
    ) -> str:
        self._header(research_dir, production_dir, roles, folders)
        self._side("research", research, production)
        self._side("production", production, research)
        self._live(live)
        self._columns(roles)
        self.lines += ["", f"task: {roles.task}    # guessed from the target's values", ""]
        self._stages()
        return "\n".join(self.lines) + "\n"

    def _header(
        self, research_dir: Location, production_dir: Location, roles: Roles, folders: list[Folder]
    ) -> None:
        name = _model_name(research_dir)
        self.lines += [
            "# mlcheck checklist written by `mlcheck init` from",
            f"#   research:   {self.path(research_dir)}",
            f"#   production: {self.path(production_dir)}",
            "# Lines marked `# guessed` come from file names and the first rows of each file: check them.",
            "# Paths are relative to this file's folder. `mlcheck validate` checks the file and sources;",
            "# `mlcheck checks` lists every check and its default threshold.",
        ]
        if any(isinstance(s, str) and urlsplit(s).password for s in (research_dir, production_dir)):
            self.lines.append(
                "# Database passwords are not written here: set PGPASSWORD, or write "
                "user:${VARIABLE}@host in the url."
            )
        for folder in folders:
            self.lines += [
                f"# left out: {self.path(folder.root)}/{note}" for note in folder.skipped
            ]
        self.lines += ["version: 1", f"name: {scalar(name)}"]
        if roles.key:
            self.lines.append(f"key: {scalar(roles.key)}    # guessed: {roles.notes['key']}")
            self.summary.append(f"key {roles.key}")
        else:
            self.lines.append(f"# key: ???    # {roles.notes['key']}; stages 1-4 need one")
            self.summary.append("no key found")

    def _side(self, side: str, layout: Layout, other: Layout) -> None:
        self.lines += ["", f"{side}:"]
        shared = [n for n in layout.raw if n in other.raw]
        if shared:
            self.lines.append("  raw:")
            for name in shared:
                self.source("    ", scalar(name), layout.raw[name])
        for name in (n for n in layout.raw if n not in other.raw):
            self.lines.append(
                f"  # raw source only on this side, left out: {self.path(layout.raw[name].path)}"
            )
        self.source("  ", "features", layout.features)
        self._splits(layout.splits)
        self.source("  ", "predictions", layout.predictions)
        self.source("  ", "labels", layout.labels)
        self.source("  ", "environment", layout.environment)
        found = [r for r in ROLES if getattr(layout, r) is not None] + (
            ["environment"] if layout.environment else []
        )
        self.summary.append(
            f"{side}: {len(shared)} raw source(s), " + (", ".join(found) or "no other tables")
        )

    def _splits(self, splits: DataFile | dict[str, DataFile] | None) -> None:
        if isinstance(splits, dict):
            self.lines.append("  splits:    # guessed: one file per split")
            for name, table in sorted(splits.items()):
                self.source("    ", scalar(name), table)
        else:
            self.source("  ", "splits", splits)

    def _live(self, live: Layout | None) -> None:
        if live is None or not any((live.features, live.predictions, live.labels)):
            self.lines.append(
                "  # live: no live/ folder found next to or inside the production folder"
            )
            return
        self.lines.append("  live:    # what production has seen recently (stages 5 and 6)")
        self.source("    ", "features", live.features)
        self.source("    ", "predictions", live.predictions)
        self.source("    ", "labels", live.labels, "optional: delayed or absent labels are fine")
        self.summary.append(
            "live: "
            + ", ".join(r for r in ("features", "predictions", "labels") if getattr(live, r))
        )

    def _columns(self, roles: Roles) -> None:
        self.lines += ["", "columns:"]
        for role in ("target", "score", "prediction", "split", "fold", "timestamp"):
            if role in roles.values:
                self.lines.append(
                    f"  {role}: {scalar(roles.values[role])}    # guessed: {roles.notes[role]}"
                )
        if "group" in roles.notes:
            group = roles.notes["group"]
            self.lines.append(
                f"  # group: {scalar(group)}    # uncomment if rows sharing a {group} must stay in one split"
            )
        for role in ("features", "categorical"):
            if role in roles.values:
                items = ", ".join(scalar(c) for c in roles.values[role])
                self.lines.append(f"  {role}: [{items}]    # guessed: {roles.notes[role]}")
        self.summary.append(
            "roles: "
            + ", ".join(
                f"{r}={roles.values[r]}"
                for r in ("target", "score", "prediction", "split", "fold", "timestamp")
                if r in roles.values
            )
        )

    def _stages(self) -> None:
        self.lines.append(
            "# Thresholds: every stage has documented defaults; uncomment a line to change them."
        )
        self.lines.append("# stages:")
        defaults = StagesConfig()
        for stage in StagesConfig.model_fields:
            values = getattr(defaults, stage).model_dump()
            simple = {
                k: v
                for k, v in values.items()
                if isinstance(v, (int, float, str, bool)) and v is not None
            }
            inner = ", ".join(f"{k}: {_yaml_value(v)}" for k, v in simple.items())
            self.lines.append(f"#   {stage}: {{{inner}}}")


def _model_name(research: Location) -> str:
    """The research folder's parent (`credit/research` -> credit); a prefix's too; a database's name."""
    if isinstance(research, Path):
        return research.resolve().parent.name or "model"
    parts = urlsplit(research)
    names = [p for p in parts.path.split("/") if p]
    if is_database_url(research):
        return names[0] if names else "model"
    return names[-2] if len(names) >= 2 else parts.netloc or "model"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return scalar(value)
    text = repr(value)
    # PyYAML reads 1e-09 as text: a float needs a dot in its mantissa.
    return re.sub(r"^(-?\d+)e", r"\1.0e", text) if isinstance(value, float) else text
