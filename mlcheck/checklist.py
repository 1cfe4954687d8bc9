"""The checklist file: its model, and a loader that reports every problem with its YAML line.

Validation happens before any data is read. YAML is parsed with a safe loader only. Every problem
(unknown key with a did-you-mean, wrong type, missing key, duplicate key, unset environment
variable) is collected and reported at once, one line each: `line N: <dotted.path> ...`.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import types
from collections.abc import Iterator
from datetime import date
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from mlcheck.errors import ChecklistError
from mlcheck.input_files import unreadable_kind
from mlcheck.safe_yaml import SafeLoader, TooManyValues, compose_within_limit
from mlcheck.stage_config import StagesConfig, Strict, Task
from mlcheck.urls import OBJECT_STORE_EXTRAS, is_database_url, is_object_store, mask_url, scheme

FORMATS = ("csv", "tsv", "parquet", "feather", "arrow", "ipc", "jsonl", "ndjson", "sql")
Format = Literal["csv", "tsv", "parquet", "feather", "arrow", "ipc", "jsonl", "ndjson", "sql"]

# File extensions (after dropping a trailing .gz) and the format they imply.
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
SQLITE_PREFIX = "sqlite:///"
_INTERNAL_FIELDS = ("base_dir", "source_file", "lines")


def format_from_name(name: str) -> str | None:
    """The format a file name implies (`x.csv.gz` -> csv), or None when the extension is unknown."""
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None


class ReadOptions(Strict):
    """How to parse a delimited text source (csv/tsv)."""

    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="field separator; `tab` or `\\t` for a tab"
    )
    encoding: str | None = Field(None, description="text encoding, e.g. latin-1 (default utf-8)")
    null_values: list[str] | None = Field(None, description="strings read as null")
    header: bool = Field(True, description="false: the first row is data; columns are f0, f1, ...")

    @field_validator("delimiter", mode="before")
    @classmethod
    def _named_delimiter(cls, value: Any) -> Any:
        # YAML '\t' in single quotes is two characters; `tab` is easier to write.
        return {"tab": "\t", "\\t": "\t"}.get(value, value) if isinstance(value, str) else value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown text encoding {value!r}") from None
        return value


Names = Annotated[list[str], Field(min_length=1)]
Key = str | Names
# Multiclass: class label -> its probability column (YAML keys are read as text: `0: p0`).
ScoreMapping = Annotated[dict[str, str], Field(min_length=1)]


class SourceSpec(Strict):
    """One table: a file or folder (`path`), or a SQL database (`url` with `query` or `table`)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["path"]}, {"required": ["url"]}]}
    )

    path: str | None = Field(
        None,
        description="file or folder, relative to the checklist's folder; or s3://bucket/key "
        "(a file or a partitioned prefix), gs://, az://, https://",
    )
    url: str | None = Field(
        None,
        description="sqlite:///relative.db, sqlite:////absolute.db or "
        "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB",
    )
    query: str | None = Field(None, description="SQL query (with `url`)")
    table: str | None = Field(None, description="SQL table name (with `url`)")
    format: Format | None = Field(None, description="default: from the file extension")
    columns: Names | None = Field(None, description="read only these columns (plus the key)")
    key: Key | None = Field(None, description="overrides the checklist's key")
    read_options: ReadOptions | None = None
    storage_options: dict[str, str | int | float | bool] | None = Field(
        None, description="object-store options (s3://: region, endpoint_override, ...)"
    )

    @model_validator(mode="after")
    def _one_location(self) -> SourceSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` or `url`")
        self._check_object_store()
        if self.url is not None:
            self._check_database()
        elif self.query is not None or self.table is not None:
            raise ValueError("`query` and `table` go with `url`, not `path`")
        elif self.format == "sql":
            raise ValueError("`format: sql` needs `url` (sqlite:///file.db), not `path`")
        fmt = self.format or format_from_name(self.path or "")
        if self.read_options is not None and fmt not in (None, "csv", "tsv"):
            raise ValueError(f"`read_options` apply to csv/tsv sources, not {fmt}")
        return self

    def _check_database(self) -> None:
        if self.format not in (None, "sql"):
            raise ValueError(f"a `url` source is SQL; `format: {self.format}` does not apply")
        url = self.url or ""
        if not (url.startswith(SQLITE_PREFIX) or is_database_url(url)):
            raise ValueError(
                f"a `url` is {SQLITE_PREFIX}path.db or postgresql://USER@HOST/DB, "
                f"not {mask_url(url)!r}"
            )
        if (self.query is None) == (self.table is None):
            raise ValueError("a `url` source needs exactly one of `query` or `table`")
        if self.read_options is not None:
            raise ValueError("`read_options` apply to csv/tsv sources, not sql")

    def _check_object_store(self) -> None:
        if self.storage_options is not None and not is_object_store(self.path):
            raise ValueError("`storage_options` go with an object-store `path` (s3://, gs://, ...)")
        given = scheme(self.path)
        if given is not None and given not in OBJECT_STORE_EXTRAS and len(given) > 1:
            known = ", ".join(f"{s}://" for s in ("s3", "gs", "az", "https"))
            raise ValueError(f"unsupported path {mask_url(self.path or '')!r}: {known} or a file")

    @property
    def key_columns(self) -> list[str] | None:
        return [self.key] if isinstance(self.key, str) else self.key


# Tags of the two shapes of `splits`; brackets keep them apart from real split names.
_ONE_TABLE = "<one table>"
_BY_NAME = "<split name -> source>"


def _splits_shape(value: Any) -> str:
    """A mapping whose values are all mappings is split name -> source; anything else one table."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return _BY_NAME
    return _ONE_TABLE


Splits = Annotated[
    Annotated[SourceSpec, Tag(_ONE_TABLE)] | Annotated[dict[str, SourceSpec], Tag(_BY_NAME)],
    Discriminator(_splits_shape),
]


class LiveSpec(Strict):
    """What production has seen recently (stages 5 and 6)."""

    features: SourceSpec | None = None
    predictions: SourceSpec | None = None
    labels: SourceSpec | None = Field(None, description="optional: labels may be delayed or absent")


class ResearchSpec(Strict):
    raw: dict[str, SourceSpec] | None = Field(None, description="named raw sources")
    features: SourceSpec | None = None
    splits: Splits | None = Field(
        None, description="one table with a split column, or a mapping of split name to source"
    )
    predictions: SourceSpec | None = None
    labels: SourceSpec | None = None
    environment: SourceSpec | None = Field(
        None,
        description="pip freeze, requirements.txt, environment.yml or `mlcheck env capture` JSON",
    )


class ProductionSpec(ResearchSpec):
    live: LiveSpec | None = None


class Columns(Strict):
    target: str | None = None
    score: Key | ScoreMapping | None = Field(
        None,
        description="score column; multiclass: one column per class, either a list whose names "
        "end with their class label, or a mapping class label -> column",
    )
    prediction: str | None = None
    split: str | None = None
    fold: str | None = None
    group: str | None = None
    timestamp: str | None = None
    features: list[str] | None = Field(None, description="the model's inputs")
    importance: dict[str, Annotated[float, Field(ge=0)]] | None = None
    categorical: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list, description="never compared")

    @property
    def score_columns(self) -> list[str]:
        if self.score is None:
            return []
        if isinstance(self.score, dict):
            return list(self.score.values())
        return [self.score] if isinstance(self.score, str) else list(self.score)

    @field_validator("score")
    @classmethod
    def _one_class_per_column(cls, value: Any) -> Any:
        if isinstance(value, dict):
            repeated = sorted({c for c in value.values() if list(value.values()).count(c) > 1})
            if repeated:
                raise ValueError(f"column(s) {', '.join(map(repr, repeated))} given to two classes")
        return value

    def role_columns(self) -> set[str]:
        """Columns that have a role other than being a model feature."""
        named = [self.target, self.prediction, self.split, self.fold, self.group, self.timestamp]
        return {c for c in named if c} | set(self.score_columns)


class SparkSpec(Strict):
    """Where the spark engine runs: `master` (default `local[*]`; `SPARK_REMOTE` selects Spark
    Connect) and extra Spark configuration."""

    master: str | None = Field(None, description="spark://host:7077, yarn, local[4], ...")
    conf: dict[str, str] = Field(default_factory=dict, description="spark.* settings")


class EngineSpec(Strict):
    """Which engine answers the checks' aggregate questions (the command line wins)."""

    name: Literal["duckdb", "spark"] = Field("duckdb", description="duckdb (default) or spark")
    memory_limit: str | None = Field(
        None, description="e.g. 3GB: DuckDB spills to disk past it (spark: driver memory)"
    )
    threads: int | None = Field(None, ge=1, description="default: every core")
    spark: SparkSpec = Field(default_factory=SparkSpec, description="spark engine settings")  # type: ignore[arg-type]


class AcceptSpec(Strict):
    """A warning or failure the team has accepted: it stays in reports, apart, and stops
    counting toward its stage's status and the verdict (docs/checklist.md)."""

    check: str = Field(description="the check id, e.g. FEAT012 (`mlcheck checks` lists them)")
    column: str | None = Field(None, description="only this column (default: every column)")
    source: str | None = Field(
        None, description="only this source, as reports name it (default: every source)"
    )
    reason: str = Field(min_length=1, description="why it is accepted: shown beside the finding")
    until: date | None = Field(
        None, description="YYYY-MM-DD: after this day the acceptance lapses and the finding counts"
    )

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str) -> str:
        from mlcheck.registry import REGISTRY
        from mlcheck.stages import available_stages

        available_stages()  # importing the stages registers every check
        spec = REGISTRY.get(value.strip())
        if spec is not None:
            return spec.id
        known = [s.id for s in REGISTRY.all()]
        close = difflib.get_close_matches(value.strip().upper(), known, n=1, cutoff=0.6)
        tip = f"; did you mean {close[0]}?" if close else " (`mlcheck checks` lists them)"
        raise ValueError(f"unknown check id {value!r}{tip}")

    def matches(self, check_id: str, source: str | None, column: str | None) -> bool:
        """Whether a result of `check_id` about `source`/`column` is one this entry accepts."""
        return (
            check_id == self.check
            and (self.source is None or self.source == source)
            and (self.column is None or self.column == column)
        )


class Checklist(BaseModel):
    """A whole checklist file. `base_dir` is where relative paths start (the file's folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="mlcheck checklist")

    version: Literal[1] = Field(1, description="checklist format version")
    name: str | None = None
    key: Key | None = Field(None, description="row identity for all tables; may be a list")
    research: ResearchSpec
    production: ProductionSpec
    columns: Columns = Field(default_factory=Columns)  # type: ignore[arg-type]
    task: Task = "binary"
    stages: StagesConfig = Field(default_factory=StagesConfig)
    accept: list[AcceptSpec] = Field(default_factory=list)
    engine: EngineSpec = Field(default_factory=EngineSpec, description="the engine (SPEC 7.1)")  # type: ignore[arg-type]
    base_dir: str = Field(".", exclude=True, description="internal: the checklist's folder")
    source_file: str = Field("<checklist>", exclude=True, description="internal: the file path")
    lines: dict[str, int] = Field(default_factory=dict, exclude=True, description="internal")

    @model_validator(mode="after")
    def _score_mapping_is_multiclass(self) -> Checklist:
        if isinstance(self.columns.score, dict) and self.task != "multiclass":
            raise ValueError(
                f"`columns.score` maps classes to columns, which needs `task: multiclass` "
                f"(task is {self.task}); a {self.task} model has one score column"
            )
        return self

    @property
    def key_columns(self) -> list[str] | None:
        return [self.key] if isinstance(self.key, str) else self.key

    def where(self, dotted: str) -> str:
        """`file:line` of a dotted key such as `production.raw.bureau`, for messages."""
        line = self.lines.get(dotted)
        return f"{self.source_file}:{line}" if line else self.source_file

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate


# --------------------------------------------------------------------------- YAML with lines


class _LineDict(dict):
    """A dict that knows the YAML line of each key (`lines`) and of itself (`line`)."""

    def __init__(self, data: dict[str, Any], lines: dict[str, int], line: int) -> None:
        super().__init__(data)
        self.lines = lines
        self.line = line


class _LineList(list):
    """A list that knows the YAML line of each item."""

    def __init__(self, items: list[Any], lines: list[int], line: int) -> None:
        super().__init__(items)
        self.lines = lines
        self.line = line


class _LineLoader(SafeLoader):
    """The safe loader, keeping line numbers. Keys are always text (`2023:` names a source "2023")."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`): explicit keys win
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key = key if isinstance(key, str) else _plain_text(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    return _LineDict(mapping, lines, node.start_mark.line + 1)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    lines = [child.start_mark.line + 1 for child in node.value]
    return _LineList(items, lines, node.start_mark.line + 1)


def _plain_text(key: Any) -> str:
    if isinstance(key, bool):
        return str(key).lower()
    return "null" if key is None else str(key)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_checklist(path: str | Path) -> Checklist:
    """Read, expand and validate a checklist; raise ChecklistError listing every problem."""
    file = Path(path)
    text = _read_text(file)
    try:
        data, problems = _parse_yaml(text, str(file))
        if not isinstance(data, dict):
            kind = "empty" if data is None else f"{_kind(data)}, not a mapping of keys"
            raise ChecklistError([f"line 1: the checklist is {kind}"], path=str(file))
        data, var_problems = _expand_vars(data)
    except RecursionError:
        problem = "line 1: the checklist nests too deeply to read"
        raise ChecklistError([problem], path=str(file)) from None
    problems += var_problems + _internal_keys(data)
    fields = {k: v for k, v in data.items() if k not in _INTERNAL_FIELDS and not _is_extension(k)}
    internal = {"base_dir": str(file.resolve().parent), "source_file": str(file)}
    try:
        checklist = Checklist.model_validate(
            {**fields, **internal, "lines": dict(_key_lines(data))}
        )
    except ValidationError as exc:
        problems += _describe_all(exc, data)
    if problems:
        raise ChecklistError(_by_line(problems), path=str(file))
    return checklist


def _read_text(file: Path) -> str:
    special = unreadable_kind(file, folder_ok=True)  # a named pipe would block the read
    if special is not None:
        raise ChecklistError([special], path=str(file))
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ChecklistError([f"file not found: {file}"], path=str(file)) from None
    except IsADirectoryError:
        raise ChecklistError(
            [f"{file} is a folder, not a checklist file"], path=str(file)
        ) from None
    except OSError as exc:
        raise ChecklistError([f"cannot read {file}: {exc.strerror}"], path=str(file)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = f"line {line}: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        raise ChecklistError([problem], path=str(file)) from None


def _parse_yaml(text: str, name: str) -> tuple[Any, list[str]]:
    """The document (with lines) and its duplicate-key problems; a syntax error is raised."""
    try:
        loader = _LineLoader(text)
    except yaml.reader.ReaderError as exc:  # checks every character before parsing begins
        line = text[: exc.position].count("\n") + 1
        code = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        problem = f"line {line}: the control character {code} is not allowed in YAML; remove it"
        raise ChecklistError([problem], path=name) from None
    try:
        node = compose_within_limit(loader)  # refuses a "billion laughs" before constructing
        if node is None:
            return None, []
        duplicates = _duplicate_keys(node, (), set())
        return loader.construct_document(node), duplicates
    except TooManyValues as exc:
        raise ChecklistError([f"line 1: the checklist {exc}"], path=name) from None
    except yaml.YAMLError as exc:
        raise ChecklistError([_yaml_error(exc)], path=name) from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "'\\t'" in what:
        return f"{where}a tab character; YAML indents with spaces only (replace tabs with spaces)"
    return f"{where}invalid YAML: {what}"


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...], seen_nodes: set[int]) -> list[str]:
    """`line N: duplicate key` for every key given twice in one mapping (YAML allows it silently)."""
    if id(node) in seen_nodes:  # an alias: already checked where the anchor was defined
        return []
    seen_nodes.add(id(node))
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first_line:
                dotted = _dotted((*path, key))
                problems.append(
                    f"line {line}: duplicate key `{dotted}` (first at line {first_line[key]})"
                )
            first_line.setdefault(key, line)
            problems += _duplicate_keys(value_node, (*path, key), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            problems += _duplicate_keys(child, (*path, str(index)), seen_nodes)
    return problems


def _expand_vars(data: Any, where: tuple[str | int, ...] = ()) -> tuple[Any, list[str]]:
    """Expand ${VAR} and ${VAR:-default} in every string value, keeping line information."""
    if isinstance(data, _LineDict):
        out: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in data.items():
            out[key], sub = _expand_vars(value, (*where, key))
            problems += [p if p.startswith("line") else f"line {data.lines[key]}: {p}" for p in sub]
        return _LineDict(out, data.lines, data.line), problems
    if isinstance(data, _LineList):
        expanded = [_expand_vars(v, (*where, i)) for i, v in enumerate(data)]
        problems = [
            p if p.startswith("line") else f"line {data.lines[i]}: {p}"
            for i, (_, sub) in enumerate(expanded)
            for p in sub
        ]
        return _LineList([v for v, _ in expanded], data.lines, data.line), problems
    if isinstance(data, str) and "${" in data:
        return _expand_string(data, where)
    return data, []


def _expand_string(value: str, where: tuple[str | int, ...]) -> tuple[str, list[str]]:
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return match.group(0)

    expanded = _VAR.sub(replace, value)
    return expanded, [
        f"`{_dotted(where)}`: environment variable ${{{n}}} is not set "
        f"(set it, or give a default: ${{{n}:-value}})"
        for n in missing
    ]


def _is_extension(key: str) -> bool:
    """Top-level `x-...` keys are ignored: a place for YAML anchors shared by several sources."""
    return key.startswith("x-")


def _internal_keys(data: _LineDict) -> list[str]:
    return [f"line {data.lines[k]}: unknown key `{k}`" for k in _INTERNAL_FIELDS if k in data]


def _key_lines(data: Any, prefix: str = "") -> Iterator[tuple[str, int]]:
    if isinstance(data, _LineDict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            yield dotted, data.lines[key]
            yield from _key_lines(value, dotted + ".")


def _dotted(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """`columns.features[2]`: keys joined by dots, list positions in brackets."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{_printable(part)}" if text else _printable(part)
    return text or "(top level)"


def _printable(key: str) -> str:
    """A key as written, control characters (a quoted "a\\nb") escaped so a problem stays one line."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")


# --------------------------------------------------------------------------- pydantic errors


class _Problem:
    """One pydantic error, its location split into real keys (`loc`) and union branches (`tags`)."""

    def __init__(self, error: Any, data: Any) -> None:
        self.error = error
        self.raw_loc: tuple[str | int, ...] = tuple(error["loc"])
        self.loc, self.tags = _split_loc(self.raw_loc, data, error["type"])

    def without_first_tag(self) -> _Problem:
        clone = object.__new__(_Problem)
        clone.error, clone.raw_loc, clone.loc, clone.tags = (
            self.error,
            self.raw_loc,
            self.loc,
            self.tags[1:],
        )
        return clone


def _split_loc(
    loc: tuple[str | int, ...], data: Any, kind: str
) -> tuple[tuple[str | int, ...], list[tuple[int, str]]]:
    """Walk `loc` through the YAML data: parts that are not keys there are union-branch names."""
    node, keys, tags = data, [], []
    for i, part in enumerate(loc):
        is_key = isinstance(node, dict) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if is_key or is_index:
            keys.append(part)
            node = node[part]
        elif i == len(loc) - 1 and kind == "missing" and isinstance(node, dict):
            keys.append(part)
        else:
            tags.append((len(keys), str(part)))
    return tuple(keys), tags


def _describe_all(exc: ValidationError, data: Any) -> list[str]:
    return _collapse_unions([_Problem(e, data) for e in exc.errors()], data)


def _collapse_unions(problems: list[_Problem], data: Any) -> list[str]:
    """Keep one branch's errors per union (the branch the input fits), or say what was expected.

    Pydantic reports every branch of `str | list[str]`; the user wrote one shape and needs
    one message about it, not one per shape the field could take.
    """
    out = [_describe(p, data) for p in problems if not p.tags]
    groups: dict[tuple[Any, ...], dict[str, list[_Problem]]] = {}
    for p in problems:
        if p.tags:
            at = p.loc[: p.tags[0][0]]
            groups.setdefault(at, {}).setdefault(p.tags[0][1], []).append(p)
    for at, branches in groups.items():
        fits = {tag: ps for tag, ps in branches.items() if any(p.loc != at for p in ps)}
        if len(branches) == 1 or fits:
            chosen = min((fits or branches).values(), key=len)
            out += _collapse_unions([p.without_first_tag() for p in chosen], data)
        else:
            found = _kind(next(iter(branches.values()))[0].error["input"])
            expected = " or ".join(dict.fromkeys(_branch_text(tag) for tag in branches))
            out.append(
                f"line {_line_of(data, at)}: `{_dotted(at)}`: expected {expected}, found {found}"
            )
    return out


def _branch_text(tag: str) -> str:
    if tag.startswith("list") or "list" in tag:
        return "a list of names"
    if tag.startswith("dict") or tag in (_ONE_TABLE, _BY_NAME) or tag[:1].isupper():
        return "a mapping"
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
    }.get(tag, tag)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date (YYYY-MM-DD) without a time",
}

_SPECIAL_UNKNOWN = {
    "production.live.raw": "`live` holds features, predictions and labels; raw sources go under `production.raw`",
    "research.live": "`live` belongs under `production`",
}


def _describe(problem: _Problem, data: Any) -> str:
    """One line for one problem: YAML line, dotted path, what is wrong, a did-you-mean."""
    error, loc = problem.error, problem.loc
    where = f"line {_line_of(data, loc)}: "
    dotted, kind = _dotted(loc), error["type"]
    if kind == "extra_forbidden":
        return where + _unknown_key(problem, dotted)
    if kind == "missing":
        return f"{where}missing required key `{dotted}`"
    if kind == "literal_error":
        return where + _bad_choice(dotted, error)
    if kind in _EXPECTED:
        return (
            f"{where}`{dotted}`: expected {_EXPECTED[kind]}, found {_kind(error['input'])}"
            + _tip(kind, error["input"])
        )
    if kind in ("too_short", "string_too_short"):
        return f"{where}`{dotted}`: must not be empty"
    msg = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    found = (
        f", found {_kind(error['input'])}" if kind.endswith(("_than", "_equal", "_length")) else ""
    )
    return f"{where}`{dotted}`: {msg}{found}"


def _unknown_key(problem: _Problem, dotted: str) -> str:
    if dotted in _SPECIAL_UNKNOWN:
        return f"unknown key `{dotted}`: {_SPECIAL_UNKNOWN[dotted]}"
    name = str(problem.loc[-1])
    known = _fields_at(problem.raw_loc[:-1])
    guess = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if guess:
        return f"unknown key `{dotted}`; did you mean `{guess[0]}`?"
    return f"unknown key `{dotted}`" + (f"; known keys: {', '.join(known)}" if known else "")


def _bad_choice(dotted: str, error: Any) -> str:
    given = error["input"]
    if dotted == "version":
        return f"`version`: unsupported checklist version {given!r}; this mlcheck reads version 1"
    choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
    guess = difflib.get_close_matches(str(given), choices, n=1, cutoff=0.6)
    tip = f"; did you mean `{guess[0]}`?" if guess else ""
    return f"`{dotted}`: expected one of {', '.join(choices)}, found {_kind(given)}{tip}"


def _tip(kind: str, given: Any) -> str:
    if kind == "string_type" and _is_number(given):
        return " (quote it to make it text)"
    if kind == "list_type" and isinstance(given, str):
        return f" (a one-item list is written [{given}])"
    return ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """How a YAML value reads to its author: `a list`, `the number 5`, `the text 'abc'`."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if _is_number(value):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def _line_of(data: Any, loc: tuple[str | int, ...]) -> int:
    """The YAML line of the deepest part of `loc` present in the data (a list item's own line)."""
    line: int = getattr(data, "line", 1)
    node = data
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.lines[part]  # type: ignore[index]
        elif isinstance(node, _LineList) and isinstance(part, int) and part < len(node):
            line = node.lines[part]
        else:
            break
        node = node[part]
    return line


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model accepts at a location (union branches chosen by their tags)."""
    annotation: Any = Checklist
    for part in loc:
        annotation = _step(_unwrap(annotation), part)
        if annotation is None:
            return []
    model = _unwrap(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f for f in model.model_fields if f not in _INTERNAL_FIELDS]
    return []


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    if get_origin(annotation) in (dict, list):
        return get_args(annotation)[-1]
    if get_origin(annotation) in (Union, types.UnionType):
        for branch in get_args(annotation):
            if any(
                isinstance(m, Tag) and m.tag == part for m in getattr(branch, "__metadata__", ())
            ):
                return branch
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `| None` until a model, a container or a real union is left."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            branches = [a for a in get_args(annotation) if a is not type(None)]
            if len(branches) != 1:
                return annotation
            annotation = branches[0]
        else:
            return annotation


def _by_line(items: list[str]) -> list[str]:
    """Distinct problems, in the order of their YAML lines."""
    unique = list(dict.fromkeys(items))
    line = re.compile(r"^line (\d+)")
    return sorted(unique, key=lambda p: int(m.group(1)) if (m := line.match(p)) else 0)


def json_schema() -> dict[str, Any]:
    """The checklist's JSON Schema, for editors (`mlcheck schema`)."""
    from mlcheck.schema_docs import describe

    schema = describe(Checklist.model_json_schema(mode="validation"))
    for internal in _INTERNAL_FIELDS:
        schema.get("properties", {}).pop(internal, None)
    schema["patternProperties"] = {"^x-": {"description": "ignored: a place for YAML anchors"}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
