"""SQL pieces of stage 4 (prediction_mismatch), in the dialect DuckDB and Spark share.

Every function takes `q`, the engine's identifier quoting (`AggregateEngine.quote`), and
returns an SQL expression. A score is compared as a double; null and NaN are both "missing".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from mlcheck.compare import logical_type

Quote = Callable[[str], str]
INF = "CAST('Infinity' AS DOUBLE)"
# Characters written as they are inside an SQL string; any other is chr(n) (DuckDB and Spark
# disagree on quotes and backslashes inside string literals).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/")


def number(value: float) -> str:
    """A double literal that parses back to exactly `value`."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def text(value: str) -> str:
    """A string literal both engines read the same way."""
    parts: list[str] = []
    for ch in value:
        if ch in _PLAIN and parts and parts[-1].startswith("'"):
            parts[-1] = parts[-1][:-1] + ch + "'"
        else:
            parts.append(f"'{ch}'" if ch in _PLAIN else f"chr({ord(ch)})")
    if not parts:
        return "''"
    return parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"


def value(v: Any) -> str | None:
    """A literal for a plain Python value (None when it has no portable literal)."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return number(v)
    if isinstance(v, str):
        return text(v)
    return None


def double(q: Quote, column: str) -> str:
    return f"CAST({q(column)} AS DOUBLE)"


def missing(x: str) -> str:
    return f"({x} IS NULL OR isnan({x}))"


def finite(x: str) -> str:
    """Not null, not NaN, not infinite (NaN compares above infinity in both engines)."""
    return f"({x} IS NOT NULL AND abs({x}) < {INF})"


def any_of(conditions: Sequence[str]) -> str:
    return "(" + " OR ".join(conditions) + ")" if conditions else "FALSE"


def all_of(conditions: Sequence[str]) -> str:
    return "(" + " AND ".join(conditions) + ")" if conditions else "TRUE"


def flag(condition: str) -> str:
    """A condition as 1/0 (never null)."""
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def close(a: str, b: str, atol: float, rtol: float) -> str:
    """`compare.within_tolerance` with missing = missing: never null."""
    bound = f"{number(atol)} + {number(rtol)} * greatest(abs({a}), abs({b}))"
    return (
        f"(CASE WHEN {missing(a)} OR {missing(b)} THEN {missing(a)} AND {missing(b)} "
        f"WHEN {a} = {b} THEN TRUE "
        f"WHEN {finite(a)} AND {finite(b)} THEN abs({a} - {b}) <= {bound} ELSE FALSE END)"
    )


def row_sum(terms: Sequence[str]) -> str:
    """numpy's sum of a row of `terms` (pairwise: eight partial sums from eight terms up), so
    a sum compares with a tolerance exactly as numpy's does."""
    if len(terms) < 8:
        return "(" + " + ".join(terms) + ")"
    partial = list(terms[:8])
    whole = len(terms) - len(terms) % 8
    for i in range(8, whole, 8):
        partial = [f"({partial[j]} + {terms[i + j]})" for j in range(8)]
    p = partial
    total = f"((({p[0]} + {p[1]}) + ({p[2]} + {p[3]})) + (({p[4]} + {p[5]}) + ({p[6]} + {p[7]})))"
    for term in terms[whole:]:
        total = f"({total} + {term})"
    return total


def argmax(values: Sequence[str]) -> str:
    """The first position of the row's largest value; null unless every value is finite."""
    top = f"greatest({', '.join(values)})" if len(values) > 1 else values[0]
    cases = " ".join(f"WHEN {v} = {top} THEN {j}" for j, v in enumerate(values))
    return f"(CASE WHEN NOT {all_of([finite(v) for v in values])} THEN NULL {cases} END)"


def largest_finite(values: Sequence[str]) -> str:
    """The row's largest finite value (null when none)."""
    kept = [f"CASE WHEN {finite(v)} THEN {v} END" for v in values]
    return f"greatest({', '.join(kept)})" if len(kept) > 1 else kept[0]


def key_text(q: Quote, key: Sequence[str]) -> str:
    """The key as one text (null when a part is null), to compare keys as single values."""
    parts = [f"CAST({q(k)} AS STRING)" for k in key]
    if len(parts) == 1:
        return parts[0]
    nulls = any_of([f"{q(k)} IS NULL" for k in key])
    return f"CASE WHEN {nulls} THEN NULL ELSE concat_ws(chr(31), {', '.join(parts)}) END"


def average_rank_twice(x: str, within: str) -> str:
    """Twice the average rank (1-based, ties averaged) of `x` among rows where `within` holds:
    an integer, so sums over it are exact. A tie of k rows from rank r averages r + (k - 1) / 2,
    twice that is r + (r + k - 1): rank() plus the rows at or below the value, which
    cume_dist() times the rows gives (rounded: exact below 2**51 rows). Both windows share one
    ordering; a count per (within, x) partition was a second one (1M rows: ~0.3 s CPU more)."""
    order = f"OVER (PARTITION BY {within} ORDER BY {x})"
    at_or_below = f"round(cume_dist() {order} * count(*) OVER (PARTITION BY {within}))"
    return f"CASE WHEN {within} THEN rank() {order} + CAST({at_or_below} AS BIGINT) END"


_SQL_TYPES = {
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
}


def sql_type(t: pa.DataType) -> str | None:
    """The SQL name of an Arrow type both engines have (None for others)."""
    t = logical_type(t)
    if pa.types.is_decimal(t) and t.precision <= 38:
        return f"DECIMAL({t.precision}, {t.scale})"
    return _SQL_TYPES.get(t)


def changed_by_cast(x: str, research: pa.DataType, production: pa.DataType) -> str | None:
    """A condition: research's value `x` does not come back unchanged from a cast to
    production's type (None when the types have no common SQL name)."""
    there, back = sql_type(production), sql_type(research)
    if there is None or back is None:
        return None
    trip = f"TRY_CAST(TRY_CAST({x} AS {there}) AS {back})"
    return f"({x} IS NOT NULL AND ({trip} IS NULL OR NOT ({trip} = {x})))"
