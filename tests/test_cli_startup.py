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
