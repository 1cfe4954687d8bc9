"""The aggregate seam: the questions every engine answers, and the small answers it returns.

Keep this interface small: each primitive is one more thing every engine (DuckDB now, Spark
later) must implement and pass `tests/engines/` for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
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

    def register_join(
        self,
        name: str,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Sequence[str] | None = None,
    ) -> None:
        """Register `name`: rows of `left` and `right` matched on `key`, over keys non-null and
        unique on both sides (a duplicate or null key is never paired by guesswork); every
        column of `left`, then `right`'s columns whose names `left` does not have (with
        `columns`: only the key and those of them, in that order)."""
        ...

    def key_comparison(
        self,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Mapping[str, Kind],
        tolerance: Tolerance,
        examples: int,
        *,
        settle: Settle | None = None,
    ) -> KeyComparison: ...

    def profiles(
        self, name: str, columns: Mapping[str, Kind], top: int, *, float_distinct: bool = True
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

    # ---- register_chunks, counts (drift)

    def register_chunks(
        self,
        name: str,
        source: str,
        column: str,
        *,
        size: int | None = None,
        timestamp: str | None = None,
        every_s: int = 0,
        origin_s: int = 0,
    ) -> None:
        """Register `name`: every row of `source` plus `column`, its chunk number: with `size`,
        position // size in the order the rows were registered (file order); with `timestamp`
        (a timestamp, date or ISO-8601 text column, read as UTC), the calendar period
        floor((epoch seconds - origin_s) / every_s), null where the time is unknown.
        ValueError when the text does not parse as times."""
        ...

    def counts(
        self, name: str, columns: Sequence[str], by: str | None = None, as_double: bool = False
    ) -> dict[str, pa.Table]:
        """Per column, an Arrow table (g, v, n) ordered by g (nulls last) then v: per group of
        `by` (g null when `by` is None) each non-null value and its count. as_double: values
        as float64, non-finite values left out, -0.0 counted as 0.0."""

    # ---- views, membership, counts and first rows (s4)
    # Checks describe rows with SQL expressions in the subset DuckDB and Spark share (CASE,
    # CAST AS DOUBLE/BIGINT/STRING, isnan, abs, greatest, rank() OVER ...); `quote` writes a
    # column name in the engine's dialect.

    def quote(self, name: str) -> str:
        """`name` as an identifier in the engine's SQL."""
        ...

    def register_view(
        self, name: str, source: str, columns: Mapping[str, str], where: str | None = None
    ) -> None:
        """Register `name`: one row per row of `source` for which `where` holds, with one
        column per `columns` entry (output name -> SQL expression over `source`'s columns).
        Materialized once (spilled past the memory limit)."""
        ...

    def register_membership(
        self, name: str, source: str, reference: str, columns: Mapping[str, str]
    ) -> None:
        """Register `name`: `source`'s columns plus one boolean per `columns` entry (column ->
        flag name): whether the row's value occurs in `reference`'s column of that name (null
        where the value is null); columns typed differently on the two sides compare as text."""
        ...

    def count_where(self, name: str, conditions: Mapping[str, str]) -> dict[str, int]:
        """Per entry, how many rows of `name` satisfy the SQL condition; one query."""
        ...

    def first_rows(
        self, name: str, columns: Sequence[str], order: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows of `name` (`columns` of them) ordered by `order` ascending, nulls
        last, ties broken by the other columns: deterministic examples."""

    # ---- fold_batches, register_cast, register_excluded (s1)

    def fold_batches(
        self, name: str, columns: Sequence[str], fold: Callable[[pa.Table], Any], width: int
    ) -> tuple[int, ...]:
        """Stream `columns` of `name` through `fold` (record batches of any size, in any order,
        on any worker); each call returns `width` unsigned 64-bit integers and the answer is
        their sums modulo 2**64, so it cannot depend on how the rows were split or ordered."""
        ...

    def register_cast(self, name: str, source: str, types: Mapping[str, pa.DataType]) -> None:
        """Register `name`: `source` with the columns named in `types` cast to those Arrow
        types (float64, int64, string, binary, bool, date32, timestamps)."""
        ...

    def register_excluded(self, name: str, source: str, key: Sequence[str]) -> None:
        """Register `name`: the rows of `source` whose key has a null part or occurs more than
        once (the rows `register_join` and `key_comparison` leave unmatched)."""

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
        shape: GroupShape | None = None,
    ) -> pa.Table:
        """How many rows of `base` carry each combination of values of `columns`: `(relation,
        column)` pairs. A column of `base` is the row's own value; a column of another relation
        is that relation's value for the row's `key` where the key is non-null and unique on
        both sides, null otherwise (a lookup: every row of `base` is counted exactly once).
        With `chunk`, also per chunk of `base`'s rows (`Chunking`). The answer: an Arrow table
        of `chunk` (int64, only when chunked; null for a row without a time), `c0`, `c1`, ...
        (the values, in their own types) and `n` (int64), sorted by chunk and values, nulls
        last (NaN after numbers): the same table on every engine. `shape` (`GroupShape`) bins
        columns, sums curves of columns, groups some columns one at a time and tells each
        group's first row: answers bounded by bins, not rows."""
        ...

    # ---- presence (s6)

    def presence(self, name: str, columns: Sequence[str], time: str | None = None) -> Presence:
        """Per column its nulls, NaNs and present extremes, and with `time` (timestamps, dates
        or ISO-8601 text) the latest time each column is present and the time axis itself."""
        ...

    def count_equal(self, name: str, values: Mapping[str, Any]) -> dict[str, int]:
        """Per column, the rows whose value equals the given one (a number, text, bool, date
        or datetime; numbers compare as numbers across integer and float columns)."""
        ...

    def value_counts_of(
        self, name: str, columns: Sequence[str]
    ) -> dict[str, tuple[tuple[Any, int], ...]]:
        """`value_counts` of many columns at once: per column its non-null values with their
        counts, most frequent first, ties by value."""
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

    # ---- sorted_values_many (sort6)

    def sorted_values_many(
        self,
        name: str,
        columns: Sequence[str],
        by: str | None = None,
        grid: int = 1_000_000,
        groups: Sequence[Any] | None = None,
        ranks: Mapping[str, Sequence[int]] | None = None,
    ) -> dict[str, dict[Any, SortedValues]]:
        """Per column, per group of `by` (None: the whole relation, group None; `groups`: only
        those groups), ordered by group (nulls last), the column's finite values as float64
        (-0.0 as 0.0) in ascending order (`SortedValues`): all n of them when n <= grid, else
        the least one and the elements of ranks ceil(n * i / grid), i = 1..grid; a column in
        `ranks`: only the elements of those 0-based ranks within [0, n) (`SortedValues.ranks`).
        A group without a finite value is left out. Batches of columns share a scan; one
        answer holds a few grids of doubles at most."""
        ...

    # ---- register_lookup (perf7)

    def register_lookup(
        self,
        name: str,
        base: str,
        key: Sequence[str],
        columns: Sequence[tuple[str, str]],
        finite: Sequence[int] = (),
        equal: Mapping[int, str] | None = None,
    ) -> None:
        """Register `name`: the rows of `base` with `columns` looked up on `key` exactly as
        `grouped_counts` does (columns `c0`, `c1`, ...), kept where every column in `finite`
        is a finite number and every column in `equal` reads (as text) as the given value.
        Materialized once (spilled past the memory limit): ask it with `sorted_values_many`."""
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


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear map: `fp` at the ascending points `xp`, linear between them and
    constant outside (numpy's `interp`)."""

    xp: tuple[float, ...]
    fp: tuple[float, ...]


@dataclass(frozen=True)
class GroupShape:
    """How `grouped_counts` groups (positions are those of its `columns`):
    - `bins`: column i (numeric) grouped by its bin, the number of `edges` (ascending, finite)
      at or below the value: int64, null for null or NaN, -1 for -inf, len(edges) + 1 for +inf;
    - `curves`: column i (numeric) is not grouped; the answer's `f{i}` and `ff{i}` (float64)
      are the group's sums of Curve(value) and of its square over the rows with a finite value
      (0 without one), exact sums of the terms rounded to 2**-52 of the curve's largest |fp|
      (2**-52 of its square), the same digits on every engine and thread count;
    - `alone`: these columns are grouped one at a time (grouping sets), each with all the other
      grouped columns: the answer's `part` (int64, first column) is the position in `alone` of
      the group's column, the other `alone` columns are null there; sorted by part first;
    - `first`: the answer's `first` (int64) is the group's least row position in `base`'s own
      order (as size chunks number rows);
    - `finite`, `equal`: only rows whose columns in `finite` are finite numbers and whose
      columns in `equal` read (as text) as the given value are counted (as `register_lookup`
      keeps rows); those columns are still grouped. Filtering before binning and grouping
      spares the engine the rows the caller would drop from the answer."""

    bins: Mapping[int, Sequence[float]] = field(default_factory=dict)
    curves: Mapping[int, Curve] = field(default_factory=dict)
    alone: Sequence[int] = ()
    first: bool = False
    finite: Sequence[int] = ()
    equal: Mapping[int, str] = field(default_factory=dict)


# ---- presence (s6)


@dataclass(frozen=True)
class TimeAxis:
    """A time column read as microseconds since the epoch: zone-aware timestamps, and text with
    a UTC offset, as UTC instants; naive timestamps, dates and naive text as wall time (read as
    UTC). Text counts only when it starts like an ISO-8601 date (yyyy-mm-dd); nanoseconds are
    truncated to microseconds. `times` rows hold a readable time, from `first` to `last`;
    `unreadable` non-null values are not times (the least of them: `example`); `offsets` text
    times carried a UTC offset."""

    times: int
    first: int | None
    last: int | None
    unreadable: int = 0
    example: str | None = None
    offsets: int = 0


@dataclass(frozen=True)
class ColumnPresence:
    """What of one column arrived: `nulls`, float `nans`, the least and greatest present value
    (neither null nor NaN; -0.0 read as 0.0; None without one, or for lists, records and other
    types without an order), and with a time column `last`: the latest readable time (in
    microseconds, see TimeAxis) of a row where the column is present, None when never."""

    nulls: int
    nans: int
    low: Any = None
    high: Any = None
    last: int | None = None


@dataclass(frozen=True)
class Presence:
    """`presence` of a relation: its row count, per column what arrived, and the time axis."""

    rows: int
    columns: Mapping[str, ColumnPresence]
    time: TimeAxis | None = None


def presence_class(t: pa.DataType) -> str:
    """How `presence` reads a column: "float" (NaN-aware extremes), "ordered" (plain extremes),
    or "other" (nulls only: lists, records, maps, nulls, durations, intervals)."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    if pa.types.is_floating(t):
        return "float"
    ordered = (
        pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
    )
    return "ordered" if ordered else "other"


def time_class(t: pa.DataType) -> str | None:
    """How a time column becomes microseconds: "text" (ISO-8601), "ns" (truncated), "instant"
    (timestamps of other units and dates); None when it holds no times."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_timestamp(t):
        return "ns" if t.unit == "ns" else "instant"
    return "instant" if pa.types.is_date(t) else None


# ---- sorted_values_many (sort6; was sorted_values, drift)


@dataclass(frozen=True)
class SortedValues:
    """A group's finite values in ascending order: `values` holds all `n` of them (exact), or,
    when n exceeds the grid, the least value followed by the elements of ranks
    ceil(n * i / grid), i = 1..grid: a grid on which the empirical CDF F is known to within
    1/grid (the grid's own CDF G satisfies G(x) <= F(x) < G(x) + 1/grid everywhere)."""

    n: int
    values: Any  # np.ndarray of float64
    ranks: Any = None  # when asked at given ranks: the 0-based ranks `values` hold (ascending)

    @property
    def exact(self) -> bool:
        return self.ranks is None and len(self.values) == self.n

    def at(self, rank: int) -> float:
        """The element of this 0-based rank (asked among `ranks`, or of exact values)."""
        if self.ranks is None:
            if not self.exact or not 0 <= rank < self.n:  # a grid holds other ranks
                raise KeyError(rank)
            return float(self.values[int(rank)])
        index = int(np.searchsorted(self.ranks, rank))
        if index >= len(self.ranks) or self.ranks[index] != rank:
            raise KeyError(rank)
        return float(self.values[index])

    @property
    def sample(self) -> Any:
        """The values standing for the group: every value, or the grid without the least."""
        return self.values if self.exact else self.values[1:]


# ---- settle (stage18)


@dataclass(frozen=True)
class Settle:
    """How `key_comparison` may skip columns whose matched cells are proven equal without a
    join: with clean keys (no null, no duplicate) and at most `limit` rows matched on neither
    side, an engine may hand those rows (`columns` of each side, as Arrow tables) to `prove`,
    which returns the columns every matched pair holds equal; they are left out of the answer.
    Engines that never call it give the same answer, only slower."""

    columns: tuple[tuple[str, ...], tuple[str, ...]]
    prove: Callable[[pa.Table, pa.Table], frozenset[str]]
    limit: int = 1 << 16
