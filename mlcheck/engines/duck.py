"""DuckDB behind the aggregate seam: SQL over parquet read in place or registered Arrow tables.

Settings: `memory_limit` (DuckDB spills joins, groups and sorts to `temp_directory` past it),
`threads` (default: every core). Results are deterministic whatever the thread count: counts,
extremes and integer sums are exact, float sums are exact sums rounded once
(`mlcheck.engines.exact`), and examples are the first by key, never the first found.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
import shutil
import string
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlcheck.compare import (
    ColumnStats,
    Kind,
    RowDifference,
    _numpy_unit,
    _tick_ns,
    logical_type,
    type_family,
)
from mlcheck.engines import base as seam
from mlcheck.engines import causes, sorting
from mlcheck.engines.base import (
    Chunking,  # grouped_counts (perf)
    ColumnDifference,
    ColumnPresence,
    Curve,  # grouped_counts (perf7)
    EngineSettings,
    GroupShape,  # grouped_counts (perf7)
    KeyComparison,
    KeyCounts,
    ParquetPart,
    ParquetSource,
    Presence,
    SortedValues,  # sorted_values_many (sort6)
    TimeAxis,
    Tolerance,
    Unsupported,
    default_memory_limit,
    presence_class,
    time_class,
)
from mlcheck.engines.causes import CauseRule, CellCauses, FiniteRange
from mlcheck.engines.exact import Dialect, fixed_moments, grouped_sum_sql

# DuckDB has no identifier for an empty column name (an Arrow scan calls it `v<position>`,
# renaming a real column of that name): such a column is registered under this stand-in, and
# answers name it "" again. A table that also holds the stand-in itself is Unsupported.
EMPTY_NAME = "mlcheck:empty column name"


class QuestionLock:
    """The connection's lock, which also carries a run's interruption: once `stopped`, a
    question waiting for the connection ends in KeyboardInterrupt instead of starting, and
    the one running (which DuckDB ends with its own exception once interrupted) too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopped = False

    def __enter__(self) -> None:
        self._lock.acquire()
        if self.stopped:
            self._lock.release()
            raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        self._lock.release()
        if self.stopped and exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc


# Every open engine, for `interrupt_queries` (a signal handler cannot know which are live).
_LIVE: weakref.WeakSet[DuckDBEngine] = weakref.WeakSet()


def interrupt_queries() -> None:
    """Interrupt every live engine's running question and refuse further ones (SIGTERM and
    Ctrl-C: a DuckDB query runs in C and would otherwise finish first, minutes at 10M rows)."""
    for engine in list(_LIVE):
        engine.interrupt()


def quoted(name: str) -> str:
    """A SQL identifier for any column name (quotes doubled; the empty name's stand-in, a name
    with capitals encoded so that names differing only in case stay apart: `identifier`)."""
    return _plain_quoted(identifier(name))


def literal(value: float) -> str:
    """A double literal that parses back to exactly `value` (bare 0.1 would be a DECIMAL)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: EngineSettings | None = None) -> None:
        import duckdb

        settings = settings or EngineSettings("duckdb")
        # An in-memory database whose blocks DuckDB evicts to `temp_directory` past the memory
        # limit, so a table larger than memory still loads (tested). A database file did the
        # same and cost a file, its write-ahead log and a checkpoint at close: per engine,
        # measured ~20% more CPU and ~1.5x the wall time of start, three small tables, close.
        # The folder is removed when the engine is collected or closed.
        self._folder = tempfile.mkdtemp(prefix="mlcheck-duckdb-", dir=settings.temp_directory)
        self._con = duckdb.connect(":memory:")
        self._cleanup = weakref.finalize(self, _remove, self._con, self._folder)
        self._lock = QuestionLock()  # one connection: questions are asked one at a time
        _LIVE.add(self)
        temp = str(Path(self._folder) / "spill")
        self._con.execute(f"SET temp_directory = '{temp.replace(chr(39), chr(39) * 2)}'")
        # Past the limit DuckDB spills to the folder above; without one, most of the memory.
        limit = settings.memory_limit or default_memory_limit()
        if limit:
            self._con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
        if settings.threads:
            self._con.execute(f"SET threads = {int(settings.threads)}")
        self._con.execute("SET preserve_insertion_order = false")  # lets large scans stream
        # Zone-aware timestamps become ticks through a cast that uses the session's zone:
        # UTC, so answers do not depend on the machine's zone.
        self._con.execute("SET TimeZone = 'UTC'")
        # Parquet statistics leave NaN out; DuckDB's statistics propagation then proved
        # `isnan(x)` false in a query asking two NaN counts at once (0 instead of 65 NaN scores
        # in checklists/broken/prediction_mismatch.yaml). Correct answers first.
        self._con.execute("SET disabled_optimizers = 'statistics_propagation'")
        self._views: dict[str, str] = {}
        self._numbers = itertools.count()  # view names are never reused, even after unregister
        self._duplicate_tables: dict[tuple[str, tuple[str, ...]], str | None] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def close(self) -> None:
        """Close the connection and delete the engine's spill folder."""
        self._cleanup()

    def interrupt(self) -> None:
        """Stop the question running now (from a signal handler or another thread) and refuse
        further ones: each ends in KeyboardInterrupt, so the run stops instead of recording
        the interrupted question as a crashed check and going on to the next."""
        self._lock.stopped = True
        if self._cleanup.alive:  # a closed connection has nothing running
            self._con.interrupt()

    # ---- relations

    def register(self, name: str, source: pa.Table | Path | ParquetSource) -> None:
        """An Arrow table scanned in place, or parquet (a `ParquetSource`, or a file or folder
        of parquet files) read in place by a view: decoded at each question, never copied.
        Measured at 1M x 33: copying both sides into tables cost 4 s CPU and made no question
        faster (key comparison, profiles and multiset difference within 5%), as only the
        columns a question reads are decoded."""
        view = f"rel_{next(self._numbers)}"
        if isinstance(source, pa.Table):
            with self._lock:
                self._con.register(view, _nameable(source))
            self._schemas[name] = source.schema
        elif isinstance(source, ParquetSource):
            self._register_parquet(view, source)
            self._schemas[name] = source.schema
        else:
            path = Path(source)
            files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
            names = _parquet_names(files[0]) if files else []
            if "" in names:
                raise Unsupported(_EMPTY_IN_PARQUET)
            _require_distinct_names(names)
            part = ParquetPart(tuple(files), path if path.is_dir() else None)
            with self._lock:
                scan = _parquet_scan(part)
                found = self._con.sql(f"SELECT * FROM {scan} LIMIT 0").to_arrow_table().schema
                items = ", ".join(_renamed(n) for n in _scanned_names(names, found))
                self._con.execute(f"CREATE VIEW {view} AS SELECT {items} FROM {scan}")
        self._views[name] = view

    def _register_parquet(self, view: str, source: ParquetSource) -> None:
        """A view over every part with the reader's column types, cast where DuckDB reads the
        same values under another type (a hive partition column, a timestamp's unit); a wide
        source of few rows is copied into a table instead (`_copied`)."""
        if "" in source.schema.names:
            raise Unsupported(_EMPTY_IN_PARQUET)
        _require_distinct_names(source.schema.names)
        kind = "TABLE" if _copied(source) else "VIEW"
        with self._lock, self._one_thread(kind == "TABLE"):
            same = self._as_read(view, kind, source) or self._with_casts(view, kind, source)
        if not same:
            self._drop(view)
            raise Unsupported("DuckDB reads this parquet source under other types")

    @contextlib.contextmanager
    def _one_thread(self, wanted: bool) -> Iterator[None]:
        """With `wanted`, the connection's questions run on one thread, then on as many as
        before: a copy of a few rows costs DuckDB a fifth more CPU on two (a table's storage
        per thread and column: 0.23 against 0.29 s at 20 x 5,000)."""
        if not wanted:
            yield
            return
        threads = int(self._con.execute("SELECT current_setting('threads')").fetchall()[0][0])
        self._con.execute("SET threads = 1")
        try:
            yield
        finally:
            self._con.execute(f"SET threads = {threads}")

    def _with_casts(self, view: str, kind: str, source: ParquetSource) -> bool:
        """Every part cast to the reader's types where DuckDB reads them otherwise (a union of
        parts, hive columns, a label column); whether the result holds the reader's types."""
        selects = []
        for part in source.parts:
            scan = _parquet_scan(part)
            found = self._con.sql(f"SELECT * FROM {scan} LIMIT 0").to_arrow_table().schema
            items = [_parquet_column(f, found, source.label_column, part) for f in source.schema]
            selects.append(f"SELECT {', '.join(items)} FROM {scan}")
        self._con.execute(f"CREATE {kind} {view} AS {' UNION ALL '.join(selects)}")
        got = self._con.sql(f"SELECT * FROM {view} LIMIT 0").to_arrow_table().schema
        return _all_same_values(source.schema, got.types)

    def _as_read(self, view: str, kind: str, source: ParquetSource) -> bool:
        """One file's columns as DuckDB reads them, when no cast is needed (True); else (or
        when the scan lacks a column) nothing is left created. Spares the schema query of the
        scan itself, ~0.15 s at 5,000 columns."""
        import duckdb

        part = source.parts[0]
        if len(source.parts) > 1 or part.folder is not None or source.label_column is not None:
            return False
        names = source.schema.names
        if len({n.lower() for n in names}) < len(names):
            # DuckDB binds names case-insensitively and renames the scan's second of two names
            # differing only in case: selecting by name would read the other column silently.
            return False
        items = ", ".join(_renamed(n) for n in source.schema.names)
        try:
            self._con.execute(f"CREATE {kind} {view} AS SELECT {items} FROM {_parquet_scan(part)}")
        except duckdb.BinderException:
            return False
        types = self._catalog_types(view)
        if types is None:
            types = self._con.sql(f"SELECT * FROM {view} LIMIT 0").to_arrow_table().schema.types
        if _all_same_values(source.schema, types):
            return True
        self._con.execute(f"DROP {kind} {view}")
        return False

    def _catalog_types(self, view: str) -> list[pa.DataType] | None:
        """The Arrow types of a relation's columns as its catalog entry names them (a lookup,
        where the schema of an empty answer costs DuckDB ~0.15 s at 5,000 columns); None when
        one is not a plain type of `_CATALOG_TYPES`."""
        found = self._con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
            [view],
        ).fetchall()
        types = [_CATALOG_TYPES.get(str(t)) for (t,) in found]
        return None if any(t is None for t in types) else types

    def unregister(self, name: str) -> None:
        self._drop(self._views.pop(name))
        self._schemas.pop(name, None)

    def _drop(self, view: str) -> None:
        with self._lock:
            kind = self._con.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [view]
            ).fetchall()
            if kind and kind[0][0] == "VIEW":
                self._con.execute(f"DROP VIEW IF EXISTS {view}")
            elif kind:
                self._con.execute(f"DROP TABLE IF EXISTS {view}")
            else:
                self._con.unregister(view)

    def register_join(
        self,
        name: str,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Sequence[str] | None = None,
    ) -> None:
        """`left` and `right` matched on `key` (non-null, unique on both sides), materialized
        once in the engine's database (spilled past the memory limit); with `columns`, only
        the key and those columns."""
        view = f"rel_{next(self._numbers)}"
        lv, rv = self._view(left), self._view(right)
        sql = _join_sql(lv, rv, tuple(key), self.schema(left), self.schema(right), None, columns)
        with self._lock:
            self._con.execute(f"CREATE TABLE {view} AS {sql}")
        self._views[name] = view

    def _view(self, name: str) -> str:
        if name not in self._views:
            raise KeyError(f"{name} is not registered")
        return self._views[name]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, list(params)).fetchall()

    def schema(self, name: str) -> pa.Schema:
        if name not in self._schemas:
            with self._lock:
                empty = self._con.sql(f"SELECT * FROM {self._view(name)} LIMIT 0")
                self._schemas[name] = _named(empty.to_arrow_table()).schema
        return self._schemas[name]

    def num_rows(self, name: str) -> int:
        return int(self._rows(f"SELECT count(*) FROM {self._view(name)}")[0][0])

    # ---- key comparison

    def key_comparison(
        self,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Mapping[str, Kind],
        tolerance: Tolerance,
        examples: int,
        *,
        settle: seam.Settle | None = None,
    ) -> KeyComparison:
        key = tuple(key)
        self._check_key_types(left, right, key)
        lv, rv = self._view(left), self._view(right)
        limit = settle.limit if settle is not None and self._plain_key(lv, key) else 0
        counts = self._key_counts(lv, rv, key, examples, limit)
        unmatched = counts.pop("unmatched")
        sides = (counts["left"], counts["right"])
        clean = not any(side.null_rows or side.duplicate_rows for side in sides)
        if settle is not None and clean and unmatched is not None and columns:
            proven = self._settled(lv, rv, key[0], unmatched, settle)
            columns = {c: kind for c, kind in columns.items() if c not in proven}
        whole = counts["left_rows"] == counts["right_rows"] == counts["matched"]
        aligned = bool(columns) and clean and whole and self._same_order(lv, rv, key)
        differences = self._column_differences(
            lv, rv, key, columns, tolerance, examples, clean, counts["matched"], aligned
        )
        return KeyComparison(key=key, columns=differences, **counts)

    def _same_order(self, lv: str, rv: str, key: tuple[str, ...]) -> bool:
        """Whether row i of each side holds the same key, for every i (both sides hold the same
        unique keys: the usual re-export of one table). Its first rows are looked at first:
        a shuffled side costs one small query, not a scan of both key columns."""
        cols = ", ".join(quoted(k) for k in key)
        differ = " OR ".join(f"l.{quoted(k)} <> r.{quoted(k)}" for k in key)
        for limit in (f" LIMIT {_ORDER_PROBE}", ""):
            sql = (
                f"SELECT count(*) FILTER (WHERE {differ}) FROM (SELECT {cols} FROM {lv}{limit}) "
                f"AS l POSITIONAL JOIN (SELECT {cols} FROM {rv}{limit}) AS r"
            )
            if self._rows(sql)[0][0]:
                return False
        return True

    def _check_key_types(self, left: str, right: str, key: tuple[str, ...]) -> None:
        for column in key:
            types = [logical_type(self.schema(n).field(column).type) for n in (left, right)]
            if not types[0].equals(types[1]):
                raise Unsupported(f"key column {column!r} typed differently per side")

    def _key_counts(
        self, lv: str, rv: str, key: tuple[str, ...], examples: int, unmatched: int = 0
    ) -> dict[str, Any]:
        """Null, duplicate, lost and extra keys with their first examples; with `unmatched`
        (a plain key), also every lost and extra key when there are at most that many."""
        cols = ", ".join(quoted(k) for k in key)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
        order = _key_struct(key)
        shown = f"{{'key': {order}, 'rows': COALESCE(ln, rn)}}"
        limit = max(examples, 1)  # arg_min needs n >= 1; zero examples are cut afterwards
        sql = f"""
        WITH lk AS (SELECT {cols}, count(*) AS ln FROM {lv} WHERE {present} GROUP BY ALL),
             rk AS (SELECT {cols}, count(*) AS rn FROM {rv} WHERE {present} GROUP BY ALL),
             j AS (SELECT * FROM lk FULL OUTER JOIN rk USING ({cols}))
        SELECT
          COALESCE(sum(ln) FILTER (WHERE rn IS NULL), 0),
          count(*) FILTER (WHERE rn IS NULL),
          COALESCE(sum(rn) FILTER (WHERE ln IS NULL), 0),
          count(*) FILTER (WHERE ln IS NULL),
          COALESCE(sum(ln) FILTER (WHERE ln > 1), 0), count(*) FILTER (WHERE ln > 1),
          COALESCE(sum(rn) FILTER (WHERE rn > 1), 0), count(*) FILTER (WHERE rn > 1),
          count(*) FILTER (WHERE ln = 1 AND rn = 1),
          arg_min({shown}, {order}, {limit}) FILTER (WHERE rn IS NULL),
          arg_min({shown}, {order}, {limit}) FILTER (WHERE ln IS NULL),
          arg_min({{'key': {order}, 'rows': ln}}, {order}, {limit}) FILTER (WHERE ln > 1),
          arg_min({{'key': {order}, 'rows': rn}}, {order}, {limit}) FILTER (WHERE rn > 1)
          {_unmatched_sql(order, unmatched)}
        FROM j
        """
        (lost, lost_keys, extra, extra_keys, ldr, ldk, rdr, rdk, matched, *shown_lists) = (
            self._rows(sql)[0]
        )
        listed = None
        if unmatched and 0 < lost_keys + extra_keys <= unmatched:
            listed = (list(shown_lists[4] or ()), list(shown_lists[5] or ()))
        shown_lists = shown_lists[:4]
        lost_ex, extra_ex, ldup_ex, rdup_ex = (
            _key_examples(x, key)[:examples] for x in shown_lists
        )
        sizes = self._rows(
            f"SELECT (SELECT count(*) FROM {lv}), (SELECT count(*) FROM {lv} WHERE NOT ({present})),"
            f" (SELECT count(*) FROM {rv}), (SELECT count(*) FROM {rv} WHERE NOT ({present}))"
        )[0]
        return {
            "unmatched": listed,
            "left_rows": int(sizes[0]),
            "right_rows": int(sizes[2]),
            "matched": int(matched),
            "left": KeyCounts(int(sizes[1]), int(ldr), int(ldk), ldup_ex),
            "right": KeyCounts(int(sizes[3]), int(rdr), int(rdk), rdup_ex),
            "rows": RowDifference(
                "key", int(lost), int(extra), int(lost_keys), int(extra_keys), lost_ex, extra_ex
            ),
        }

    def _settled(
        self,
        lv: str,
        rv: str,
        key: str,
        unmatched: tuple[list[Any], list[Any]],
        settle: seam.Settle,
    ) -> frozenset[str]:
        """The columns `settle` proves equal from the rows matched on neither side (looked up
        by key: a few hundred rows instead of one join of the whole sides per few columns)."""
        tables = []
        for view, keys, columns in zip((lv, rv), unmatched, settle.columns, strict=True):
            picked = ", ".join(quoted(c) for c in columns)
            where = f"{quoted(key)} IN (SELECT unnest(?))" if keys else "false"
            with self._lock:
                found = self._con.sql(
                    f"SELECT {picked} FROM {view} WHERE {where}", params=[keys] if keys else None
                ).to_arrow_table()
            tables.append(_named(found))
        return settle.prove(tables[0], tables[1])

    def _column_differences(
        self,
        lv: str,
        rv: str,
        key: tuple[str, ...],
        columns: Mapping[str, Kind],
        tol: Tolerance,
        examples: int,
        clean: bool,
        pairs_count: int,
        aligned: bool = False,
    ) -> dict[str, ColumnDifference]:
        """Per column, one pass over the matched pairs: counts, maxima and examples. With
        `clean` keys (no null, no duplicate on either side) the pairs are a plain inner join;
        `aligned` sides (the same keys in the same order) are paired by position instead, no
        hash table of either side's keys (measured at 1M rows, four columns: 0.07 against
        0.22 s of CPU)."""
        cols = ", ".join(quoted(k) for k in key)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
        keys = ", ".join(f"l.{quoted(k)} AS {quoted(k)}" for k in key)
        matched = (
            f"{lv} AS l POSITIONAL JOIN {rv} AS r"
            if aligned
            else f"{lv} AS l JOIN {rv} AS r USING ({cols})"
            if clean
            else f"""(SELECT * FROM (SELECT {cols} FROM {lv} WHERE {present} GROUP BY ALL
                                   HAVING count(*) = 1)
                      SEMI JOIN (SELECT {cols} FROM {rv} WHERE {present} GROUP BY ALL
                                 HAVING count(*) = 1) USING ({cols})
                     ) AS m JOIN {lv} AS l USING ({cols}) JOIN {rv} AS r USING ({cols})"""
        )
        out = {}
        # A few columns per query on long tables (measured at 1M pairs x 23 columns: one
        # query for all 3.4 s of CPU, one per column 2.6 s; with FILTER clauses, 15 s). Short wide
        # tables are asked many columns at a time (a query costs milliseconds; 5,000 would
        # take minutes). Each query also returns its columns' first examples (`arg_min`).
        names, batch = list(columns), max(1, min(_PAIR_BATCH, _PAIR_CELLS // max(pairs_count, 1)))
        keys_only = examples > 0 and self._plain_key(lv, key)
        found_keys: dict[str, list[Any]] = {}
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            units = [self._unit(lv, rv, c) for c in chunk]
            cells = ", ".join(
                f"l.{quoted(c)} AS l{i}, r.{quoted(c)} AS r{i}" for i, c in enumerate(chunk)
            )
            states = ", ".join(
                self._cell_state(i, columns[c], tol, units[i]) for i, c in enumerate(chunk)
            )
            pairs = f"SELECT *, {states} FROM (SELECT {keys}, {cells} FROM {matched})"
            order = _key_struct(key)
            aggregates = ", ".join(
                a
                for i in range(len(chunk))
                for a in _cell_aggregates(i, order, examples, keys_only)
            )
            row = self._rows(f"SELECT count(*), {aggregates} FROM ({pairs})")[0]
            for i, name in enumerate(chunk):
                found = row[1 + 7 * i : 8 + 7 * i]
                if keys_only:
                    found_keys[name] = list(found[6] or ())
                shown = [] if keys_only else _cell_examples(found[6], key)
                out[name] = _difference(
                    name, columns[name], int(row[0]), found[:6], shown, key, units[i]
                )
        if keys_only:
            out = self._with_examples(lv, rv, key[0], out, found_keys)
        return out

    def _plain_key(self, lv: str, key: tuple[str, ...]) -> bool:
        """One signed integer or text key column: examples are looked up by key afterwards."""
        if len(key) != 1:
            return False
        t = logical_type(self._schema_of_view(lv).field(key[0]).type)
        signed = pa.types.is_integer(t) and not pa.types.is_unsigned_integer(t)
        return signed or pa.types.is_string(t) or pa.types.is_large_string(t)

    def _with_examples(
        self,
        lv: str,
        rv: str,
        key: str,
        found: dict[str, ColumnDifference],
        keys: Mapping[str, list[Any]],
    ) -> dict[str, ColumnDifference]:
        """Each column's example cells, all looked up in one join on their keys (matched keys
        are unique on both sides): building an (key, research, production) struct for every
        pair, to keep the first few by key, cost more than the rest of a column's comparison
        (measured at 1M pairs, four columns: 0.60 s of CPU with structs, 0.43 s with keys)."""
        shown = [c for c in found if keys[c]]
        wanted = sorted({k for c in shown for k in keys[c]})
        if not wanted:
            return found
        k = quoted(key)
        cells = ", ".join(f"l.{quoted(c)}, r.{quoted(c)}" for c in shown)
        rows = self._rows(
            f"SELECT l.{k}, {cells} FROM {lv} AS l JOIN {rv} AS r USING ({k}) "
            f"WHERE l.{k} IN (SELECT unnest(?))",
            [wanted],
        )
        by_key = {r[0]: r for r in rows}
        out = dict(found)
        for j, c in enumerate(shown):
            examples = tuple(
                {"key": v, "research": by_key[v][1 + 2 * j], "production": by_key[v][2 + 2 * j]}
                for v in keys[c]
            )
            out[c] = replace(found[c], examples=examples)
        return out

    def _unit(self, lv: str, rv: str, name: str) -> int:
        """Nanoseconds per tick of a temporal column's common unit (0 for other kinds)."""
        types = [self._schema_of_view(v).field(name).type for v in (lv, rv)]
        if not all(type_family(t) == "instant" for t in types):
            return 0
        return min(_tick_ns(logical_type(t)) for t in types)

    def _schema_of_view(self, view: str) -> pa.Schema:
        return self.schema(self._name_of(view))

    @staticmethod
    def _cell_state(i: int, kind: Kind, tol: Tolerance, unit_ns: int) -> str:
        """Column i's pair state s{i} (0 equal, 1 within tolerance, 2 beyond, 3 null in
        research only, 4 null in production only), |a - b| as d{i} and its ratio to
        max(|a|, |b|) as q{i} for differing non-null pairs (DuckDB: later select items may
        use earlier aliases)."""
        a, b = _comparable(f"l{i}", f"r{i}", kind, unit_ns)
        if kind == "float":
            close = (
                f"isfinite({a}) AND isfinite({b}) AND abs({a} - {b}) <= "
                f"{literal(tol.atol)} + {literal(tol.rtol)} * greatest(abs({a}), abs({b}))"
            )
        else:
            close = "false"
        absolute, relative = _differences(a, b, kind)
        state = (
            f"CASE WHEN l{i} IS NULL THEN (CASE WHEN r{i} IS NULL THEN 0 ELSE 3 END) "
            f"WHEN r{i} IS NULL THEN 4 WHEN {a} = {b} THEN 0 WHEN {close} THEN 1 ELSE 2 END"
        )
        differ = f"s{i} IN (1, 2)"
        return (
            f"{state} AS s{i}, "
            f"CASE WHEN {differ} THEN {absolute or 'NULL'} END AS d{i}, "
            f"CASE WHEN {differ} THEN {relative or 'NULL'} END AS q{i}"
        )

    # ---- profiles

    def profiles(
        self, name: str, columns: Mapping[str, Kind], top: int, *, float_distinct: bool = True
    ) -> dict[str, ColumnStats]:
        """Per column statistics as `mlcheck.compare.column_stats` defines them: counts,
        extremes and distinct values in one query, the exact moments of a numeric column in
        two, the top values of a non-float column in one. Long tables are asked one column per
        query, short ones many (`_column_batches`): DuckDB's cost per row grows with the
        expressions of a statement (measured at 1M rows: 23 columns' counts and extremes in
        one query 2.2 s of CPU, one by one 0.47 s). Without `float_distinct`, a float column's distinct
        count (its costliest statistic, which no comparison of floats uses) is left None."""
        if len(columns) > _PROFILE_BATCH:
            names, out = list(columns), dict[str, ColumnStats]()
            for start in range(0, len(names), _PROFILE_BATCH):
                batch = {c: columns[c] for c in names[start : start + _PROFILE_BATCH]}
                out.update(self.profiles(name, batch, top, float_distinct=float_distinct))
            return out
        view, schema = self._view(name), self.schema(name)
        units = {
            c: _tick_ns(logical_type(schema.field(c).type))
            for c, k in columns.items()
            if k == "temporal"
        }
        for column, kind in columns.items():
            if kind == "text" and type_family(logical_type(schema.field(column).type)) != "text":
                raise Unsupported("text comparison of a non-text column")
        rows = self.num_rows(name) if columns else 0
        # A non-float column's distinct count comes with its top values (one grouping, not two).
        grouped = {c for c, k in columns.items() if top > 0 and k in _VALUES and k != "float"}
        # On long tables (a column a query anyway) the grouping answers everything else too.
        by_value = grouped if rows > _BY_VALUE_ROWS else set()
        scanned = {c: k for c, k in columns.items() if c not in by_value}
        basics = self._basics(view, scanned, units, rows, float_distinct, grouped)
        moments: dict[str, dict[str, Any]] = {}
        tops: dict[str, tuple[tuple[Any, int], ...]] = {}
        for column in [c for c in columns if c in by_value]:  # in the asked order
            unit = units.get(column, 0)
            basics[column], tops[column], moments[column] = self._by_value(
                view, column, columns[column], unit, top, rows
            )
        numeric = _numeric(scanned, basics)
        for chunk in _column_batches(list(numeric), rows):
            wanted = {c: numeric[c] for c in chunk}
            moments.update(fixed_moments(view, wanted, self._one_row, quoted, _DIALECT))
        out = {}
        for column, kind in columns.items():
            values = _VALUES.get(kind, "").format(c=quoted(column), unit=units.get(column, 0))
            basic = basics[column]
            if column in grouped and column not in by_value:
                distinct, tops[column] = self._distinct_top(view, values, top)
                basic = (*basic[:3], distinct, *basic[4:])
            shown = tops.get(column, ())
            out[column] = _stats(kind, basic, shown, moments.get(column, {}), units.get(column, 0))
        return out

    def _by_value(
        self, view: str, column: str, kind: Kind, unit: int, top: int, rows: int
    ) -> tuple[tuple[Any, ...], tuple[tuple[Any, int], ...], dict[str, Any]]:
        """A non-float column's basics, top values and (numbers) exact moments from one
        grouping of its values with their counts: one scan of the column instead of four
        (basics, grouping, two sums). Integer sums read the groups, each weighted by its
        count, where there are few groups (`_WEIGHTED_SHARE`)."""
        c = quoted(column)
        value = _VALUES[kind].format(c=c, unit=unit)
        numeric = kind in ("integer", "boolean")
        # Numbers are grouped as stored (their cast is one to one) and kept for the sums.
        grouping = (
            f"SELECT {c}, count(*) AS {_GROUP_COUNT} FROM {view} GROUP BY ALL"
            if numeric
            else f"SELECT {value} AS {c}, count(*) AS {_GROUP_COUNT} FROM {view} GROUP BY ALL"
        )
        table = f"mlc_groups_{next(self._numbers)}" if numeric else None
        source = f"({grouping})" if table is None else table
        if table is not None:
            self._rows(f"CREATE TEMP TABLE {table} AS {grouping}")
        try:
            sql = _grouped_basics_sql(source, value if numeric else c, numeric, top)
            basic, tops, groups = _grouped_basics(self._rows(sql)[0])
            moments: dict[str, Any] = {}
            if table is not None:
                wanted = _numeric({column: kind}, {column: basic})
                moments = self._moments(view, table, groups, rows, wanted).get(column, {})
        finally:
            if table is not None:
                self._rows(f"DROP TABLE IF EXISTS {table}")
        return basic, tops, moments

    def _moments(
        self, view: str, table: str, groups: int, rows: int, wanted: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Exact moments from the grouped `table` (values and their counts) where it has few
        rows (`_WEIGHTED_SHARE`), else from the rows of `view`."""
        if groups * _WEIGHTED_SHARE <= rows:
            weight = f"CAST({_GROUP_COUNT} AS HUGEINT)"
            return fixed_moments(table, wanted, self._one_row, quoted, _DIALECT, weight=weight)
        return fixed_moments(view, wanted, self._one_row, quoted, _DIALECT)

    def _basics(
        self,
        view: str,
        columns: Mapping[str, Kind],
        units: Mapping[str, int],
        rows: int,
        float_distinct: bool,
        grouped: set[str],
    ) -> dict[str, tuple[Any, ...]]:
        """Per column (count, nulls, NaNs, distinct, min, max), a batch of columns a query;
        the distinct count of a `grouped` column is left NULL (`_distinct_top` counts it)."""
        out: dict[str, tuple[Any, ...]] = {}
        for chunk in _column_batches(list(columns), rows):
            pieces = [
                _basic_sql(quoted(c), columns[c], units.get(c, 0), float_distinct, c not in grouped)
                for c in chunk
            ]
            row = self._rows(f"SELECT {', '.join(pieces)} FROM {view}")[0]
            out.update({c: tuple(row[6 * i : 6 * i + 6]) for i, c in enumerate(chunk)})
        return out

    def _name_of(self, view: str) -> str:
        return next(n for n, v in self._views.items() if v == view)

    def _one_row(self, sql: str) -> tuple[Any, ...]:
        return self._rows(sql)[0]

    def _exact_sums(self, terms: Sequence[tuple[str, str]]) -> list[list[Any]]:
        """Per (source, term), the rows `exact_sum` reads; all terms in one statement."""
        queries = [grouped_sum_sql(term, src, str(j)) for j, (src, term) in enumerate(terms)]
        rows = self._rows(" UNION ALL ".join(f"({q})" for q in queries))
        grouped: list[list[Any]] = [[] for _ in terms]
        for r in rows:
            grouped[int(r[0])].append(r[1:])
        return grouped

    def _distinct_top(
        self, view: str, value: str, top: int
    ) -> tuple[int, tuple[tuple[Any, int], ...]]:
        """A column's distinct non-null values and its `top` most frequent ones (ties by value)
        from one grouping: the `top` least (-count, value) pairs (measured at 1M rows, five
        integer/text columns: 0.22 s of CPU, against 0.45 s for a distinct count and a top)."""
        distinct, found = self._rows(
            f"SELECT count(*), min({{'n': -n, 'v': v}}, {int(top)}) FROM (SELECT {value} AS v, "
            f"count(*) AS n FROM {view} WHERE v IS NOT NULL GROUP BY v)"
        )[0]
        return int(distinct), tuple((x["v"], -int(x["n"])) for x in found or ())

    # ---- value counts, quantiles, crosstabs

    def value_counts(
        self, name: str, column: str, by: str | None = None
    ) -> dict[Any, tuple[tuple[Any, int], ...]]:
        """Per group (None: the whole relation) the non-null values with their counts, most
        frequent first, ties by value."""
        group = quoted(by) if by else "NULL"
        rows = self._rows(
            f"SELECT {group} AS g, {quoted(column)} AS v, count(*) AS n FROM {self._view(name)} "
            "WHERE v IS NOT NULL GROUP BY ALL ORDER BY g NULLS LAST, n DESC, v"
        )
        out: dict[Any, list[tuple[Any, int]]] = {}
        for g, v, n in rows:
            out.setdefault(g, []).append((v, int(n)))
        return {g: tuple(values) for g, values in out.items()}

    def quantiles(
        self, name: str, column: str, probabilities: Sequence[float], by: str | None = None
    ) -> dict[Any, tuple[float, ...]]:
        """Per group, exact quantiles of the non-null, non-NaN values: the smallest value whose
        share of values at or below it reaches p (numpy's method='inverted_cdf'): the element
        of rank max(1, ceil(n * p)) in double arithmetic, as numpy and the Spark engine find it,
        of each group's sorted values (DuckDB's own quantile_disc rounds n * p otherwise and
        picked the element below when n * p lands just above an integer, e.g. n = 25,
        p = 0.28). Each group's values are sorted in one list."""
        if len(probabilities) == 0:
            return {}
        group = quoted(by) if by else "NULL"
        x = f"CAST({quoted(column)} AS DOUBLE)"
        picks = ", ".join(
            f"l[CAST(greatest(1, ceil(n * {literal(p)})) AS BIGINT)] + 0" for p in probabilities
        )
        rows = self._rows(
            f"SELECT g, [{picks}] FROM (SELECT {group} AS g, list_sort(list({x})) AS l, "
            f"count(*) AS n FROM {self._view(name)} WHERE {x} IS NOT NULL AND NOT isnan({x}) "
            "GROUP BY ALL) ORDER BY g NULLS LAST"
        )
        return {g: tuple(float(q) for q in values) for g, values in rows}

    def crosstab(
        self, left: str, right: str, key: Sequence[str], left_column: str, right_column: str
    ) -> dict[tuple[Any, Any], int]:
        """Counts of (left value, right value) over keys non-null and unique on both sides."""
        cols = ", ".join(quoted(k) for k in key)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
        lv, rv = self._view(left), self._view(right)
        rows = self._rows(
            f"""
            WITH lu AS (SELECT {cols} FROM {lv} WHERE {present} GROUP BY ALL HAVING count(*) = 1),
                 ru AS (SELECT {cols} FROM {rv} WHERE {present} GROUP BY ALL HAVING count(*) = 1),
                 m AS (SELECT * FROM lu SEMI JOIN ru USING ({cols}))
            SELECT l.{quoted(left_column)}, r.{quoted(right_column)}, count(*)
            FROM m JOIN {lv} AS l USING ({cols}) JOIN {rv} AS r USING ({cols})
            GROUP BY ALL ORDER BY 1 NULLS LAST, 2 NULLS LAST
            """
        )
        return {(a, b): int(n) for a, b, n in rows}

    # ---- rows without a key

    def multiset_difference(
        self, left: str, right: str, columns: Sequence[str], examples: int
    ) -> RowDifference:
        """Whole rows (over `columns`) in excess on either side, as multisets: floats equal
        when equal as numbers (NaN = NaN, -0.0 = 0.0). Examples `{"row", "research",
        "production"}` sorted by the row's values."""
        cols = ", ".join(quoted(c) for c in columns)
        row = "{" + ", ".join(f"{_sql_string(c)}: {quoted(c)}" for c in columns) + "}"
        lv, rv = self._view(left), self._view(right)
        shown = f"{{'row': {row}, 'research': lc, 'production': rc}}"
        pick = f"arg_min({shown}, {row}, {examples})" if examples else "NULL"
        lost, extra, lost_rows, extra_rows, lost_ex, extra_ex = self._rows(
            f"""
            WITH u AS (SELECT {cols}, 1 AS side FROM {lv} UNION ALL BY NAME
                       SELECT {cols}, 2 AS side FROM {rv}),
                 g AS (SELECT {cols}, count(*) FILTER (WHERE side = 1) AS lc,
                              count(*) FILTER (WHERE side = 2) AS rc FROM u GROUP BY ALL)
            SELECT COALESCE(sum(greatest(lc - rc, 0)), 0), COALESCE(sum(greatest(rc - lc, 0)), 0),
                   count(*) FILTER (WHERE lc > rc), count(*) FILTER (WHERE rc > lc),
                   {pick} FILTER (WHERE lc > rc), {pick} FILTER (WHERE rc > lc)
            FROM g
            """
        )[0]

        def shown_rows(found: Any) -> tuple[dict[str, Any], ...]:
            return tuple(
                {"row": dict(x["row"]), "research": int(x["research"]),
                 "production": int(x["production"])}
                for x in found or ()
            )  # fmt: skip

        return RowDifference(
            "row", int(lost), int(extra), int(lost_rows), int(extra_rows),
            shown_rows(lost_ex), shown_rows(extra_ex),
        )  # fmt: skip

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
        """Register `name`: `source` with `column`, each row's chunk number (see
        `_chunked_sql`), materialized once."""
        schema = self.schema(source)
        kind = schema.field(timestamp).type if timestamp else None
        sql = _chunked_sql(
            self._view(source), column, kind, timestamp, size, every_s, origin_s, quoted, "duckdb"
        )
        view = f"rel_{next(self._numbers)}"
        import duckdb

        # A period is computed per row at each question (a view: nothing copied); positions
        # are numbered once, following the scan's order only while DuckDB keeps insertion order.
        create = "CREATE TABLE" if size is not None else "CREATE VIEW"
        with self._lock:
            self._con.execute("SET preserve_insertion_order = true")
            try:
                self._con.execute(f"{create} {view} AS {sql}")
            except duckdb.ConversionException as exc:
                raise ValueError(f"cannot read {timestamp!r} as timestamps: {exc}") from exc
            finally:
                self._con.execute("SET preserve_insertion_order = false")
        self._views[name] = view

    def counts(
        self, name: str, columns: Sequence[str], by: str | None = None, as_double: bool = False
    ) -> dict[str, pa.Table]:
        """Per column, a table (g, v, n): per group `by` (null: the whole relation) each
        non-null value and its count, ordered by group then value; as_double: values as
        float64, finite ones only. Columnar, so a million distinct values stay cheap."""
        view = self._view(name)
        out = {}
        for column in columns:  # columns, not rows
            # Ordered here, not in SQL: DuckDB's ORDER BY of a million groups costs about twice
            # the grouping itself, a numpy sort a fifth of it.
            sql = _counts_sql(view, column, by, as_double, quoted, ordered=False)
            with self._lock:
                found = self._con.sql(sql).to_arrow_table()
            out[column] = _by_group_and_value(found)
        return out

    # ---- views, membership, counts and first rows (s4)

    def quote(self, name: str) -> str:
        return quoted(name)

    def register_view(
        self, name: str, source: str, columns: Mapping[str, str], where: str | None = None
    ) -> None:
        """`columns` of `source`'s rows passing `where`, materialized in the engine's database."""
        picked = ", ".join(f"{sql} AS {quoted(column)}" for column, sql in columns.items())
        filtered = f" WHERE {where}" if where else ""
        self._materialize(name, f"SELECT {picked} FROM {self._view(source)}{filtered}")

    def register_membership(
        self, name: str, source: str, reference: str, columns: Mapping[str, str]
    ) -> None:
        """`source` plus, per column, whether its value occurs in `reference` (one left join
        per column on the reference's distinct values)."""
        sv, rv = self._view(source), self._view(reference)
        joins, flags = _membership_sql(
            columns, self.schema(source), self.schema(reference), rv, quoted, "VARCHAR"
        )
        self._materialize(name, f"SELECT s.*{flags} FROM {sv} AS s {joins}")

    def count_where(self, name: str, conditions: Mapping[str, str]) -> dict[str, int]:
        if not conditions:
            return {}
        counts = ", ".join(f"count(*) FILTER (WHERE {c})" for c in conditions.values())
        row = self._rows(f"SELECT {counts} FROM {self._view(name)}")[0]
        return {k: int(n) for k, n in zip(conditions, row, strict=True)}

    def first_rows(
        self, name: str, columns: Sequence[str], order: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        if limit <= 0 or not columns:
            return []
        rest = [c for c in columns if c not in set(order)]
        by = ", ".join(f"{quoted(c)} ASC NULLS LAST" for c in [*order, *rest])
        shown = ", ".join(quoted(c) for c in columns)
        rows = self._rows(
            f"SELECT {shown} FROM {self._view(name)} ORDER BY {by} LIMIT {int(limit)}"
        )
        return [dict(zip(columns, r, strict=True)) for r in rows]

    def _materialize(self, name: str, sql: str) -> None:
        with self._lock:
            view = f"rel_{next(self._numbers)}"
            self._con.execute(f"CREATE TABLE {view} AS {sql}")
            self._views[name] = view

    # ---- fold_batches, register_cast, register_excluded (s1)

    def fold_batches(
        self, name: str, columns: Sequence[str], fold: Fold, width: int
    ) -> tuple[int, ...]:
        """`fold` applied to record batches of `columns` of `name` (streamed, any order and
        size), each returning `width` unsigned 64-bit integers; their sums modulo 2**64."""
        total = np.zeros(width, dtype=np.uint64)
        picked = ", ".join([quoted(c) for c in columns] + ["NULL AS fold_rows__"])
        with self._lock:
            reader = self._con.sql(f"SELECT {picked} FROM {self._view(name)}").to_arrow_reader(
                FOLD_BATCH_ROWS
            )
            for batch in reader:
                table = _named(pa.Table.from_batches([batch]).drop_columns(["fold_rows__"]))
                total += np.asarray(fold(table), dtype=np.uint64)
        return tuple(int(x) for x in total)

    def register_cast(self, name: str, source: str, types: Mapping[str, pa.DataType]) -> None:
        """Register `name`: `source` with the columns in `types` cast to those Arrow types
        (a value the cast cannot hold is an error, never silently changed)."""
        view = f"rel_{next(self._numbers)}"
        picked = ", ".join(
            f"CAST({quoted(n)} AS {_sql_type(types[n])}) AS {quoted(n)}"
            if n in types
            else quoted(n)
            for n in self.schema(source).names
        )
        with self._lock:
            self._con.execute(f"CREATE VIEW {view} AS SELECT {picked} FROM {self._view(source)}")
        self._views[name] = view

    def register_excluded(self, name: str, source: str, key: Sequence[str]) -> None:
        """Register `name`: the rows of `source` that `register_join` leaves out (a key part
        null, or a key occurring more than once)."""
        view = f"rel_{next(self._numbers)}"
        with self._lock:
            self._con.execute(f"CREATE VIEW {view} AS {_excluded_sql(self._view(source), key)}")
        self._views[name] = view

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
        """Counts of (left values, right values) over keys non-null and unique on both sides
        (with `unique` known: a plain join, about a quarter of the work). Otherwise each side's
        keys are grouped once, carrying a unique key's values (`first` of its one row), and the
        two groupings joined: no join back to the tables (1M rows: ~0.25 s CPU, was ~0.6 s)."""
        cols = ", ".join(quoted(k) for k in key)
        lv, rv = self._view(left), self._view(right)
        if unique:
            picked = [f"l.{quoted(c)}" for c in left_columns] + [
                f"r.{quoted(c)}" for c in right_columns
            ]
            source = f"{lv} AS l JOIN {rv} AS r USING ({cols})"
        else:
            n = len(left_columns)
            picked = [f"l.v{i}__" for i in range(n)] + [
                f"r.v{n + i}__" for i in range(len(right_columns))
            ]
            lu, ru = _unique_rows(lv, key, left_columns, 0), _unique_rows(rv, key, right_columns, n)
            source = f"({lu}) AS l JOIN ({ru}) AS r USING ({cols})"
        order = ", ".join(f"{i} NULLS LAST" for i in range(1, len(picked) + 1))
        rows = self._rows(
            f"SELECT {', '.join(picked)}, count(*) FROM {source} GROUP BY ALL ORDER BY {order}"
        )
        n = len(left_columns)
        return {(tuple(r[:n]), tuple(r[n:-1])): int(r[-1]) for r in rows}

    def spread(
        self, name: str, entity: Sequence[str], column: str, examples: int
    ) -> seam.ValueSpread:
        """Entities whose rows hold more than one distinct value of `column`, per combination:
        distinct (entity, value) pairs first, lists built only for the entities that span."""
        ent = tuple(entity)
        cols = ", ".join(quoted(k) for k in ent)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in ent)
        order = _key_struct(ent)
        limit = max(examples, 1)
        rows = self._rows(
            f"""
            WITH p AS (SELECT {cols}, {quoted(column)} AS v__, count(*) AS n__
                       FROM {self._view(name)} WHERE {present} GROUP BY ALL),
                 c AS (SELECT {cols}, count(*) AS d__ FROM p GROUP BY ALL),
                 e AS (SELECT {cols}, sum(n__) AS n__, bool_or(v__ IS NULL) AS z__,
                              list_sort(list(v__) FILTER (WHERE v__ IS NOT NULL)) AS vs__
                       FROM p SEMI JOIN (SELECT {cols} FROM c WHERE d__ > 1) USING ({cols})
                       GROUP BY ALL)
            SELECT 0, NULL, NULL, (SELECT count(*) FROM c), NULL, NULL
            UNION ALL
            SELECT 1, vs__, z__, count(*), sum(n__),
                   arg_min({{'key': {order}, 'rows': n__}}, {order}, {limit})
            FROM e GROUP BY vs__, z__
            """
        )
        return _value_spread(rows, ent, examples)

    def before_cutoff(
        self,
        name: str,
        column: str,
        by: str,
        cutoff_groups: Sequence[Any],
        key: Sequence[str],
        examples: int,
        as_time: bool = False,
    ) -> seam.Cutoff:
        """Rows earlier than the largest value of the cutoff groups, per group of `by`."""
        raw = quoted(column)
        value = f"TRY_CAST({raw} AS TIMESTAMP)" if as_time else raw
        order = _key_struct(tuple(key))
        inside = " OR ".join(f"g__ = {_group_literal(g)}" for g in cutoff_groups) or "false"
        limit = max(examples, 1)
        rows = self._rows(
            f"""
            WITH x AS (SELECT {quoted(by)} AS g__, {raw} AS raw__, {value} AS t__, *
                       FROM {self._view(name)}),
                 cut AS (SELECT max(t__) AS m__, arg_max(raw__, {{'t': t__, 'raw': raw__}}) AS s__
                         FROM x WHERE ({inside}) AND t__ IS NOT NULL)
            SELECT g__, count(*), count(t__), count(raw__) - count(t__),
                   count(*) FILTER (WHERE t__ < m__),
                   arg_min({order}, {order}, {limit}) FILTER (WHERE t__ < m__), any_value(s__)
            FROM x, cut GROUP BY g__ ORDER BY g__ NULLS LAST
            """
        )
        return _cutoff(rows, tuple(key), examples)

    # ---- grouped_counts (perf)

    def grouped_counts(
        self,
        base: str,
        key: Sequence[str],
        columns: Sequence[tuple[str, str]],
        chunk: Chunking | None = None,
        shape: GroupShape | None = None,
    ) -> pa.Table:
        """Rows of `base` counted per combination of `columns` (and chunk); see the Protocol.
        Size chunks number rows in scan order, which DuckDB keeps only while
        preserve_insertion_order is on: it is switched on for this one question."""
        names = {base, *(r for r, _ in columns), *_time_relation(chunk)}
        sql = grouped_counts_sql(
            _DUCK_GROUPED,
            {n: self._view(n) for n in names},
            {n: self.schema(n) for n in names},
            base,
            tuple(key),
            tuple(columns),
            chunk,
            shape,
            duplicates=self._duplicates(names, key) if len(names) > 1 else None,
        )
        with self._lock:
            ordered = (chunk is not None and chunk.size is not None) or bool(shape and shape.first)
            if ordered:
                self._con.execute("SET preserve_insertion_order = true")
            try:
                return shaped_answer(self._con.sql(sql).to_arrow_table(), shape)
            finally:
                if ordered:
                    self._con.execute("SET preserve_insertion_order = false")

    # ---- presence (s6)

    def presence(self, name: str, columns: Sequence[str], time: str | None = None) -> Presence:
        """One query for the row count and the time axis, then per type of column one query
        over the columns unpivoted to (name, value) rows: a grouped scan stays fast on wide
        tables (thousands of columns), where one aggregate per column does not."""
        return presence_answer(self._rows, self._view(name), self.schema(name), columns, time, DUCK)

    def count_equal(self, name: str, values: Mapping[str, Any]) -> dict[str, int]:
        """One query for every column (parameters typed by their Python value)."""
        if not values:
            return {}
        names = list(values)
        tests = [f"count_if({quoted(c)} = {_duck_parameter(values[c])})" for c in names]
        row = self._rows(
            f"SELECT {', '.join(tests)} FROM {self._view(name)}", list(values.values())
        )
        return {c: int(n) for c, n in zip(names, row[0], strict=True)}

    def value_counts_of(
        self, name: str, columns: Sequence[str]
    ) -> dict[str, tuple[tuple[Any, int], ...]]:
        """Few queries for many columns (see `value_counts_answer`)."""
        return value_counts_answer(self._rows, self._view(name), self.schema(name), columns, DUCK)

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
        """`mlcheck.engines.causes.cell_causes`: differing pairs sorted into causes."""
        key = tuple(key)
        self._check_key_types(left, right, key)
        lv, rv = self._view(left), self._view(right)
        units = {c: self._unit(lv, rv, c) for c, r in rules.items() if r.kind == "temporal"}

        def materialize(sql: str) -> tuple[str, Callable[[], None]]:
            name = f"mlc_pairs_{next(_PAIR_TABLES)}"
            with self._lock:
                self._con.execute(f"CREATE TEMP TABLE {name} AS {sql}")

            def drop() -> None:
                with self._lock:
                    self._con.execute(f"DROP TABLE IF EXISTS {name}")

            return name, drop

        return causes.cell_causes(
            _CAUSES_DIALECT,
            self._rows,
            materialize,
            (lv, rv),
            key,
            rules,
            units,
            tolerance,
            examples,
            top,
            self._doubles(left, right, rules),
        )

    def _doubles(self, left: str, right: str, rules: Mapping[str, CauseRule]) -> frozenset[str]:
        """Float columns held as DOUBLE on both sides: `_comparable`'s cast would not change
        them (10,000 casts cost the wide screen ~0.15 s to plan at 5,000 columns)."""
        ls, rs = self.schema(left), self.schema(right)
        return frozenset(
            c
            for c, rule in rules.items()
            if rule.kind == "float"
            and ls.field(c).type.equals(pa.float64())
            and rs.field(c).type.equals(pa.float64())
        )

    def finite_ranges(self, name: str, columns: Sequence[str]) -> dict[str, FiniteRange]:
        """`mlcheck.engines.causes.finite_ranges` of numeric columns."""
        return causes.finite_ranges(_CAUSES_DIALECT, self._rows, self._view(name), columns)

    def round_trip_changes(
        self, name: str, targets: Mapping[str, pa.DataType]
    ) -> dict[str, int | None]:
        """Per column, non-null values that change when cast to the target type (None: the
        engine has no such type)."""
        return causes.round_trip_answer(
            _CAUSES_DIALECT, self._rows, self._view(name), self.schema(name), targets, "duckdb"
        )

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
        """Sorted finite values of many columns per group, a rank grid past `grid` values, or
        values at given ranks (see `AggregateEngine.sorted_values_many`): up to `grid` rows (or
        `sorting.FETCH_ROWS`), a batch of columns fetched unsorted in one scan and sorted in
        numpy (a group's grid picked there); past it, per column the group sizes and the values
        DuckDB numbers (`mlcheck.engines.sorting`)."""
        view, rows = self._view(name), self.num_rows(name)
        fetched = rows <= max(grid, sorting.FETCH_ROWS)
        if fetched and by is not None and groups is not None and len(groups) == 1:
            return self._one_group(view, columns, by, groups[0], rows, grid, ranks)
        ask = sorting.Asker(self._arrow, self._rows, quoted, "//", sorting.FETCH_ROWS)
        return sorting.sorted_values_many(ask, view, rows, columns, by, grid, groups, ranks)

    def _arrow(self, sql: str) -> pa.Table:
        with self._lock:
            return self._con.sql(sql).to_arrow_table()

    def _one_group(
        self,
        view: str,
        columns: Sequence[str],
        by: str,
        group: Any,
        rows: int,
        grid: int,
        ranks: Mapping[str, Sequence[int]] | None,
    ) -> dict[str, dict[Any, SortedValues]]:
        """`sorted_values_many` of one asked group: its rows filtered in SQL, no group column
        fetched or sorted (research training rows: ~1 s CPU less at 1M x 25 features)."""
        where = f" WHERE {quoted(by)} IS NULL" if group is None else f" WHERE {quoted(by)} = ?"
        out = {}
        for batch in sorting.batches(columns, rows, grid):
            sql = sorting.fetch_sql(view, batch, None, quoted) + where
            with self._lock:
                asked = self._con.sql(sql, params=[] if group is None else [group])
                found = asked.to_arrow_table()
            answer = sorting.fetched_answer(found, batch, False, None, ranks, grid)
            out.update({c: {group: a[None]} if a else {} for c, a in answer.items()})
        return out

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
        """`base`'s rows with `columns` looked up as `grouped_counts` does, those kept
        materialized (spilled past the memory limit); see the Protocol."""
        asked = (base, key, columns, finite, equal)
        names = {base, *(r for r, _ in columns)}
        known = self._duplicates(names, key) if len(names) > 1 else None
        sql = lookup_sql(_DUCK_GROUPED, self._view, self.schema, *asked, duplicates=known)
        self._materialize(name, sql)

    # ---- duplicate keys (perf8)

    def _duplicates(self, names: set[str], key: Sequence[str]) -> dict[str, str]:
        """Per relation, a table of its duplicated keys, made once per relation and key: every
        grouped question told keys unique by grouping each relation's million rows again
        (0.3-0.7 s CPU a question at 1M rows). Left out (grouped again) where a relation has
        more than `_MAX_DUPLICATES` of them: the table stays small."""
        if not key:
            return {}
        out = {}
        with self._lock:
            for name in sorted(names):  # relations, not rows
                asked = (self._view(name), tuple(key))
                if asked not in self._duplicate_tables:  # None: too many to keep
                    self._duplicate_tables[asked] = self._duplicate_table(*asked)
                if (table := self._duplicate_tables[asked]) is not None:
                    out[name] = table
        return out

    def _duplicate_table(self, view: str, key: Sequence[str]) -> str | None:
        table = f"mlc_dup_{next(self._numbers)}"
        sql = duplicates_sql(view, key, quoted)
        self._con.execute(f"CREATE TEMP TABLE {table} AS {sql} LIMIT {_MAX_DUPLICATES + 1}")
        found = self._con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if found <= _MAX_DUPLICATES:
            return table
        self._con.execute(f"DROP TABLE {table}")
        return None


def _join_sql(
    lv: str,
    rv: str,
    key: tuple[str, ...],
    left: pa.Schema,
    right: pa.Schema,
    quote: Any = None,
    columns: Sequence[str] | None = None,
) -> str:
    """SQL (DuckDB and Spark alike) matching two relations on keys unique and non-null on both
    sides; the right side's columns that the left has are left out, and with `columns` only
    the key and those columns are kept. Uniqueness is a grouping of the key columns alone: a
    window over every column (`count(*) OVER (PARTITION BY key)`) held whole rows of both
    sides while it sorted them, 2-3 GiB at 10M x 33."""
    q = quote or quoted
    kept = None if columns is None else set(key) | set(columns)
    extra = [n for n in right.names if n not in set(left.names)]
    picked = [f"l.{q(n)}" for n in left.names if kept is None or n in kept]
    picked += [f"r.{q(n)}" for n in extra if kept is None or n in kept]
    on = " AND ".join(f"{{0}}.{q(k)} = u.{q(k)}" for k in key)
    return (
        f"SELECT {', '.join(picked)} FROM {lv} l JOIN {_unique_keys_sql(lv, rv, key, q)} u "
        f"ON {on.format('l')} JOIN {rv} r ON {on.format('r')}"
    )


def _unique_keys_sql(lv: str, rv: str, key: tuple[str, ...], q: Any) -> str:
    """The keys non-null and present exactly once on each side, in one grouping of both
    sides' key columns."""
    cols = ", ".join(q(k) for k in key)
    present = " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
    side = q("mlcheck:side")
    return (
        f"(SELECT {cols} FROM (SELECT {cols}, 0 AS {side} FROM {lv} WHERE {present} "
        f"UNION ALL SELECT {cols}, 1 AS {side} FROM {rv} WHERE {present}) k "
        f"GROUP BY {cols} HAVING sum(1 - {side}) = 1 AND sum({side}) = 1)"
    )


def _remove(connection: Any, folder: str) -> None:
    connection.close()
    shutil.rmtree(folder, ignore_errors=True)


# ---- parquet in place

# The Arrow type DuckDB answers for a column whose catalog type is named so (tested against
# DuckDB's own Arrow answers); zone-aware timestamps in the session's zone, UTC.
_CATALOG_TYPES = {
    "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(), "BIGINT": pa.int64(), "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(), "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BLOB": pa.binary(),
    "DATE": pa.date32(), "TIMESTAMP_S": pa.timestamp("s"), "TIMESTAMP_MS": pa.timestamp("ms"),
    "TIMESTAMP": pa.timestamp("us"), "TIMESTAMP_NS": pa.timestamp("ns"),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", "UTC"),
}  # fmt: skip

# DuckDB's name for each Arrow type a parquet column may need a cast to.
_DUCK_TYPES = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
    pa.timestamp("s"): "TIMESTAMP_S", pa.timestamp("ms"): "TIMESTAMP_MS",
    pa.timestamp("us"): "TIMESTAMP", pa.timestamp("ns"): "TIMESTAMP_NS",
}  # fmt: skip


def _parquet_scan(part: ParquetPart) -> str:
    """read_parquet over a part's files; hive partition values stay text (cast afterwards to
    the types pyarrow infers), files of a folder are matched by column name."""
    files = "[" + ", ".join(_sql_string(str(f)) for f in part.files) + "]"
    if part.folder is None:
        return f"read_parquet({files})"
    return (
        f"read_parquet({files}, hive_partitioning = true, hive_types_autocast = false, "
        "union_by_name = true)"
    )


# A wide source of few rows is copied into a DuckDB table once: DuckDB binds every column of
# a parquet view (or an Arrow scan) at each question, ~30 us a column (0.15 s a question at
# 5,000 columns, measured), while a question about a table of 20 x 5,000 takes ~5 ms and the
# copy ~0.45 s once. Narrow or long sources stay read in place (at 1M x 33 a copy cost 4 s CPU
# and made no question faster).
_COPY_FROM_COLUMNS = 256
_COPY_CELLS = 1 << 22


def _copied(source: ParquetSource) -> bool:
    """Whether `source` is wide and small enough to be copied (`_COPY_*`); rows come from the
    files' parquet footers, summed only while under the bound."""
    import pyarrow.parquet as pq

    columns = len(source.schema)
    if columns < _COPY_FROM_COLUMNS:
        return False
    rows = 0
    for path in (f for part in source.parts for f in part.files):
        rows += pq.read_metadata(path).num_rows
        if rows * columns > _COPY_CELLS:
            return False
    return True


def _parquet_column(
    wanted: pa.Field, found: pa.Schema, label_column: str | None, part: ParquetPart
) -> str:
    """A select item giving `wanted` (the pyarrow reader's field) from DuckDB's read."""
    name = quoted(wanted.name)
    if wanted.name == label_column:
        return f"CAST({_sql_string(part.label or '')} AS VARCHAR) AS {name}"
    index = found.get_field_index(wanted.name)
    if index < 0:
        raise Unsupported(f"column {wanted.name!r} is not in every file")
    read = _plain_quoted(wanted.name)  # as DuckDB's scan names it (not encoded)
    if _same_values(wanted.type, found.field(index).type):
        return f"{read} AS {name}"
    target = _DUCK_TYPES.get(logical_type(wanted.type))
    if target is None:
        raise Unsupported(f"DuckDB reads {wanted.name!r} as {found.field(index).type}")
    return f"CAST({read} AS {target}) AS {name}"


def _all_same_values(wanted: pa.Schema, got: Sequence[pa.DataType]) -> bool:
    """`_same_values` of every column (equal types first: a C comparison, 5,000 a source)."""
    return all(
        e.type.equals(g) or _same_values(e.type, g) for e, g in zip(wanted, got, strict=True)
    )


def _same_values(wanted: pa.DataType, got: pa.DataType) -> bool:
    """Whether DuckDB's type holds exactly the values of the reader's: equal up to layout
    (dictionary, large or view strings), a zone-aware timestamp in another zone name."""
    a, b = logical_type(wanted), logical_type(got)
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and a.tz and b.tz:
        return a.unit == b.unit
    return a.equals(b)


# ---- SQL pieces


def _unmatched_sql(order: str, limit: int) -> str:
    """Select items listing the lost and the extra keys (at most `limit` + 1 of each)."""
    if not limit:
        return ""
    return (
        f", min({order}, {limit + 1}) FILTER (WHERE rn IS NULL),"
        f" min({order}, {limit + 1}) FILTER (WHERE ln IS NULL)"
    )


def _cell_aggregates(i: int, order: str, examples: int, keys_only: bool = False) -> list[str]:
    """Seven aggregates of column i's states (see `_cell_state`): beyond, within, null in
    research only, null in production only, max abs, max rel (read by `_difference`), and the
    first `examples` cells beyond tolerance by key (`order`, the key or a struct of its parts;
    with `keys_only`, their keys alone).
    CASE expressions, not FILTER clauses: DuckDB's cost grows with FILTERs x input columns."""
    shown = f"{{'k': {order}, 'l': l{i}, 'r': r{i}}}"
    first = (
        f"arg_min({shown}, CASE WHEN s{i} >= 2 THEN {order} END, {examples})"
        if examples
        else "NULL"
    )
    if examples and keys_only:
        first = f"min(CASE WHEN s{i} >= 2 THEN {order} END, {examples})"
    return [
        f"count(CASE WHEN s{i} >= 2 THEN 1 END)",
        f"count(CASE WHEN s{i} = 1 THEN 1 END)",
        f"count(CASE WHEN s{i} = 3 THEN 1 END)",
        f"count(CASE WHEN s{i} = 4 THEN 1 END)",
        f"max(CASE WHEN NOT isnan(d{i}) THEN d{i} END)",
        f"max(CASE WHEN NOT isnan(q{i}) THEN q{i} END)",
        first,
    ]


def _cell_examples(found: Any, key: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """`arg_min`'s examples as rows (key parts..., research, production), first by key."""
    if not found:
        return []
    if len(key) == 1:
        return [(x["k"], x["l"], x["r"]) for x in found]
    return [(*(x["k"][k] for k in key), x["l"], x["r"]) for x in found]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key_struct(key: tuple[str, ...]) -> str:
    """What examples are ordered by and shown as: the key itself, or a struct of its parts."""
    if len(key) == 1:
        return quoted(key[0])
    return "{" + ", ".join(f"{_sql_string(k)}: {quoted(k)}" for k in key) + "}"


def _key_examples(found: Any, key: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    if not found:
        return ()
    return tuple(
        {"key": x["key"] if len(key) == 1 else dict(x["key"]), "rows": int(x["rows"])}
        for x in found
    )


def _ticks(column: str, unit_ns: int) -> str:
    """A temporal column as integer ticks of `unit_ns` nanoseconds since the epoch."""
    return f"(epoch_ns(CAST({column} AS TIMESTAMP_NS)) // {int(unit_ns)})"


def _comparable(a: str, b: str, kind: Kind, unit_ns: int) -> tuple[str, str]:
    """Both sides in the representation their kind compares in."""
    if kind == "float":
        return f"CAST({a} AS DOUBLE)", f"CAST({b} AS DOUBLE)"
    if kind == "integer":
        return f"CAST({a} AS HUGEINT)", f"CAST({b} AS HUGEINT)"
    if kind == "boolean":
        return f"CAST({a} AS INTEGER)", f"CAST({b} AS INTEGER)"
    if kind == "temporal":
        if not unit_ns:
            raise Unsupported("times of day and durations")
        return _ticks(a, unit_ns), _ticks(b, unit_ns)
    if kind == "text":
        return f"CAST({a} AS VARCHAR)", f"CAST({b} AS VARCHAR)"
    if kind == "binary":
        return f"CAST({a} AS BLOB)", f"CAST({b} AS BLOB)"
    raise Unsupported(f"{kind} columns are not compared cell by cell")


def _differences(a: str, b: str, kind: Kind) -> tuple[str | None, str | None]:
    """SQL for |a - b| and its ratio to max(|a|, |b|), as the in-memory engine computes them:
    floats in float64; integers exactly, rounded once to float64; temporal in ticks."""
    if kind == "float":
        return f"abs({a} - {b})", f"abs({a} - {b}) / greatest(abs({a}), abs({b}))"
    if kind in ("integer", "boolean"):
        diff = f"CAST(abs(CAST({a} AS HUGEINT) - CAST({b} AS HUGEINT)) AS DOUBLE)"
        scale = f"greatest(abs(CAST({a} AS DOUBLE)), abs(CAST({b} AS DOUBLE)))"
        return diff, f"{diff} / {scale}"
    if kind == "temporal":
        return f"CAST(abs(CAST({a} AS HUGEINT) - CAST({b} AS HUGEINT)) AS DOUBLE)", None
    return None, None


def _difference(
    name: str,
    kind: Kind,
    compared: int,
    found: Sequence[Any],
    shown: Sequence[tuple[Any, ...]],
    key: tuple[str, ...],
    unit_ns: int,
) -> ColumnDifference:
    beyond, within, null_left, null_right, max_abs, max_rel = found
    if max_abs is None:
        max_rel = None
    elif kind == "temporal":
        max_abs, max_rel = float(max_abs) * unit_ns / 1e9, None
    examples = tuple(
        {
            "key": row[0] if len(key) == 1 else dict(zip(key, row[: len(key)], strict=True)),
            "research": row[-2],
            "production": row[-1],
        }
        for row in shown
    )
    return ColumnDifference(
        column=name,
        kind=kind,
        compared=compared,
        beyond=int(beyond),
        within=int(within),
        null_left_only=int(null_left),
        null_right_only=int(null_right),
        max_abs_diff=None if max_abs is None else float(max_abs),
        max_rel_diff=None if max_rel is None else float(max_rel),
        examples=examples,
    )


def _renderer(unit_ns: int) -> Any:
    unit = _numpy_unit(unit_ns)

    def render(v: Any) -> str:
        return str(np.datetime64(int(v), unit)) if unit else str(int(v))  # type: ignore[call-overload]

    return render


_EXACT = {"integer": "HUGEINT", "boolean": "INTEGER"}
# How a column's values are counted, ordered and shown per kind ({c}: the quoted column).
_VALUES = {
    "float": "CAST({c} AS DOUBLE)",
    "integer": "CAST({c} AS HUGEINT)",
    "boolean": "CAST({c} AS INTEGER)",
    "text": "CAST({c} AS VARCHAR)",
    "binary": "CAST({c} AS BLOB)",
    "temporal": "(epoch_ns(CAST({c} AS TIMESTAMP_NS)) // {unit})",
}


def _basic_sql(
    c: str, kind: Kind, unit_ns: int, float_distinct: bool = True, distinct: bool = True
) -> str:
    """Six values of a column: count, nulls, NaNs, distinct, min, max (NULL where none or,
    for a float column without `float_distinct` or another without `distinct`, the distinct
    count).
    Conditional aggregates are CASE expressions, not FILTER clauses: in DuckDB a statement's
    cost grows with its FILTERs times its input columns (measured)."""
    counts = f"count({c}), count(*) - count({c})"
    if kind not in _VALUES:
        return f"{counts}, 0, NULL, NULL, NULL"
    value = _VALUES[kind].format(c=c, unit=unit_ns)
    distinct_sql = f"count(DISTINCT {value})" if distinct else "NULL"
    if kind in ("integer", "boolean"):  # never NaN
        return f"{counts}, 0, {distinct_sql}, min({value}) + 0, max({value}) + 0"
    if kind != "float":
        return f"{counts}, 0, {distinct_sql}, min({value}), max({value})"
    # + 0 turns -0.0 into 0.0; NaN is left out of the extremes (DuckDB orders it last)
    number = f"CASE WHEN NOT isnan({value}) THEN {value} END"
    distinct_sql = f"count(DISTINCT {value})" if float_distinct else "NULL"
    return (
        f"{counts}, count(CASE WHEN isnan({value}) THEN 1 END), {distinct_sql}, "
        f"min({number}) + 0, max({number}) + 0"
    )


def _grouped_basics_sql(source: str, value: str, numeric: bool, top: int) -> str:
    """`_basic_sql`'s six values and the top values of a column from its grouping `source`
    (the column, or its value, beside its count): `value` read per group."""
    extreme, n = (" + 0" if numeric else ""), _GROUP_COUNT  # as `_basic_sql` writes them
    return (
        f"SELECT COALESCE(sum({n}) FILTER (WHERE v IS NOT NULL), 0), "
        f"COALESCE(sum({n}) FILTER (WHERE v IS NULL), 0), count(v), min(v){extreme}, "
        f"max(v){extreme}, min({{'n': -{n}, 'v': v}}, {max(int(top), 1)}) FILTER (WHERE v IS NOT NULL), "
        f"count(*) FROM (SELECT {value} AS v, {n} FROM {source})"
    )


def _grouped_basics(
    row: Sequence[Any],
) -> tuple[tuple[Any, ...], tuple[tuple[Any, int], ...], int]:
    """(count, nulls, NaNs, distinct, min, max), the top values and the number of groups."""
    count, nulls, distinct, low, high, found, groups = row
    tops = tuple((x["v"], -int(x["n"])) for x in found or ())
    return (count, nulls, 0, distinct, low, high), tops, int(groups)


def _column_batches(names: list[str], rows: int) -> list[list[str]]:
    """Columns asked together: as many as keep a statement within `_DISTINCT_CELLS` cells
    (one column per query on long tables, thousands on short ones: a query costs ~2 ms)."""
    batch = max(1, _DISTINCT_CELLS // max(rows, 1))
    return [names[start : start + batch] for start in range(0, len(names), batch)]


# Columns per profiles statement (measured at 20 rows: 100 columns 1.5 s CPU, 300 columns 8 s).
_PROFILE_BATCH = 64
# Matched pairs x columns one key-comparison query reads: four columns a query at 1M pairs
# (measured at 1M x 23: 10-20% less CPU than one a query; all in one query, 30% more).
_ORDER_PROBE = 1024  # rows whose keys are compared by position before all of them are
_PAIR_CELLS = 4_000_000
_PAIR_BATCH = 8  # measured at 20 rows x 100 columns: 8 per query 0.96 s CPU, 1: 1.41, 32: 1.77
# Cells (rows x columns) one profiles query reads: one column per query at 1M rows.
_DISTINCT_CELLS = 1_000_000
# Rows past which a non-float column's profile comes from its grouping (`_by_value`): where
# columns are asked one a query anyway (on shorter tables many share each query).
_BY_VALUE_ROWS = _DISTINCT_CELLS // 2
# Weighted sums multiply 128-bit integers: measured at 1M rows, 166k groups cost as much as the
# rows (~260 ns a group, ~30 a row), so the groups are read when 16 times fewer than the rows.
_WEIGHTED_SHARE = 16
_GROUP_COUNT = '"mlcheck:n"'  # a value's count in a grouping (never a column's name)


def _stats(
    kind: Kind,
    basic: Sequence[Any],
    tops: tuple[tuple[Any, int], ...],
    moments: Mapping[str, Any],
    unit_ns: int,
) -> ColumnStats:
    count, nulls, nans, distinct, low, high = basic
    common: dict[str, Any] = {"count": int(count), "nulls": int(nulls)}
    if kind not in _VALUES:
        return ColumnStats(**common)
    if kind == "temporal":
        render = _renderer(unit_ns)
        return ColumnStats(
            **common,
            distinct=int(distinct),
            min=None if low is None else render(low),
            max=None if high is None else render(high),
            top=tuple((render(v), n) for v, n in tops),
        )
    if kind in ("text", "binary"):
        return ColumnStats(**common, distinct=int(distinct), min=low, max=high, top=tops)
    extremes = (low, high) if kind == "float" else (_int(low), _int(high))
    return ColumnStats(
        **common,
        nans=int(nans),
        distinct=None if distinct is None else int(distinct),
        min=extremes[0],
        max=extremes[1],
        top=tops,
        **moments,
    )


def _numeric(
    columns: Mapping[str, Kind], basics: Mapping[str, Sequence[Any]]
) -> dict[str, tuple[int, float]]:
    """Per numeric column, its count of non-null non-NaN values and their largest magnitude
    (from the count, nulls, NaNs, distinct, min, max of `_basic_sql`), for `fixed_moments`."""
    out = {}
    for column, kind in columns.items():
        if kind in ("float", "integer", "boolean"):
            count, _, nans, _, low, high = basics[column]
            bound = max((abs(float(v)) for v in (low, high) if v is not None), default=0.0)
            out[column] = (int(count) - int(nans), bound)
    return out


_DIALECT = Dialect(
    literal=literal,
    truncate=lambda x: f"trunc({x})",
    to_integer=lambda x: f"CAST({x} AS BIGINT)",
    integer_sum=lambda x: f"sum({x})",
    finite=lambda x: f"isfinite({x})",
)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# ---- register_chunks, counts (drift)


def _chunked_sql(
    view: str,
    column: str,
    time_type: pa.DataType | None,
    timestamp: str | None,
    size: int | None,
    every_s: int,
    origin_s: int,
    quote: Any,
    dialect: str,
) -> str:
    """SQL (DuckDB or Spark) adding `column`, the chunk number of each row: position // size
    in the registered row order, or the calendar period floor((seconds - origin) / every) of
    `timestamp` (UTC; null when the time is unknown)."""
    if size is not None:
        order = "" if dialect == "duckdb" else "ORDER BY monotonically_increasing_id()"
        chunk = _floor_div(f"(row_number() OVER ({order}) - 1)", str(int(size)), dialect)
    else:
        assert timestamp is not None and time_type is not None
        ticks, per_second = _epoch_ticks(quote(timestamp), time_type, dialect)
        seconds = _floor_div(ticks, str(per_second), dialect)
        chunk = _floor_div(f"({seconds} - {int(origin_s)})", str(int(every_s)), dialect)
    return f"SELECT *, {chunk} AS {quote(column)} FROM {view}"


def _floor_div(a: str, b: str, dialect: str) -> str:
    """floor(a / b) in BIGINT for b > 0, whatever the sign rule of the dialect's division:
    a minus its non-negative remainder is a multiple of b, divided exactly."""
    positive = f"((({a}) % {b}) + {b}) % {b}"
    divide = "//" if dialect == "duckdb" else "div"
    return f"CAST(((({a}) - {positive}) {divide} {b}) AS BIGINT)"


def _epoch_ticks(x: str, kind: pa.DataType, dialect: str) -> tuple[str, int]:
    """Integer ticks since the epoch (UTC) of a timestamp, date or ISO-8601 text column, and
    ticks per second: nanoseconds stay nanoseconds (a cast to microseconds would round); text
    without an offset is read as UTC."""
    kind = logical_type(kind)
    if pa.types.is_timestamp(kind) and kind.unit == "ns" and dialect == "duckdb":
        return f"epoch_ns(CAST({x} AS TIMESTAMP_NS))", 1_000_000_000
    if pa.types.is_timestamp(kind):
        value = x
    elif pa.types.is_date(kind):
        value = f"CAST({x} AS TIMESTAMP)"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        value = f"CAST({x} AS TIMESTAMPTZ)" if dialect == "duckdb" else f"CAST({x} AS TIMESTAMP)"
    else:
        raise ValueError(f"must be a timestamp, a date or ISO-8601 text, not {kind}")
    if dialect == "duckdb":
        return f"epoch_us({value})", 1_000_000
    return f"unix_micros(CAST({value} AS TIMESTAMP))", 1_000_000


def _counts_sql(
    view: str, column: str, by: str | None, as_double: bool, quote: Any, ordered: bool = True
) -> str:
    """Per group (NULL: the whole relation) each non-null value with its count, by group and
    value; as_double: values as DOUBLE, only finite ones (-0.0 and 0.0 one value)."""
    group = quote(by) if by else "CAST(NULL AS BIGINT)"
    if as_double:
        x = f"CAST({quote(column)} AS DOUBLE)"
        inf = "CAST('Infinity' AS DOUBLE)"
        value = f"({x} + CAST(0 AS DOUBLE))"  # -0.0 + 0.0 is 0.0: one value
        keep = f"{x} IS NOT NULL AND NOT isnan({x}) AND {x} < {inf} AND {x} > -{inf}"
    else:
        value, keep = quote(column), f"{quote(column)} IS NOT NULL"
    order = " ORDER BY g ASC NULLS LAST, v ASC" if ordered else ""
    return (
        f"SELECT g, v, count(*) AS n FROM (SELECT {group} AS g, {value} AS v FROM {view} "
        f"WHERE {keep}) t GROUP BY g, v{order}"
    )


def _by_group_and_value(table: pa.Table) -> pa.Table:
    """A (g, v, n) answer ordered by g (nulls last) then v: numeric values by two numpy sorts
    (values, then a stable sort of the groups' ranks), other types by Arrow."""
    import pyarrow.compute as pc

    v = table.column("v")
    numeric = pa.types.is_floating(v.type) or pa.types.is_integer(v.type)
    if not numeric or v.null_count:
        keys = [("g", "ascending"), ("v", "ascending")]  # nulls last: the default
        return table.take(pc.sort_indices(table, sort_keys=keys))
    order = np.argsort(v.to_numpy(), kind="stable")
    ranks = _group_ranks(table.column("g").combine_chunks())
    if ranks is not None:
        order = order[np.argsort(ranks[order], kind="stable")]
    return table.take(pa.array(order))


def _group_ranks(g: pa.Array) -> np.ndarray | None:
    """Each row's group as its rank among the groups (nulls last); None when all are null."""
    import pyarrow.compute as pc

    if g.null_count == len(g):
        return None
    encoded = pc.dictionary_encode(g)
    size = len(encoded.dictionary)
    rank = np.empty(size + 1, dtype=np.int64)
    rank[np.asarray(pc.sort_indices(encoded.dictionary))] = np.arange(size)
    rank[size] = size  # null groups last
    codes = encoded.indices.fill_null(size).to_numpy(zero_copy_only=False)
    return rank[np.asarray(codes, dtype=np.int64)]


# ---- views, membership, counts and first rows (s4)


def _membership_sql(
    columns: Mapping[str, str],
    source: pa.Schema,
    reference: pa.Schema,
    rv: str,
    quote: Any,
    text: str,
) -> tuple[str, str]:
    """(LEFT JOIN clauses, flag select items) for `register_membership` over `s` (DuckDB and
    Spark alike; `text` names the engine's string type)."""
    joins, flags = [], []
    for i, (column, flag) in enumerate(columns.items()):
        lt, rt = source.field(column).type, reference.field(column).type
        same = logical_type(lt).equals(logical_type(rt)) and not (
            pa.types.is_dictionary(lt) or pa.types.is_dictionary(rt)
        )
        c = quote(column)
        value = (lambda x: x) if same else (lambda x: f"CAST({x} AS {text})")
        joins.append(
            f"LEFT JOIN (SELECT DISTINCT {value(c)} AS v FROM {rv} WHERE {c} IS NOT NULL) AS m{i} "
            f"ON {value('s.' + c)} = m{i}.v"
        )
        flags.append(
            f"CASE WHEN s.{c} IS NULL THEN NULL ELSE m{i}.v IS NOT NULL END AS {quote(flag)}"
        )
    return " ".join(joins), "".join(f", {f}" for f in flags)


# ---- fold_batches, register_cast, register_excluded (s1)

Fold = Callable[[pa.Table], Any]
FOLD_BATCH_ROWS = 1 << 17

_SQL_TYPES = {
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.binary(): "BLOB",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}
_TIMESTAMPS = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}


def _sql_type(t: pa.DataType) -> str:
    """DuckDB's name for the Arrow types `register_cast` takes."""
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz is not None else _TIMESTAMPS[t.unit]
    if t in _SQL_TYPES:
        return _SQL_TYPES[t]
    raise Unsupported(f"no cast to {t}")


def _excluded_sql(view: str, key: Sequence[str], quote: Any = None) -> str:
    """Rows of `view` with a null key part or a key occurring more than once (DuckDB and
    Spark alike)."""
    q = quote or quoted
    cols = ", ".join(q(k) for k in key)
    null = " OR ".join(f"{q(k)} IS NULL" for k in key)
    return (
        f"SELECT * EXCEPT (n__) FROM (SELECT *, count(*) OVER (PARTITION BY {cols}) AS n__ "
        f"FROM {view}) t WHERE {null} OR n__ > 1"
    )


# ---- joint_crosstab, spread, before_cutoff (s3)


def _group_literal(value: Any, spark: bool = False) -> str:
    """A SQL literal of a group value (text, number or boolean). Text: DuckDB doubles quotes
    and keeps backslashes; Spark reads backslash escapes, so both are escaped there."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return literal(value)
    if isinstance(value, str):
        if spark:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return _sql_string(value)
    raise Unsupported(f"group value {value!r} of type {type(value).__name__}")


def _value_spread(
    rows: Sequence[Sequence[Any]], entity: tuple[str, ...], examples: int
) -> seam.ValueSpread:
    """`seam.ValueSpread` from rows (0, -, -, entities, -, -) and (1, values, has null, entities,
    rows, examples)."""
    entities = next((int(r[3]) for r in rows if r[0] == 0), 0)
    combinations = []
    for _, values, has_null, count, held, shown in (r for r in rows if r[0] == 1):
        listed = tuple(values or ())
        examples_found = tuple(
            {"key": _entity_value(x["key"], entity), "rows": int(x["rows"])} for x in shown or ()
        )
        combinations.append(
            seam.SpreadCombination(
                values=((None,) if has_null else ()) + listed,
                entities=int(count),
                rows=int(held),
                examples=examples_found[:examples],
            )
        )
    combinations.sort(key=lambda c: (len(c.values), repr(c.values)))
    return seam.ValueSpread(entities, tuple(combinations))


def _entity_value(found: Any, entity: tuple[str, ...]) -> Any:
    return found if len(entity) == 1 else dict(found)


def _cutoff(rows: Sequence[Sequence[Any]], key: tuple[str, ...], examples: int) -> seam.Cutoff:
    """`seam.Cutoff` from rows (group, rows, values, unreadable, below, examples, cutoff)."""
    groups = {
        g: seam.CutoffGroup(
            rows=int(n),
            values=int(known),
            unreadable=int(bad),
            below=int(below),
            examples=tuple(_entity_value(k, key) for k in (shown or ()))[:examples],
        )
        for g, n, known, bad, below, shown, _ in rows
    }
    return seam.Cutoff(rows[0][-1] if rows else None, groups)


# ---- grouped_counts (perf)


class GroupedCountsDialect:
    """What differs between the engines' SQL for `grouped_counts`: identifier quoting, a row's
    position in scan order, integer division, and an instant column as whole Unix seconds."""

    def __init__(self, quote: Any, position: str, divide: str, seconds: Any) -> None:
        self.quote, self.position, self.divide, self.seconds = quote, position, divide, seconds

    def floor_div(self, a: str, b: int) -> str:
        """floor(a / b) for integers, b > 0, exact (no float); `%` keeps the dividend's sign
        on both engines, so the remainder is made non-negative first."""
        return f"(({a}) - ((({a}) % {b}) + {b}) % {b}) {self.divide} {b}"


def _time_relation(chunk: Chunking | None) -> tuple[str, ...]:
    return (chunk.time[0],) if chunk is not None and chunk.time is not None else ()


def _duck_seconds(column: str, kind: pa.DataType, dialect: GroupedCountsDialect) -> str:
    kind = logical_type(kind)
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        return dialect.floor_div(f"epoch_ns({column})", 1_000_000_000)
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return dialect.floor_div(f"epoch_us({column})", 1_000_000)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return dialect.floor_div(f"epoch_us(CAST({column} AS TIMESTAMP))", 1_000_000)
    raise Unsupported(f"chunks by time need a timestamp or date column, not {kind}")


# How DuckDB numbers rows, divides integers and counts seconds in `grouped_counts_sql`.
_DUCK_GROUPED = GroupedCountsDialect(quoted, "row_number() OVER ()", "//", _duck_seconds)


def grouped_counts_sql(
    dialect: GroupedCountsDialect,
    views: Mapping[str, str],
    schemas: Mapping[str, pa.Schema],
    base: str,
    key: tuple[str, ...],
    columns: tuple[tuple[str, str], ...],
    chunk: Chunking | None,
    shape: GroupShape | None = None,
    kept: str | None = None,
    duplicates: Mapping[str, str] | None = None,
) -> str:
    """SQL (DuckDB and Spark alike) for `grouped_counts`: `base` numbered (size chunks) and
    left-joined to every other relation's rows with a key unique and non-null on both sides;
    with `kept` (a WHERE clause over c0, c1, ..., or ""), those rows, not counted. A relation
    in `duplicates` names a table of its duplicated non-null keys (`duplicates_sql`): its keys
    are told unique by that small table instead of grouping every row again."""
    q = dialect.quote
    picked = [*columns, *([chunk.time] if chunk is not None and chunk.time else [])]
    others = sorted({r for r, _ in picked if r != base})
    if others and not key:
        raise Unsupported("columns of other relations need a key")
    alias = {base: "b", **{r: f"j{i}" for i, r in enumerate(others)}}
    present = " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
    keys = ", ".join(q(k) for k in key)
    base_cols = sorted({c for r, c in picked if r == base} | set(key if others else ()))
    numbered = (chunk is not None and chunk.size) or (shape is not None and shape.first)
    extra = [] if not numbered else [f"{dialect.position} - 1 AS pos__"]
    rows = (
        f"(SELECT {', '.join([*(q(c) for c in base_cols), *extra]) or '1 AS one__'} "
        f"FROM {views[base]})"
    )
    # Keys are told unique by a grouped count joined back, not a window over every row: a
    # hash aggregate costs DuckDB about a third less (measured on PERF001's 1M-row question).
    same = " AND ".join(f"v.{q(k)} = u.{q(k)}" for k in key)
    known = duplicates or {}
    if others and base in known:
        rows = f"(SELECT v.*, {_once_sql(known[base], key, q)} AS bn__ FROM {rows} v{_dup_join(known[base], same)})"
    elif others:
        counted = (
            f"SELECT {keys}, count(*) AS bn__ FROM {views[base]} WHERE {present} GROUP BY {keys}"
        )
        rows = f"(SELECT v.*, u.bn__ FROM {rows} v LEFT JOIN ({counted}) u ON {same})"
    sources = [f"{rows} b"]
    for r in others:
        wanted = sorted({c for rr, c in picked if rr == r} - set(key))
        cols = ", ".join(f"v.{q(c)}" for c in (*key, *wanted))
        on = " AND ".join(f"b.{q(k)} = {alias[r]}.{q(k)}" for k in key)
        if r in known:
            single = " AND ".join(f"v.{q(k)} IS NOT NULL" for k in key)
            looked = (
                f"SELECT {cols} FROM {views[r]} v{_dup_join(known[r], same)} "
                f"WHERE {single} AND u.{q(key[0])} IS NULL"
            )
        else:
            unique = (
                f"SELECT {keys} FROM {views[r]} WHERE {present} GROUP BY {keys} HAVING count(*) = 1"
            )
            looked = f"SELECT {cols} FROM {views[r]} v JOIN ({unique}) u ON {same}"
        sources.append(f"LEFT JOIN ({looked}) {alias[r]} ON {on} AND b.bn__ = 1")
    values = [f"{alias[r]}.{q(c)} AS c{i}" for i, (r, c) in enumerate(columns)]
    names = [f"c{i}" for i in range(len(columns))]
    if chunk is not None:
        values.insert(0, f"{_chunk_sql(dialect, chunk, alias, schemas)} AS chunk")
        names.insert(0, "chunk")
    if kept is not None:  # register_lookup: the rows themselves
        return f"SELECT * FROM (SELECT {', '.join(values)} FROM {' '.join(sources)}) s{kept}"
    if shape is not None:
        return _shaped_sql(values, names, " ".join(sources), shape)
    grouped = ", ".join(names)
    order = ", ".join(f"{n} NULLS LAST" for n in names)
    return (
        f"SELECT {grouped + ', ' if grouped else ''}count(*) AS n FROM "
        f"(SELECT {', '.join(values) or '1 AS one__'} FROM {' '.join(sources)}) s"
        + (f" GROUP BY {grouped} ORDER BY {order}" if grouped else "")
    )


def _chunk_sql(
    dialect: GroupedCountsDialect,
    chunk: Chunking,
    alias: Mapping[str, str],
    schemas: Mapping[str, pa.Schema],
) -> str:
    if chunk.size is not None:
        return f"pos__ {dialect.divide} {int(chunk.size)}"
    if chunk.time is None or chunk.width_s <= 0:
        raise Unsupported("a chunking needs a size or a time column and a width")
    relation, column = chunk.time
    seconds = dialect.seconds(
        f"{alias[relation]}.{dialect.quote(column)}",
        schemas[relation].field(column).type,
        dialect,
    )
    return dialect.floor_div(f"{seconds} - {int(chunk.origin_s)}", int(chunk.width_s))


def duplicates_sql(view: str, key: Sequence[str], quote: Callable[[str], str]) -> str:
    """The non-null keys of `view` found on more than one row (usually none: a small table)."""
    keys = ", ".join(quote(k) for k in key)
    present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in key)
    return f"SELECT {keys} FROM {view} WHERE {present} GROUP BY {keys} HAVING count(*) > 1"


def _dup_join(table: str, same: str) -> str:
    return f" LEFT JOIN {table} u ON {same}"


def _once_sql(table: str, key: Sequence[str], q: Callable[[str], str]) -> str:
    """A base row's key count as `grouped_counts_sql` tests it (1: its key is non-null and on
    no other row; null: a null key; 2: duplicated) from the table of duplicated keys."""
    null = " OR ".join(f"v.{q(k)} IS NULL" for k in key)
    return f"CASE WHEN {null} THEN NULL WHEN u.{q(key[0])} IS NOT NULL THEN 2 ELSE 1 END"


# ---- grouped_counts shapes (perf7)

# Duplicated keys a relation may have for `DuckDBEngine._duplicates` to keep them in a table.
_MAX_DUPLICATES = 100_000

# A curve's terms are summed as two integers of 26 bits each: exact in a BIGINT on both engines.
_HALF = 26


def _shaped_sql(values: list[str], names: list[str], sources: str, shape: GroupShape) -> str:
    """`grouped_counts_sql`'s grouping of the looked-up rows with bins, curves, grouping sets
    and first rows (`GroupShape`): values read (as doubles where binned or curved), then bins
    and curve values, then the curves' integer parts, then grouped."""
    numeric = {*shape.bins, *shape.curves}
    raw = [
        f"CAST({n} AS DOUBLE) AS x{_position(n)}" if _position(n) in numeric else n for n in names
    ]
    mapped = [
        f"{_bin_sql(f'x{i}', list(shape.bins[i]))} AS c{i}"
        if (i := _position(n)) in shape.bins
        else n
        for n in names
        if _position(n) not in shape.curves
    ]
    mapped += [f"{_curve_sql(f'x{i}', c)} AS f{i}" for i, c in sorted(shape.curves.items())]
    parts = [n for n in names if _position(n) not in shape.curves]
    for i, c in sorted(shape.curves.items()):
        parts += _parts_sql(f"f{i}", f"f{i}", _scale(c.fp, 1))
        parts += _parts_sql(f"f{i} * f{i}", f"g{i}", _scale(c.fp, 2))
    extra = ", pos__" if shape.first else ""
    # The kept rows are told apart first: the engine bins and groups only those.
    rows = f"(SELECT {', '.join(values)}{extra} FROM {sources}) r"
    rows += kept_sql(shape.finite, shape.equal)
    layers = (
        f"(SELECT {', '.join(parts)}{extra} FROM (SELECT {', '.join(mapped)}{extra} FROM "
        f"(SELECT {', '.join(raw)}{extra} FROM {rows}) s0) s1) s"
    )
    return _shaped_grouping(layers, names, shape)


def _shaped_grouping(layers: str, names: list[str], shape: GroupShape) -> str:
    """The grouping of `_shaped_sql`'s rows: counts, first rows and the curves' integer sums
    per group, over grouping sets when columns are grouped one at a time."""
    grouped = [n for n in names if _position(n) not in shape.curves]
    sums = [
        f"CAST(coalesce(sum({p}{i}), 0) AS BIGINT) AS {p}{i}"
        for i in sorted(shape.curves)
        for p in ("fh", "fl", "gh", "gl")
    ]
    aggregates = ["count(*) AS n", *(["min(pos__) AS first"] if shape.first else []), *sums]
    alone = [f"c{i}" for i in shape.alone]
    common = [n for n in grouped if n not in alone]
    if alone:
        sets = ", ".join(f"({', '.join([*common, a])})" for a in alone)
        part = " ".join(f"WHEN grouping({a}) = 0 THEN {j}" for j, a in enumerate(alone))
        selected = [f"CASE {part} END AS part", *grouped, *aggregates]
        by, order = f" GROUP BY GROUPING SETS ({sets})", ["part", *grouped]
    else:
        selected = [*grouped, *aggregates]
        by, order = (f" GROUP BY {', '.join(grouped)}" if grouped else ""), grouped
    ordered = f" ORDER BY {', '.join(f'{n} NULLS LAST' for n in order)}" if order else ""
    return f"SELECT {', '.join(selected)} FROM {layers}{by}{ordered}"


def _position(name: str) -> int:
    """The column position of an answer name `c{i}` (-1 for `chunk`)."""
    return int(name[1:]) if name.startswith("c") and name[1:].isdigit() else -1


def _tree(x: str, edges: list[float], lo: int, hi: int, leaf: Callable[[int], str]) -> str:
    """SQL for leaf(the number of `edges` at or below `x`), known to be in [lo, hi]: a binary
    search of CASEs, log2(len(edges)) comparisons a row."""
    if lo == hi:
        return leaf(lo)
    mid = (lo + hi) // 2
    above, below = _tree(x, edges, mid + 1, hi, leaf), _tree(x, edges, lo, mid, leaf)
    return f"CASE WHEN {x} >= {literal(edges[mid])} THEN {above} ELSE {below} END"


_INFINITY = "CAST('Infinity' AS DOUBLE)"


def _bin_sql(x: str, edges: list[float]) -> str:
    search = _tree(x, edges, 0, len(edges), str)
    return (
        f"CAST(CASE WHEN {x} IS NULL OR isnan({x}) THEN NULL WHEN {x} = {_INFINITY} THEN "
        f"{len(edges) + 1} WHEN {x} = -{_INFINITY} THEN -1 ELSE {search} END AS BIGINT)"
    )


def _curve_sql(x: str, curve: Curve) -> str:
    """Curve(x) as numpy's interp computes it (slope * (x - xp[j]) + fp[j]); null unless x is
    finite."""
    xp, fp = curve.xp, curve.fp

    def leaf(c: int) -> str:
        if c == 0 or c == len(xp) or fp[c - 1] == fp[c]:
            return literal(fp[min(max(c - 1, 0), len(fp) - 1)])
        slope = (fp[c] - fp[c - 1]) / (xp[c] - xp[c - 1])
        return f"({literal(slope)} * ({x} - {literal(xp[c - 1])}) + {literal(fp[c - 1])})"

    return f"CASE WHEN abs({x}) < {_INFINITY} THEN {_tree(x, list(xp), 0, len(xp), leaf)} END"


def _scale(fp: Sequence[float], power: int) -> int:
    """k with |fp|**power * 2**k below 2**52: terms are summed as integers at 2**-k."""
    largest = max((abs(v) ** power for v in fp), default=0.0)
    return 52 - (math.frexp(largest)[1] if largest > 0 else 0)


def _parts_sql(term: str, name: str, k: int) -> list[str]:
    """A term t as two integers: t * 2**k ~ {name}h * 2**26 + {name}l (the low part rounded)."""
    scaled = f"({term}) * {literal(2.0 ** (k - _HALF))}"
    return [
        f"CAST(floor({scaled}) AS BIGINT) AS {name[0]}h{name[1:]}",
        f"CAST(round(({scaled} - floor({scaled})) * {literal(2.0**_HALF)}) AS BIGINT) "
        f"AS {name[0]}l{name[1:]}",
    ]


def lookup_sql(
    dialect: GroupedCountsDialect,
    view: Callable[[str], str],
    schema: Callable[[str], pa.Schema],
    base: str,
    key: Sequence[str],
    columns: Sequence[tuple[str, str]],
    finite: Sequence[int] = (),
    equal: Mapping[int, str] | None = None,
    duplicates: Mapping[str, str] | None = None,
) -> str:
    """`register_lookup`'s SQL (DuckDB and Spark alike): `grouped_counts_sql`'s looked-up rows
    of `base`, ungrouped, filtered by `kept_sql`."""
    relations = {base, *(r for r, _ in columns)}
    return grouped_counts_sql(
        dialect,
        {n: view(n) for n in relations},
        {n: schema(n) for n in relations},
        base,
        tuple(key),
        tuple(columns),
        None,
        kept=kept_sql(finite, equal or {}),
        duplicates=duplicates,
    )


def kept_sql(finite: Sequence[int], equal: Mapping[int, str]) -> str:
    """`register_lookup`'s WHERE clause: finite numbers and text equal to a value."""
    tests = [f"abs(CAST(c{i} AS DOUBLE)) < {_INFINITY}" for i in finite]
    tests += [
        f"CAST(c{i} AS STRING) = '{v.replace(chr(39), chr(39) * 2)}'" for i, v in equal.items()
    ]
    return f" WHERE {' AND '.join(tests)}" if tests else ""


def shaped_answer(table: pa.Table, shape: GroupShape | None) -> pa.Table:
    """`grouped_counts`' answer from the engine's rows: a curve's integer parts added up into
    `f{i}` and `ff{i}` (one rounding, the same on every engine)."""
    if shape is None or not shape.curves:
        return table
    for i, curve in sorted(shape.curves.items()):
        for part, out, power in (("f", f"f{i}", 1), ("g", f"ff{i}", 2)):
            high = np.asarray(table.column(f"{part}h{i}").to_numpy(), dtype=np.float64)
            low = np.asarray(table.column(f"{part}l{i}").to_numpy(), dtype=np.float64)
            total = (high * 2.0**_HALF + low) * 2.0 ** -_scale(curve.fp, power)
            table = table.drop_columns([f"{part}h{i}", f"{part}l{i}"]).append_column(
                out, pa.array(total, pa.float64())
            )
    return table


# ---- presence (s6)

# Text counts as a time only when it starts like an ISO-8601 date (not "now", "today", "epoch").
ISO_DATE = "^[ \t]*[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A time of day followed by a UTC offset (or Z): the text is an instant, not a wall time.
UTC_OFFSET = (
    "[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?[ ]*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)[ ]*$"
)


@dataclass(frozen=True)
class PresenceDialect:
    """What `presence` writes differently per engine."""

    quote: Callable[[str], str]
    ticks: Callable[[str, pa.DataType], str]  # a time column -> microseconds since the epoch
    text: str  # the text type
    matches: str  # a regular expression test of {x} against '{p}'
    zero: str  # a float zero: min/max + zero turns -0.0 into 0.0
    batch: int  # columns per unpivot query
    # rows (t__, name__: the position of the value in l__, value__) of the lists l__ of {source}
    explode: str
    list_of: str  # a list of the {values}


def _duck_ticks(column: str, dtype: pa.DataType) -> str:
    """A time column as microseconds since the epoch (see TimeAxis): ISO-8601 text read as
    TIMESTAMPTZ, which applies an offset and reads naive text in the session's UTC."""
    kind = time_class(dtype)
    if kind == "text":
        text = f"CAST({column} AS VARCHAR)"
        iso = f"CASE WHEN regexp_matches({text}, '{ISO_DATE}') THEN {text} END"
        return f"epoch_us(TRY_CAST({iso} AS TIMESTAMPTZ))"
    if kind == "ns":
        return f"(epoch_ns({column}) // 1000)"  # // truncates toward zero, as Arrow's cast does
    if kind == "instant":
        zoned = pa.types.is_timestamp(dtype) and dtype.tz is not None
        return f"epoch_us(CAST({column} AS {'TIMESTAMPTZ' if zoned else 'TIMESTAMP'}))"
    raise Unsupported(f"{dtype} holds no times")


DUCK = PresenceDialect(
    quote=quoted,
    ticks=_duck_ticks,
    text="VARCHAR",
    matches="regexp_matches({x}, '{p}')",
    zero="0",
    batch=10_000,
    explode="SELECT t__, unnest(range(len(l__))) AS name__, unnest(l__) AS value__ FROM {source}",
    list_of="[{values}]",
)


def presence_answer(
    rows: Callable[[str], list[tuple[Any, ...]]],
    view: str,
    schema: pa.Schema,
    columns: Sequence[str],
    time: str | None,
    dialect: PresenceDialect,
) -> Presence:
    """`presence` in SQL that DuckDB and Spark both take: one query for the row count and the
    time axis, then per type of column one query over the columns unpivoted to (name, value)
    rows (a grouped scan stays fast on wide tables, where one aggregate per column does not)."""
    ticks = dialect.ticks(dialect.quote(time), schema.field(time).type) if time else None
    count, axis = _presence_axis(rows, view, schema, time, ticks, dialect)
    found: dict[str, ColumnPresence] = {}
    for sql, names, wide in _presence_queries(view, schema, list(columns), ticks, count, dialect):
        answer = rows(sql)
        if wide:  # one row, five values per column
            answer = [(i, *answer[0][5 * i : 5 * i + 5]) for i in range(len(names))]
        for tag, nulls, nans, low, high, last in answer:
            found[names[int(tag)]] = ColumnPresence(
                int(nulls), int(nans), low, high, None if last is None else int(last)
            )
    # No rows: an unpivot has no groups, and no column has a null.
    return Presence(count, {c: found.get(c, ColumnPresence(0, 0)) for c in columns}, axis)


def _presence_axis(
    rows: Callable[[str], list[tuple[Any, ...]]],
    view: str,
    schema: pa.Schema,
    time: str | None,
    ticks: str | None,
    dialect: PresenceDialect,
) -> tuple[int, TimeAxis | None]:
    if time is None or ticks is None:
        return int(rows(f"SELECT count(*) FROM {view}")[0][0]), None
    q = dialect.quote
    if time_class(schema.field(time).type) == "text":
        offset = dialect.matches.format(x="s__", p=UTC_OFFSET)
        text = (
            "count(s__) - count(t__), min(CASE WHEN t__ IS NULL THEN s__ END), "
            f"count(CASE WHEN t__ IS NOT NULL AND {offset} THEN 1 END)"
        )
        source = f"SELECT CAST({q(time)} AS {dialect.text}) AS s__, {ticks} AS t__ FROM {view}"
    else:
        text, source = "0, NULL, 0", f"SELECT {ticks} AS t__ FROM {view}"
    n, times, first, last, unreadable, example, offsets = rows(
        f"SELECT count(*), count(t__), min(t__), max(t__), {text} FROM ({source}) src__"
    )[0]
    axis = TimeAxis(
        int(times),
        None if first is None else int(first),
        None if last is None else int(last),
        int(unreadable),
        example,
        int(offsets),
    )
    return int(n), axis


def _presence_queries(
    view: str,
    schema: pa.Schema,
    columns: list[str],
    ticks: str | None,
    rows: int,
    dialect: PresenceDialect,
) -> Iterator[tuple[str, list[str], bool]]:
    """(SQL, the columns its tags v0, v1, ... name, whether it answers in one wide row) per
    batch of columns of one type; columns without an order (lists, records, ...) in plain
    queries. Long tables are scanned once per batch with aggregates side by side; short ones
    unpivoted to (name, value) rows and grouped, because each aggregate costs DuckDB
    milliseconds to plan (20 rows x 5,000 columns: a minute side by side, a second unpivoted)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in columns:
        t = schema.field(c).type
        groups.setdefault((presence_class(t), str(t)), []).append(c)
    wide = rows >= WIDE_ROWS
    size = WIDE_BATCH if wide else dialect.batch
    for (kind, _), names in groups.items():
        for start in range(0, len(names), size):
            batch = names[start : start + size]
            if kind == "other":
                yield _unordered_sql(view, batch, ticks, dialect), batch, False
            else:
                sql = _wide_sql if wide else _unpivot_sql
                yield sql(view, batch, ticks, kind == "float", dialect), batch, wide


# Rows from which a table is scanned with aggregates side by side (see _presence_queries),
# and the columns per such scan.
WIDE_ROWS = 50_000
WIDE_BATCH = 64


def _presence_aggregates(v: str, floats: bool, ticks: str | None, dialect: PresenceDialect) -> str:
    """Nulls, NaNs, least and greatest present value, latest time present of the value `v`."""
    # isnan(NULL) is NULL in DuckDB but false in Spark: test for null first
    present = f"{v} IS NOT NULL" + (f" AND NOT isnan({v})" if floats else "")
    nans = f"count(CASE WHEN isnan({v}) THEN 1 END)" if floats else "0"
    value = f"CASE WHEN {present} THEN {v} END" if floats else v  # min and max skip nulls
    zero = f" + {dialect.zero}" if floats else ""
    last = f"max(CASE WHEN {present} THEN t__ END)" if ticks else "CAST(NULL AS BIGINT)"
    return f"count(*) - count({v}), {nans}, min({value}){zero}, max({value}){zero}, {last}"


def _picked(view: str, names: list[str], ticks: str | None, dialect: PresenceDialect) -> str:
    picked = ", ".join(f"{dialect.quote(c)} AS v{i}" for i, c in enumerate(names))
    return f"(SELECT {ticks or 'NULL'} AS t__, {picked} FROM {view}) src__"


def _unpivoted(view: str, names: list[str], ticks: str | None, dialect: PresenceDialect) -> str:
    """A FROM clause of (t__, name__, value__) rows, name__ the position of the column in
    `names`: the columns go into one list per row and out again, which costs DuckDB half what
    its UNPIVOT does on thousands of columns."""
    values = ", ".join(dialect.quote(c) for c in names)
    source = f"(SELECT {ticks or 'NULL'} AS t__, {dialect.list_of.format(values=values)} AS l__ FROM {view}) s__"
    return f"({dialect.explode.format(source=source)}) src__"


def _unpivot_sql(
    view: str, names: list[str], ticks: str | None, floats: bool, dialect: PresenceDialect
) -> str:
    return (
        f"SELECT name__, {_presence_aggregates('value__', floats, ticks, dialect)} "
        f"FROM {_unpivoted(view, names, ticks, dialect)} GROUP BY name__"
    )


def _wide_sql(
    view: str, names: list[str], ticks: str | None, floats: bool, dialect: PresenceDialect
) -> str:
    parts = ", ".join(
        _presence_aggregates(f"v{i}", floats, ticks, dialect) for i in range(len(names))
    )
    return f"SELECT {parts} FROM {_picked(view, names, ticks, dialect)}"


def _unordered_sql(view: str, names: list[str], ticks: str | None, dialect: PresenceDialect) -> str:
    q = dialect.quote
    parts = []
    for i, c in enumerate(names):
        last = f"max(CASE WHEN {q(c)} IS NOT NULL THEN t__ END)" if ticks else "NULL"
        parts.append(
            f"SELECT {i} AS name__, count(*) - count({q(c)}), 0, NULL, NULL, "
            f"CAST({last} AS BIGINT) FROM (SELECT {ticks or 'NULL'} AS t__, {q(c)} FROM {view}) src__"
        )
    return " UNION ALL ".join(parts)


def _duck_parameter(value: Any) -> str:
    """A parameter typed by its Python value, so a column compares with it as with a literal."""
    if isinstance(value, bool):
        return "CAST(? AS BOOLEAN)"
    if isinstance(value, int):
        return "CAST(? AS HUGEINT)"
    if isinstance(value, float | Decimal):
        return "CAST(? AS DOUBLE)"
    if isinstance(value, datetime):
        return f"CAST(? AS {'TIMESTAMPTZ' if value.tzinfo else 'TIMESTAMP'})"
    if isinstance(value, date):
        return "CAST(? AS DATE)"
    if isinstance(value, bytes):
        return "CAST(? AS BLOB)"
    return "CAST(? AS VARCHAR)"


def value_counts_answer(
    rows: Callable[[str], list[tuple[Any, ...]]],
    view: str,
    schema: pa.Schema,
    columns: Sequence[str],
    dialect: PresenceDialect,
) -> dict[str, tuple[tuple[Any, int], ...]]:
    """Value counts per column (DuckDB and Spark SQL alike): one grouped query per column of a
    long table; short tables unpivoted, one query per type of column and batch (a query on a
    table of thousands of columns costs tens of milliseconds before it reads a row)."""
    found: dict[str, list[tuple[Any, int]]] = {c: [] for c in columns}
    long = int(rows(f"SELECT count(*) FROM {view}")[0][0]) >= WIDE_ROWS
    groups: dict[tuple[str, str], list[str]] = {}
    for c in columns:
        t = schema.field(c).type
        groups.setdefault((presence_class(t), str(t)), []).append(c)
    for (kind, _), names in groups.items():
        if long or kind == "other":
            for c in names:
                picked = f"(SELECT {dialect.quote(c)} AS value__ FROM {view}) src__"
                sql = f"SELECT 0, value__, count(*) AS n__ FROM {picked} WHERE value__ IS NOT NULL"
                _add_counts(found, [c], rows(f"{sql} GROUP BY value__ ORDER BY n__ DESC, value__"))
            continue
        for start in range(0, len(names), dialect.batch):
            batch = names[start : start + dialect.batch]
            _add_counts(
                found,
                batch,
                rows(
                    f"SELECT name__, value__, count(*) AS n__ FROM "
                    f"{_unpivoted(view, batch, None, dialect)} WHERE value__ IS NOT NULL "
                    "GROUP BY name__, value__ ORDER BY name__, n__ DESC, value__"
                ),
            )
    return {c: tuple(v) for c, v in found.items()}


def _add_counts(
    found: dict[str, list[tuple[Any, int]]], names: list[str], answer: list[tuple[Any, ...]]
) -> None:
    for tag, value, n in answer:
        found[names[int(tag)]].append((value, int(n)))


def _unique_rows(view: str, key: Sequence[str], columns: Sequence[str], first: int) -> str:
    """The keys of `view` non-null and on one row, with that row's `columns` as v{first}__..."""
    cols = ", ".join(quoted(k) for k in key)
    present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
    values = "".join(f", first({quoted(c)}) AS v{first + i}__" for i, c in enumerate(columns))
    return f"SELECT {cols}{values} FROM {view} WHERE {present} GROUP BY {cols} HAVING count(*) = 1"


# ---- cell_causes, finite_ranges, round_trip_changes (s2)

_PAIR_TABLES = itertools.count()
_CAUSES_DIALECT = causes.Dialect(
    quoted,
    literal,
    _comparable,
    DuckDBEngine._cell_state,
    null_safe=True,
    unpivot=(
        "SELECT {keys}, unnest(range(len(l__))) AS mlc_i, unnest(l__) AS mlc_v "
        "FROM (SELECT {keys}, [{values}] AS l__ FROM {source}) AS u__"
    ),
)


# ---- identifiers (fixes)


def _nameable(table: pa.Table) -> pa.Table:
    """`table` with its columns under their identifiers (see `identifier`)."""
    if "" in table.column_names and EMPTY_NAME in table.column_names:
        raise Unsupported(f"a table holding both an empty column name and {EMPTY_NAME!r}")
    _require_distinct_names(table.column_names)
    names = [identifier(c) for c in table.column_names]
    return table if names == table.column_names else table.rename_columns(names)


def _named(table: pa.Table) -> pa.Table:
    """An answer's columns under the names the caller asked about (identifiers decoded)."""
    names = [_decoded(c) for c in table.column_names]
    return table if names == table.column_names else table.rename_columns(names)


_EMPTY_IN_PARQUET = "DuckDB renames an empty column name read from parquet (C<position>)"


def _parquet_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _require_distinct_names(names: Sequence[str]) -> None:
    """DuckDB matches identifiers ignoring ASCII case, even quoted: names are registered under
    identifiers that keep `income` and `INCOME` apart (`identifier`). Only a name spelled like
    another's identifier (`income (mlcheck case 3f)` beside `INCOME`) still clashes:
    Unsupported (the caller falls back)."""
    folded = [identifier(name).translate(_ASCII_LOWER) for name in names]  # columns, not rows
    if len(set(folded)) < len(folded):
        clashing = sorted(n for n, f in zip(names, folded, strict=True) if folded.count(f) > 1)
        raise Unsupported(f"DuckDB cannot tell apart columns differing in case: {clashing}")


# ---- names differing only in case (spark6)

# DuckDB binds identifiers ignoring ASCII case, even quoted. A name with ASCII capitals is
# registered and asked about as `<name> (mlcheck case <mask>)`: the mask (hexadecimal, bit i
# for a capital at position i) is in lower case, so `Age` and `AGE` fold to different
# identifiers, and `age` (no capitals) stays itself. Answers decode the suffix (`_named`).
_CASE_SUFFIX = re.compile(r"(.*) \(mlcheck case [0-9a-f]+\)", re.DOTALL)


def identifier(name: str) -> str:
    """The identifier DuckDB knows a column by: the empty name's stand-in, a name with ASCII
    capitals with its case mask appended, any other name itself."""
    if not name:
        return EMPTY_NAME
    mask = sum(1 << i for i, ch in enumerate(name) if "A" <= ch <= "Z")  # characters of a name
    return f"{name} (mlcheck case {mask:x})" if mask else name


def _decoded(column: str) -> str:
    """The column name an identifier stands for (see `identifier`)."""
    if column == EMPTY_NAME:
        return ""
    found = _CASE_SUFFIX.fullmatch(column)
    return found.group(1) if found and identifier(found.group(1)) == column else column


def _plain_quoted(name: str) -> str:
    """`name` itself as a quoted identifier (as DuckDB's own scan names a column)."""
    return '"' + name.replace('"', '""') + '"'


def _renamed(name: str) -> str:
    """A select item giving a scanned column under its identifier."""
    return f"{_plain_quoted(name)} AS {quoted(name)}"


def _scanned_names(names: Sequence[str], found: pa.Schema) -> list[str]:
    """The file's column names, when DuckDB's scan kept them (it renames the second of two
    names differing only in case, `INCOME` to `INCOME_1`: Unsupported, the caller falls back)."""
    if list(found.names) != list(names):
        raise Unsupported("DuckDB's parquet scan renames columns of this file")
    return list(names)
