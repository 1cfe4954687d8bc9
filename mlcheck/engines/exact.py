"""Exact, order-independent float sums in SQL, so parallel sums never change a digit.

A finite non-zero double is `m * 2**(e - 52)` with `m` an integer of at most 55 bits when
`e` is at most its binary exponent. SQL groups the values by `e` and sums each group's `m` as a
128-bit integer (exact, any order); Python adds the groups as one integer and rounds once. The
result is the correctly rounded sum (what `math.fsum` gives), whatever the thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

# floor(log2|x|) may be off by one either way; one less keeps `m` an integer (below 2**55).
_EXPONENT = "CAST(floor(log2(abs({x}))) AS INTEGER) - 1"
# x * 2**(52 - e) in two exact power-of-two steps (2**(52 - e) alone overflows for tiny x).
_MANTISSA = (
    "CAST(({x}) * pow(2.0, least(52 - ({e}), 1000)) * pow(2.0, 52 - ({e}) - least(52 - ({e}), 1000))"
    " AS BIGINT)"
)


def exponent_sql(x: str) -> str:
    return _EXPONENT.format(x=x)


def mantissa_sql(x: str, e: str) -> str:
    return _MANTISSA.format(x=x, e=e)


def grouped_sum_sql(term: str, source: str, tag: str) -> str:
    """A query of (tag, e, sum of mantissas, sum of their absolute values, NaN terms, +inf
    terms, -inf terms) rows for the values of `term` over `source`; `exact_sum` adds them up
    (the sum of the terms, or with `absolute` the sum of their absolute values)."""
    e = exponent_sql("t")
    return (
        f"SELECT {tag} AS tag, e, CAST(sum(m) AS HUGEINT) AS m, CAST(sum(abs(m)) AS HUGEINT), "
        f"0 AS nans, 0 AS pos, 0 AS neg FROM (SELECT {e} AS e, {mantissa_sql('t', e)} AS m "
        f"FROM (SELECT {term} AS t FROM {source}) WHERE isfinite(t) AND t <> 0) GROUP BY e "
        f"UNION ALL SELECT {tag}, NULL, NULL, NULL, count(*) FILTER (WHERE isnan(t)), "
        "count(*) FILTER (WHERE t = 'inf'::DOUBLE), count(*) FILTER (WHERE t = '-inf'::DOUBLE) "
        f"FROM (SELECT {term} AS t FROM {source})"
    )


Row = tuple[int | None, int | None, int | None, int, int, int]


def exact_sum(rows: Iterable[Row], absolute: bool = False) -> float:
    """The correctly rounded sum from `grouped_sum_sql`'s rows (without their tag column)."""
    total, nans, pos, neg = 0, 0, 0, 0
    groups = []
    for e, m, abs_m, n_nan, n_pos, n_neg in rows:
        if e is None:
            nans, pos, neg = nans + n_nan, pos + n_pos, neg + n_neg
        elif abs_m if absolute else m:
            groups.append((int(e), int(abs_m if absolute else m)))  # type: ignore[arg-type]
    if absolute:
        pos, neg = pos + neg, 0
    if nans or (pos and neg):
        return math.nan
    if pos or neg:
        return math.inf if pos else -math.inf
    if not groups:
        return 0.0
    low = min(e for e, _ in groups)
    total = sum(m << (e - low) for e, m in groups)
    try:
        return float(Fraction(total) * Fraction(2) ** (low - 52))
    except OverflowError:
        return math.inf if total > 0 else -math.inf


# A query returning, per (source, term), the rows `exact_sum` reads; each engine runs its own.
ExactSums = Callable[[Sequence[tuple[str, str]]], list[list[Any]]]


def exact_moments(
    view: str,
    counts: Mapping[str, int],
    exact_sums: ExactSums,
    quoted: Callable[[str], str],
    literal: Callable[[float], str],
) -> dict[str, dict[str, Any]]:
    """Sum, mean, std (ddof=1) and the tolerance scales of each column's non-NaN values,
    from exact sums (two passes: the deviations need the mean). Shared by every SQL engine;
    `quoted` and `literal` write names and numbers in the engine's dialect."""
    if not counts:
        return {}

    def source(column: str) -> str:
        x = f"CAST({quoted(column)} AS DOUBLE)"
        return f"(SELECT {x} AS x FROM {view} WHERE {x} IS NOT NULL AND NOT isnan({x}))"

    names = list(counts)
    first = exact_sums([(source(c), "x") for c in names] + [(source(c), "x * x") for c in names])
    sums = {c: first[j] for j, c in enumerate(names)}
    squares = {c: first[len(names) + j] for j, c in enumerate(names)}
    means = {c: exact_sum(sums[c]) / counts[c] for c in names}
    deviations = exact_sums(
        [(source(c), f"(x - {literal(means[c])}) * (x - {literal(means[c])})") for c in names]
    )
    out = {}
    for j, c in enumerate(names):
        n, absolute = counts[c], exact_sum(sums[c], absolute=True)
        out[c] = {
            "sum": exact_sum(sums[c]),
            "mean": means[c],
            "std": math.sqrt(exact_sum(deviations[j]) / (n - 1)) if n > 1 else None,
            "abs_mean": absolute / n,
            "rms": math.sqrt(exact_sum(squares[c]) / n),
            "abs_sum": absolute,
        }
    return out
