"""Local mode's driver memory: Spark's own default (1 GiB) is the whole heap of local mode, where
the driver is also the executor, and a 1M x 33 run died in stage 5 with it. mlcheck's default is
a quarter of the machine's memory (1 to 31 GiB), `--memory-limit` is the driver's memory, and
whatever the user configured (checklist conf, PYSPARK_SUBMIT_ARGS, spark-defaults.conf) wins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlcheck.engines import EngineSettings, spark
from mlcheck.errors import UsageError

GIB = 1 << 30


@pytest.fixture(autouse=True)
def no_user_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PYSPARK_SUBMIT_ARGS and an empty conf folder (the suite names one for its CLI runs)."""
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))


def test_the_default_is_a_quarter_of_this_machine() -> None:
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected = min(31 * GIB, max(GIB, machine // 4)) >> 20
    assert spark.driver_memory(EngineSettings("spark")) == f"{expected}m"


@pytest.mark.parametrize(
    ("machine", "heap"),
    [(2 * GIB, "1024m"), (24 * GIB, "6144m"), (512 * GIB, "31744m")],
)
def test_the_default_stays_between_1_and_31_gib(
    monkeypatch: pytest.MonkeyPatch, machine: int, heap: str
) -> None:
    monkeypatch.setattr(spark, "_machine_memory", lambda: machine)
    assert spark.driver_memory(EngineSettings("spark")) == heap


def test_an_unknown_machine_keeps_sparks_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark, "_machine_memory", lambda: None)
    assert spark.driver_memory(EngineSettings("spark")) == "1g"


@pytest.mark.parametrize(
    ("limit", "heap"),
    # 4GB = 4e9 bytes = 3814.7 MiB; Spark reads "4GiB" or "1.5GB" as no size at all.
    [("4GB", "3814m"), ("4GiB", "4096m"), ("1.5 GB", "1430m"), ("512mb", "488m")],
)
def test_the_memory_limit_is_the_drivers_memory_in_sparks_units(limit: str, heap: str) -> None:
    assert spark.driver_memory(EngineSettings("spark", memory_limit=limit)) == heap


@pytest.mark.parametrize("limit", ["lots", "100MB"])
def test_a_limit_that_is_no_size_or_too_small_is_a_usage_error(limit: str) -> None:
    with pytest.raises(UsageError, match="memory limit"):
        spark.driver_memory(EngineSettings("spark", memory_limit=limit))


def test_the_users_conf_wins_over_the_limit() -> None:
    settings = EngineSettings("spark", memory_limit="4GB")
    assert spark.driver_memory(settings, {"spark.driver.memory": "2g"}) == "2g"


@pytest.mark.parametrize(
    "submit", ["--driver-memory 3g pyspark-shell", "--conf spark.driver.memory=3g pyspark-shell"]
)
def test_pyspark_submit_args_win(monkeypatch: pytest.MonkeyPatch, submit: str) -> None:
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", submit)
    assert spark.driver_memory(EngineSettings("spark")) == "3g"


def test_spark_defaults_conf_wins(tmp_path: Path) -> None:
    (tmp_path / "spark-defaults.conf").write_text(
        "# a comment\nspark.driver.memoryOverhead 1g\nspark.driver.memory   5g\n", encoding="utf-8"
    )
    assert spark.driver_memory(EngineSettings("spark")) == "5g"
