"""The aggregate seam: the questions every engine answers, and the small answers it returns.

Keep this interface small: each primitive is one more thing every engine (DuckDB now, Spark
later) must implement and pass `tests/engines/` for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from mlcheck.compare import ColumnStats, Kind, RowDifference

if TYPE_CHECKING:
    from mlcheck.engines.causes import CauseRule, CellCauses, FiniteRange


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

    def register(self, name: str, source: pa.Table | Path) -> None: ...

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

    # ---- cell_causes, finite_ranges, round_trip_changes (s2)

    def cell_causes(
        self,
        left: str,
        right: str,
        key: Sequence[str],
        rules: Mapping[str, CauseRule],
        tolerance: Tolerance,
        examples: int,
        top: int,
    ) -> dict[str, CellCauses]:
        """Matched key pairs whose cells differ, sorted into causes (`mlcheck.engines.causes`)."""
        ...

    def finite_ranges(self, name: str, columns: Sequence[str]) -> dict[str, FiniteRange]:
        """Numeric columns' finite extremes, rows on them, finite count and infinities."""
        ...

    def round_trip_changes(
        self, name: str, targets: Mapping[str, pa.DataType]
    ) -> dict[str, int | None]:
        """Non-null values that change when cast to the target type (None: no such type)."""
        ...


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
