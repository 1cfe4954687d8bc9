"""The checklist file: its model, and a loader that reports every problem with its YAML line.

Validation happens before any data is read. YAML is parsed with a safe loader only.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlcheck.errors import ChecklistError
from mlcheck.stage_config import StagesConfig, Strict, Task

FORMATS = ("csv", "tsv", "parquet", "feather", "arrow", "ipc", "jsonl", "ndjson", "sql")


class ReadOptions(Strict):
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    encoding: str | None = None
    null_values: list[str] | None = Field(None, description="strings read as null")
    header: bool = True


class SourceSpec(Strict):
    """One table: a file or folder (`path`), or a SQL database (`url` with `query` or `table`)."""

    path: str | None = None
    url: str | None = None
    query: str | None = None
    table: str | None = None
    format: Literal["csv", "tsv", "parquet", "feather", "arrow", "ipc", "jsonl", "ndjson", "sql"] | None = None
    columns: list[str] | None = Field(None, description="read only these columns")
    key: str | list[str] | None = Field(None, description="overrides the checklist's key")
    read_options: ReadOptions | None = None

    @model_validator(mode="after")
    def _one_location(self) -> SourceSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` or `url`")
        if self.url is not None and (self.query is None) == (self.table is None):
            raise ValueError("a `url` source needs exactly one of `query` or `table`")
        if self.path is not None and (self.query or self.table):
            raise ValueError("`query` and `table` go with `url`, not `path`")
        return self

    @property
    def key_columns(self) -> list[str] | None:
        return [self.key] if isinstance(self.key, str) else self.key


Splits = SourceSpec | dict[str, SourceSpec]


class LiveSpec(Strict):
    features: SourceSpec | None = None
    predictions: SourceSpec | None = None
    labels: SourceSpec | None = None


class ResearchSpec(Strict):
    raw: dict[str, SourceSpec] | None = None
    features: SourceSpec | None = None
    splits: Splits | None = None
    predictions: SourceSpec | None = None
    labels: SourceSpec | None = None
    environment: SourceSpec | None = None


class ProductionSpec(ResearchSpec):
    live: LiveSpec | None = None


class Columns(Strict):
    target: str | None = None
    score: str | list[str] | None = None
    prediction: str | None = None
    split: str | None = None
    fold: str | None = None
    group: str | None = None
    timestamp: str | None = None
    features: list[str] | None = None
    importance: dict[str, float] | None = None
    categorical: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)

    @property
    def score_columns(self) -> list[str]:
        if self.score is None:
            return []
        return [self.score] if isinstance(self.score, str) else list(self.score)

    def role_columns(self) -> set[str]:
        """Columns that have a role other than being a model feature."""
        named = [self.target, self.prediction, self.split, self.fold, self.group, self.timestamp]
        return {c for c in named if c} | set(self.score_columns)


class Checklist(BaseModel):
    """A whole checklist file. `base_dir` is where relative paths start (the file's folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str | None = None
    key: str | list[str] | None = None
    research: ResearchSpec
    production: ProductionSpec
    columns: Columns = Field(default_factory=Columns)  # type: ignore[arg-type]
    task: Task = "binary"
    stages: StagesConfig = Field(default_factory=StagesConfig)  # type: ignore[arg-type]
    base_dir: str = Field(".", exclude=True, description="internal: the checklist's folder")
    source_file: str = Field("<checklist>", exclude=True, description="internal: the file path")
    lines: dict[str, int] = Field(default_factory=dict, exclude=True, description="internal")

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


# --------------------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """Safe loader that remembers the line of each mapping key and rejects duplicate keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if key in mapping:
            loader.duplicates.append(f"line {line}: duplicate key `{key}` (first at line {lines[key]})")
        mapping[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
        lines[key] = line
    return _LineDict(mapping, lines, node.start_mark.line + 1)


class _LineDict(dict):  # type: ignore[type-arg]
    """A dict that knows the YAML line of each key."""

    def __init__(self, data: dict[str, Any], lines: dict[str, int], line: int) -> None:
        super().__init__(data)
        self.lines = lines
        self.line = line


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_checklist(path: str | Path) -> Checklist:
    """Read, expand and validate a checklist; raise ChecklistError listing every problem."""
    file = Path(path)
    text = _read_text(file)
    data, problems = _parse_yaml(text, str(file))
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ChecklistError([f"line 1: the checklist must be a mapping of keys, found {kind}"], path=str(file))
    data, var_problems = _expand_vars(data)
    problems += var_problems
    try:
        checklist = Checklist.model_validate(
            {
                **data,
                "base_dir": str(file.resolve().parent),
                "source_file": str(file),
                "lines": dict(_key_lines(data)),
            }
        )
    except ValidationError as exc:
        problems += [_describe(err, data) for err in exc.errors()]
        raise ChecklistError(_by_line(problems), path=str(file)) from None
    if problems:
        raise ChecklistError(_by_line(problems), path=str(file))
    return checklist


def _read_text(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ChecklistError([f"file not found: {file}"], path=str(file)) from None
    except IsADirectoryError:
        raise ChecklistError([f"{file} is a folder, not a checklist file"], path=str(file)) from None
    except OSError as exc:
        raise ChecklistError([f"cannot read {file}: {exc.strerror}"], path=str(file)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ChecklistError([f"line {line}: the file is not valid UTF-8 text"], path=str(file)) from None


def _parse_yaml(text: str, name: str) -> tuple[Any, list[str]]:
    loader = _LineLoader(text)
    loader.duplicates = []  # type: ignore[attr-defined]
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "\t" in text and "tab" in str(exc).lower():
            what += " (YAML does not allow tabs for indentation; use spaces)"
        raise ChecklistError([f"{where}invalid YAML: {what}"], path=name) from None
    finally:
        loader.dispose()
    return data, list(loader.duplicates)  # type: ignore[attr-defined]


def _expand_vars(data: Any, where: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
    """Expand ${VAR} and ${VAR:-default} in every string value, keeping line information."""
    problems: list[str] = []
    if isinstance(data, _LineDict):
        out = {}
        for key, value in data.items():
            out[key], sub = _expand_vars(value, (*where, key))
            problems += [f"line {data.lines[key]}: {p}" if not p.startswith("line") else p for p in sub]
        return _LineDict(out, data.lines, data.line), problems
    if isinstance(data, list):
        expanded = [_expand_vars(v, where) for v in data]
        return [v for v, _ in expanded], [p for _, ps in expanded for p in ps]
    if isinstance(data, str) and "$" in data:
        return _expand_string(data, where)
    return data, problems


def _expand_string(value: str, where: tuple[str, ...]) -> tuple[str, list[str]]:
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
    dotted = ".".join(map(str, where))
    return expanded, [f"`{dotted}`: environment variable ${{{n}}} is not set" for n in missing]


def _key_lines(data: Any, prefix: str = "") -> Iterator[tuple[str, int]]:
    if isinstance(data, _LineDict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            yield dotted, data.lines[key]
            yield from _key_lines(value, dotted + ".")


def _describe(error: Mapping[str, Any], data: Any) -> str:
    """One line for one pydantic error: YAML line, dotted path, what is wrong, a did-you-mean."""
    loc = [str(p) for p in error["loc"] if not _is_union_tag(str(p))]
    line, parent = _locate(data, loc)
    dotted = ".".join(loc) or "(top level)"
    where = f"line {line}: " if line else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        guess = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        tip = f"; did you mean `{guess[0]}`?" if guess else (f"; known keys: {', '.join(known)}" if known else "")
        return f"{where}unknown key `{dotted}`{tip}"
    if kind == "missing":
        return f"{where}missing required key `{dotted}`"
    msg = str(error["msg"]).replace("Value error, ", "")
    return f"{where}`{dotted}`: {msg}"


def _is_union_tag(part: str) -> bool:
    # pydantic names union branches in error locations ("SourceSpec", "dict[str,SourceSpec]").
    return part in {"SourceSpec", "dict[str,SourceSpec]", "str", "list[str]", "int", "float", "function-after[_one_location(), SourceSpec]"} or part.startswith("function-")


def _locate(data: Any, loc: list[str]) -> tuple[int | None, Any]:
    """The YAML line of the deepest key of `loc` that exists in `data`."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    return line, node


def _known_keys(loc: list[str]) -> list[str]:
    """The keys the model accepts at a dotted location, for did-you-mean."""
    model: Any = Checklist
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if fields is None:
            break
        if part in fields:
            model = _model_of(fields[part].annotation)
        # a name under raw/splits mapping: stay on SourceSpec
        elif model in (ResearchSpec, ProductionSpec):
            model = SourceSpec
        else:
            model = SourceSpec if model is SourceSpec else model
    fields = getattr(model, "model_fields", None)
    internal = {"base_dir", "source_file", "lines"}
    return [f for f in fields if f not in internal] if fields else []


def _model_of(annotation: Any) -> Any:
    for candidate in _walk_annotation(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _walk_annotation(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _walk_annotation(arg)


def _by_line(items: list[str]) -> list[str]:
    """Distinct problems, in the order of their YAML lines."""
    unique = list(dict.fromkeys(items))
    line = re.compile(r"^line (\d+)")
    return sorted(unique, key=lambda p: int(m.group(1)) if (m := line.match(p)) else 0)


def json_schema() -> dict[str, Any]:
    """The checklist's JSON Schema, for editors (`mlcheck schema`)."""
    schema = Checklist.model_json_schema(mode="validation")
    for internal in ("base_dir", "source_file", "lines"):
        schema.get("properties", {}).pop(internal, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlcheck checklist"
    return schema
