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

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

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


def ks_statistic(reference: np.ndarray, live: np.ndarray) -> float:
    """Two-sample KS statistic sup|F_ref - F_live| of two SORTED samples.

    The empirical CDFs are evaluated at every observed value with `searchsorted(side="right")`,
    which handles ties exactly as the definition requires.
    """
    points = np.concatenate([reference, live])
    cdf_ref = np.searchsorted(reference, points, side="right") / len(reference)
    cdf_live = np.searchsorted(live, points, side="right") / len(live)
    return float(np.max(np.abs(cdf_ref - cdf_live)))


def ks_p_value(statistic: float, n_reference: int, n_live: int) -> float:
    """Two-sided asymptotic p-value: the exact one-sample KS law at the effective size n·m/(n+m).

    This is scipy's `ks_2samp(method="asymp")`; with ties (discrete features) it is conservative,
    which errs towards fewer false alarms.
    """
    effective = n_reference * n_live / (n_reference + n_live)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))


def wasserstein(reference: np.ndarray, live: np.ndarray) -> float:
    """Wasserstein-1 distance of two SORTED samples: the area between their empirical CDFs."""
    points = np.sort(np.concatenate([reference, live]))
    widths = np.diff(points)
    cdf_ref = np.searchsorted(reference, points[:-1], side="right") / len(reference)
    cdf_live = np.searchsorted(live, points[:-1], side="right") / len(live)
    return float(np.sum(np.abs(cdf_ref - cdf_live) * widths))


def normalised_wasserstein(reference: np.ndarray, live: np.ndarray) -> float:
    """Wasserstein-1 divided by the research standard deviation (ddof=1).

    A constant research feature has no scale: any move away from it is infinite drift.
    """
    distance = wasserstein(reference, live)
    scale = float(np.std(reference, ddof=1)) if len(reference) > 1 else 0.0
    if scale > 0 and np.isfinite(scale):
        return distance / scale
    return 0.0 if distance == 0 else float("inf")


def numeric_drift(reference: np.ndarray, live: np.ndarray) -> NumericDrift | None:
    """Compare two SORTED finite samples; None when either is empty."""
    if len(reference) == 0 or len(live) == 0:
        return None
    ks = ks_statistic(reference, live)
    return NumericDrift(
        wasserstein=normalised_wasserstein(reference, live),
        ks=ks,
        p_value=ks_p_value(ks, len(reference), len(live)),
        n_reference=len(reference),
        n_live=len(live),
    )


# --------------------------------------------------------------------------- categorical


def shared_codes(
    reference: pa.ChunkedArray | pa.Array, live: pa.ChunkedArray | pa.Array
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Integer codes of two categorical samples over one shared dictionary; -1 marks a null.

    Counting a subset (a chunk) is then one `np.bincount` of its codes.
    """
    reference, live = _plain(reference), _plain(live)
    if reference.type != live.type:
        reference, live = _as_text(reference), _as_text(live)
    chunks = _chunks_of(reference) + _chunks_of(live)
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=reference.type)).combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    split = len(reference)
    return encoded.dictionary, codes[:split], codes[split:]


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
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


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
