"""The aggregate seam: the questions every engine answers, and the small answers it returns.

Keep this interface small: each primitive is one more thing every engine (DuckDB now, Spark
later) must implement and pass `tests/engines/` for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from mlcheck.compare import ColumnStats, Kind, RowDifference


class Unsupported(Exception):
    """An engine cannot answer this question for these column types (yet); the caller answers
    it on the in-memory engine instead. Never shown to users."""


@dataclass(frozen=True)
class Tolerance:
    """Cells agree when `|a - b| <= atol + rtol * max(|a|, |b|)` (floats only)."""

    rtol: float
    atol: float


@dataclass(frozen=True)
class ColumnDifference:
    """One column compared over the key pairs matched on both sides (counts, never positions).

    `beyond` counts cells beyond tolerance, a null against a value included; `within` cells
    that differ but within tolerance (disjoint from `beyond`); `null_left_only` cells null in
    research only (production has a value), `null_right_only` the other way. `max_abs_diff` /
    `max_rel_diff` are over differing non-null cells, NaN differences skipped (temporal: seconds,
    no relative). `examples`: up to `examples` beyond-tolerance cells `{"key", "research",
    "production"}` sorted by key.
    """

    column: str
    kind: Kind
    compared: int
    beyond: int
    within: int
    null_left_only: int
    null_right_only: int
    max_abs_diff: float | None
    max_rel_diff: float | None
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class KeyCounts:
    """Null and duplicate keys of one side: rows with a null key part, rows whose key occurs
    more than once and how many such keys, with the first `examples` `{"key", "rows"}` by key."""

    null_rows: int
    duplicate_rows: int
    duplicate_keys: int
    duplicate_examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class KeyComparison:
    """Two relations matched on `key`. `rows` holds keys only on the left (lost) and only on the
    right (extra) with examples by key; `matched` counts keys unique and non-null on both sides
    (the pairs `columns` compares)."""

    key: tuple[str, ...]
    left_rows: int
    right_rows: int
    matched: int
    left: KeyCounts
    right: KeyCounts
    rows: RowDifference
    columns: Mapping[str, ColumnDifference] = field(default_factory=dict)


@dataclass(frozen=True)
class ParquetPart:
    """Parquet files read as one relation: one file, or a folder's files (`folder` set: its
    hive `key=value` directories become columns, read as text and cast to `schema`'s types)."""

    files: tuple[Path, ...]
    folder: Path | None = None
    label: str | None = None  # the value of the source's label column for this part's rows


@dataclass(frozen=True)
class ParquetSource:
    """Local parquet an engine reads in place (never copied into memory): the rows of every
    part, with `schema`'s columns in its order. `schema` holds the types the pyarrow reader
    gives; the engine reports it as the relation's schema and raises Unsupported when it cannot
    read those values exactly (the caller then registers the reader's Arrow table).
    `label_column` (a split mapping's split column) holds each part's `label`."""

    parts: tuple[ParquetPart, ...]
    schema: pa.Schema
    label_column: str | None = None


@dataclass(frozen=True)
class EngineSettings:
    """Which engine, and how much memory it may use before spilling to `temp_directory`."""

    name: str = "duckdb"
    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: str | None = None
    spark_master: str | None = None
    spark_conf: tuple[tuple[str, str], ...] = ()


class AggregateEngine(Protocol):
    """The primitives of SPEC 7.1. Relations are registered by name (a file read in place or
    an Arrow table) and referred to by that name afterwards."""

    name: str

    def register(self, name: str, source: pa.Table | Path | ParquetSource) -> None: ...

    def unregister(self, name: str) -> None:
        """Forget a relation (its view or table); asking about it again is a KeyError."""
        ...

    def schema(self, name: str) -> pa.Schema: ...

    def num_rows(self, name: str) -> int: ...

    def register_join(self, name: str, left: str, right: str, key: Sequence[str]) -> None:
        """Register `name`: rows of `left` and `right` matched on `key`, over keys non-null and
        unique on both sides (a duplicate or null key is never paired by guesswork); every
        column of `left`, then `right`'s columns whose names `left` does not have."""
        ...

    def key_comparison(
        self,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Mapping[str, Kind],
        tolerance: Tolerance,
        examples: int,
    ) -> KeyComparison: ...

    def profiles(
        self, name: str, columns: Mapping[str, Kind], top: int
    ) -> dict[str, ColumnStats]: ...

    def value_counts(
        self, name: str, column: str, by: str | None = None
    ) -> dict[Any, tuple[tuple[Any, int], ...]]: ...

    def quantiles(
        self, name: str, column: str, probabilities: Sequence[float], by: str | None = None
    ) -> dict[Any, tuple[float, ...]]: ...

    def crosstab(
        self, left: str, right: str, key: Sequence[str], left_column: str, right_column: str
    ) -> dict[tuple[Any, Any], int]: ...

    def multiset_difference(
        self, left: str, right: str, columns: Sequence[str], examples: int
    ) -> RowDifference: ...

    # ---- joint_crosstab, spread, before_cutoff (s3)

    def joint_crosstab(
        self,
        left: str,
        right: str,
        key: Sequence[str],
        left_columns: Sequence[str],
        right_columns: Sequence[str],
        unique: bool = False,
    ) -> dict[tuple[tuple[Any, ...], tuple[Any, ...]], int]:
        """Counts of (left values, right values) over keys non-null and unique on both sides:
        `crosstab` over several columns per side (e.g. fold and split together). `unique`: the
        caller knows (from a key comparison) that no key is null or repeated on either side,
        so a plain join answers (the same counts, without counting every key first)."""
        ...

    def spread(self, name: str, entity: Sequence[str], column: str, examples: int) -> ValueSpread:
        """Entities (`entity` columns, rows with a null part left out) whose rows hold more
        than one distinct value of `column`, counted per combination of values."""
        ...

    def before_cutoff(
        self,
        name: str,
        column: str,
        by: str,
        cutoff_groups: Sequence[Any],
        key: Sequence[str],
        examples: int,
        as_time: bool = False,
    ) -> Cutoff:
        """Per group of `by`, rows whose `column` is earlier than the cutoff: the largest value
        over the rows whose `by` is in `cutoff_groups`. Values compare in the column's own
        order; with `as_time` text is read as ISO 8601 timestamps."""
        ...

    # ---- grouped_counts (perf)

    def grouped_counts(
        self,
        base: str,
        key: Sequence[str],
        columns: Sequence[tuple[str, str]],
        chunk: Chunking | None = None,
    ) -> pa.Table:
        """How many rows of `base` carry each combination of values of `columns`: `(relation,
        column)` pairs. A column of `base` is the row's own value; a column of another relation
        is that relation's value for the row's `key` where the key is non-null and unique on
        both sides, null otherwise (a lookup: every row of `base` is counted exactly once).
        With `chunk`, also per chunk of `base`'s rows (`Chunking`). The answer: an Arrow table
        of `chunk` (int64, only when chunked; null for a row without a time), `c0`, `c1`, ...
        (the values, in their own types) and `n` (int64), sorted by chunk and values, nulls
        last (NaN after numbers): the same table on every engine."""
        ...


def default_memory_limit(share: float = 0.8) -> str | None:
    """Most of the machine's memory (80%), or of the container's when a cgroup limits it
    less: what DuckDB may hold before spilling when `--memory-limit` is not given."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return f"{int(total * share) // 2**20}MiB" if total > 0 else None


def make_engine(settings: EngineSettings) -> AggregateEngine:
    """The aggregate engine named in `settings`: `duckdb` (embedded) or `spark` (a SparkSession;
    Unsupported, with the install command, when pyspark is missing)."""
    if settings.name == "spark":
        from mlcheck.engines.spark import SparkEngine

        return SparkEngine(settings, master=settings.spark_master, conf=dict(settings.spark_conf))
    if settings.name != "duckdb":
        raise Unsupported(f"unknown engine {settings.name!r}; engines are duckdb and spark")
    from mlcheck.engines.duck import DuckDBEngine

    return DuckDBEngine(settings)


# ---- joint_crosstab, spread, before_cutoff (s3)


@dataclass(frozen=True)
class SpreadCombination:
    """Entities whose rows hold exactly these distinct `values` (None for null first, then
    ascending): how many entities, the rows they hold, and the first `examples` entities by
    entity value as `{"key", "rows"}` (a composite entity as a record of its parts)."""

    values: tuple[Any, ...]
    entities: int
    rows: int
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ValueSpread:
    """How the rows of each entity (non-null on every part) spread over a column's values:
    the number of entities, and per combination of values the entities holding more than one
    distinct value (a null counts as a value of its own)."""

    entities: int
    combinations: tuple[SpreadCombination, ...]


@dataclass(frozen=True)
class CutoffGroup:
    """One group's rows against the cutoff: `values` rows with a readable value, `unreadable`
    non-null values that are not times (`as_time` only), `below` rows whose value is earlier
    than the cutoff, and the keys of the first `examples` of those rows by key (one per row)."""

    rows: int
    values: int
    unreadable: int
    below: int
    examples: tuple[Any, ...]


@dataclass(frozen=True)
class Cutoff:
    """`cutoff`: the largest value over the rows of the cutoff groups (the original value of
    such a row; None when none has a value); `groups`: per group of `by` (None: null)."""

    cutoff: Any
    groups: Mapping[Any, CutoffGroup]



# ---- grouped_counts (perf)


@dataclass(frozen=True)
class Chunking:
    """Chunks of a relation's rows: `size` consecutive rows in the relation's own order (the
    order of its file or Arrow table; chunk i holds rows i*size .. (i+1)*size - 1), or calendar
    periods of `width_s` seconds counted from `origin_s` (Unix seconds) of the instant column
    `time` = (relation, column), a timestamp or date column matched like `columns`: chunk =
    floor((t - origin_s) / width_s) with t in whole seconds (floored), null without a time."""

    size: int | None = None
    time: tuple[str, str] | None = None
    width_s: int = 0
    origin_s: int = 0
