"""SIGTERM and Ctrl-C during a long DuckDB query stop the run at once (exit 143 / 130, one
line), whether the query runs on the main thread or on a `parallel_map` worker.

Defect (10M-row runs): a query runs in C, so the signal's handler waited for it, minutes; the
query DuckDB did interrupt came back as an exception the runner recorded as a crashed check,
and the run went on to the next question. Each case runs the real CLI in a child process whose
one check (FIX901, installed by `install_interrupt_stage`) writes a marker file, then asks the
run's own DuckDB engine a query that would take hours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlcheck.engine import parallel_map
from mlcheck.results import Finding, Status

TESTS_DIR = Path(__file__).resolve().parent
TIMEOUT = 60  # the query alone would run for hours; a prompt exit takes about a second
# Hashing 10^13 numbers: far longer than any test run, and no memory to speak of.
ENDLESS = "SELECT count(*) FROM range(10000000000000) t WHERE hash(t.range) % 7 = 3"
CHILD = (
    "import runpy, sys\n"
    f"sys.path.insert(0, {str(TESTS_DIR)!r})\n"
    "import test_interrupt_queries\n"
    "test_interrupt_queries.install_interrupt_stage()\n"
    "runpy.run_module('mlcheck', run_name='__main__', alter_sys=True)\n"
)


def ask_forever(ctx: object) -> Iterator[Finding]:
    """Asks the engine an endless query (on workers when $MLCHECK_TEST_WORKERS is set)"""
    agg = ctx.engine.aggregate  # type: ignore[attr-defined]
    Path(os.environ["MLCHECK_TEST_MARKER"]).write_text("querying")
    if os.environ.get("MLCHECK_TEST_WORKERS"):
        parallel_map(lambda _: agg._rows(ENDLESS), [0, 1, 2])
    else:
        agg._rows(ENDLESS)
    yield Finding(Status.PASS, "the query ended")


def install_interrupt_stage() -> None:
    """Called in the child only: stage 1 holds FIX901 alone."""
    import mlcheck.runner
    import mlcheck.stages
    from mlcheck.registry import CheckSpec, Registry

    registry = Registry()
    registry.register(CheckSpec("FIX901", "data_reproducibility", ask_forever))
    mlcheck.runner.REGISTRY = registry
    mlcheck.stages.STAGE_MODULES.clear()
    mlcheck.stages.STAGE_MODULES["data_reproducibility"] = SimpleNamespace(  # type: ignore[assignment]
        skip_reason=lambda c: None
    )


def _start(tmp_path: Path, workers: bool) -> subprocess.Popen[str]:
    """The CLI on a tiny checklist, returned once FIX901's query has started."""
    for side in ("research", "production"):
        (tmp_path / f"{side}.csv").write_text("id,x\n1,1\n2,2\n")
    checklist = tmp_path / "checklist.yaml"
    checklist.write_text(
        "name: endless\nkey: id\nresearch:\n  features: {path: research.csv}\n"
        "production:\n  features: {path: production.csv}\n"
    )
    marker = tmp_path / "querying"
    env = {**os.environ, "MLCHECK_TEST_MARKER": str(marker)}
    if workers:
        env["MLCHECK_TEST_WORKERS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "run", str(checklist), "--only", "data_reproducibility"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()[1]
    time.sleep(1.0)  # well inside the query now
    return proc


@pytest.mark.parametrize("workers", [False, True], ids=["main-thread", "workers"])
@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_during_a_long_query_ends_the_run(
    tmp_path: Path, workers: bool, signum: int, code: int, word: str
) -> None:
    proc = _start(tmp_path, workers)
    proc.send_signal(signum)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run did not stop within {TIMEOUT} s of the signal")
    assert (proc.returncode, stderr.strip(), stdout) == (code, word, "")


def test_an_interrupted_engine_refuses_further_questions() -> None:
    """After `interrupt` (no query running), the next question ends in KeyboardInterrupt
    rather than running: a run stops at its next question, not after every remaining one."""
    from mlcheck.engines import EngineSettings, make_engine

    engine = make_engine(EngineSettings("duckdb", threads=1))
    assert engine._rows("SELECT 41 + 1") == [(42,)]  # type: ignore[attr-defined]
    engine.interrupt()  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        engine._rows("SELECT 1")  # type: ignore[attr-defined]
    engine.close()  # type: ignore[attr-defined]
    engine.interrupt()  # type: ignore[attr-defined]  # closed: nothing to interrupt, no error
