"""The console-script entry. Imports the CLI inside a guard so that even a broken install or
an import-time bug exits 3 (internal error) with one line, never 1 ("not ready")."""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> None:
    try:
        from mlcheck.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # nothing else can report it
        sys.stderr.write(f"internal error: mlcheck failed to start: {type(exc).__name__}: {exc}\n")
        sys.stderr.write("This is a bug or a broken install; please report it.\n")
        sys.exit(3)
    try:
        cli_main()
    except SystemExit as done:
        _exit_now(done.code)


def _exit_now(code: object) -> None:
    """Leave without tearing the interpreter down: freeing a run's tables and unloading
    pyarrow, numpy and scipy takes about half a second at a million rows and changes nothing
    the user sees. Output is flushed first; report files are already written and closed."""
    if isinstance(code, str):  # what SystemExit("message") would print
        sys.stderr.write(f"{code}\n")
    status = code if isinstance(code, int) else (0 if code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that left: nothing to add
            stream.flush()
    os._exit(status)
