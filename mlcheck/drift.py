"""Drift statistics between a research sample and a live sample, vectorised with numpy.

Numeric features: the Kolmogorov–Smirnov statistic with its asymptotic p-value, and the
Wasserstein-1 distance divided by the research standard deviation (an effect size in "standard
deviations moved"). Categorical features: the Jensen–Shannon distance (base 2), the population
stability index, and a two-sample chi-square test on the 2 x k contingency table of counts.

A comparison is called drift only when its effect size reaches a threshold AND its
Benjamini–Hochberg-adjusted p-value is below alpha. The effect size keeps a million rows from
calling a negligible difference drift; the test keeps a hundred rows from calling noise drift.
Both apply at every sample size: there is no switch of method at a row count.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from mlcheck.engines.base import SortedValues

# PSI divides by each category's share; an empty category on one side would make it infinite.
# Shares are floored at this value (a category absent on one side counts as 0.01% of it), the
# common convention, so a new or vanished category adds a large but finite term.
PSI_EPSILON = 1.0e-4

# A chi-square test is only trustworthy when expected counts are not tiny. Categories whose
# expected count is below this on either side are pooled into one column before the test.
MIN_EXPECTED_COUNT = 5.0


@dataclass(frozen=True)
class NumericDrift:
    """A numeric comparison: normalised Wasserstein distance (effect) and KS (test)."""

    wasserstein: float
    ks: float
    p_value: float
    n_reference: int
    n_live: int

    @property
    def effect(self) -> float:
        return self.wasserstein


@dataclass(frozen=True)
class CategoricalDrift:
    """A categorical comparison: Jensen–Shannon distance and PSI (effects), chi-square (test)."""

    jensen_shannon: float
    psi: float
    max_share_change: float  # the largest absolute change of one category's share
    chi_square: float
    dof: int
    p_value: float
    n_reference: int
    n_live: int


# --------------------------------------------------------------------------- numeric


def finite_sorted(values: np.ndarray) -> np.ndarray:
    """The finite values of a numeric sample, sorted (nulls and infinities are stage 6's job)."""
    values = np.asarray(values, dtype=np.float64)
    return np.sort(values[np.isfinite(values)])


class NumericReference:
    """A sorted research sample prepared once, then compared with many live samples (chunks).

    Each comparison costs O(m log n) for m live values against n research values, not O(n + m):
    both empirical CDFs are step functions, and between two consecutive distinct live values
    the live CDF is a constant c while the research CDF only rises. So
    - the KS supremum is reached at a live value or just before the next one: two
      `searchsorted` calls of the live values give every candidate;
    - the area between the CDFs over such a segment [a, b) splits at the research quantile
      where F_ref crosses c, and integrates in closed form from G(x) = integral of F_ref up to
      x = (k·x - sum of the k research values <= x) / n, using prefix sums computed once.
    Values are centred on the research median first so the prefix sums keep their precision.
    Research values beyond 2**256 (1e77) are first scaled by a power of two, and live values
    clipped to 2**900, so that squares, prefix sums and areas stay inside float64's range; the
    statistics are unchanged, being ratios (Wasserstein / sd) or ranks (KS).
    """

    def __init__(self, sorted_values: np.ndarray) -> None:
        values = np.asarray(sorted_values, dtype=np.float64)
        self.n = len(values)
        self.scale = _scale_into_range(values)
        if self.scale != 1.0:
            values = values * self.scale
        self.centre = float(values[self.n // 2]) if self.n else 0.0
        self.values = values - self.centre
        self.prefix = np.zeros(self.n + 1)
        np.cumsum(self.values, out=self.prefix[1:])
        self.sd = float(np.std(values, ddof=1)) if self.n > 1 else 0.0
        # G at every research value, so a crossing point costs no search per comparison. For
        # the sorted values themselves, searchsorted(side="right") is the end of each value's run.
        k = _run_ends(self.values)
        self.g_values = (k * self.values - self.prefix[k]) / self.n if self.n else self.values

    def compare(self, live_sorted: np.ndarray) -> NumericDrift | None:
        """KS, its p-value and the normalised Wasserstein distance to a SORTED live sample."""
        return self.compare_centred(self.centre_live(np.array(live_sorted, dtype=np.float64)))

    def centre_live(self, values: np.ndarray) -> np.ndarray:
        """SORTED live values, in place, in this reference's frame: scaled like the research
        values, clipped to +-2**900 (a value that far out is drift whatever its exact size),
        minus `centre`."""
        if self.scale != 1.0:
            values *= self.scale
        if len(values) and max(-values[0], values[-1]) > _LIVE_LIMIT:
            np.clip(values, -_LIVE_LIMIT, _LIVE_LIMIT, out=values)
        values -= self.centre
        return values

    def compare_centred(self, centred: np.ndarray) -> NumericDrift | None:
        """`compare` of SORTED live values minus `centre` (an array this call may reuse)."""
        m = len(centred)
        if self.n == 0 or m == 0:
            return None
        distinct, live_count = self._steps_centred(centred)
        at, before = self.ranks(distinct)
        return self._drift(distinct, at, before, live_count, m)

    def ranks(self, centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """n·F_ref(v) and n·F_ref(v-) for SORTED centred values v: research values <= v, < v.

        One search: the two counts differ only where v equals a research value (then the
        research value just below `at` is v itself, and `before` is where its run starts).
        """
        at = self._at(centred)
        # at == 0 reads values[-1], the largest, which cannot equal a v below every value.
        tied = np.flatnonzero(self.values[at - 1] == centred)
        if len(tied) == 0:
            return at, at
        before = at.copy()
        before[tied] = self._run_starts[at[tied] - 1]
        return at, before

    @functools.cached_property
    def _run_starts(self) -> np.ndarray:
        """For each research value, the index where its run of equal values starts."""
        return _run_starts(self.values)

    def _at(self, centred: np.ndarray) -> np.ndarray:
        """Research values <= each SORTED centred value. Against a live sample as large as a
        good part of the research one, merging the two sorted runs (a stable sort of their
        concatenation is one linear merge) beats a binary search per value, about two to one."""
        m = len(centred)
        if m * 4 < self.n:
            return np.searchsorted(self.values, centred, side="right")
        # Research first: a live value lands after every research value equal to it, so its
        # position in the merge is (research values <= it) + (live values before it).
        merged = np.argsort(np.concatenate((self.values, centred)), kind="stable")
        at = np.flatnonzero(merged >= self.n)
        at -= np.arange(m)
        return at

    def _drift(
        self,
        distinct: np.ndarray,
        at: np.ndarray,
        before: np.ndarray,
        live_count: np.ndarray,
        m: int,
    ) -> NumericDrift:
        ks = self._ks(at, before, live_count / m)
        distance = self._area(distinct, at, live_count, m)
        return NumericDrift(
            wasserstein=_per_sd(distance, self.sd),
            ks=ks,
            p_value=ks_p_value(ks, self.n, m),
            n_reference=self.n,
            n_live=m,
        )

    def distance(self, live_sorted: np.ndarray) -> float:
        """The Wasserstein-1 distance (in the feature's own units) to a SORTED live sample."""
        if self.n == 0 or len(live_sorted) == 0:
            return math.nan
        distinct, live_count = self._steps(live_sorted)
        at = np.searchsorted(self.values, distinct, side="right")
        area = self._area(distinct, at, live_count, len(live_sorted))
        with np.errstate(over="ignore"):  # beyond float64 in the feature's units: inf
            return area / self.scale

    def _steps(self, live_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct live values (centred) and how many live values are <= each."""
        return self._steps_centred(self.centre_live(np.array(live_sorted, dtype=np.float64)))

    @staticmethod
    def _steps_centred(live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        is_last = np.empty(len(live), dtype=bool)  # the last of each run of equal values
        np.not_equal(live[1:], live[:-1], out=is_last[:-1])
        is_last[-1:] = True
        last = np.flatnonzero(is_last)
        return (live if len(last) == len(live) else live[last]), last + 1

    def _ks(self, at: np.ndarray, before: np.ndarray, live_cdf: np.ndarray) -> float:
        # max |F_ref(v_j) - F_live(v_j)| and max |F_ref(v_j-) - F_live(v_j-)|, F_live(v_0-) = 0;
        # one buffer, reused (at a million values, fresh temporaries cost more than the math).
        gap = np.divide(at, self.n)
        gap -= live_cdf
        gap_at = np.max(np.abs(gap, out=gap))
        np.divide(before, self.n, out=gap)
        gap[1:] -= live_cdf[:-1]
        gap_before = np.max(np.abs(gap, out=gap))
        return float(max(gap_at, gap_before))

    def _area(self, distinct: np.ndarray, at: np.ndarray, live_count: np.ndarray, m: int) -> float:
        # Segments (-inf, v_0), [v_0, v_1), ..., [v_last, +inf), clipped to the data's range.
        # The segments between live values are done in blocks that stay in the CPU cache; each
        # segment's area lands in `area`, summed once at the end.
        d = len(distinct)
        area = np.empty(d + 1)
        ends = np.array([min(self.values[0], distinct[0]), max(self.values[-1], distinct[-1])])
        g_last = (at[-1:] * distinct[-1:] - self.prefix[at[-1:]]) / self.n
        first = (ends[:1], distinct[:1], np.zeros(1), self._g(at[:1], distinct[:1]))
        area[:1] = self._segments(*first, np.zeros(1, dtype=np.int64), m)
        last = (distinct[-1:], ends[1:], g_last, self._integral(ends[1:]))
        area[d:] = self._segments(*last, live_count[-1:], m)
        for start in range(1, d, _AREA_BLOCK):
            stop = min(start + _AREA_BLOCK, d)
            x = distinct[start - 1 : stop]
            g = self._g(at[start - 1 : stop], x)
            count = live_count[start - 1 : stop - 1]
            area[start:stop] = self._segments(x[:-1], x[1:], g[:-1], g[1:], count, m)
        return float(np.sum(area))

    def _g(self, at: np.ndarray, x: np.ndarray) -> np.ndarray:
        """G at live values x, whose `at` (research values <= x) is known."""
        g = np.multiply(at, x)
        g -= self.prefix[at]
        g /= self.n
        return g

    def _segments(
        self,
        a: np.ndarray,
        b: np.ndarray,
        g_a: np.ndarray,
        g_b: np.ndarray,
        count: np.ndarray,
        m: int,
    ) -> np.ndarray:
        """Area between the CDFs on segments [a, b) where F_live = count/m: F_ref crosses c at
        t (a research value, clipped to the segment), so the area is
        c(t - a) - (G(t) - G(a)) + (G(b) - G(t)) - c(b - t)."""
        rank = count * self.n
        rank += m - 1
        rank //= m  # ceil(c·n): F_ref >= c from the rank-th research value on
        index = np.maximum(rank, 1)
        index -= 1
        t = self.values[index]
        t[rank <= 0] = -np.inf
        np.maximum(t, a, out=t)  # clip(crossing, a, b)
        np.minimum(t, b, out=t)
        g_t = self.g_values[index]
        at_b = t == b
        g_t[at_b] = g_b[at_b]
        at_a = t == a
        g_t[at_a] = g_a[at_a]
        c = np.divide(count, m)
        area = np.subtract(t, a)
        area *= c
        area -= np.subtract(g_t, g_a)
        area += np.subtract(g_b, g_t, out=g_t)
        rest = np.subtract(b, t, out=t)
        rest *= c
        area -= rest
        return area

    def _integral(self, x: np.ndarray) -> np.ndarray:
        """G(x) = integral of F_ref up to x = (k·x - sum of the k research values <= x) / n."""
        k = np.searchsorted(self.values, x, side="right")
        return (k * x - self.prefix[k]) / self.n


# Segments per block in `NumericReference._area`: the temporaries of a block fit in a CPU cache.
_AREA_BLOCK = 1 << 14

# Research values are scaled below this, live values clipped to _LIVE_LIMIT: n * 2**901 and the
# squares of research values then stay far inside float64's range (about 2**1024).
_RESEARCH_LIMIT = 2.0**256
_LIVE_LIMIT = 2.0**900


def _scale_into_range(sorted_values: np.ndarray) -> float:
    """1.0, or the power of two that brings the largest |value| below _RESEARCH_LIMIT (exact:
    multiplying by a power of two only moves the exponent)."""
    if len(sorted_values) == 0:
        return 1.0
    largest = max(-float(sorted_values[0]), float(sorted_values[-1]))
    if largest < _RESEARCH_LIMIT:
        return 1.0
    return math.ldexp(1.0, 256 - math.frexp(largest)[1])


def _run_bounds(sorted_values: np.ndarray) -> np.ndarray:
    """0, where each run of equal values after the first starts, and n. Neighbours are
    compared, not subtracted: centring may overflow two equal values to inf."""
    changes = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return np.concatenate(([0], changes, [len(sorted_values)]))


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """searchsorted(x, x, side="right") of a sorted array x in O(n): the end of each run."""
    bounds = _run_bounds(sorted_values)
    return np.repeat(bounds[1:], np.diff(bounds))


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """searchsorted(x, x, side="left") of a sorted array x in O(n): the start of each run."""
    bounds = _run_bounds(sorted_values)
    return np.repeat(bounds[:-1], np.diff(bounds))


def measure_windows(
    reference: NumericReference, live: np.ndarray, windows: Sequence[np.ndarray]
) -> list[NumericDrift | None]:
    """`reference.compare` of the finite live values at each window's rows (row indices into
    `live`, which may hold NaN or infinities): the whole window and each chunk. A window of
    every row needs no gather; only distinct values are searched in the research sample.

    Each window is sorted on its own, so a discrete feature's windows compare only their few
    distinct values."""
    live = np.asarray(live, dtype=np.float64)
    finite = np.isfinite(live)
    everything = bool(finite.all())
    results: list[NumericDrift | None] = []
    for rows in windows:
        if _every_row(rows, len(live)):
            values = live if everything else live[finite]
        else:
            values = live[rows if everything else rows[finite[rows]]]
        ordered = np.sort(values)  # sorted first: scaling and centring keep the order
        results.append(reference.compare_centred(reference.centre_live(ordered)))
    return results


def _every_row(rows: np.ndarray, n: int) -> bool:
    """Whether `rows` is 0, 1, ..., n-1."""
    if len(rows) != n:
        return False
    return n == 0 or (rows[0] == 0 and rows[-1] == n - 1 and bool(np.all(rows[1:] > rows[:-1])))


def ks_statistic(reference: np.ndarray, live: np.ndarray) -> float:
    """Two-sample KS statistic sup|F_ref - F_live| of two SORTED samples."""
    found = NumericReference(reference).compare(live)
    return math.nan if found is None else found.ks


# Up to this effective size the p-value uses the exact finite-n Kolmogorov law (as scipy's
# `ks_2samp(method="asymp")`); above it the limit law, which differs by < 1.1% of p there and
# costs O(1) instead of O(n). The test and the decision rule stay the same at every size.
KS_EXACT_MAX_N = 10_000


def ks_p_value(statistic: float, n_reference: int, n_live: int) -> float:
    """Two-sided asymptotic p-value of the two-sample KS statistic at effective size n·m/(n+m).

    With ties (discrete features) it is conservative, which errs towards fewer false alarms.
    """
    effective = float(np.round(n_reference * n_live / (n_reference + n_live)))
    if effective < 1:  # one row a side: the exact two-sample p-value is 1 (no evidence either way)
        return 1.0
    if effective <= KS_EXACT_MAX_N:
        from scipy import stats  # the exact law; scipy.stats takes a second to import

        p = stats.kstwo.sf(statistic, effective)
    else:
        from scipy.special import kolmogorov  # scipy.stats.kstwobign.sf computes it

        p = kolmogorov(statistic * math.sqrt(effective))
    return float(np.clip(p, 0.0, 1.0))


def wasserstein(reference: np.ndarray, live: np.ndarray) -> float:
    """Wasserstein-1 distance of two SORTED samples: the area between their empirical CDFs."""
    return NumericReference(reference).distance(live)


def normalised_wasserstein(reference: np.ndarray, live: np.ndarray) -> float:
    """Wasserstein-1 divided by the research standard deviation (ddof=1).

    A constant research feature has no scale: any move away from it is infinite drift.
    """
    found = NumericReference(reference).compare(live)
    return math.nan if found is None else found.wasserstein


def _per_sd(distance: float, sd: float) -> float:
    if sd > 0 and np.isfinite(sd):
        return distance / sd
    return 0.0 if distance == 0 else float("inf")


def numeric_drift(reference: np.ndarray, live: np.ndarray) -> NumericDrift | None:
    """Compare two SORTED finite samples; None when either is empty."""
    return NumericReference(reference).compare(live)


# --------------------------------------------------------------------------- categorical


def shared_codes(
    reference: pa.ChunkedArray | pa.Array, live: pa.ChunkedArray | pa.Array
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Integer codes of two categorical samples over one shared dictionary; -1 marks a null.

    Counting a subset (a chunk) is then one `np.bincount` of its codes. The dictionary lists
    the values present in first-seen order (research rows first), as dictionary-encoding the
    concatenated values gives.
    """
    coded = _dictionary_codes(reference, live)
    if coded is not None:
        return coded
    reference, live = _plain(reference), _plain(live)
    if reference.type != live.type:
        reference, live = _as_text(reference), _as_text(live)
    chunks = _chunks_of(reference) + _chunks_of(live)
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=reference.type)).combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    split = len(reference)
    return encoded.dictionary, codes[:split], codes[split:]


def _dictionary_codes(
    reference: pa.ChunkedArray | pa.Array, live: pa.ChunkedArray | pa.Array
) -> tuple[pa.Array, np.ndarray, np.ndarray] | None:
    """`shared_codes` of two dictionary-encoded samples without decoding a row: the chunks'
    dictionaries are unified and the codes renumbered in first-seen order. None for another
    layout or a dictionary holding a null entry."""
    chunks = _chunks_of(reference) + _chunks_of(live)
    if not chunks or len({c.type for c in chunks}) != 1:
        return None
    kind = chunks[0].type
    if not pa.types.is_dictionary(kind) or not pa.types.is_signed_integer(kind.index_type):
        return None
    unified = pa.chunked_array(chunks, type=kind).unify_dictionaries()
    dictionary = unified.chunk(0).dictionary
    if dictionary.null_count:
        return None
    codes = np.concatenate(
        [
            np.asarray(c.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            for c in unified.chunks
        ]
    )
    order = _first_seen(codes, len(dictionary))
    renumber = np.full(len(dictionary) + 1, -1, dtype=np.int64)  # the extra slot keeps -1 at -1
    renumber[order] = np.arange(len(order))
    codes = renumber[codes]
    split = len(reference)
    return dictionary.take(pa.array(order, type=pa.int64())), codes[:split], codes[split:]


def _first_seen(codes: np.ndarray, size: int) -> np.ndarray:
    """The codes present, ordered by their first row. Categories usually all show up early, so
    growing heads of the rows are searched before (at worst) all of them."""
    present = np.count_nonzero(np.bincount(codes[codes >= 0], minlength=size))
    length = 1 << 12
    while True:
        values, first = np.unique(codes[:length], return_index=True)
        first, values = first[values >= 0], values[values >= 0]
        if len(values) == present or length >= len(codes):
            return values[np.argsort(first)]
        length <<= 3


def category_counts(codes: np.ndarray, size: int) -> np.ndarray:
    """Counts per category code (nulls, coded -1, are left out)."""
    return np.bincount(codes[codes >= 0], minlength=size).astype(np.float64)


def _chunks_of(values: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def _plain(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    # Dictionary chunks may each carry their own dictionary; decode so codes are shared.
    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values


def _as_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return values.cast(pa.string())


def jensen_shannon(reference: np.ndarray, live: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, so in [0, 1]) of two count vectors on the same categories."""
    p = reference / reference.sum()
    q = live / live.sum()
    m = (p + q) / 2
    divergence = 0.5 * _kl_bits(p, m) + 0.5 * _kl_bits(q, m)
    return float(np.sqrt(max(divergence, 0.0)))


def _kl_bits(p: np.ndarray, m: np.ndarray) -> float:
    # 0·log(0/m) = 0; m > 0 wherever p > 0 because m is the average of p and q.
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))


def psi(reference: np.ndarray, live: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index sum((q - p)·ln(q / p)), shares floored at `epsilon`."""
    p = np.maximum(reference / reference.sum(), epsilon)
    q = np.maximum(live / live.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def pool_rare(reference: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool the categories whose expected count is below MIN_EXPECTED_COUNT into one column."""
    total = reference.sum() + live.sum()
    column = reference + live
    expected_min = column * min(reference.sum(), live.sum()) / total
    rare = expected_min < MIN_EXPECTED_COUNT
    if rare.sum() <= 1:
        return reference, live
    pooled_ref = np.append(reference[~rare], reference[rare].sum())
    pooled_live = np.append(live[~rare], live[rare].sum())
    return pooled_ref, pooled_live


def chi_square(reference: np.ndarray, live: np.ndarray) -> tuple[float, int, float]:
    """Two-sample chi-square test of homogeneity on the 2 x k table (no continuity correction).

    Both rows are samples; this is never a goodness-of-fit test against research counts taken as
    exact, which would ignore the research sample's own noise. Returns (statistic, dof, p-value).
    """
    table = np.vstack(pool_rare(reference, live))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    from scipy.special import chdtrc  # the chi-square survival function (scipy.stats.chi2.sf)

    return statistic, dof, float(chdtrc(dof, statistic))


def categorical_drift(reference: np.ndarray, live: np.ndarray) -> CategoricalDrift | None:
    """Compare two count vectors on the same categories; None when either side is empty."""
    if reference.sum() == 0 or live.sum() == 0:
        return None
    statistic, dof, p_value = chi_square(reference, live)
    return CategoricalDrift(
        jensen_shannon=jensen_shannon(reference, live),
        psi=psi(reference, live),
        max_share_change=float(np.max(np.abs(reference / reference.sum() - live / live.sum()))),
        chi_square=statistic,
        dof=dof,
        p_value=p_value,
        n_reference=int(reference.sum()),
        n_live=int(live.sum()),
    )


# --------------------------------------------------------------------------- decision


def material(
    result: NumericDrift | CategoricalDrift,
    *,
    wasserstein: float,
    jensen_shannon: float,
    psi: float,
) -> bool:
    """Whether an effect is large enough to matter: normalised Wasserstein for numeric data;
    Jensen-Shannon distance or PSI for categories."""
    if isinstance(result, NumericDrift):
        return result.wasserstein >= wasserstein
    return result.jensen_shannon >= jensen_shannon or result.psi >= psi


# --------------------------------------------------------------------------- multiple testing


def benjamini_hochberg(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values; NaN (untested) entries stay NaN and do not count."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    if len(tested) == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    ranks = np.arange(1, len(order) + 1)
    scaled = p[order] * len(order) / ranks
    # Step-up: each adjusted value is the smallest scaled value at or above its rank.
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted


# --------------------------------------------------------------------------- rank grids

# Past this many finite values a side (or a chunk), numeric drift is measured on a rank grid of
# that many order statistics (the engine's `sorted_values_many`) instead of every value; at or
# below it every value is compared (exact). The error bounds are `grid_errors`'.
DRIFT_GRID = 1_000_000


def compare_sorted(
    reference: NumericReference, ref: SortedValues, live: SortedValues
) -> NumericDrift | None:
    """`reference` (prepared from `ref.sample`) against `live`: KS and normalised Wasserstein of
    the samples, the p-value at the true sizes (n, m). Centres a copy of the live sample."""
    found = reference.compare_centred(reference.centre_live(np.array(live.sample)))
    if found is None or (ref.exact and live.exact):
        return found
    p = ks_p_value(found.ks, ref.n, live.n)
    return NumericDrift(found.wasserstein, found.ks, p, ref.n, live.n)


def grid_errors(
    reference: NumericReference, ref: SortedValues, live: SortedValues, found: NumericDrift
) -> tuple[float, float]:
    """Bounds on |measured - exact| of KS and of the normalised Wasserstein distance when a side
    is a rank grid of K points (0, 0 when both are exact).

    KS: each grid CDF is below the true one by less than 1/K, so KS moves by less than 1/K.
    Wasserstein: on ((i-1)/K, i/K] the true quantile function lies between grid values i-1 and
    i (the least value for i = 1), so a grid is within W1 <= (max - min) / K and W2 <=
    sqrt(sum of squared grid gaps / K) of its data; W1 of the pair moves by at most the sum of
    the W1 terms, and the research sd by at most W2 (a standard deviation is an L2 norm). The
    bound is the largest move of the ratio over those ranges."""
    if ref.exact and live.exact:
        return 0.0, 0.0
    grids = [s for s in (ref, live) if not s.exact]
    k = max(len(s.values) - 1 for s in grids)
    w1 = sum(float(s.values[-1] - s.values[0]) / (len(s.values) - 1) for s in grids)
    sd = reference.sd / reference.scale
    distance = found.wasserstein * sd if math.isfinite(found.wasserstein) else math.inf
    if ref.exact:
        low_sd = high_sd = sd
    else:
        kr = len(ref.values) - 1
        w2 = math.sqrt(float(np.sum(np.diff(ref.values) ** 2)) / kr)
        spread = sd * math.sqrt((kr - 1) / kr)  # the grid's population sd
        scale = math.sqrt(ref.n / (ref.n - 1))
        low_sd, high_sd = max(spread - w2, 0.0) * scale, (spread + w2) * scale
    low = max(distance - w1, 0.0) / high_sd if high_sd > 0 else math.inf
    high = (distance + w1) / low_sd if low_sd > 0 else math.inf
    measured = found.wasserstein
    return 1.0 / k, max(abs(measured - low), abs(high - measured))
