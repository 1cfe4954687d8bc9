"""Pre-flight checks of a loaded checklist's sources, reading metadata or headers only.

`mlcheck validate` asks for the full check: every source exists, is readable as its format, and
has its declared `columns:` and key columns (parquet/feather schema, CSV header, a sqlite
`LIMIT 0` query). `mlcheck run` asks only that the files exist, so a typo in a path fails in
milliseconds instead of after the first stages. Every problem is reported at once. For a
multiclass checklist, `validate` also reads the target and prediction columns (those alone) to
check that the score columns tie to the classes (`mlcheck.classes`).
"""

from __future__ import annotations

import pyarrow as pa

from mlcheck.checklist import Checklist, SourceSpec
from mlcheck.classes import distinct_labels, label_sources, resolve, score_spec, where_score
from mlcheck.engine import slot_specs
from mlcheck.errors import InputError
from mlcheck.sources import declared_sources, peek_columns, read_source, source_location
from mlcheck.urls import is_database_url, is_object_store, mask_url


class SourceProblems(InputError):
    """Several sources are missing or lack declared columns; `problems` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        noun = "a problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{noun} with the checklist's sources:")
        self.problems = problems


def validate_sources(checklist: Checklist, *, read_schema: bool) -> int:
    """Check every declared source; return how many were checked or raise SourceProblems."""
    problems: list[str] = []
    sources = declared_sources(checklist)
    for label, spec in sources.items():
        problems += _source_problems(checklist, spec, label, read_schema)
    environments = _environments(checklist)
    for label, spec in environments.items():
        problems += _environment_problems(checklist, spec, label)
    if read_schema and not problems:
        problems += score_mapping_problems(checklist)
    if problems:
        raise SourceProblems(problems)
    return len(sources) + len(environments)


def _source_problems(
    checklist: Checklist, spec: SourceSpec, label: str, read_schema: bool
) -> list[str]:
    where = f"{label} ({checklist.where(label)})"
    remote = is_database_url(spec.url) or is_object_store(spec.path)
    if remote and not read_schema:
        return []  # a server or a bucket is reached once, when it is read (or by `validate`)
    try:
        location = None if remote else source_location(spec, checklist)
    except InputError as exc:
        return [f"{where}: {exc.message}"]
    if location is not None and not location.exists():
        noun = "file" if spec.path is not None else "database"
        return [f"{where}: {noun} not found: {location}"]
    if not read_schema:
        return []
    try:
        names = peek_columns(spec, checklist, label)
    except InputError as exc:
        return [exc.message]
    wanted = dict.fromkeys(spec.columns or [], "column")
    for key in spec.key_columns or checklist.key_columns or []:
        wanted.setdefault(key, "key column")
    return [
        f"{where}: declared {role} {c!r} is absent" for c, role in wanted.items() if c not in names
    ]


def _environments(checklist: Checklist) -> dict[str, SourceSpec]:
    sides = {side: getattr(checklist, side).environment for side in ("research", "production")}
    return {f"{side}.environment": spec for side, spec in sides.items() if spec is not None}


def _environment_problems(checklist: Checklist, spec: SourceSpec, label: str) -> list[str]:
    where = f"{label} ({checklist.where(label)})"
    if spec.path is None:
        return [f"{where}: an environment is a file (`path:`), not a database"]
    if is_object_store(spec.path):
        return [f"{where}: an environment file is read from local disk, not {mask_url(spec.path)}"]
    path = checklist.resolve_path(spec.path).resolve()
    if not path.is_file():
        return [f"{where}: file not found: {path}"]
    return []


def score_mapping_problems(checklist: Checklist) -> list[str]:
    """Multiclass: whether `columns.score` ties to the classes found in the data (by the
    checklist's mapping, or by column names ending with class labels). Reads the target and
    prediction columns alone, from the slots `mlcheck.classes` takes labels from."""
    if checklist.task != "multiclass" or checklist.columns.score is None:
        return []
    try:
        resolve(score_spec(checklist), distinct_labels(_label_values(checklist)))
    except InputError as exc:
        return [f"{where_score(checklist)}: {exc.message}"]
    return []


def _label_values(checklist: Checklist) -> list[pa.ChunkedArray]:
    specs = slot_specs(checklist)

    def has(slot: str, column: str) -> bool:
        spec = specs.get(slot)
        return isinstance(spec, SourceSpec) and column in _readable_columns(checklist, spec, slot)

    found = []
    for slot, column in label_sources(checklist, has):  # a handful of slots
        spec = specs[slot]
        assert isinstance(spec, SourceSpec)
        one_column = spec.model_copy(update={"columns": [column]})
        found.append(read_source(one_column, checklist, slot).column(column))
    return found


def _readable_columns(checklist: Checklist, spec: SourceSpec, slot: str) -> list[str]:
    """The columns a run reads from a source: its `columns:` subset (when given) of the file's."""
    names = peek_columns(spec, checklist, slot)
    return [n for n in names if n in spec.columns] if spec.columns else names
