"""Pre-flight checks of a loaded checklist's sources, reading metadata or headers only.

`mlcheck validate` asks for the full check: every source exists, is a regular file or folder,
is readable as its format, and has its declared `columns:` and key columns (parquet/feather
schema, CSV header, a sqlite `LIMIT 0` query). `mlcheck run` asks that the files exist and are
regular files (so a typo in a path, or a named pipe, fails in milliseconds instead of after the
first stages). Both check the role columns of `columns:` (target, score, ...) against the tables
they live in. Every problem is reported at once. For a multiclass checklist, `validate` also
reads the target and prediction columns (those alone) to check that the score columns tie to
the classes (`mlcheck.classes`).
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass

import pyarrow as pa

from mlcheck.checklist import Checklist, SourceSpec
from mlcheck.classes import distinct_labels, label_sources, resolve, score_spec, where_score
from mlcheck.engine import slot_specs
from mlcheck.errors import ChecklistError, InputError
from mlcheck.input_files import refuse_unreadable, unreadable_kind
from mlcheck.sources import declared_sources, peek_columns, read_source, source_location
from mlcheck.urls import is_database_url, is_object_store, mask_url

# A checklist without any source would skip every stage: a CI gate that checks nothing.
NOTHING_DECLARED = (
    "no source is declared (research/production raw, features, splits, predictions, labels, "
    "environment or live): there is nothing to check"
)


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
    if not sources and not _environments(checklist):
        raise ChecklistError([NOTHING_DECLARED], path=checklist.source_file)
    names: dict[str, list[str]] = {}
    needed = _tables_roles_need(checklist, list(sources))
    for label, spec in sources.items():
        problems += _source_problems(checklist, spec, label, read_schema, needed, names)
    problems += role_column_problems(checklist, names)
    environments = _environments(checklist)
    for label, spec in environments.items():
        problems += _environment_problems(checklist, spec, label)
    if read_schema and not problems:
        problems += score_mapping_problems(checklist)
    if problems:
        raise SourceProblems(problems)
    return len(sources) + len(environments)


def _source_problems(
    checklist: Checklist,
    spec: SourceSpec,
    label: str,
    read_schema: bool,
    needed: set[str],
    names: dict[str, list[str]],
) -> list[str]:
    """This source's problems; its column names go into `names` when they were read."""
    where = f"{label} ({checklist.where(label)})"
    remote = is_database_url(spec.url) or is_object_store(spec.path)
    if remote and not read_schema:
        return []  # a server or a bucket is reached once, when it is read (or by `validate`)
    try:
        location = None if remote else source_location(spec, checklist)
        if location is not None:
            if not location.exists():
                noun = "file" if spec.path is not None else "database"
                return [f"{where}: {noun} not found: {location}"]
            refuse_unreadable(location, folder_ok=spec.path is not None)  # stat only, no open
    except InputError as exc:
        return [f"{where}: {exc.message}"]
    if not read_schema:
        if label in needed:  # a read error is left to the read, which words it the same way
            with contextlib.suppress(InputError):
                names[label] = peek_columns(spec, checklist, label)
        return []
    try:
        names[label] = peek_columns(spec, checklist, label)
    except InputError as exc:
        return [exc.message]
    wanted = dict.fromkeys(spec.columns or [], "column")
    for key in spec.key_columns or checklist.key_columns or []:
        wanted.setdefault(key, "key column")
    return [
        f"{where}: declared {role} {c!r} is absent"
        for c, role in wanted.items()
        if c not in names[label]
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
    path = checklist.resolve_path(spec.path)
    special = unreadable_kind(path, folder_ok=False)
    if special is not None:
        return [f"{where}: {special}"]
    if not path.is_file():
        return [f"{where}: file not found: {path}"]
    return []


# --------------------------------------------------------------------------- role columns

_PREDICTIONS = ("research.predictions", "production.predictions", "production.live.predictions")
_LABELS = ("research.labels", "production.labels", "production.live.labels")
_SPLITS = ("research.splits", "production.splits")
_FEATURES = ("research.features", "production.features", "production.live.features")
_TABLES = _FEATURES + _SPLITS + _PREDICTIONS + _LABELS  # every table but raw sources


@dataclass(frozen=True)
class RoleColumns:
    """Where the column(s) of one `columns:` role must be.

    `every`: each of these tables that is declared holds every column (scores in each
    predictions table). `anywhere`: when no `every` table is declared, each column is in at least
    one of these declared tables (a feature may be missing from live traffic: that is a check
    finding, not a typo; in no table at all it is a typo).
    """

    role: str  # as written in the checklist: columns.score
    columns: tuple[str, ...]
    every: tuple[str, ...] = ()
    anywhere: tuple[str, ...] = ()


def role_requirements(checklist: Checklist) -> list[RoleColumns]:
    """Every declared role with its column names and the tables it lives in.

    The one place that maps roles to tables: a role given as several columns (multiclass scores,
    a class -> column mapping) lists all its column names and is checked column by column.
    """
    cols = checklist.columns

    def one(name: str | None) -> tuple[str, ...]:
        return (name,) if name else ()

    roles = [
        RoleColumns("columns.target", one(cols.target), every=_LABELS, anywhere=_TABLES),
        RoleColumns("columns.score", tuple(cols.score_columns), every=_PREDICTIONS),
        RoleColumns("columns.prediction", one(cols.prediction), every=_PREDICTIONS),
        RoleColumns("columns.split", one(cols.split), every=_SPLITS),
        RoleColumns("columns.fold", one(cols.fold), anywhere=_TABLES),
        RoleColumns("columns.group", one(cols.group), anywhere=_TABLES),
        RoleColumns("columns.timestamp", one(cols.timestamp), anywhere=_TABLES),
        RoleColumns("columns.features", tuple(cols.features or ()), anywhere=_FEATURES),
        RoleColumns("columns.categorical", tuple(cols.categorical), anywhere=_FEATURES),
        RoleColumns("columns.importance", tuple(cols.importance or {}), anywhere=_FEATURES),
    ]
    return [role for role in roles if role.columns]


def role_column_problems(checklist: Checklist, names: dict[str, list[str]]) -> list[str]:
    """One line per role column absent where it must be, with a did-you-mean and the columns
    there. `names`: the column names of each table read (by dotted label); a declared table
    missing from it could not be read and has its own problem, so nothing is said about it."""
    declared = list(declared_sources(checklist))
    problems: list[str] = []
    for role in role_requirements(checklist):
        every = [t for t in declared if t in role.every]
        if every:
            problems += _absent_from_each(checklist, role, [t for t in every if t in names], names)
            continue
        tables = [t for t in declared if _within(t, role.anywhere)]
        if tables and all(t in names for t in tables):
            problems += _absent_from_all(checklist, role, tables, names)
    return problems


def _absent_from_each(
    checklist: Checklist, role: RoleColumns, tables: list[str], names: dict[str, list[str]]
) -> list[str]:
    return [
        f"{table} ({checklist.where(table)}): {role.role} {column!r} is absent"
        + _guess(column, names[table])
        for table in tables
        for column in role.columns
        if column not in names[table]
    ]


def _absent_from_all(
    checklist: Checklist, role: RoleColumns, tables: list[str], names: dict[str, list[str]]
) -> list[str]:
    seen = list(dict.fromkeys(n for t in tables for n in names[t]))
    return [
        f"{role.role} {column!r} ({checklist.where(role.role)}) is in none of "
        f"{', '.join(tables)}{_guess(column, seen)}"
        for column in role.columns
        if column not in seen
    ]


def _guess(column: str, available: list[str]) -> str:
    close = difflib.get_close_matches(column, available, n=1, cutoff=0.6)
    tip = f"; did you mean {close[0]!r}?" if close else ""
    return f"{tip} (columns: {_preview(available)})"


def _preview(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _within(label: str, tables: tuple[str, ...]) -> bool:
    """`research.splits.train` (a part of a splits mapping) is within `research.splits`."""
    return any(label == t or label.startswith(f"{t}.") for t in tables)


def _tables_roles_need(checklist: Checklist, declared: list[str]) -> set[str]:
    """The declared tables whose column names the role checks read."""
    wanted = {t for role in role_requirements(checklist) for t in (*role.every, *role.anywhere)}
    return {label for label in declared if _within(label, tuple(wanted))}


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
