"""CLI startup stays light: heavy libraries are imported by the code that needs them, not by
`import mlcheck.cli` (scipy.stats and pandas cost about a second before any work starts)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["scipy", "scipy.stats", "scipy.optimize", "pandas", "pyarrow.dataset"]


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """A fresh interpreter imports mlcheck.cli (every stage module with it) and lists which of
    the heavy modules ended up in sys.modules: none should."""
    code = (
        "import json, sys; import mlcheck.cli; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == []


def _exit_in_child(code: str) -> subprocess.CompletedProcess[str]:
    script = f"from mlcheck.entry import _exit_now; print('report', end=''); _exit_now({code})"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )


def test_exit_skips_teardown_but_keeps_output_and_code() -> None:
    """The entry leaves with os._exit: unflushed output still arrives, the exit code is kept;
    SystemExit's other forms (None, a message) mean 0 and 1 as they would."""
    done = _exit_in_child("3")
    assert (done.returncode, done.stdout) == (3, "report")
    assert _exit_in_child("None").returncode == 0
    failed = _exit_in_child("'bad news'")
    assert (failed.returncode, failed.stderr) == (1, "bad news\n")


def test_malloc_keeps_freed_blocks_on_glibc() -> None:
    """In a fresh interpreter on Linux with glibc, the entry's malloc setting takes (mallopt
    answers 1); elsewhere it reports that it did nothing rather than failing."""
    import platform

    code = "from mlcheck.entry import keep_freed_memory; print(keep_freed_memory())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert result.stdout.strip() == str(glibc)
