"""Spark behind the aggregate seam: Spark SQL over files Spark reads itself or Arrow tables.

The answers are the DuckDB engine's, digit for digit: counts and extremes are exact, float sums
are exact sums rounded once (`mlcheck.engines.exact`: fixed-point integer parts summed exactly
as BIGINT pieces, so partitioning never changes a digit), examples are the first by key, and
quantiles are exact elements of the sorted values (a window over each group, spilled like any
Spark sort): nothing is approximated, at any size.

Spark holds timestamps in microseconds: nanosecond columns are not compared here (the caller
answers them elsewhere). The session's time zone is set to UTC so that timestamps without a
zone keep their wall-clock ticks.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlcheck.compare import ColumnStats, Kind, RowDifference, _tick_ns, logical_type, type_family
from mlcheck.engines import base as seam
from mlcheck.engines import causes, sorting
from mlcheck.engines import duck as duck_sql
from mlcheck.engines.base import (
    Chunking,  # grouped_counts (perf)
    ColumnDifference,
    EngineSettings,
    GroupShape,  # grouped_counts (perf7)
    KeyComparison,
    KeyCounts,
    ParquetPart,
    ParquetSource,
    Presence,
    Settle,  # key_comparison (stage18)
    SortedValues,  # sorted_values_many (sort6)
    Tolerance,
    Unsupported,
    time_class,
)
from mlcheck.engines.causes import CauseRule, CellCauses, FiniteRange
from mlcheck.engines.duck import (
    ISO_DATE,
    GroupedCountsDialect,
    PresenceDialect,
    _difference,
    _join_sql,
    _numeric,
    _stats,
    _time_relation,
    grouped_counts_sql,
    lookup_sql,  # register_lookup (perf7)
    presence_answer,
    shaped_answer,  # grouped_counts (perf7)
    value_counts_answer,
)
from mlcheck.engines.exact import Dialect, fixed_moments
from mlcheck.sources import TextLayout

INSTALL_HINT = "pip install 'mlcheck[spark]'"
_INF = "CAST('Infinity' AS DOUBLE)"
_ENGINES = itertools.count()


def quoted(name: str) -> str:
    """A Spark SQL identifier for any column name (backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: float) -> str:
    """A double literal that parses back to exactly `value` (bare 0.1 would be a DECIMAL)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def new_session(
    settings: EngineSettings, master: str | None = None, conf: Mapping[str, str] | None = None
) -> Any:
    """A SparkSession: Spark Connect when `SPARK_REMOTE` is set, else `master` (default
    `local[threads]`, every core without `threads`)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise Unsupported(f"the spark engine needs pyspark: {INSTALL_HINT}") from exc
    builder = SparkSession.builder.appName("mlcheck")
    if os.environ.get("SPARK_REMOTE") and not master:
        _refuse_missing_connect()
        builder = builder.remote(os.environ["SPARK_REMOTE"])
    else:
        builder = builder.master(master or f"local[{settings.threads or '*'}]")
        if (master or "local").startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
            # Local workers (mapInArrow) run this interpreter, which has pyarrow and numpy,
            # not whichever `python3` comes first on PATH.
            builder = builder.config("spark.pyspark.python", sys.executable)
        builder = builder.config("spark.ui.enabled", "false")
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        if (master or "local").startswith("local"):
            builder = builder.config("spark.driver.memory", driver_memory(settings, conf))
        if settings.temp_directory:
            builder = builder.config("spark.local.dir", settings.temp_directory)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not os.environ.get("SPARK_REMOTE") or master:
        _local_defaults(session, master or f"local[{settings.threads or '*'}]")
    return session


def _refuse_missing_connect() -> None:
    """Spark Connect (SPARK_REMOTE) needs grpc and protobuf beside pyspark; without them
    pyspark's client module ends the process with status 0, so they are looked for first."""
    import importlib.util

    for module in ("grpc", "grpc_status", "google.protobuf"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a missing parent package (google)
            found = False
        if not found:
            raise Unsupported(
                f"SPARK_REMOTE is set, and Spark Connect needs {module}, which is not "
                "installed: pip install 'pyspark[connect]'"
            )


class SparkEngine:
    name = "spark"
    reads_text = True  # local csv/jsonl arrive as a TextLayout (see `_read_text`)

    def __init__(
        self,
        settings: EngineSettings | None = None,
        session: Any = None,
        master: str | None = None,
        conf: Mapping[str, str] | None = None,
    ) -> None:
        settings = settings or EngineSettings("spark")
        self._owned = session is None
        self._session = session or new_session(settings, master, conf)
        self._threads = threading.local()  # threads this engine made the session active in
        # Timestamps without a zone are cast to TIMESTAMP for their ticks: UTC keeps the digits.
        self._spark.conf.set("spark.sql.session.timeZone", "UTC")
        # `income` and `INCOME` are two columns of a table (Spark would call them ambiguous, or
        # refuse the parquet file); every question names its columns exactly as the table does.
        self._spark.conf.set("spark.sql.caseSensitive", "true")
        self._prefix = f"mlcheck_{os.getpid()}_{next(_ENGINES)}"
        self._views: dict[str, str] = {}
        self._numbers = itertools.count()  # view names are never reused, even after unregister
        self._schemas: dict[str, pa.Schema] = {}

    @property
    def _spark(self) -> Any:
        """The session, made the active one of the asking thread first: Spark resolves a
        DataFrame's column names (`mapInArrow`, `selectExpr`) under the conf of the thread's
        active session, and a thread of `parallel_map` has none (it would resolve `age` and
        `AGE` ignoring case: ambiguous)."""
        if not getattr(self._threads, "active", False):
            _make_active(self._session)
            self._threads.active = True
        return self._session

    def close(self) -> None:
        """Drop the engine's views; stop the session if the engine started it."""
        for view in self._views.values():
            self._spark.catalog.dropTempView(view)
        self._views.clear()
        if self._owned:
            self._spark.stop()

    # ---- relations

    def register(self, name: str, source: pa.Table | Path | ParquetSource | TextLayout) -> None:
        """An Arrow table, a `ParquetSource` or `TextLayout` Spark reads itself with the
        reader's types, or a path Spark reads itself: parquet (a file or folder), csv (header
        row, types inferred), json lines."""
        if isinstance(source, pa.Table):
            frame = _without_zone(self._spark.createDataFrame(_spark_ready(source)), source.schema)
            self._schemas[name] = source.schema
        elif isinstance(source, ParquetSource):
            frame = self._read_parquet(source)
            self._schemas[name] = source.schema
        elif isinstance(source, TextLayout):
            frame = self._read_text(source)
            self._schemas[name] = source.schema
        else:
            frame = self._read(str(source))
        view = f"{self._prefix}_{next(self._numbers)}"
        frame.createOrReplaceTempView(view)
        self._views[name] = view

    def unregister(self, name: str) -> None:
        self._spark.catalog.dropTempView(self._views.pop(name))
        self._schemas.pop(name, None)

    def _read_parquet(self, source: ParquetSource) -> Any:
        """Every part read by Spark (hive partition values as text, cast to the reader's
        types), its columns cast where Spark holds the same values under another type."""
        from pyspark.sql.pandas.types import to_arrow_schema

        frames = []
        for part in source.parts:
            frame = self._parquet_part(part)
            found = to_arrow_schema(frame.schema, timezone="UTC")
            items = [_parquet_column(f, found, source.label_column, part) for f in source.schema]
            frames.append(frame.selectExpr(*items))
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.union(other)
        got = to_arrow_schema(frame.schema, timezone="UTC")
        if not all(_same_values(e.type, g.type) for e, g in zip(source.schema, got, strict=True)):
            raise Unsupported("Spark reads this parquet source under other types")
        return frame

    def _parquet_part(self, part: ParquetPart) -> Any:
        inference = "spark.sql.sources.partitionColumnTypeInference.enabled"
        before = self._spark.conf.get(inference)
        reader = self._spark.read
        if part.folder is not None:
            reader = reader.option("basePath", str(part.folder)).option("mergeSchema", "true")
        try:
            self._spark.conf.set(inference, "false")  # partition values as text, like pyarrow's
            return reader.parquet(*(str(f) for f in part.files))
        except Exception as exc:  # e.g. nanosecond timestamps: Spark refuses the file
            raise Unsupported(f"Spark cannot read {part.files[0]}: {exc}") from None
        finally:
            self._spark.conf.set(inference, before)

    def _read_text(self, layout: TextLayout) -> Any:
        """Spark reads the file's lines (split across tasks) and pyarrow's reader converts each
        batch of them under the layout's types, so every value is the reader's; the result is
        persisted (converted once) and counted here, so a line that does not convert (the
        reader of the whole file would widen the type) raises Unsupported now, not mid-check."""
        from pyspark.sql import functions as F

        types = [_text_type(f) for f in layout.schema]
        ddl = ", ".join(f"{quoted(f.name)} {t}" for f, t in zip(layout.schema, types, strict=True))
        lines = self._spark.read.text(str(layout.path)).select(
            "value", F.input_file_name().alias("f"), F.input_file_block_start().alias("s")
        )
        frame = lines.mapInArrow(_text_converter(layout), ddl).persist()
        try:
            frame.count()
        except Exception as exc:  # Spark wraps the worker's conversion error
            frame.unpersist()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unsupported(
                f"Spark cannot read {layout.path} under the reader's types: {first}"
            ) from None
        return frame

    def _read(self, path: str) -> Any:
        reader = self._spark.read
        suffix = path.rsplit(".", 1)[-1].lower() if "." in Path(path).name else ""
        if suffix == "csv":
            return _wide_integers(reader.csv(path, header=True, inferSchema=True))
        if suffix in ("jsonl", "json", "ndjson"):
            return _wide_integers(reader.json(path))
        return reader.parquet(path)

    def register_join(
        self,
        name: str,
        left: str,
        right: str,
        key: Sequence[str],
        columns: Sequence[str] | None = None,
    ) -> None:
        """`left` and `right` matched on `key` (non-null, unique on both sides), cached; with
        `columns`, only the key and those columns."""
        sql = _join_sql(
            self._view(left),
            self._view(right),
            tuple(key),
            self.schema(left),
            self.schema(right),
            quote=quoted,
            columns=columns,
        )
        view = f"{self._prefix}_{next(self._numbers)}"
        self._spark.sql(sql).cache().createOrReplaceTempView(view)
        self._views[name] = view

    def _view(self, name: str) -> str:
        if name not in self._views:
            raise KeyError(f"{name} is not registered")
        return self._views[name]

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        """A small answer as Python values (through Arrow: timestamps keep their zone)."""
        frame = self._spark.sql(sql)
        if hasattr(frame, "toArrow"):
            table = frame.toArrow()
            columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
            return list(zip(*columns, strict=True)) if columns else []
        return [tuple(row) for row in frame.collect()]

    def schema(self, name: str) -> pa.Schema:
        if name not in self._schemas:
            from pyspark.sql.pandas.types import to_arrow_schema

            frame = self._spark.table(self._view(name))
            self._schemas[name] = to_arrow_schema(frame.schema, timezone="UTC")
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
        settle: Settle | None = None,  # not used: every asked column is compared
    ) -> KeyComparison:
        key = tuple(key)
        for column in key:
            types = [logical_type(self.schema(n).field(column).type) for n in (left, right)]
            if not types[0].equals(types[1]):
                raise Unsupported(f"key column {column!r} typed differently per side")
        units = {c: self._unit(left, right, c) for c, k in columns.items() if k == "temporal"}
        lv, rv = self._view(left), self._view(right)
        counts = self._key_counts(lv, rv, key, examples)
        sides = (counts["left"], counts["right"])
        clean = not any(side.null_rows or side.duplicate_rows for side in sides)
        differences = self._column_differences(
            lv, rv, key, columns, units, tolerance, examples, clean
        )
        return KeyComparison(key=key, columns=differences, **counts)

    def _key_counts(self, lv: str, rv: str, key: tuple[str, ...], examples: int) -> dict[str, Any]:
        cols = ", ".join(quoted(k) for k in key)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
        joined = self._spark.sql(
            f"SELECT * FROM (SELECT {cols}, count(*) AS ln FROM {lv} WHERE {present} GROUP BY "
            f"{cols}) FULL OUTER JOIN (SELECT {cols}, count(*) AS rn FROM {rv} WHERE {present} "
            f"GROUP BY {cols}) USING ({cols})"
        ).persist()  # read by the counts and by up to four example queries
        view = f"{self._prefix}_keys"
        joined.createOrReplaceTempView(view)
        try:
            (lost, lost_keys, extra, extra_keys, ldr, ldk, rdr, rdk, matched) = self._rows(
                f"""SELECT
                  COALESCE(sum(ln) FILTER (WHERE rn IS NULL), 0), count_if(rn IS NULL),
                  COALESCE(sum(rn) FILTER (WHERE ln IS NULL), 0), count_if(ln IS NULL),
                  COALESCE(sum(ln) FILTER (WHERE ln > 1), 0), count_if(ln > 1),
                  COALESCE(sum(rn) FILTER (WHERE rn > 1), 0), count_if(rn > 1),
                  count_if(ln = 1 AND rn = 1)
                FROM {view}"""
            )[0]

            def shown(rows: str, where: str, found: int) -> tuple[dict[str, Any], ...]:
                if not (found and examples):
                    return ()
                got = self._rows(
                    f"SELECT {cols}, {rows} FROM {view} WHERE {where} ORDER BY {cols} "
                    f"LIMIT {int(examples)}"
                )
                return tuple({"key": _key_value(r[:-1], key), "rows": int(r[-1])} for r in got)

            lost_ex = shown("ln", "rn IS NULL", lost_keys)
            extra_ex = shown("rn", "ln IS NULL", extra_keys)
            ldup_ex, rdup_ex = shown("ln", "ln > 1", ldk), shown("rn", "rn > 1", rdk)
        finally:
            self._spark.catalog.dropTempView(view)
            joined.unpersist()
        sizes = [
            self._rows(f"SELECT count(*), count_if(NOT ({present})) FROM {v}")[0] for v in (lv, rv)
        ]
        return {
            "left_rows": int(sizes[0][0]),
            "right_rows": int(sizes[1][0]),
            "matched": int(matched),
            "left": KeyCounts(int(sizes[0][1]), int(ldr), int(ldk), ldup_ex),
            "right": KeyCounts(int(sizes[1][1]), int(rdr), int(rdk), rdup_ex),
            "rows": RowDifference(
                "key", int(lost), int(extra), int(lost_keys), int(extra_keys), lost_ex, extra_ex
            ),
        }

    def _column_differences(
        self,
        lv: str,
        rv: str,
        key: tuple[str, ...],
        columns: Mapping[str, Kind],
        units: Mapping[str, int],
        tol: Tolerance,
        examples: int,
        clean: bool,
    ) -> dict[str, ColumnDifference]:
        """All columns in one pass over the matched pairs (counts and maxima), then the first
        examples by key of each column with cells beyond tolerance."""
        if not columns:
            return {}
        names = list(columns)
        cells = ", ".join(
            f"l.{quoted(c)} AS l{i}, r.{quoted(c)} AS r{i}" for i, c in enumerate(names)
        )
        keys = ", ".join(f"l.{quoted(k)} AS {quoted(k)}" for k in key)
        states = ", ".join(
            _cell_state(i, columns[c], tol, units.get(c, 0)) for i, c in enumerate(names)
        )
        pairs = (
            f"SELECT *, {states} FROM (SELECT {keys}, {cells} FROM {_matched(lv, rv, key, clean)})"
        )
        aggregates = ", ".join(a for i in range(len(names)) for a in _cell_aggregates(i))
        row = self._rows(f"SELECT count(*), {aggregates} FROM ({pairs})")[0]
        beyond = [i for i in range(len(names)) if row[1 + 6 * i] and examples]
        shown = self._differing_examples(pairs, key, beyond, examples)
        return {
            c: _difference(
                c,
                columns[c],
                int(row[0]),
                row[1 + 6 * i : 7 + 6 * i],
                shown.get(i, []),
                key,
                units.get(c, 0),
            )
            for i, c in enumerate(names)
        }

    def _differing_examples(
        self, pairs: str, key: tuple[str, ...], beyond: Sequence[int], examples: int
    ) -> dict[int, list[tuple[Any, ...]]]:
        """Per column i in `beyond`, the first `examples` pairs by key with cells beyond
        tolerance: the pairs differing in any of them are joined once and persisted, and each
        column's examples read from there (not one join of both sides per column)."""
        if not beyond:
            return {}
        order = ", ".join(quoted(k) for k in key)
        kept = ", ".join(f"l{i}, r{i}, s{i}" for i in beyond)
        differing = " OR ".join(f"s{i} >= 2" for i in beyond)
        frame = self._spark.sql(f"SELECT {order}, {kept} FROM ({pairs}) WHERE {differing}")
        frame = frame.persist()
        view = f"{self._prefix}_differing_{next(self._numbers)}"
        frame.createOrReplaceTempView(view)
        try:
            return {
                i: self._rows(
                    f"SELECT {order}, l{i}, r{i} FROM {view} WHERE s{i} >= 2 ORDER BY {order} "
                    f"LIMIT {int(examples)}"
                )
                for i in beyond
            }
        finally:
            self._spark.catalog.dropTempView(view)
            frame.unpersist()

    def _unit(self, left: str, right: str, name: str) -> int:
        """Nanoseconds per tick of a temporal column's common unit (0 for times and durations)."""
        types = [logical_type(self.schema(n).field(name).type) for n in (left, right)]
        if not all(type_family(t) == "instant" for t in types):
            return 0
        return _microsecond_unit(min(_tick_ns(t) for t in types))

    # ---- profiles

    def profiles(
        self, name: str, columns: Mapping[str, Kind], top: int, *, float_distinct: bool = True
    ) -> dict[str, ColumnStats]:
        """Per column statistics as `mlcheck.compare.column_stats` defines them: one query for
        counts and extremes of every column, two for the exact moments of the numeric ones,
        one grouping per non-float column for its distinct count and top values, and the
        remaining distinct counts apart (`_distinct_counts`): several `count(DISTINCT)` in
        one SELECT make Spark copy every row once per column before the shuffle."""
        view, schema = self._view(name), self.schema(name)
        units = {
            c: _microsecond_unit(_tick_ns(logical_type(schema.field(c).type)))
            for c, k in columns.items()
            if k == "temporal"
        }
        for column, kind in columns.items():
            if kind == "text" and type_family(logical_type(schema.field(column).type)) != "text":
                raise Unsupported("text comparison of a non-text column")
        values = {c: _value_sql(quoted(c), k, units.get(c, 0)) for c, k in columns.items()}
        pieces = [_basic_sql(quoted(c), k, units.get(c, 0)) for c, k in columns.items()]
        row = self._rows(f"SELECT {', '.join(pieces)} FROM {view}")[0] if pieces else ()
        basics = {c: row[6 * i : 6 * i + 6] for i, c in enumerate(columns)}
        grouped = {c for c, k in columns.items() if top > 0 and values[c] and k != "float"}
        apart = {
            c: v
            for c, v in values.items()
            if v and c not in grouped and (float_distinct or columns[c] != "float")
        }
        rows = int(sum(row[:2])) if row else 0
        distinct = self._distinct_counts(view, apart, rows)
        moments = fixed_moments(view, _numeric(columns, basics), self._one_row, quoted, _DIALECT)
        out = {}
        for column, kind in columns.items():
            tops: tuple[tuple[Any, int], ...] = ()
            count = distinct.get(column)
            if column in grouped:
                count, tops = self._distinct_top(view, values[column] or "", top)
            basic = (*basics[column][:3], count, *basics[column][4:])
            out[column] = _stats(kind, basic, tops, moments.get(column, {}), units.get(column, 0))
        return out

    def _one_row(self, sql: str) -> tuple[Any, ...]:
        return self._rows(sql)[0]

    def _distinct_top(
        self, view: str, value: str, top: int
    ) -> tuple[int, tuple[tuple[Any, int], ...]]:
        """A column's distinct non-null values and its `top` most frequent ones (ties by value)
        from one grouping: both branches read the same shuffle (Spark reuses the exchange)."""
        grouping = (
            f"SELECT {value} AS v, count(*) AS n FROM {view} WHERE {value} IS NOT NULL GROUP BY 1"
        )
        rows = self._rows(
            f"WITH g AS ({grouping}) SELECT 0 AS t, NULL AS v, count(*) AS n FROM g UNION ALL "
            f"SELECT 1, v, n FROM (SELECT v, n FROM g ORDER BY n DESC, v LIMIT {int(top)})"
        )
        found = sorted(((v, int(n)) for t, v, n in rows if t == 1), key=lambda p: (-p[1], p[0]))
        return next(int(n) for t, _, n in rows if t == 0), tuple(found)

    def _distinct_counts(self, view: str, values: Mapping[str, str], rows: int) -> dict[str, int]:
        """Distinct non-null values per column. On short relations all in one SELECT; on long
        ones each column its own `count(DISTINCT)` branch of a UNION ALL (no copy of every
        row per column), `_DISTINCT_BRANCHES` branches a statement."""
        names = list(values)
        if not names:
            return {}
        if rows * len(names) <= _EXPAND_CELLS:
            found = self._rows(
                f"SELECT {', '.join(f'count(DISTINCT {values[c]})' for c in names)} FROM {view}"
            )[0]
            return {c: int(n) for c, n in zip(names, found, strict=True)}
        out: dict[str, int] = {}
        for start in range(0, len(names), _DISTINCT_BRANCHES):
            chunk = range(start, min(start + _DISTINCT_BRANCHES, len(names)))
            branches = [
                f"SELECT {i} AS i, count(DISTINCT {values[names[i]]}) FROM {view}" for i in chunk
            ]
            for i, n in self._rows(" UNION ALL ".join(branches)):
                out[names[int(i)]] = int(n)
        return out

    # ---- value counts, quantiles, crosstabs

    def value_counts(
        self, name: str, column: str, by: str | None = None
    ) -> dict[Any, tuple[tuple[Any, int], ...]]:
        """Per group (None: the whole relation) the non-null values with their counts, most
        frequent first, ties by value."""
        group = quoted(by) if by else "NULL"
        rows = self._rows(
            f"SELECT g, v, count(*) AS n FROM (SELECT {group} AS g, {quoted(column)} AS v FROM "
            f"{self._view(name)}) WHERE v IS NOT NULL GROUP BY g, v "
            "ORDER BY g ASC NULLS LAST, n DESC, v"
        )
        out: dict[Any, list[tuple[Any, int]]] = {}
        for g, v, n in rows:
            out.setdefault(g, []).append((v, int(n)))
        return {g: tuple(values) for g, values in out.items()}

    def quantiles(
        self, name: str, column: str, probabilities: Sequence[float], by: str | None = None
    ) -> dict[Any, tuple[float, ...]]:
        """Per group, exact quantiles of the non-null, non-NaN values: the smallest value whose
        share of values at or below it reaches p (numpy's method='inverted_cdf'), found by rank
        in each group's sorted values; exact at any size (a sort, no sketch)."""
        if len(probabilities) == 0:
            return {}
        group = quoted(by) if by else "NULL"
        x = f"CAST({quoted(column)} AS DOUBLE)"
        grid = ", ".join(f"({i}, {literal(p)})" for i, p in enumerate(probabilities))
        rows = self._rows(
            f"""SELECT g, i, x + CAST(0 AS DOUBLE) FROM (
                  SELECT g, x, row_number() OVER (PARTITION BY g ORDER BY x) AS r,
                         count(*) OVER (PARTITION BY g) AS n
                  FROM (SELECT {group} AS g, {x} AS x FROM {self._view(name)})
                  WHERE x IS NOT NULL AND NOT isnan(x)
                ) JOIN (VALUES {grid}) AS grid(i, p) ON r = greatest(1, ceil(n * p))
                ORDER BY g ASC NULLS LAST, i"""
        )
        out: dict[Any, list[float]] = {}
        for g, _, q in rows:
            out.setdefault(g, []).append(float(q))
        return {g: tuple(values) for g, values in out.items()}

    def crosstab(
        self, left: str, right: str, key: Sequence[str], left_column: str, right_column: str
    ) -> dict[tuple[Any, Any], int]:
        """Counts of (left value, right value) over keys non-null and unique on both sides."""
        matched = _matched(self._view(left), self._view(right), tuple(key), clean=False)
        rows = self._rows(
            f"SELECT l.{quoted(left_column)}, r.{quoted(right_column)}, count(*) "
            f"FROM {matched} GROUP BY 1, 2 ORDER BY 1 ASC NULLS LAST, 2 ASC NULLS LAST"
        )
        return {(a, b): int(n) for a, b, n in rows}

    # ---- rows without a key

    def multiset_difference(
        self, left: str, right: str, columns: Sequence[str], examples: int
    ) -> RowDifference:
        """Whole rows (over `columns`) in excess on either side, as multisets: floats equal
        when equal as numbers (NaN = NaN, -0.0 = 0.0: Spark normalises grouped floats).
        Examples `{"row", "research", "production"}` sorted by the row's values, nulls last."""
        cols = ", ".join(quoted(c) for c in columns)
        lv, rv = self._view(left), self._view(right)
        groups = (
            f"SELECT {cols}, count_if(side = 1) AS lc, count_if(side = 2) AS rc FROM "
            f"(SELECT {cols}, 1 AS side FROM {lv} UNION ALL SELECT {cols}, 2 AS side FROM {rv}) "
            f"GROUP BY {cols}"
        )
        frame = self._spark.sql(groups).persist()
        view = f"{self._prefix}_rows"
        frame.createOrReplaceTempView(view)
        try:
            lost, extra, lost_rows, extra_rows = self._rows(
                f"SELECT COALESCE(sum(greatest(lc - rc, 0)), 0), "
                f"COALESCE(sum(greatest(rc - lc, 0)), 0), count_if(lc > rc), count_if(rc > lc) "
                f"FROM {view}"
            )[0]
            order = ", ".join(f"{quoted(c)} ASC NULLS LAST" for c in columns)

            def shown(where: str, found: int) -> tuple[dict[str, Any], ...]:
                if not (found and examples):
                    return ()
                got = self._rows(
                    f"SELECT {cols}, lc, rc FROM {view} WHERE {where} ORDER BY {order} "
                    f"LIMIT {int(examples)}"
                )
                return tuple(
                    {"row": dict(zip(columns, r[:-2], strict=True)), "research": int(r[-2]),
                     "production": int(r[-1])}
                    for r in got
                )  # fmt: skip

            lost_ex, extra_ex = shown("lc > rc", lost_rows), shown("rc > lc", extra_rows)
        finally:
            self._spark.catalog.dropTempView(view)
            frame.unpersist()
        return RowDifference(
            "row", int(lost), int(extra), int(lost_rows), int(extra_rows), lost_ex, extra_ex
        )

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
        """Register `name`: `source` with `column`, each row's chunk number (positions in the
        order Spark reads the rows: monotonically increasing ids), cached."""
        from mlcheck.engines.duck import _chunked_sql

        kind = self.schema(source).field(timestamp).type if timestamp else None
        sql = _chunked_sql(
            self._view(source), column, kind, timestamp, size, every_s, origin_s, quoted, "spark"
        )
        view = f"{self._prefix}_{next(self._numbers)}"
        frame = self._spark.sql(sql).cache()
        try:
            frame.count()  # materialized now: a text time that does not parse fails here
        except Exception as exc:  # Spark raises its own error classes
            raise ValueError(f"cannot read {timestamp!r} as timestamps: {exc}") from exc
        frame.createOrReplaceTempView(view)
        self._views[name] = view

    def counts(
        self, name: str, columns: Sequence[str], by: str | None = None, as_double: bool = False
    ) -> dict[str, pa.Table]:
        """Per column, a table (g, v, n): per group `by` (null: the whole relation) each
        non-null value and its count, ordered by group then value; as_double: values as
        float64, finite ones only."""
        from mlcheck.engines.duck import _counts_sql

        view = self._view(name)
        out = {}
        for column in columns:  # columns, not rows
            frame = self._spark.sql(_counts_sql(view, column, by, as_double, quoted))
            out[column] = _arrow_of(frame)
        return out

    # ---- views, membership, counts and first rows (s4)

    def quote(self, name: str) -> str:
        return quoted(name)

    def register_view(
        self, name: str, source: str, columns: Mapping[str, str], where: str | None = None
    ) -> None:
        """`columns` of `source`'s rows passing `where`, cached."""
        picked = ", ".join(f"{sql} AS {quoted(column)}" for column, sql in columns.items())
        filtered = f" WHERE {where}" if where else ""
        self._cached(name, f"SELECT {picked} FROM {self._view(source)}{filtered}")

    def register_membership(
        self, name: str, source: str, reference: str, columns: Mapping[str, str]
    ) -> None:
        """`source` plus, per column, whether its value occurs in `reference`, cached."""
        from mlcheck.engines.duck import _membership_sql

        sv, rv = self._view(source), self._view(reference)
        joins, flags = _membership_sql(
            columns, self.schema(source), self.schema(reference), rv, quoted, "STRING"
        )
        self._cached(name, f"SELECT s.*{flags} FROM {sv} AS s {joins}")

    def count_where(self, name: str, conditions: Mapping[str, str]) -> dict[str, int]:
        if not conditions:
            return {}
        counts = ", ".join(f"count_if({c})" for c in conditions.values())
        row = self._rows(f"SELECT {counts} FROM {self._view(name)}")[0]
        return {k: int(n or 0) for k, n in zip(conditions, row, strict=True)}

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

    def _cached(self, name: str, sql: str) -> None:
        view = f"{self._prefix}_{next(self._numbers)}"
        self._spark.sql(sql).cache().createOrReplaceTempView(view)
        self._views[name] = view

    # ---- fold_batches, register_cast, register_excluded (s1)

    def fold_batches(
        self, name: str, columns: Sequence[str], fold: Fold, width: int
    ) -> tuple[int, ...]:
        """`fold` over the Arrow batches of every partition (mapInArrow, on the executors);
        each partition sends back its `width` partial sums, added here modulo 2**64."""
        picked = [quoted(c) for c in columns] + ["CAST(NULL AS INT) AS fold_rows__"]
        frame = self._spark.table(self._view(name)).selectExpr(*picked)
        partial = _partial_sums(fold, width)
        rows = frame.mapInArrow(partial, "i INT, s BIGINT").collect()
        total = [0] * width
        for i, value in rows:
            total[int(i)] = (total[int(i)] + int(value)) % 2**64
        return tuple(total)

    def register_cast(self, name: str, source: str, types: Mapping[str, pa.DataType]) -> None:
        """Register `name`: `source` with the columns in `types` cast to those Arrow types."""
        picked = [
            f"CAST({quoted(n)} AS {_spark_type(types[n])}) AS {quoted(n)}"
            if n in types
            else quoted(n)
            for n in self.schema(source).names
        ]
        view = f"{self._prefix}_{next(self._numbers)}"
        self._spark.table(self._view(source)).selectExpr(*picked).createOrReplaceTempView(view)
        self._views[name] = view
        # The source's Arrow types carry over (Spark's own schema would say microseconds for a
        # timestamp in seconds, and answers render values in the Arrow type's unit).
        self._schemas[name] = pa.schema(
            [pa.field(f.name, types.get(f.name, f.type)) for f in self.schema(source)]
        )

    def register_excluded(self, name: str, source: str, key: Sequence[str]) -> None:
        """Register `name`: the rows of `source` with a null key part or a repeated key."""
        cols = ", ".join(quoted(k) for k in key)
        null = " OR ".join(f"{quoted(k)} IS NULL" for k in key)
        shown = ", ".join(quoted(n) for n in self.schema(source).names)
        view = f"{self._prefix}_{next(self._numbers)}"
        self._spark.sql(
            f"SELECT {shown} FROM (SELECT *, count(*) OVER (PARTITION BY {cols}) AS n__ "
            f"FROM {self._view(source)}) t WHERE {null} OR n__ > 1"
        ).createOrReplaceTempView(view)
        self._views[name] = view
        self._schemas[name] = self.schema(source)

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
        (with `unique` known: a plain join)."""
        matched = _matched(self._view(left), self._view(right), tuple(key), clean=unique)
        picked = [f"l.{quoted(c)}" for c in left_columns] + [
            f"r.{quoted(c)}" for c in right_columns
        ]
        places = [str(i) for i in range(1, len(picked) + 1)]
        rows = self._rows(
            f"SELECT {', '.join(picked)}, count(*) FROM {matched} GROUP BY {', '.join(places)} "
            f"ORDER BY {', '.join(p + ' ASC NULLS LAST' for p in places)}"
        )
        n = len(left_columns)
        return {(tuple(r[:n]), tuple(r[n:-1])): int(r[-1]) for r in rows}

    def spread(
        self, name: str, entity: Sequence[str], column: str, examples: int
    ) -> seam.ValueSpread:
        """Entities whose rows hold more than one distinct value of `column`, per combination;
        examples by a window over each combination's entities."""
        ent = tuple(entity)
        cols = ", ".join(quoted(k) for k in ent)
        present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in ent)
        on = " AND ".join(f"p.{quoted(k)} = s.{quoted(k)}" for k in ent)
        spanning = f"""
            WITH p AS (SELECT {cols}, {quoted(column)} AS v__, count(*) AS n__
                       FROM {self._view(name)} WHERE {present} GROUP BY {cols}, {quoted(column)}),
                 s AS (SELECT {cols} FROM p GROUP BY {cols} HAVING count(*) > 1)
            SELECT {", ".join(f"p.{quoted(k)} AS {quoted(k)}" for k in ent)}, sum(n__) AS n__,
                   max(CASE WHEN v__ IS NULL THEN 1 ELSE 0 END) = 1 AS z__,
                   array_sort(collect_list(v__)) AS vs__
            FROM p LEFT SEMI JOIN s ON {on} GROUP BY {", ".join(f"p.{quoted(k)}" for k in ent)}"""
        entities = self._rows(
            f"SELECT count(*) FROM (SELECT {cols} FROM {self._view(name)} WHERE {present} "
            f"GROUP BY {cols})"
        )[0][0]
        combos = self._rows(
            f"SELECT vs__, z__, count(*), sum(n__) FROM ({spanning}) GROUP BY vs__, z__"
        )
        shown: dict[tuple[Any, bool], list[dict[str, Any]]] = {}
        if examples and combos:
            for row in self._rows(
                f"SELECT vs__, z__, {cols}, n__ FROM (SELECT *, row_number() OVER (PARTITION BY "
                f"vs__, z__ ORDER BY {cols}) AS r__ FROM ({spanning})) WHERE r__ <= {int(examples)}"
                f" ORDER BY {cols}"
            ):
                found = {"key": _key_value(row[2:-1], ent), "rows": int(row[-1])}
                shown.setdefault((tuple(row[0]), bool(row[1])), []).append(found)
        rows = [(0, None, None, entities, None, None)] + [
            (1, vs, bool(z), n, held, shown.get((tuple(vs), bool(z)), []))
            for vs, z, n, held in combos
        ]
        return duck_sql._value_spread(rows, ent, examples)

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
        value = f"TRY_CAST({raw} AS TIMESTAMP_NTZ)" if as_time else raw
        keys = ", ".join(quoted(k) for k in key)
        inside = (
            " OR ".join(f"g__ = {duck_sql._group_literal(g, spark=True)}" for g in cutoff_groups)
            or "false"
        )
        x = (
            f"(SELECT {quoted(by)} AS g__, {raw} AS raw__, {value} AS t__, {keys} "
            f"FROM {self._view(name)})"
        )
        cut = (
            f"(SELECT max(t__) AS m__, max_by(raw__, struct(t__, raw__)) AS s__ FROM {x} "
            f"WHERE ({inside}) AND t__ IS NOT NULL)"
        )
        rows = self._rows(
            f"""SELECT g__, count(*), count(t__), count(raw__) - count(t__),
                       count_if(t__ < m__), first(s__)
                FROM {x} CROSS JOIN {cut} GROUP BY g__ ORDER BY g__ ASC NULLS LAST"""
        )
        shown: dict[Any, list[Any]] = {}
        if examples and any(r[4] for r in rows):
            for row in self._rows(
                f"SELECT g__, {keys} FROM (SELECT *, row_number() OVER (PARTITION BY g__ ORDER BY "
                f"{keys}) AS r__ FROM {x} CROSS JOIN {cut} WHERE t__ < m__) "
                f"WHERE r__ <= {int(examples)} ORDER BY g__, {keys}"
            ):
                shown.setdefault(row[0], []).append(row[1:])
        found = [
            (g, n, known, bad, below, [_key_value(k, tuple(key)) for k in shown.get(g, [])], s)
            for g, n, known, bad, below, s in rows
        ]
        return duck_sql._cutoff(found, tuple(key), examples)

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
        Size chunks number rows by monotonically_increasing_id, which follows a file's (or an
        Arrow table's) row order partition by partition."""
        names = {base, *(r for r, _ in columns), *_time_relation(chunk)}
        sql = grouped_counts_sql(
            _SPARK_GROUPED,
            {n: self._view(n) for n in names},
            {n: self.schema(n) for n in names},
            base,
            tuple(key),
            tuple(columns),
            chunk,
            shape,
        )
        frame = self._spark.sql(sql)
        if hasattr(frame, "toArrow"):
            return shaped_answer(frame.toArrow(), shape)
        table = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)  # pragma: no cover
        return shaped_answer(table, shape)  # pragma: no cover

    # ---- presence (s6)

    def presence(self, name: str, columns: Sequence[str], time: str | None = None) -> Presence:
        """As DuckDB's (`presence_answer`): the row count and time axis, then one unpivot per
        type of column and batch."""
        return presence_answer(
            self._rows, self._view(name), self.schema(name), columns, time, SPARK_PRESENCE
        )

    def count_equal(self, name: str, values: Mapping[str, Any]) -> dict[str, int]:
        """One query for every column (named parameters, typed by Spark from the Python value)."""
        if not values:
            return {}
        names = list(values)
        tests = [f"count_if({quoted(c)} = :p{i})" for i, c in enumerate(names)]
        args = {f"p{i}": values[c] for i, c in enumerate(names)}
        frame = self._spark.sql(f"SELECT {', '.join(tests)} FROM {self._view(name)}", args=args)
        row = frame.collect()[0]
        return {c: int(row[i]) for i, c in enumerate(names)}

    def value_counts_of(
        self, name: str, columns: Sequence[str]
    ) -> dict[str, tuple[tuple[Any, int], ...]]:
        """As DuckDB's (`value_counts_answer`)."""
        return value_counts_answer(
            self._rows, self._view(name), self.schema(name), columns, SPARK_PRESENCE
        )

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
        for column in key:
            types = [logical_type(self.schema(n).field(column).type) for n in (left, right)]
            if not types[0].equals(types[1]):
                raise Unsupported(f"key column {column!r} typed differently per side")
        units = {c: self._unit(left, right, c) for c, r in rules.items() if r.kind == "temporal"}

        def materialize(sql: str) -> tuple[str, Callable[[], None]]:
            frame = self._spark.sql(sql).cache()
            view = f"{self._prefix}_pairs_{next(_PAIR_VIEWS)}"
            frame.createOrReplaceTempView(view)

            def drop() -> None:
                self._spark.catalog.dropTempView(view)
                frame.unpersist()

            return view, drop

        views = (self._view(left), self._view(right))
        return causes.cell_causes(
            _CAUSES_DIALECT,
            self._rows,
            materialize,
            views,
            key,
            rules,
            units,
            tolerance,
            examples,
            top,
        )

    def finite_ranges(self, name: str, columns: Sequence[str]) -> dict[str, FiniteRange]:
        """`mlcheck.engines.causes.finite_ranges` of numeric columns."""
        return causes.finite_ranges(_CAUSES_DIALECT, self._rows, self._view(name), columns)

    def round_trip_changes(
        self, name: str, targets: Mapping[str, pa.DataType]
    ) -> dict[str, int | None]:
        """Per column, non-null values that change when cast to the target type (None: Spark
        has no such type)."""
        return causes.round_trip_answer(
            _CAUSES_DIALECT, self._rows, self._view(name), self.schema(name), targets, "spark"
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
        values at given ranks (see `AggregateEngine.sorted_values_many`): at most `grid` rows,
        a batch of columns collected unsorted as Arrow in one job and sorted in numpy; past
        it, per column the group sizes and the values Spark numbers (`mlcheck.engines.sorting`)."""
        ask = sorting.Asker(self._arrow, self._rows, quoted, "div")
        view, rows = self._view(name), self.num_rows(name)
        return sorting.sorted_values_many(ask, view, rows, columns, by, grid, groups, ranks)

    def _arrow(self, sql: str) -> pa.Table:
        """A statement's rows collected as Arrow (pandas before Spark 4)."""
        frame = self._spark.sql(sql)
        if hasattr(frame, "toArrow"):
            return frame.toArrow()
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)  # pragma: no cover

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
        cached; see the Protocol."""
        asked = (base, key, columns, finite, equal)
        self._cached(name, lookup_sql(_SPARK_GROUPED, self._view, self.schema, *asked))


# ---- Arrow in


def _spark_ready(table: pa.Table) -> pa.Table:
    """The table in types Spark takes from Arrow: dictionaries decoded, large and view
    layouts made plain (the logical types are unchanged)."""
    fields = [pa.field(f.name, _plain(f.type), f.nullable) for f in table.schema]
    target = pa.schema(fields)
    return table if target.equals(table.schema) else table.cast(target)


def _plain(t: pa.DataType) -> pa.DataType:
    t = logical_type(t)
    if pa.types.is_timestamp(t) and t.unit == "ns":
        raise Unsupported("Spark holds timestamps in microseconds, not nanoseconds")
    if pa.types.is_unsigned_integer(t):
        if t.bit_width == 64:
            raise Unsupported("Spark has no unsigned 64-bit integers")
        return pa.int64()
    return t


def _wide_integers(frame: Any) -> Any:
    """Integers inferred from text as 64-bit, as pyarrow's csv and json readers type them
    (Spark infers INT for small values, BIGINT beyond)."""
    narrow = {f.name for f in frame.schema.fields if f.dataType.typeName() in _NARROW_INTEGERS}
    if not narrow:
        return frame
    return frame.selectExpr(
        *(f"CAST({quoted(c)} AS BIGINT) AS {quoted(c)}" if c in narrow else quoted(c)
          for c in frame.columns)
    )  # fmt: skip


_NARROW_INTEGERS = {"byte", "short", "integer"}


def _without_zone(frame: Any, schema: pa.Schema) -> Any:
    """Arrow timestamps without a zone arrive as Spark's zoned TIMESTAMP; cast back to
    TIMESTAMP_NTZ (same digits in the UTC session) so examples come back without a zone."""
    naive = {
        f.name
        for f in schema
        if pa.types.is_timestamp(logical_type(f.type)) and logical_type(f.type).tz is None
    }
    if not naive:
        return frame
    return frame.selectExpr(
        *(
            f"CAST({quoted(c)} AS TIMESTAMP_NTZ) AS {quoted(c)}" if c in naive else quoted(c)
            for c in frame.columns
        )
    )


def _microsecond_unit(unit_ns: int) -> int:
    if unit_ns < 1000:
        raise Unsupported("Spark holds timestamps in microseconds, not nanoseconds")
    return unit_ns


# ---- text read by Spark, converted by pyarrow's reader


def _text_type(field: pa.Field) -> str:
    """Spark's type for a column the text reader typed `field.type` (microsecond timestamps)."""
    t = field.type
    if pa.types.is_timestamp(t) and t.unit != "ns":
        return "TIMESTAMP" if t.tz is not None else "TIMESTAMP_NTZ"
    named = {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
             pa.string(): "STRING", pa.date32(): "DATE"}  # fmt: skip
    if t not in named:
        raise Unsupported(f"Spark cannot hold {field.name!r} as the reader types it ({t})")
    return named[t]


def _spark_side(t: pa.DataType) -> pa.DataType:
    """The Arrow type Spark takes for a reader's type: timestamps in microseconds (zoned in UTC)."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", "UTC" if t.tz is not None else None)
    return t


def _text_converter(layout: TextLayout) -> Callable[[Iterator[pa.RecordBatch]], Any]:
    """The mapInArrow function: batches of (line, file, split start) rows in, the reader's
    rows out. A csv header is the first line of a file's first split; the lines of a batch
    are joined and read by pyarrow under the layout's types (a value that does not convert
    raises, failing the job)."""
    schema, header, fmt = layout.schema, layout.header, layout.format
    names, delimiter, nulls = list(layout.names), layout.delimiter, list(layout.null_values)
    target = pa.schema([pa.field(f.name, _spark_side(f.type)) for f in schema])

    def read(data: bytes) -> pa.Table:
        import io

        import pyarrow.csv as pacsv
        import pyarrow.json as pajson

        if fmt == "jsonl":
            parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
            options = pajson.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20))
            return pajson.read_json(io.BytesIO(data), options, parse).select(schema.names)
        return pacsv.read_csv(
            io.BytesIO(data),
            pacsv.ReadOptions(use_threads=False, column_names=names, block_size=1 << 24),
            pacsv.ParseOptions(delimiter=delimiter),
            pacsv.ConvertOptions(
                column_types=schema, null_values=nulls, strings_can_be_null=True,
                include_columns=schema.names,
            ),
        )  # fmt: skip

    def convert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc

        last_file = None
        for batch in batches:
            lines, files = batch.column(0), batch.column(1)
            if header and len(lines):
                before = pa.concat_arrays(
                    [pa.array([last_file], files.type), files.slice(0, len(files) - 1)]
                )
                new_file = pc.fill_null(pc.not_equal(files, before), True)
                first = pc.and_(new_file, pc.equal(batch.column(2), 0))
                lines = pc.filter(lines, pc.invert(first))
                last_file = files[-1].as_py()
            if not len(lines):
                continue
            joined = pc.binary_join(
                pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n"
            )
            table = read(joined[0].as_py().encode() + b"\n")
            yield from table.cast(target).to_batches()

    return convert


# ---- parquet in place

# Spark's name for each Arrow type a column read in place may need a cast to (named apart from
# register_cast's `_SPARK_TYPES` below, which would otherwise replace this map at import).
_READER_CASTS = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
    pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.string(): "STRING",
    pa.bool_(): "BOOLEAN", pa.date32(): "DATE", pa.timestamp("us"): "TIMESTAMP_NTZ",
}  # fmt: skip


def _parquet_column(
    wanted: pa.Field, found: pa.Schema, label_column: str | None, part: ParquetPart
) -> str:
    """A select item giving `wanted` (the pyarrow reader's field) from Spark's read."""
    name = quoted(wanted.name)
    if wanted.name == label_column:
        text = (part.label or "").replace("\\", "\\\\").replace("'", "\\'")
        return f"CAST('{text}' AS STRING) AS {name}"
    index = found.get_field_index(wanted.name)
    if index < 0:
        raise Unsupported(f"column {wanted.name!r} is not in every file")
    if _same_values(wanted.type, found.field(index).type):
        return name
    target = _READER_CASTS.get(logical_type(wanted.type))
    if target is None:
        raise Unsupported(f"Spark reads {wanted.name!r} as {found.field(index).type}")
    return f"CAST({name} AS {target}) AS {name}"


def _same_values(wanted: pa.DataType, got: pa.DataType) -> bool:
    """Whether Spark's type holds exactly the values of the reader's: equal up to layout, an
    unsigned integer in a wider signed one, a timestamp in microseconds (Spark's unit) when
    the reader's unit is coarser, with or without a zone alike."""
    a, b = logical_type(wanted), logical_type(got)
    if pa.types.is_integer(a) and pa.types.is_signed_integer(b):
        return b.bit_width >= a.bit_width + (0 if pa.types.is_signed_integer(a) else 1)
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return (a.tz is None) == (b.tz is None) and a.unit in ("s", "ms", "us") and b.unit == "us"
    return a.equals(b)


# ---- SQL pieces


def _matched(lv: str, rv: str, key: tuple[str, ...], clean: bool) -> str:
    """A FROM clause of the key pairs matched on both sides as `l` and `r` (the key is `l`'s).
    With `clean` keys (no null, no duplicate on either side) a plain inner join."""
    if clean:
        on = " AND ".join(f"l.{quoted(k)} = r.{quoted(k)}" for k in key)
        return f"{lv} AS l JOIN {rv} AS r ON {on}"
    cols = ", ".join(quoted(k) for k in key)
    present = " AND ".join(f"{quoted(k)} IS NOT NULL" for k in key)
    unique = f"GROUP BY {cols} HAVING count(*) = 1"
    semi = " AND ".join(f"lu.{quoted(k)} = ru.{quoted(k)}" for k in key)
    on_l = " AND ".join(f"m.{quoted(k)} = l.{quoted(k)}" for k in key)
    on_r = " AND ".join(f"m.{quoted(k)} = r.{quoted(k)}" for k in key)
    return (
        f"(SELECT lu.* FROM (SELECT {cols} FROM {lv} WHERE {present} {unique}) AS lu "
        f"LEFT SEMI JOIN (SELECT {cols} FROM {rv} WHERE {present} {unique}) AS ru ON {semi}) "
        f"AS m JOIN {lv} AS l ON {on_l} JOIN {rv} AS r ON {on_r}"
    )


def _cell_aggregates(i: int) -> list[str]:
    """Six aggregates of column i's states (see `_cell_state`): beyond, within, null in
    research only, null in production only, max abs, max rel (read by `_difference`)."""
    return [
        f"count_if(s{i} >= 2)",
        f"count_if(s{i} = 1)",
        f"count_if(s{i} = 3)",
        f"count_if(s{i} = 4)",
        f"max(d{i}) FILTER (WHERE NOT isnan(d{i}))",
        f"max(q{i}) FILTER (WHERE NOT isnan(q{i}))",
    ]


def _ticks(column: str, unit_ns: int) -> str:
    """A temporal column as integer ticks of `unit_ns` nanoseconds since the epoch (Spark
    holds microseconds; units are at least one microsecond, see `_microsecond_unit`)."""
    return f"div(unix_micros(CAST({column} AS TIMESTAMP)), {int(unit_ns) // 1000})"


def _comparable(a: str, b: str, kind: Kind, unit_ns: int) -> tuple[str, str]:
    """Both sides in the representation their kind compares in."""
    casts = {"float": "DOUBLE", "integer": "BIGINT", "boolean": "INT", "text": "STRING"}
    if kind in casts:
        return f"CAST({a} AS {casts[kind]})", f"CAST({b} AS {casts[kind]})"
    if kind == "binary":
        return f"CAST({a} AS BINARY)", f"CAST({b} AS BINARY)"
    if kind == "temporal":
        if not unit_ns:
            raise Unsupported("times of day and durations")
        return _ticks(a, unit_ns), _ticks(b, unit_ns)
    raise Unsupported(f"{kind} columns are not compared cell by cell")


def _differences(a: str, b: str, kind: Kind) -> tuple[str | None, str | None]:
    """|a - b| and its ratio to max(|a|, |b|) as the in-memory engine computes them: floats in
    float64; integers exactly (DECIMAL), rounded once to float64; temporal in ticks."""
    if kind == "float":
        return f"abs({a} - {b})", f"abs({a} - {b}) / greatest(abs({a}), abs({b}))"
    if kind in ("integer", "boolean", "temporal"):
        exact = "DECIMAL(20, 0)"
        diff = f"CAST(abs(CAST({a} AS {exact}) - CAST({b} AS {exact})) AS DOUBLE)"
        if kind == "temporal":
            return diff, None
        scale = f"greatest(abs(CAST({a} AS DOUBLE)), abs(CAST({b} AS DOUBLE)))"
        return diff, f"{diff} / {scale}"
    return None, None


def _cell_state(i: int, kind: Kind, tol: Tolerance, unit_ns: int) -> str:
    """Column i's pair state s{i} (0 equal, 1 within tolerance, 2 beyond, 3 null in research
    only, 4 null in production only), |a - b| as d{i} and its ratio to max(|a|, |b|) as q{i}
    for differing non-null pairs. Spark's `=` has NaN = NaN and -0.0 = 0.0."""
    a, b = _comparable(f"l{i}", f"r{i}", kind, unit_ns)
    close = "false"
    if kind == "float":
        close = (
            f"abs({a}) < {_INF} AND abs({b}) < {_INF} AND abs({a} - {b}) <= "
            f"{literal(tol.atol)} + {literal(tol.rtol)} * greatest(abs({a}), abs({b}))"
        )
    absolute, relative = _differences(a, b, kind)
    state = (
        f"CASE WHEN l{i} IS NULL THEN (CASE WHEN r{i} IS NULL THEN 0 ELSE 3 END) "
        f"WHEN r{i} IS NULL THEN 4 WHEN {a} = {b} THEN 0 WHEN {close} THEN 1 ELSE 2 END"
    )
    differ = f"({state}) IN (1, 2)"
    return (
        f"{state} AS s{i}, "
        f"CASE WHEN {differ} THEN {absolute or 'CAST(NULL AS DOUBLE)'} END AS d{i}, "
        f"CASE WHEN {differ} THEN {relative or 'CAST(NULL AS DOUBLE)'} END AS q{i}"
    )


def _value_sql(c: str, kind: Kind, unit_ns: int) -> str | None:
    """How a column's values are counted, ordered and shown per kind (None: not at all)."""
    casts = {
        "float": "DOUBLE",
        "integer": "BIGINT",
        "boolean": "INT",
        "text": "STRING",
        "binary": "BINARY",
    }
    if kind in casts:
        return f"CAST({c} AS {casts[kind]})"
    if kind == "temporal":
        return _ticks(c, unit_ns)
    return None


def _basic_sql(c: str, kind: Kind, unit_ns: int) -> str:
    """Six values of a column: count, nulls, NaNs, distinct, min, max (NULL where none; the
    distinct count always NULL: `SparkEngine.profiles` asks it apart)."""
    counts = f"count({c}), count(*) - count({c})"
    value = _value_sql(c, kind, unit_ns)
    if value is None:
        return f"{counts}, 0, NULL, NULL, NULL"
    if kind not in ("float", "integer", "boolean"):
        return f"{counts}, 0, NULL, min({value}), max({value})"
    x = f"CAST({c} AS DOUBLE)"
    zero = "CAST(0 AS DOUBLE)" if kind == "float" else "0"
    # + 0 turns -0.0 into 0.0; NaN is left out of the extremes (Spark orders it last)
    return (
        f"{counts}, count_if(isnan({x})), NULL, "
        f"min({value}) FILTER (WHERE NOT isnan({x})) + {zero}, "
        f"max({value}) FILTER (WHERE NOT isnan({x})) + {zero}"
    )


# A statement's count(DISTINCT) columns times rows up to which Spark's copy of every row per
# column costs less than a query more per column; UNION ALL branches a distinct statement holds.
_EXPAND_CELLS = 1_000_000
_DISTINCT_BRANCHES = 64

# Pieces of a BIGINT term (below 2**62 in magnitude, see `exact.fixed_sums_sql`) summed apart.
_PIECE_BITS = 21
_PIECE = 2**_PIECE_BITS - 1


def _exact_integer_sum(x: str) -> str:
    """The exact sum of BIGINT terms below 2**62 in magnitude, without summing DECIMALs per
    row (Spark sums a DECIMAL(38, 0) as a Java BigDecimal: ~10x the time of a long). Each term
    is cut into a signed top and two non-negative 21-bit pieces, each summed as a BIGINT
    (exact up to 2**42 rows: no sum passes 2**63), and the three sums are recombined once as
    a DECIMAL (below 2**104: exact)."""
    big = "DECIMAL(38, 0)"
    top = f"CAST(sum(shiftright({x}, {2 * _PIECE_BITS})) AS {big}) * {2 ** (2 * _PIECE_BITS)}"
    middle = f"CAST(sum(shiftright({x}, {_PIECE_BITS}) & {_PIECE}) AS {big}) * {2**_PIECE_BITS}"
    return f"({top} + {middle} + CAST(sum(({x}) & {_PIECE}) AS {big}))"


_DIALECT = Dialect(
    literal=literal,
    truncate=lambda x: f"CAST(CAST({x} AS BIGINT) AS DOUBLE)",  # a cast cuts toward zero
    to_integer=lambda x: f"CAST({x} AS BIGINT)",
    integer_sum=_exact_integer_sum,
    finite=lambda x: f"abs({x}) < {_INF}",
)


def _key_value(parts: Sequence[Any], key: tuple[str, ...]) -> Any:
    """An example's key: the value itself, or a record of the key's parts."""
    return parts[0] if len(key) == 1 else dict(zip(key, parts, strict=True))


# ---- grouped_counts (perf)


def _spark_seconds(column: str, kind: pa.DataType, dialect: GroupedCountsDialect) -> str:
    """An instant column as whole Unix seconds (Spark holds microseconds; the session is UTC,
    so a date or a timestamp without a zone counts from midnight UTC)."""
    kind = logical_type(kind)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return dialect.floor_div(f"unix_micros(CAST({column} AS TIMESTAMP))", 1_000_000)
    raise Unsupported(f"chunks by time need a timestamp or date column, not {kind}")


# How Spark numbers rows (in scan order), divides integers and counts seconds in
# `grouped_counts_sql`.
_SPARK_GROUPED = GroupedCountsDialect(
    quoted, "row_number() OVER (ORDER BY monotonically_increasing_id())", "DIV", _spark_seconds
)


# ---- register_chunks, counts (drift)


def _arrow_of(frame: Any) -> pa.Table:
    """A small Spark answer as an Arrow table (n as int64)."""
    if hasattr(frame, "toArrow"):
        table = frame.toArrow()
    else:
        table = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
    return table.set_column(2, "n", table.column("n").cast(pa.int64()))


# ---- fold_batches, register_cast, register_excluded (s1)

Fold = Callable[[pa.Table], Any]


def _partial_sums(fold: Fold, width: int) -> Callable[[Iterator[pa.RecordBatch]], Any]:
    """The mapInArrow function: one partition's batches folded into `width` (i, sum) rows."""

    def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import numpy as np

        total = np.zeros(width, dtype=np.uint64)
        for batch in batches:
            table = pa.Table.from_batches([batch]).drop_columns(["fold_rows__"])
            total += np.asarray(fold(table), dtype=np.uint64)
        yield pa.RecordBatch.from_arrays(
            [pa.array(np.arange(width, dtype=np.int32)), pa.array(total.view(np.int64))],
            names=["i", "s"],
        )

    return partial


_SPARK_TYPES = {
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.string(): "STRING",
    pa.binary(): "BINARY",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def _spark_type(t: pa.DataType) -> str:
    """Spark's name for the Arrow types `register_cast` takes (timestamps in microseconds)."""
    if pa.types.is_timestamp(t):
        if t.unit == "ns":
            raise Unsupported("Spark holds timestamps in microseconds, not nanoseconds")
        return "TIMESTAMP" if t.tz is not None else "TIMESTAMP_NTZ"
    if t in _SPARK_TYPES:
        return _SPARK_TYPES[t]
    raise Unsupported(f"no cast to {t}")


# ---- presence (s6)


def _spark_ticks(column: str, dtype: pa.DataType) -> str:
    """A time column as microseconds since the epoch (see TimeAxis): ISO-8601 text cast to
    TIMESTAMP, which applies an offset and reads naive text in the session's UTC."""
    kind = time_class(dtype)
    if kind == "text":
        text = f"CAST({column} AS STRING)"
        iso = f"CASE WHEN {text} RLIKE '{ISO_DATE}' THEN {text} END"
        return f"unix_micros(try_cast({iso} AS TIMESTAMP))"
    if kind == "instant":
        return f"unix_micros(CAST({column} AS TIMESTAMP))"
    raise Unsupported("Spark holds timestamps in microseconds, not nanoseconds")


SPARK_PRESENCE = PresenceDialect(
    quote=quoted,
    ticks=_spark_ticks,
    text="STRING",
    matches="{x} RLIKE '{p}'",
    zero="CAST(0 AS DOUBLE)",
    batch=200,
    explode=(
        "SELECT t__, name__, value__ FROM {source} "
        "LATERAL VIEW posexplode(l__) e__ AS name__, value__"
    ),
    list_of="array({values})",
)


# ---- cell_causes, finite_ranges, round_trip_changes (s2)

_PAIR_VIEWS = itertools.count()
# A Spark job costs far more than a wide statement: 512 columns per counting statement.
_CAUSES_DIALECT = causes.Dialect(quoted, literal, _comparable, _cell_state, 512)


# ---- session defaults for local mode (spark6)

# Spark's own default is 200 shuffle partitions: 200 tasks for every grouped question, each a
# few rows on one machine. Measured at 1M x 33 (stage 1, local[2]): see README "Engines".
_SHUFFLE = "spark.sql.shuffle.partitions"


def _local_defaults(session: Any, master: str) -> None:
    """On a local master, as many shuffle partitions as cores (at least 2, so partial
    aggregates are still merged across partitions), unless the user's configuration (builder,
    spark-defaults.conf, checklist, command line) already names a number."""
    if not master.startswith("local"):
        return
    if session.sparkContext.getConf().contains(_SHUFFLE):
        return
    session.conf.set(_SHUFFLE, str(max(2, _local_cores(master))))


def _local_cores(master: str) -> int:
    """The cores of `local`, `local[n]`, `local[*]` or `local[n, retries]`."""
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else "1"
    first = inside.split(",")[0].strip()
    return (os.cpu_count() or 1) if first == "*" else int(first)


# ---- the active session of every asking thread (spark6)


def _make_active(session: Any) -> None:
    """`session` as the calling thread's active session (a classic session's JVM side; Spark
    Connect resolves on its server)."""
    jvm = getattr(session, "_jvm", None)
    if jvm is None or not hasattr(session, "_jsparkSession"):
        return
    getattr(jvm, "org.apache.spark.sql.classic.SparkSession").setActiveSession(
        session._jsparkSession
    )


# ---- the driver's memory in local mode (spark8)

# Spark's own default driver heap is 1 GiB; in local mode the driver is also the executor, and
# the 1M x 33 run died in stage 5 (a parquet scan beside the cached lookups and the answers
# collected as Arrow: the JVM went away). Without `--memory-limit` the heap may take a quarter
# of the machine's memory, below 32 GiB (the JVM's compressed pointers end there).
_SMALLEST_HEAP = 1 << 30
_LARGEST_HEAP = 31 << 30
_DRIVER_MEMORY = "spark.driver.memory"


def driver_memory(settings: EngineSettings, conf: Mapping[str, str] | None = None) -> str:
    """Local mode's `spark.driver.memory`: `--memory-limit` (the driver's memory), else a
    quarter of the machine's memory between 1 and 31 GiB, else what the user configured
    (`conf`, PYSPARK_SUBMIT_ARGS or spark-defaults.conf win, so it is not overridden)."""
    configured = _configured_driver_memory(conf)
    if configured is not None:
        return configured
    if settings.memory_limit:
        return f"{_limit_bytes(settings.memory_limit) >> 20}m"
    machine = _machine_memory()
    if machine is None:
        return "1g"
    return f"{min(_LARGEST_HEAP, max(_SMALLEST_HEAP, machine // 4)) >> 20}m"


def _limit_bytes(limit: str) -> int:
    """`--memory-limit` as bytes; a usage error for what is not a size Spark can start with."""
    from mlcheck.engine import SMALLEST_LIMIT, memory_bytes
    from mlcheck.errors import UsageError

    found = memory_bytes(limit)
    if found is None:
        raise UsageError(
            f"memory limit {limit!r} (--memory-limit or engine.memory_limit) is not a size "
            "such as 3GB, 512MB or 4GiB"
        )
    if found < SMALLEST_LIMIT:
        raise UsageError(f"memory limit {limit!r} is below the 256 MiB a run needs to start")
    return found


def _configured_driver_memory(conf: Mapping[str, str] | None) -> str | None:
    """The driver memory the user named: checklist/builder conf, `--driver-memory` or
    `--conf spark.driver.memory=` in PYSPARK_SUBMIT_ARGS, or spark-defaults.conf."""
    if conf and _DRIVER_MEMORY in conf:
        return conf[_DRIVER_MEMORY]
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()
    for flag, value in itertools.pairwise(submit):
        if flag == "--driver-memory":
            return value
        if flag == "--conf" and value.startswith(_DRIVER_MEMORY + "="):
            return value.split("=", 1)[1]
    return _defaults_file_memory()


def _defaults_file_memory() -> str | None:
    """spark.driver.memory from $SPARK_CONF_DIR (or $SPARK_HOME/conf)/spark-defaults.conf."""
    folder = os.environ.get("SPARK_CONF_DIR") or (
        os.path.join(os.environ["SPARK_HOME"], "conf") if os.environ.get("SPARK_HOME") else None
    )
    if folder is None or not os.path.isfile(os.path.join(folder, "spark-defaults.conf")):
        return None
    with open(os.path.join(folder, "spark-defaults.conf"), encoding="utf-8") as lines:
        for line in lines:
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[0] == _DRIVER_MEMORY:
                return parts[1].strip()
    return None


def _machine_memory() -> int | None:
    """The machine's physical memory in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
