"""Spark's exact integer sums (`spark._exact_integer_sum`): BIGINT terms up to 2**62 in
magnitude, of both signs, cut into three pieces summed as BIGINTs and recombined once, give
Python's exact integer sum (a naive BIGINT sum of these terms would overflow)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlcheck.engines.spark import _exact_integer_sum

pytestmark = pytest.mark.spark

EXTREMES = [2**62 - 1, -(2**62) + 1, 2**62 - 1, 2**62 - 1, -1, 1, 0, 2**21, -(2**21), 2**42 - 1]


def spark_sum(session: Any, values: list[int]) -> int:
    frame = session.createDataFrame([(v,) for v in values], "x BIGINT")
    frame.createOrReplaceTempView("exact_terms")
    try:
        [(found,)] = session.sql(f"SELECT {_exact_integer_sum('x')} FROM exact_terms").collect()
    finally:
        session.catalog.dropTempView("exact_terms")
    return int(found)


def test_extreme_terms_sum_exactly(spark_session: Any) -> None:
    """Terms near +-2**62 (their plain BIGINT sum overflows) and at the pieces' borders."""
    values = EXTREMES * 7
    assert spark_sum(spark_session, values) == sum(values)
    assert sum(values) > 2**63  # the case a plain BIGINT sum cannot hold


def test_random_terms_of_both_signs(spark_session: Any) -> None:
    rng = np.random.default_rng(5)
    values = [int(v) for v in rng.integers(-(2**62) + 1, 2**62, 500)]
    assert spark_sum(spark_session, values) == sum(values)
    assert spark_sum(spark_session, [abs(v) for v in values]) == sum(abs(v) for v in values)


def test_only_nulls_sum_to_null(spark_session: Any) -> None:
    """No term: NULL, as the plain sum gives (read as 0 by `exact.fixed_sum`)."""
    frame = spark_session.createDataFrame([(None,), (None,)], "x BIGINT")
    frame.createOrReplaceTempView("exact_nulls")
    try:
        [(found,)] = spark_session.sql(
            f"SELECT {_exact_integer_sum('x')} FROM exact_nulls"
        ).collect()
    finally:
        spark_session.catalog.dropTempView("exact_nulls")
    assert found is None
