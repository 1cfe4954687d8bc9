"""Spark's local-mode defaults: as many shuffle partitions as cores (Spark's own default is 200
tasks per grouped question), never overriding a number the user's configuration names."""

from __future__ import annotations

import os
from typing import Any

import pytest

from mlcheck.engines import spark


@pytest.mark.parametrize(
    ("master", "cores"),
    [("local", 1), ("local[3]", 3), ("local[2, 4]", 2), ("local[*]", os.cpu_count() or 1)],
)
def test_local_cores_read_from_the_master(master: str, cores: int) -> None:
    assert spark._local_cores(master) == cores


@pytest.mark.spark
def test_a_configured_number_of_shuffle_partitions_is_kept(spark_session: Any) -> None:
    """The suite's session names 1 partition in its builder: the defaults leave it alone."""
    spark._local_defaults(spark_session, "local[8]")
    assert spark_session.conf.get(spark._SHUFFLE) == "1"


@pytest.mark.spark
def test_a_cluster_master_is_left_alone(spark_session: Any) -> None:
    spark._local_defaults(spark_session, "spark://cluster:7077")
    assert spark_session.conf.get(spark._SHUFFLE) == "1"
