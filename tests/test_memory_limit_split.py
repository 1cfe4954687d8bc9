"""`--memory-limit` caps the whole process: DuckDB gets the limit less an allowance for
Python's working set (`PYTHON_ALLOWANCE`, never less than half the limit), and a limit that is
not a size, or is too small to start in, is a usage error (exit 2) rather than a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlcheck.engine import PYTHON_ALLOWANCE, _start_engine, duckdb_share, memory_bytes
from mlcheck.engines import EngineSettings
from mlcheck.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
CREDIT = ROOT / "checklists" / "credit.yaml"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("3GB", 3 * 10**9),
        ("3 GiB", 3 << 30),
        ("512mb", 512 * 10**6),
        ("1.5GB", 1_500_000_000),
        ("700MiB", 700 * MiB),
        ("4096", 4096),
        ("foo", None),
        ("3XB", None),
        ("-1GB", None),
        ("", None),
    ],
)
def test_sizes_read_as_duckdb_reads_them(text: str, size: int | None) -> None:
    assert memory_bytes(text) == size


def test_duckdb_gets_the_limit_less_pythons_allowance() -> None:
    """3GB = 2861 MiB; less 1 GiB: 1837 MiB. 1.5GB = 1430 MiB: half of it (715) is more than
    the limit less the allowance (406), so half."""
    assert PYTHON_ALLOWANCE == 1 << 30
    assert duckdb_share("3GB") == f"{(3 * 10**9 - PYTHON_ALLOWANCE) // MiB}MiB" == "1837MiB"
    assert duckdb_share("1.5GB") == f"{1_500_000_000 // 2 // MiB}MiB" == "715MiB"


def test_the_engine_started_for_a_run_holds_its_share() -> None:
    engine = _start_engine(EngineSettings("duckdb", memory_limit="4GiB", threads=1))
    found = engine._rows("SELECT current_setting('memory_limit')")[0][0]  # type: ignore[attr-defined]
    assert found == "3.0 GiB"
    engine.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", ["foo", "10KB"])
def test_a_limit_that_is_no_size_is_a_usage_error(limit: str) -> None:
    with pytest.raises(UsageError):
        duckdb_share(limit)


def test_a_bad_limit_on_the_command_line_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", "run", str(CREDIT), "--memory-limit", "lots", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: memory limit 'lots' (--memory-limit or engine.memory_limit) is not a size "
        "such as 3GB, 512MB or 4GiB"
    ]
