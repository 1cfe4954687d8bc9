"""`sorted_values_many`'s engine-independent half (DuckDB and Spark share it): the SQL that
fetches finite values, the numpy that sorts them per group, and the SQL that selects a rank
grid (or given ranks) of groups too large to fetch.

Two ways to one answer. When the relation has at most `grid` rows, no group can pass the grid:
the batch's columns are fetched unsorted in one scan and sorted here (measured on a 1M-double
column: fetch + `np.sort` 0.065 s CPU, DuckDB's ORDER BY 0.09-0.14 s plus a size query;
`np.partition` at given ranks 0.03 s against `quantile_disc` 0.05 s). Past it, a column at a
time: its group sizes, then the values the engine numbered and kept (`large_sql`). DuckDB
fetches past the grid too, up to `FETCH_ROWS` rows, and picks the grid's ranks in numpy
(`on_grid`: the same values `large_sql` keeps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.engines.base import SortedValues

# An answer holds at most this many grids' worth of doubles (rows x columns of a batch).
GRIDS_PER_ANSWER = 4
# Columns per statement at most: bounds a statement's size on wide tables.
MAX_BATCH = 64
# DuckDB fetches and sorts in numpy up to this many rows a relation, past the grid too (the
# grid's ranks then picked here, the same ones `large_sql` keeps): at 2M x 33 the engine's
# `row_number()` windows cost 112 s of query time for 115 columns, the whole 2M run 4.3x the
# 1M run's CPU. One batch then holds at most one column of this many doubles (64 MiB).
FETCH_ROWS = 8_000_000

Ranks = Mapping[str, Sequence[int]]
Answer = dict[str, dict[Any, SortedValues]]


def batches(columns: Sequence[str], rows: int, grid: int) -> list[list[str]]:
    """The columns cut so that one batch's fetched doubles stay within GRIDS_PER_ANSWER grids."""
    size = max(1, min(MAX_BATCH, GRIDS_PER_ANSWER * int(grid) // max(int(rows), 1)))
    return [list(columns[i : i + size]) for i in range(0, len(columns), size)]


def fetch_sql(view: str, columns: Sequence[str], by: str | None, quote: Any) -> str:
    """Every row's group (when grouped) and the columns as doubles `v0, v1, ...`, unsorted."""
    group = [f"{quote(by)} AS g"] if by else []
    xs = [f"CAST({quote(c)} AS DOUBLE) AS v{j}" for j, c in enumerate(columns)]
    return f"SELECT {', '.join(group + xs)} FROM {view}"


def fetched_answer(
    table: pa.Table,
    columns: Sequence[str],
    grouped: bool,
    groups: Sequence[Any] | None,
    ranks: Ranks | None,
    grid: int | None = None,
) -> Answer:
    """`fetch_sql`'s rows sorted per column and group (groups ordered, nulls last; a group
    without a finite value is left out); a group past `grid` values keeps its rank grid."""
    labels, order, bounds = _group_order(table.column("g") if grouped else None, table.num_rows)
    wanted = (
        range(len(labels)) if groups is None else [i for i, g in enumerate(labels) if g in groups]
    )
    out: Answer = {}
    for j, column in enumerate(columns):  # columns, not rows
        x = pc.fill_null(table.column(f"v{j}"), np.nan).to_numpy() + 0.0  # -0.0 as 0.0
        x = x if order is None else x[order]
        asked = None if ranks is None else ranks.get(column)
        out[column] = {}
        for i in wanted:  # groups, not rows
            part = x[bounds[i] : bounds[i + 1]]
            part = part[np.isfinite(part)]
            if len(part):
                out[column][labels[i]] = _sorted(part, asked, grid)
    return out


def _group_order(
    g: pa.ChunkedArray | None, rows: int
) -> tuple[list[Any], np.ndarray | None, np.ndarray]:
    """The groups in order (nulls last), the row order that puts rows group after group (None:
    one group), and where each group's rows start and end in it."""
    if g is None:
        return [None], None, np.array([0, rows])
    array = g.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    ordered = pc.array_sort_indices(encoded.dictionary, null_placement="at_end").to_numpy()
    place = np.empty(len(ordered), dtype=np.int64)
    place[ordered] = np.arange(len(ordered))
    keys = place[encoded.indices.to_numpy(zero_copy_only=False)]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=len(ordered)))))
    labels = encoded.dictionary.take(pa.array(ordered)).to_pylist()
    if len(ordered) <= np.iinfo(np.uint16).max:  # numpy sorts 16-bit keys by radix: 5x less CPU
        keys = keys.astype(np.uint16)
    return labels, np.argsort(keys, kind="stable"), bounds


def _sorted(finite: np.ndarray, ranks: Sequence[int] | None, grid: int | None) -> SortedValues:
    """All finite values sorted, their rank grid past `grid`, or only those at `ranks` (a
    partial sort: cheaper)."""
    n = len(finite)
    if ranks is None:
        ordered = np.sort(finite)
        return SortedValues(n, ordered if grid is None or n <= grid else on_grid(ordered, grid))
    kept = kept_ranks(ranks, n)
    return SortedValues(n, np.partition(finite, kept)[kept] if len(kept) else kept + 0.0, kept)


def on_grid(ordered: np.ndarray, grid: int) -> np.ndarray:
    """The values `large_sql` keeps of a group past the grid: rank 1 and each rank r (1-based)
    with floor(r * grid / n) > floor((r - 1) * grid / n), integers only."""
    n, k = len(ordered), int(grid)
    r = np.arange(1, n + 1, dtype=np.int64)
    return ordered[(r == 1) | ((r * k) // n > ((r - 1) * k) // n)]


def kept_ranks(ranks: Sequence[int], n: int) -> np.ndarray:
    """The asked 0-based ranks within [0, n), ascending, once each."""
    asked = np.unique(np.asarray(list(ranks), dtype=np.int64))
    return asked[(asked >= 0) & (asked < n)]


def large_sql(
    view: str,
    column: str,
    by: str | None,
    grid: int,
    ranks: Sequence[int] | None,
    quote: Any,
    divide: str,
) -> tuple[str, str]:
    """SQL (DuckDB and Spark alike) for one column of a relation past the grid: the group sizes
    ordered by group, and the values ordered by group then value -- every value when the group
    has at most `grid`, else its least value and ranks ceil(n * i / grid) (rank r is one when
    floor(r * grid / n) > floor((r - 1) * grid / n), integers only); with `ranks`, those."""
    group = quote(by) if by else "CAST(NULL AS BIGINT)"
    x = f"CAST({quote(column)} AS DOUBLE)"
    inf = "CAST('Infinity' AS DOUBLE)"
    keep = f"{x} IS NOT NULL AND NOT isnan({x}) AND {x} < {inf} AND {x} > -{inf}"
    rows = f"SELECT {group} AS g, ({x} + CAST(0 AS DOUBLE)) AS v FROM {view} WHERE {keep}"
    order = "ORDER BY g ASC NULLS LAST"
    sizes = f"SELECT g, count(*) AS n FROM ({rows}) t GROUP BY g {order}"
    k = int(grid)
    if ranks is None:
        kept = f"n <= {k} OR r = 1 OR (r * {k}) {divide} n > ((r - 1) * {k}) {divide} n"
    else:
        kept = f"r IN ({', '.join(str(int(r) + 1) for r in sorted(set(ranks)) if r >= 0) or 0})"
    ranked = (
        f"SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v) AS r, "
        f"count(*) OVER (PARTITION BY g) AS n FROM ({rows}) t"
    )
    return sizes, f"SELECT v FROM ({ranked}) t WHERE {kept} {order}, v ASC"


def large_answer(
    sizes: Sequence[Sequence[Any]],
    values: np.ndarray,
    grid: int,
    ranks: Sequence[int] | None,
    groups: Sequence[Any] | None,
) -> dict[Any, SortedValues]:
    """`large_sql`'s values cut into their groups, in the order of `sizes` ((g, n) rows)."""
    out, start = {}, 0
    for g, n in sizes:  # groups, not rows
        n = int(n)
        kept = None if ranks is None else kept_ranks(ranks, n)
        count = n if kept is None and n <= grid else int(grid) + 1 if kept is None else len(kept)
        if groups is None or g in groups:
            out[g] = SortedValues(n, values[start : start + count], kept)
        start += count
    if start != len(values):
        raise RuntimeError("sorted_values_many: the values do not match the group sizes")
    return out


@dataclass(frozen=True)
class Asker:
    """How an engine runs `sorted_values_many`'s statements: `arrow` collects one as an Arrow
    table, `rows` as Python rows; `quote` makes identifiers, `divide` is integer division,
    and relations of at most max(grid, `fetch_rows`) rows are fetched and sorted here."""

    arrow: Callable[[str], pa.Table]
    rows: Callable[[str], Sequence[Sequence[Any]]]
    quote: Callable[[str], str]
    divide: str
    fetch_rows: int = 0


def sorted_values_many(
    ask: Asker,
    view: str,
    rows: int,
    columns: Sequence[str],
    by: str | None,
    grid: int,
    groups: Sequence[Any] | None,
    ranks: Ranks | None,
) -> Answer:
    """`AggregateEngine.sorted_values_many` on any engine: a batch of columns fetched unsorted
    in one scan and sorted in numpy, or (past max(grid, `ask.fetch_rows`) rows) per column the
    group sizes and the values the engine numbered."""
    out: Answer = {}
    if rows <= max(grid, ask.fetch_rows):
        for batch in batches(columns, rows, grid):
            found = ask.arrow(fetch_sql(view, batch, by, ask.quote))
            out.update(fetched_answer(found, batch, by is not None, groups, ranks, grid))
        return out
    for column in columns:  # columns, not rows
        asked = None if ranks is None else ranks.get(column)
        sizes_sql, values_sql = large_sql(view, column, by, grid, asked, ask.quote, ask.divide)
        sizes = ask.rows(sizes_sql)
        values = np.asarray(ask.arrow(values_sql).column("v").to_numpy(), dtype=np.float64)
        out[column] = large_answer(sizes, values, grid, asked, groups)
    return out
