"""mlcheck.drift: each statistic against its scipy reference (KS, Wasserstein, Jensen-Shannon,
chi-square, Benjamini-Hochberg) or a hand computation (PSI, pooling of rare categories)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlcheck import drift


def samples(n: int, m: int, shift: float, seed: int, decimals: int | None = None):  # type: ignore[no-untyped-def]
    """Two normal samples; rounding makes ties (discrete features)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n), rng.normal(shift, 1, m)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    return a, b


@pytest.mark.parametrize(
    ("n", "m", "shift", "decimals"),
    [(50, 80, 0.0, None), (500, 300, 0.3, None), (2000, 3000, 0.1, 1), (400, 400, 0.0, 0)],
)
def test_ks_matches_scipy_asymptotic(n: int, m: int, shift: float, decimals: int | None) -> None:
    a, b = samples(n, m, shift, seed=n + m, decimals=decimals)
    reference = stats.ks_2samp(a, b, method="asymp")
    found = drift.numeric_drift(np.sort(a), np.sort(b))
    assert found is not None
    assert found.ks == pytest.approx(reference.statistic, abs=1e-12)
    assert found.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("shift", "decimals"), [(0.0, None), (0.5, None), (0.2, 0)])
def test_wasserstein_matches_scipy_and_is_normalised_by_research_sd(
    shift: float, decimals: int | None
) -> None:
    a, b = samples(700, 900, shift, seed=3, decimals=decimals)
    a_sorted, b_sorted = np.sort(a), np.sort(b)
    assert drift.wasserstein(a_sorted, b_sorted) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-12
    )
    expected = stats.wasserstein_distance(a, b) / np.std(a, ddof=1)
    assert drift.normalised_wasserstein(a_sorted, b_sorted) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_fixed_reference_comparison_matches_scipy_on_random_shapes(seed: int) -> None:
    """The O(m log n) comparison against scipy on random sizes (1 to 300), heavy ties, offsets
    far from zero, live values outside the research range, and one-sided overlaps."""
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 300, size=2)
    offset = rng.choice([0.0, 1e6])
    a = np.round(rng.normal(offset, 3, n), rng.integers(0, 3))
    b = np.round(rng.normal(offset + rng.normal(0, 3), rng.uniform(0.1, 6), m), rng.integers(0, 3))
    found = drift.NumericReference(np.sort(a)).compare(np.sort(b))
    assert found is not None
    assert found.ks == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    w = stats.wasserstein_distance(a, b)
    sd = np.std(a, ddof=1) if n > 1 else 0.0
    expected = w / sd if sd > 0 else (0.0 if w == 0 else math.inf)
    assert found.wasserstein == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_one_reference_serves_many_chunks() -> None:
    a, b = samples(5000, 3000, 0.2, seed=9)
    reference = drift.NumericReference(np.sort(a))
    for chunk in np.array_split(b, 3):
        found = reference.compare(np.sort(chunk))
        assert found is not None
        assert found.ks == pytest.approx(stats.ks_2samp(a, chunk).statistic, abs=1e-12)


def test_large_samples_use_the_limit_law_within_a_percent_of_scipy() -> None:
    """Effective size 50,000 > KS_EXACT_MAX_N: the Kolmogorov limit law, close to scipy's exact
    finite-n law (which costs O(n) per call at this size)."""
    statistic = 1.5 / math.sqrt(50_000)
    found = drift.ks_p_value(statistic, 100_000, 100_000)
    assert found == pytest.approx(stats.kstwo.sf(statistic, 50_000), rel=0.01)
    assert found == pytest.approx(stats.kstwobign.sf(1.5))


def test_normalised_wasserstein_scale_free() -> None:
    """Moving a feature by 0.5 of its sd reads ~0.5 whatever the unit."""
    a, b = samples(20000, 20000, 0.5, seed=1)
    for scale in (1.0, 1000.0):
        found = drift.normalised_wasserstein(np.sort(a * scale), np.sort(b * scale))
        assert found == pytest.approx(0.5, abs=0.03)


def test_constant_research_feature_drifts_infinitely_or_not_at_all() -> None:
    same = np.full(10, 3.0)
    assert drift.normalised_wasserstein(same, same) == 0.0
    assert math.isinf(drift.normalised_wasserstein(same, np.full(10, 4.0)))


def test_finite_sorted_drops_nulls_and_infinities() -> None:
    values = np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0])
    assert drift.finite_sorted(values).tolist() == [1.0, 2.0, 3.0]
    assert drift.numeric_drift(np.array([]), np.array([1.0])) is None


@pytest.mark.parametrize(
    ("p", "q"),
    [([10, 20, 30, 40], [40, 30, 20, 10]), ([5, 0, 5], [1, 8, 1]), ([1, 1], [1, 1])],
)
def test_jensen_shannon_matches_scipy_base_2(p: list[int], q: list[int]) -> None:
    found = drift.jensen_shannon(np.array(p, float), np.array(q, float))
    assert found == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_psi_by_hand_with_epsilon_for_an_empty_category() -> None:
    """Shares research (0.5, 0.5, 0) vs live (0.25, 0.5, 0.25): the empty research share is
    floored at PSI_EPSILON, so the new category contributes (0.25 - 1e-4)·ln(0.25/1e-4)."""
    found = drift.psi(np.array([2.0, 2.0, 0.0]), np.array([1.0, 2.0, 1.0]))
    eps = drift.PSI_EPSILON
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0.0 + (0.25 - eps) * math.log(0.25 / eps)
    assert found == pytest.approx(by_hand, rel=1e-12)
    assert drift.psi(np.array([3.0, 1.0]), np.array([6.0, 2.0])) == 0.0


def test_chi_square_is_the_two_sample_contingency_test() -> None:
    reference, live = np.array([300.0, 200.0, 100.0]), np.array([80.0, 90.0, 30.0])
    statistic, dof, p = drift.chi_square(reference, live)
    expected = stats.chi2_contingency(np.vstack([reference, live]), correction=False)
    assert (statistic, dof, p) == pytest.approx((expected.statistic, expected.dof, expected.pvalue))


def test_chi_square_is_not_a_goodness_of_fit_against_research() -> None:
    """A goodness-of-fit test would treat research shares as exact and be far more alarmed."""
    reference, live = np.array([60.0, 40.0]), np.array([50.0, 50.0])
    _, _, p = drift.chi_square(reference, live)
    gof = stats.chisquare(live, live.sum() * reference / reference.sum()).pvalue
    assert p == pytest.approx(stats.chi2_contingency([reference, live], correction=False).pvalue)
    assert p > gof


def test_rare_categories_are_pooled_before_the_test() -> None:
    """Categories c and d have expected counts below 5 in the smaller sample: they are tested as
    one pooled column, so the table is 2 x 3."""
    reference, live = np.array([500.0, 400.0, 3.0, 2.0]), np.array([50.0, 40.0, 1.0, 0.0])
    pooled = drift.pool_rare(reference, live)
    assert pooled[0].tolist() == [500.0, 400.0, 5.0] and pooled[1].tolist() == [50.0, 40.0, 1.0]
    statistic, dof, p = drift.chi_square(reference, live)
    expected = stats.chi2_contingency(np.vstack(pooled), correction=False)
    assert (statistic, dof, p) == pytest.approx((expected.statistic, 2, expected.pvalue))


def test_categorical_drift_collects_effects_and_test() -> None:
    reference, live = np.array([400.0, 300.0, 200.0, 100.0]), np.array([356.0, 267.0, 178.0, 200.0])
    found = drift.categorical_drift(reference, live)
    assert found is not None
    assert found.jensen_shannon == pytest.approx(jensenshannon(reference, live, base=2))
    assert found.max_share_change == pytest.approx(200 / 1001 - 0.1)
    assert found.n_reference == 1000 and found.n_live == 1001
    assert drift.categorical_drift(reference, np.zeros(4)) is None


def test_shared_codes_align_categories_across_types_and_chunks() -> None:
    reference = pa.chunked_array(
        [pa.array(["a", "b"]).dictionary_encode(), pa.array(["b", None]).dictionary_encode()]
    )
    live = pa.chunked_array([pa.array(["c", "a"])])
    dictionary, ref_codes, live_codes = drift.shared_codes(reference, live)
    names = dictionary.to_pylist()
    assert [names[c] if c >= 0 else None for c in ref_codes] == ["a", "b", "b", None]
    assert [names[c] for c in live_codes] == ["c", "a"]
    assert drift.category_counts(ref_codes, len(names)).tolist() == [1.0, 2.0, 0.0]
    ints, text = pa.chunked_array([pa.array([1, 2])]), pa.chunked_array([pa.array(["2", "x"])])
    dictionary, ref_codes, live_codes = drift.shared_codes(ints, text)
    assert dictionary.to_pylist() == ["1", "2", "x"] and live_codes.tolist() == [1, 2]


def test_benjamini_hochberg_matches_scipy_and_skips_untested() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.5, 0.04])
    assert drift.benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))
    with_nan = drift.benjamini_hochberg([0.01, math.nan, 0.04])
    assert math.isnan(with_nan[1])
    assert with_nan[[0, 2]] == pytest.approx(stats.false_discovery_control([0.01, 0.04]))
    assert drift.benjamini_hochberg([]).shape == (0,)
