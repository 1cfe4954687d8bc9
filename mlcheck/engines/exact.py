"""Exact, order-independent float sums in SQL, so parallel sums never change a digit.

A finite non-zero double is `m * 2**(e - 52)` with `m` an integer of at most 55 bits when
`e` is at most its binary exponent. SQL groups the values by `e` and sums each group's `m` as a
128-bit integer (exact, any order); Python adds the groups as one integer and rounds once. The
result is the correctly rounded sum (what `math.fsum` gives), whatever the thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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


# ---- fixed-point sums: one pass, no grouping (what profiles use)

# Each term is cut into two 62-bit integers on a grid below the column's largest term.
_LOW_BITS = 62
_WIDTH = 5  # aggregates per term in `fixed_sums_sql`


@dataclass(frozen=True)
class Dialect:
    """How an engine writes the few pieces the fixed-point sums need."""

    literal: Callable[[float], str]
    truncate: Callable[[str], str]  # a double cut toward zero, still a double
    to_integer: Callable[[str], str]  # a double holding an integer, as BIGINT (exactly)
    integer_sum: Callable[[str], str]  # the exact sum of BIGINT values (128-bit or DECIMAL)
    finite: Callable[[str], str]


def grid_shift(bound: float) -> int:
    """`s` such that every finite term of magnitude at most `bound` times 2**s is below 2**61
    (a margin of one bit); the grid is then 2**-(s + 62)."""
    if not math.isfinite(bound) or bound <= 0:
        return 60 - (1023 if bound else 0)
    return 60 - math.frexp(bound)[1]


def fixed_sums_sql(
    source: str,
    terms: Sequence[tuple[str, int]],
    d: Dialect,
    signed: int | None = None,
    *,
    finite: Sequence[bool] = (),
    weight: str | None = None,
) -> str:
    """A one-row query of five aggregates per (term, shift) over `source`: the exact sums of
    the term's high and low integer parts and of their absolute values, and whether it holds
    a NaN, +inf or -inf (bits 1, 2, 4 of one `bit_or`: a third cheaper than three counts; a
    NULL term is left out). Only the first `signed` terms (default all) get
    the sums of absolute values; the others are known not to be negative (NULL there). A finite term `t` becomes `t * 2**shift` (exact: a
    power of two), whose integer part is the high part and whose fraction times 2**62 cut
    toward zero the low part; `fixed_sum` reads them back. Each piece is computed once, in
    layers, as both engines evaluate a repeated expression again.
    A term flagged in `finite` is known never to be NaN or infinite (from the column's
    extremes): its flags are a constant 0 and its scaling needs no test (a quarter of the
    query's cost). With `weight` (an integer column of `source`), each row stands for
    `weight` rows: its parts are summed times the weight (rows grouped by value)."""
    scaled, parts, aggregates = [], [], []
    two = d.literal(2.0**_LOW_BITS)
    carried, passed = ([], []) if weight is None else ([f"{weight} AS n__"], ["n__"])
    times = "" if weight is None else " * n__"
    for j, (term, shift) in enumerate(terms):
        factors = "".join(f" * {d.literal(f)}" for f in _powers_of_two(shift))
        known = j < len(finite) and finite[j]
        if known:
            scaled.append(f"({term}){factors} AS v{j}")
            parts.append(f"v{j}, {d.truncate(f'v{j}')} AS w{j}")
        else:
            scaled.append(
                f"{term} AS t{j}, CASE WHEN {d.finite(term)} THEN ({term}){factors} END AS v{j}"
            )
            parts.append(f"t{j}, v{j}, {d.truncate(f'v{j}')} AS w{j}")
        high, low = d.to_integer(f"w{j}"), d.to_integer(d.truncate(f"(v{j} - w{j}) * {two}"))
        absolute = signed is None or j < signed
        aggregates += [
            d.integer_sum(f"{high}{times}"),
            d.integer_sum(f"{low}{times}"),
            d.integer_sum(f"abs({high}){times}") if absolute else "NULL",
            d.integer_sum(f"abs({low}){times}") if absolute else "NULL",
            "0"
            if known
            else f"bit_or(CASE WHEN t{j} IS NULL OR {d.finite(f't{j}')} THEN 0 "
            f"WHEN isnan(t{j}) THEN 1 WHEN t{j} > 0 THEN 2 ELSE 4 END)",
        ]
    return (
        f"SELECT {', '.join(aggregates)} FROM (SELECT {', '.join(parts + passed)} "
        f"FROM (SELECT {', '.join(scaled + carried)} FROM {source}) s) p"
    )


def fixed_sum(values: Sequence[Any], shift: int, absolute: bool = False) -> float:
    """The sum (or the sum of absolute values) from `fixed_sums_sql`'s five aggregates,
    rounded once: exact for every term on the grid 2**-(shift + 62) (see `grid_shift`)."""
    high, low, abs_high, abs_low, flags = (int(v or 0) for v in values)
    nans, pos, neg = flags & 1, flags & 2, flags & 4
    if absolute:
        high, low, pos, neg = abs_high, abs_low, pos + neg, 0
    if nans or (pos and neg):
        return math.nan
    if pos or neg:
        return math.inf if pos else -math.inf
    total = (high << _LOW_BITS) + low
    try:
        return float(Fraction(total) * Fraction(2) ** -(shift + _LOW_BITS))
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def _powers_of_two(shift: int) -> list[float]:
    """Factors whose product is 2**shift, each a finite double (2**shift alone may not be)."""
    factors = []
    while shift:
        step = max(-1000, min(1000, shift))
        factors.append(2.0**step)
        shift -= step
    return factors


def fixed_moments(
    view: str,
    columns: Mapping[str, tuple[int, float]],
    run: Callable[[str], Sequence[Any]],
    quoted: Callable[[str], str],
    d: Dialect,
    weight: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Sum, mean, std (ddof=1) and the tolerance scales of each column's non-NaN values, from
    fixed-point sums in two one-row queries (the deviations need the mean). `columns` maps a
    column to its count of such values and the largest magnitude among them; `run` returns a
    query's one row. With `weight`, each row of `view` stands for that many rows (a column's
    values grouped with their counts: the same sums, read from the groups)."""
    names = [c for c, (n, _) in columns.items() if n]
    if not names:
        return {}

    numbers = ", ".join(
        f"CASE WHEN isnan(CAST({quoted(c)} AS DOUBLE)) THEN NULL "
        f"ELSE CAST({quoted(c)} AS DOUBLE) END AS x{j}"
        for j, c in enumerate(names)
    )
    carried = "" if weight is None else f", {weight} AS w__"
    source = f"(SELECT {numbers}{carried} FROM {view}) x"
    weights = None if weight is None else "w__"
    bounds = {c: columns[c][1] for c in names}
    first = {c: (grid_shift(bounds[c]), grid_shift(bounds[c] * bounds[c])) for c in names}
    terms = [(f"x{j}", first[c][0]) for j, c in enumerate(names)]
    terms += [(f"x{j} * x{j}", first[c][1]) for j, c in enumerate(names)]
    # NaN is left out above: a term can only be infinite through an infinite bound or overflow
    finite = [math.isfinite(bounds[c]) for c in names]
    finite += [math.isfinite(bounds[c] * bounds[c]) for c in names]
    row = run(fixed_sums_sql(source, terms, d, len(names), finite=finite, weight=weights))
    k = len(names)
    sums = {c: row[_WIDTH * j : _WIDTH * (j + 1)] for j, c in enumerate(names)}
    squares = {c: row[_WIDTH * (k + j) : _WIDTH * (k + j + 1)] for j, c in enumerate(names)}
    means = {c: fixed_sum(sums[c], first[c][0]) / columns[c][0] for c in names}
    shifts = {c: grid_shift(_deviation_bound(bounds[c], means[c])) for c in names}
    deviations = [
        (f"(x{j} - {d.literal(means[c])}) * (x{j} - {d.literal(means[c])})", shifts[c])
        for j, c in enumerate(names)
    ]
    far = [_deviation_bound(bounds[c], means[c]) for c in names]
    finite = [math.isfinite(f) for f in far]
    row = run(fixed_sums_sql(source, deviations, d, 0, finite=finite, weight=weights))
    out = {}
    for j, c in enumerate(names):
        n, absolute = columns[c][0], fixed_sum(sums[c], first[c][0], absolute=True)
        variance = fixed_sum(row[_WIDTH * j : _WIDTH * (j + 1)], shifts[c])
        out[c] = {
            "sum": fixed_sum(sums[c], first[c][0]),
            "mean": means[c],
            "std": math.sqrt(variance / (n - 1)) if n > 1 else None,
            "abs_mean": absolute / n,
            "rms": math.sqrt(fixed_sum(squares[c], first[c][1]) / n),
            "abs_sum": absolute,
        }
    return out


def _deviation_bound(bound: float, mean: float) -> float:
    """The largest (x - mean)**2 for |x| <= bound, in doubles as SQL computes it (rounding is
    monotone, so no term exceeds it)."""
    if not math.isfinite(mean):
        return math.inf
    far = bound + abs(mean)
    return far * far
