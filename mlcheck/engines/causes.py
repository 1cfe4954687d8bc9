"""Three small questions behind stage 2's diagnosis, written once for DuckDB and Spark.

- `cell_causes`: the matched key pairs whose cells differ, each sorted into the first cause
  that fits (`CauseRule`), with counts, maxima, the first examples by key and the values
  each side held, per column and cause;
- `finite_ranges`: a column's finite extremes, how many rows sit on them, and its infinities;
- `round_trip_changes`: how many values change when cast to another type and back.

The SQL is the same on both engines apart from identifier quoting, type names and each
engine's cell rule (`_comparable`, `_cell_state`), handed in as a `Dialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcheck.compare import Kind
from mlcheck.engines.base import Tolerance

if TYPE_CHECKING:
    import pyarrow as pa

INF = "CAST('Infinity' AS DOUBLE)"
NUMERIC = ("integer", "float")
# Causes in the order a differing pair is tested against them (see `CauseRule`).
CAUSES = (
    "filled",
    "emptied",
    "nulls",
    "inf_introduced",
    "inf_removed",
    "inf_flipped",
    "within",
    "precision",
    "clipped_low",
    "clipped_high",
    "refilled",
    "other",
)
_SIDE_NAMES = ("research", "production")
_COLUMNS_PER_QUERY = 64  # bounds a statement's size on wide tables
# Columns per statement of the screen for differing cells (`_differing_columns`) on DuckDB.
# Written as `(l IS NULL) <> (r IS NULL) OR a <> b`, its cost per column grew with a
# statement's width (at 20 rows: 0.4 ms a column at 64, 0.9 ms at 512, 2.7 ms at 1,024);
# as `a IS DISTINCT FROM b` (`Dialect.null_safe`) it stays ~0.2 ms up to 1,024 columns.
_COUNTED_PER_QUERY = 256
_NO_VALUES = ("within", "precision")  # causes whose values `CellCauses.values` leaves out


@dataclass(frozen=True)
class Clip:
    """Clip points: pairs in a tail (both sides at or beyond `low_tail` / `high_tail`) where
    one side sits at its own extreme and the other lies beyond it."""

    low_tail: float
    high_tail: float
    research_min: float
    research_max: float
    production_min: float
    production_max: float


@dataclass(frozen=True)
class CauseRule:
    """How the differing pairs of one column are sorted into causes, the first that fits:

    numeric kinds (`integer`, `float`; values compared as float64, null and NaN both
    "missing"): `filled` (missing in research only), `emptied` (missing in production only),
    `nulls` (null against NaN), `inf_introduced` / `inf_removed` / `inf_flipped` (an infinity
    on production's side only, research's side only, or of the other sign), `within` (within
    the tolerance), `precision` (beyond it but within `precision_rtol`, when given),
    `clipped_low` / `clipped_high` (see `Clip`), `refilled` (`fill`: research's (0) or
    production's (1) value equals the given one), `other`. Other kinds: `filled` / `emptied`
    (null on one side), `other`.
    """

    kind: Kind
    precision_rtol: float | None = None
    clip: Clip | None = None
    fill: tuple[int, float] | None = None


@dataclass(frozen=True)
class CellCauses:
    """One column's differing pairs by cause.

    `counts` per cause (absent: none); `max_abs_diff` / `max_rel_diff` over differing
    non-null pairs (NaN differences skipped; temporal: seconds, no relative); `max_rel` per
    cause; `examples`: the first `examples` pairs by key of every cause but `within`,
    `{"key", "research", "production", "cause"}` sorted by key; `values[cause][side]`: the
    distinct non-null values that side held in that cause's pairs and the `top` most frequent
    with counts (ties by value); `extremes`: see the field.
    """

    column: str
    kind: Kind
    counts: Mapping[str, int] = field(default_factory=dict)
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    max_rel: Mapping[str, float] = field(default_factory=dict)
    examples: tuple[dict[str, Any], ...] = ()
    values: Mapping[str, Mapping[str, tuple[int, tuple[tuple[Any, int], ...]]]] = field(
        default_factory=dict
    )
    # Per cause of a numeric column: (research min, research max, production min, production
    # max) of the finite values its pairs hold (None: none). A clip needs a pair on a side's
    # own extreme, so a column whose "other" pairs touch none is no clip candidate.
    extremes: Mapping[str, tuple[float | None, float | None, float | None, float | None]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class FiniteRange:
    """A column's finite values (as float64): extremes, rows on each, count, infinities."""

    min: float | None
    max: float | None
    at_min: int
    at_max: int
    finite: int
    pos_inf: int
    neg_inf: int


@dataclass(frozen=True)
class Dialect:
    quoted: Callable[[str], str]
    literal: Callable[[float], str]
    comparable: Callable[[str, str, Kind, int], tuple[str, str]]
    cell_state: Callable[[int, Kind, Tolerance, int], str]
    counted_per_query: int = _COUNTED_PER_QUERY  # columns per screening statement
    # `a IS DISTINCT FROM b` is `differ_sql`'s rule: a cast never turns a value into NULL (DuckDB
    # raises instead), and NaN equals NaN, -0.0 equals 0.0, as with `=`.
    null_safe: bool = False
    # Rows ({keys}, mlc_i: the position in the list of {values}, mlc_v: that value) of each row
    # of {source}: lets a table wider than `counted_per_query` be screened unpivoted
    # (`_unpivoted_screen`); None: screened side by side.
    unpivot: str | None = None


def _count(condition: str) -> str:
    """Rows where `condition` holds (0, never NULL, on an empty or all-null column)."""
    return f"count(*) FILTER (WHERE {condition})"


# --------------------------------------------------------------------------- cell causes


def matched_keys_sql(d: Dialect, lv: str, rv: str, key: tuple[str, ...]) -> str:
    """The keys unique and non-null on both sides."""
    q = d.quoted
    cols = ", ".join(q(k) for k in key)
    present = " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
    unique = f"GROUP BY {cols} HAVING count(*) = 1"
    on_u = " AND ".join(f"lu.{q(k)} = ru.{q(k)}" for k in key)
    return (
        f"SELECT lu.* FROM (SELECT {cols} FROM {lv} WHERE {present} {unique}) AS lu "
        f"JOIN (SELECT {cols} FROM {rv} WHERE {present} {unique}) AS ru ON {on_u}"
    )


def matched_sql(
    d: Dialect,
    lv: str,
    rv: str,
    key: tuple[str, ...],
    names: Sequence[str],
    indexes: Sequence[int] | None = None,
) -> str:
    """The key pairs unique and non-null on both sides whose cells differ in any of `names`
    (column i as l{i}, r{i}, or only those of `indexes`; the key under its own names)."""
    q = d.quoted
    on_l = " AND ".join(f"m.{q(k)} = l.{q(k)}" for k in key)
    on_r = " AND ".join(f"m.{q(k)} = r.{q(k)}" for k in key)
    keys = ", ".join(f"m.{q(k)} AS {q(k)}" for k in key)
    picked = range(len(names)) if indexes is None else indexes
    cells = ", ".join(f"l.{q(names[i])} AS l{i}, r.{q(names[i])} AS r{i}" for i in picked)
    return (
        f"SELECT {keys}, {cells} FROM ({matched_keys_sql(d, lv, rv, key)}) AS m "
        f"JOIN {lv} AS l ON {on_l} JOIN {rv} AS r ON {on_r}"
    )


def differ_sql(d: Dialect, i: int, kind: Kind, unit: int) -> str:
    """Column i's pair differs: null against a value, or unequal as its kind compares."""
    a, b = d.comparable(f"l{i}", f"r{i}", kind, unit)
    if d.null_safe:
        return f"({a} IS DISTINCT FROM {b})"
    return f"((l{i} IS NULL) <> (r{i} IS NULL) OR {a} <> {b})"


def cause_sql(d: Dialect, i: int, rule: CauseRule, atol: float) -> str:
    """The CASE naming column i's cause (see `CauseRule`); `s{i}` is its pair state."""
    if rule.kind not in NUMERIC:
        return f"CASE WHEN s{i} = 3 THEN 'filled' WHEN s{i} = 4 THEN 'emptied' ELSE 'other' END"
    a, b = f"CAST(l{i} AS DOUBLE)", f"CAST(r{i} AS DOUBLE)"
    ma, mb = f"(l{i} IS NULL OR isnan({a}))", f"(r{i} IS NULL OR isnan({b}))"
    ia, ib = f"abs({a}) = {INF}", f"abs({b}) = {INF}"
    lit = d.literal
    whens = [
        (f"{ma} AND NOT {mb}", "filled"),
        (f"{mb} AND NOT {ma}", "emptied"),
        (ma, "nulls"),
        (f"{ib} AND NOT {ia}", "inf_introduced"),
        (f"{ia} AND NOT {ib}", "inf_removed"),
        (f"{ia} AND {ib} AND {a} <> {b}", "inf_flipped"),
        (f"s{i} = 1", "within"),
    ]
    if rule.precision_rtol is not None:
        close = f"{lit(atol)} + {lit(rule.precision_rtol)} * greatest(abs({a}), abs({b}))"
        whens.append(
            (f"abs({a}) < {INF} AND abs({b}) < {INF} AND abs({a} - {b}) <= {close}", "precision")
        )
    if rule.clip is not None:
        c = rule.clip
        low = (
            f"greatest({a}, {b}) <= {lit(c.low_tail)} AND (({b} = {lit(c.production_min)} AND "
            f"{a} < {b}) OR ({a} = {lit(c.research_min)} AND {b} < {a}))"
        )
        high = (
            f"least({a}, {b}) >= {lit(c.high_tail)} AND (({b} = {lit(c.production_max)} AND "
            f"{a} > {b}) OR ({a} = {lit(c.research_max)} AND {b} > {a}))"
        )
        whens += [(low, "clipped_low"), (high, "clipped_high")]
    if rule.fill is not None:
        whens.append((f"{(a, b)[rule.fill[0]]} = {lit(rule.fill[1])}", "refilled"))
    return "CASE " + " ".join(f"WHEN {w} THEN '{c}'" for w, c in whens) + " ELSE 'other' END"


def classified_sql(
    d: Dialect, table: str, key: tuple[str, ...], i: int, rule: CauseRule, tol: Tolerance, unit: int
) -> str:
    """Column i's differing pairs of `table`: key, l, r, state s, |a - b| d, ratio q, cause c,
    and (numeric kinds) each side's value as a finite double a, b (else NULL)."""
    keys = ", ".join(d.quoted(k) for k in key)
    state = d.cell_state(i, rule.kind, tol, unit)
    inner = f"SELECT {keys}, l{i}, r{i}, {state} FROM {table}"
    finite = [
        f"CASE WHEN abs(CAST({x}{i} AS DOUBLE)) < {INF} THEN CAST({x}{i} AS DOUBLE) END"
        if rule.kind in NUMERIC
        else "CAST(NULL AS DOUBLE)"
        for x in "lr"
    ]
    return (
        f"SELECT {keys}, l{i} AS mlc_l, r{i} AS mlc_r, d{i} AS mlc_d, q{i} AS mlc_q, "
        f"{finite[0]} AS mlc_a, {finite[1]} AS mlc_b, "
        f"{cause_sql(d, i, rule, tol.atol)} AS mlc_c FROM ({inner}) AS t{i} WHERE s{i} <> 0"
    )


def summary_sql(parts: Sequence[tuple[int, str]]) -> str:
    """Per column index and cause: count, max |a - b|, max ratio (NaN skipped), and the
    extremes of each side's finite values."""
    union = " UNION ALL ".join(
        f"SELECT {i} AS mlc_i, mlc_c, mlc_d, mlc_q, mlc_a, mlc_b FROM ({sql}) AS p{i}"
        for i, sql in parts
    )
    return (
        "SELECT mlc_i, mlc_c, count(*), max(mlc_d) FILTER (WHERE NOT isnan(mlc_d)), "
        "max(mlc_q) FILTER (WHERE NOT isnan(mlc_q)), min(mlc_a), max(mlc_a), min(mlc_b), "
        f"max(mlc_b) FROM ({union}) AS u GROUP BY mlc_i, mlc_c"
    )


def examples_sql(
    d: Dialect, key: tuple[str, ...], classified: str, causes: Sequence[str], examples: int
) -> str | None:
    """The first `examples` pairs by key of each cause but `within` (None: no such cause),
    each cause's by ORDER BY ... LIMIT (a few rows kept, not every pair sorted)."""
    asked = sorted(c for c in causes if c != "within")
    if not asked:
        return None
    keys = ", ".join(d.quoted(k) for k in key)
    firsts = " UNION ALL ".join(
        f"(SELECT {keys}, mlc_l, mlc_r, mlc_c FROM ({classified}) AS x WHERE mlc_c = '{c}' "
        f"ORDER BY {keys} LIMIT {int(examples)})"
        for c in asked
    )
    return f"SELECT {keys}, mlc_l, mlc_r, mlc_c FROM ({firsts}) AS y ORDER BY {keys}"


def values_sql(classified: str, causes: Sequence[str], top: int) -> str | None:
    """Per cause and side: (cause, side, research value, production value, count, distinct),
    the `top` most frequent values first (ties by value); None when no cause is asked. Each
    (cause, side) takes its top by ORDER BY ... LIMIT: engines keep a few rows for that, where
    a ranking window sorted every distinct value (1M floats: ~3x the CPU)."""
    asked = [c for c in causes if c not in _NO_VALUES]
    if not asked:
        return None
    chosen = "mlc_c IN (" + ", ".join(f"'{c}'" for c in sorted(asked)) + ")"
    counted = (
        f"SELECT mlc_c AS c, 0 AS side, mlc_l AS lv, NULL AS rv, count(*) AS n FROM "
        f"({classified}) AS x WHERE mlc_l IS NOT NULL AND {chosen} GROUP BY mlc_c, mlc_l "
        f"UNION ALL SELECT mlc_c AS c, 1 AS side, NULL AS lv, mlc_r AS rv, count(*) AS n FROM "
        f"({classified}) AS y WHERE mlc_r IS NOT NULL AND {chosen} GROUP BY mlc_c, mlc_r"
    )
    tops = " UNION ALL ".join(
        f"(SELECT c, side, lv, rv, n FROM counted WHERE c = '{c}' AND side = {side} "
        f"ORDER BY n DESC, lv, rv LIMIT {int(top)})"
        for c in sorted(asked)
        for side in (0, 1)
    )
    return (
        f"WITH counted AS ({counted}), distinct_values AS (SELECT c, side, count(*) AS dn "
        "FROM counted GROUP BY c, side) SELECT t.c, t.side, t.lv, t.rv, t.n, d.dn FROM "
        f"({tops}) AS t JOIN distinct_values AS d ON t.c = d.c AND t.side = d.side "
        "ORDER BY t.c, t.side, t.n DESC, t.lv, t.rv"
    )


def key_value(parts: Sequence[Any], key: tuple[str, ...]) -> Any:
    return parts[0] if len(key) == 1 else dict(zip(key, parts, strict=True))


def cell_causes(
    d: Dialect,
    rows: Callable[[str], list[tuple[Any, ...]]],
    materialize: Callable[[str], tuple[str, Callable[[], None]]],
    views: tuple[str, str],
    key: tuple[str, ...],
    rules: Mapping[str, CauseRule],
    units: Mapping[str, int],
    tol: Tolerance,
    examples: int,
    top: int,
    plain: frozenset[str] = frozenset(),
) -> dict[str, CellCauses]:
    """See `CellCauses`: the differing pairs are materialized once (few, in practice), then
    counted per cause for many columns per statement; examples and values are asked only of
    columns with differences. `plain`: columns whose values already are in the form their
    kind compares in on both sides (the wide screen reads them without a cast)."""
    names = list(rules)
    out = {c: CellCauses(c, rules[c].kind) for c in names}
    if not names:
        return out
    wide = d.unpivot is not None and len(names) > d.counted_per_query
    screened = _unpivoted_screen(rows, views, key, names, d, rules, units, plain) if wide else None
    if screened == []:
        return out
    differ = " OR ".join(
        differ_sql(d, i, rules[names[i]].kind, units.get(names[i], 0))
        for i in (range(len(names)) if screened is None else screened)
    )
    table, drop = materialize(
        f"SELECT * FROM ({matched_sql(d, *views, key, names, screened)}) AS m WHERE {differ}"
    )
    try:
        found: dict[int, dict[str, tuple[Any, ...]]] = {}
        present = (
            _differing_columns(rows, table, names, d, rules, units)
            if screened is None
            else screened
        )
        classified = {
            i: classified_sql(d, table, key, i, rules[names[i]], tol, units.get(names[i], 0))
            for i in present
        }
        for start in range(0, len(present), _COLUMNS_PER_QUERY):
            batch = present[start : start + _COLUMNS_PER_QUERY]
            for col, cause, n, *rest in rows(summary_sql([(i, classified[i]) for i in batch])):
                found.setdefault(int(col), {})[str(cause)] = (int(n), *rest)
        for i, causes in sorted(found.items()):
            name = names[i]
            first = (
                examples_sql(d, key, classified[i], list(causes), examples) if examples else None
            )
            shown = rows(first) if first else []
            asked = values_sql(classified[i], list(causes), top) if top else None
            tops = rows(asked) if asked else []
            out[name] = _answer(
                name, rules[name].kind, causes, shown, tops, key, units.get(name, 0)
            )
    finally:
        drop()
    return out


def _differing_columns(
    rows: Callable[[str], list[tuple[Any, ...]]],
    table: str,
    names: Sequence[str],
    d: Dialect,
    rules: Mapping[str, CauseRule],
    units: Mapping[str, int],
) -> list[int]:
    """Indexes of the columns with at least one differing pair (one pass, few rows)."""
    out: list[int] = []
    for start in range(0, len(names), d.counted_per_query):
        idx = range(start, min(len(names), start + d.counted_per_query))
        counts = ", ".join(
            _count(differ_sql(d, i, rules[names[i]].kind, units.get(names[i], 0))) for i in idx
        )
        row = rows(f"SELECT {counts} FROM {table}")[0]
        out += [i for i, n in zip(idx, row, strict=True) if n]
    return out


def _unpivoted_screen(
    rows: Callable[[str], list[tuple[Any, ...]]],
    views: tuple[str, str],
    key: tuple[str, ...],
    names: Sequence[str],
    d: Dialect,
    rules: Mapping[str, CauseRule],
    units: Mapping[str, int],
    plain: frozenset[str],
) -> list[int]:
    """`_differing_columns` of a wide table, asked before anything is materialized: each
    side's matched rows unpivoted to (key, position, value) per kind and joined on key and
    position, one comparison for all columns of a kind. Side by side, each column's
    expressions cost DuckDB ~0.3 ms to plan (20 x 5,000: ~4 s with the wide pairs table
    materialized; unpivoted ~0.7 s), and only the columns that differ are then materialized."""
    assert d.unpivot is not None
    q = d.quoted
    keys = ", ".join(q(k) for k in key)
    on_b = " AND ".join(f"a.{q(k)} = b.{q(k)}" for k in key)
    on_m = " AND ".join(f"a.{q(k)} = m.{q(k)}" for k in key)
    by_kind: dict[tuple[Kind, int], list[int]] = {}
    for i, c in enumerate(names):
        by_kind.setdefault((rules[c].kind, units.get(c, 0)), []).append(i)
    found: set[int] = set()
    for (kind, unit), indexes in by_kind.items():
        sides = []
        for side, view in enumerate(views):
            values = ", ".join(
                f"s.{q(names[i])}"
                if names[i] in plain
                else d.comparable(f"s.{q(names[i])}", f"s.{q(names[i])}", kind, unit)[side]
                for i in indexes
            )
            sides.append(d.unpivot.format(keys=keys, values=values, source=f"{view} AS s"))
        # Each side unpivoted whole, then kept to the matched keys: joining the keys first
        # (a subquery of every column) cost DuckDB a third more at 5,000 columns.
        sql = (
            f"SELECT DISTINCT a.mlc_i FROM ({sides[0]}) AS a JOIN ({sides[1]}) AS b "
            f"ON {on_b} AND a.mlc_i = b.mlc_i "
            f"JOIN ({matched_keys_sql(d, *views, key)}) AS m ON {on_m} "
            "WHERE a.mlc_v IS DISTINCT FROM b.mlc_v"
        )
        found.update(indexes[int(i)] for (i,) in rows(sql))
    return sorted(found)


def _answer(
    name: str,
    kind: Kind,
    causes: Mapping[str, tuple[Any, ...]],
    shown: Sequence[tuple[Any, ...]],
    tops: Sequence[tuple[Any, ...]],
    key: tuple[str, ...],
    unit_ns: int,
) -> CellCauses:
    counts = {c: int(found[0]) for c, found in causes.items()}
    abs_values = [float(found[1]) for found in causes.values() if found[1] is not None]
    rel_values = [float(found[2]) for found in causes.values() if found[2] is not None]
    max_abs = max(abs_values) if abs_values else None
    max_rel = max(rel_values) if rel_values and max_abs is not None else None
    if kind == "temporal" and max_abs is not None:
        max_abs, max_rel = max_abs * unit_ns / 1e9, None
    values: dict[str, dict[str, tuple[int, list[tuple[Any, int]]]]] = {}
    for cause, side, lv, rv, n, dn in tops:
        entry = values.setdefault(str(cause), {}).setdefault(_SIDE_NAMES[int(side)], (int(dn), []))
        entry[1].append((lv if int(side) == 0 else rv, int(n)))
    return CellCauses(
        column=name,
        kind=kind,
        counts=counts,
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        max_rel={c: float(found[2]) for c, found in causes.items() if found[2] is not None},
        examples=tuple(
            {
                "key": key_value(r[: len(key)], key),
                "research": r[-3],
                "production": r[-2],
                "cause": r[-1],
            }
            for r in shown
        ),
        values={
            c: {s: (dn, tuple(top)) for s, (dn, top) in sides.items()}
            for c, sides in values.items()
        },
        extremes=(
            {c: _finite(found[3:7]) for c, found in causes.items()} if kind in NUMERIC else {}
        ),
    )


def _finite(values: Sequence[Any]) -> tuple[float | None, float | None, float | None, float | None]:
    a_min, a_max, b_min, b_max = (None if v is None else float(v) + 0.0 for v in values)
    return a_min, a_max, b_min, b_max


# --------------------------------------------------------------------------- column questions


def finite_ranges(
    d: Dialect, rows: Callable[[str], list[tuple[Any, ...]]], view: str, columns: Sequence[str]
) -> dict[str, FiniteRange]:
    """Two passes over many columns: finite extremes, counts and infinities; rows on each extreme."""
    out: dict[str, FiniteRange] = {}
    for start in range(0, len(columns), _COLUMNS_PER_QUERY * 4):
        batch = list(columns[start : start + _COLUMNS_PER_QUERY * 4])
        xs = [f"CAST({d.quoted(c)} AS DOUBLE)" for c in batch]
        first = rows(
            "SELECT "
            + ", ".join(
                f"min({x}) FILTER (WHERE abs({x}) < {INF}), max({x}) FILTER (WHERE abs({x}) < {INF}), "
                f"{_count(f'abs({x}) < {INF}')}, {_count(f'{x} = {INF}')}, {_count(f'{x} = -{INF}')}"
                for x in xs
            )
            + f" FROM {view}"
        )[0]
        parts = [first[5 * j : 5 * j + 5] for j in range(len(batch))]
        ends = [
            f"{_count(f'{x} = {d.literal(p[0])}')}, {_count(f'{x} = {d.literal(p[1])}')}"
            for x, p in zip(xs, parts, strict=True)
            if p[0] is not None
        ]
        second = iter(rows(f"SELECT {', '.join(ends)} FROM {view}")[0] if ends else ())
        for c, (low, high, n, pos, neg) in zip(batch, parts, strict=True):
            at = (int(next(second)), int(next(second))) if low is not None else (0, 0)
            out[c] = FiniteRange(
                None if low is None else float(low) + 0.0,
                None if high is None else float(high) + 0.0,
                at[0],
                at[1],
                int(n),
                int(pos),
                int(neg),
            )
    return out


def round_trip_changes(
    d: Dialect,
    rows: Callable[[str], list[tuple[Any, ...]]],
    view: str,
    targets: Mapping[str, tuple[str, str | None]],
) -> dict[str, int]:
    """Per column, the non-null values that change (or fail) when cast to the first SQL type of
    `targets` and back to the second (when given), compared with the original (NaN = NaN)."""
    if not targets:
        return {}
    names = list(targets)
    terms = []
    for c in names:
        to, back = targets[c]
        x = d.quoted(c)
        t = f"TRY_CAST({x} AS {to})"
        t = f"TRY_CAST({t} AS {back})" if back else t
        terms.append(_count(f"{x} IS NOT NULL AND ({t} IS NULL OR {t} <> {x})"))
    row = rows(f"SELECT {', '.join(terms)} FROM {view}")[0]
    return {c: int(n) for c, n in zip(names, row, strict=True)}


def sql_type(t: Any, engine: str) -> str | None:
    """The SQL name of an Arrow type on `engine` ("duckdb" or "spark"); None when it has none."""
    import pyarrow as pa

    from mlcheck.compare import logical_type

    t = logical_type(t)
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})" if t.precision <= 38 else None
    if pa.types.is_timestamp(t):
        if engine == "spark":
            return "TIMESTAMP" if t.unit == "us" and t.tz is None else None
        suffix = {"s": "_S", "ms": "_MS", "us": "", "ns": "_NS"}[t.unit]
        return None if t.tz is not None else f"TIMESTAMP{suffix}"
    if pa.types.is_date32(t):
        return "DATE"
    names = {
        "duckdb": {
            "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
            "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
            "float": "FLOAT", "double": "DOUBLE", "bool": "BOOLEAN",
        },
        "spark": {
            "int8": "TINYINT", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT",
            "float": "FLOAT", "double": "DOUBLE", "bool": "BOOLEAN",
        },
    }  # fmt: skip
    return names[engine].get(str(t))


def round_trip_answer(
    d: Dialect,
    rows: Callable[[str], list[tuple[Any, ...]]],
    view: str,
    schema: pa.Schema,
    targets: Mapping[str, pa.DataType],
    engine: str,
) -> dict[str, int | None]:
    """`round_trip_changes` for an engine's SQL types: per column, None where `engine` has no
    SQL type for the target, else the values that change on the round trip."""
    sql = {
        c: (sql_type(t, engine), sql_type(schema.field(c).type, engine)) for c, t in targets.items()
    }
    asked = {c: (to, back) for c, (to, back) in sql.items() if to is not None}
    found = round_trip_changes(d, rows, view, asked)
    return {c: found.get(c) for c in targets}
