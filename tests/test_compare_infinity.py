"""A finite value is never within tolerance of an infinity, whatever rtol says."""

from __future__ import annotations

import numpy as np

from mlcheck.compare import within_tolerance


def test_finite_against_infinity_is_a_difference_with_relative_tolerance() -> None:
    """Research 2.0 / 5.0 became +inf / -inf in production (division by an imputed 0): with
    rtol > 0, |2 - inf| <= rtol * inf would hold arithmetically; it must still count as a difference."""
    research = np.array([2.0, 5.0, np.inf, 1.0])
    production = np.array([np.inf, -np.inf, np.inf, 1.0 + 1e-12])
    assert within_tolerance(research, production, 1e-7, 1e-9).tolist() == [False, False, True, True]
    assert within_tolerance(production, research, 1e-7, 1e-9).tolist() == [False, False, True, True]
