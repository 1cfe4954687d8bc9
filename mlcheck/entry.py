"""The console-script entry. Imports the CLI inside a guard so that even a broken install or
an import-time bug exits 3 (internal error) with one line, never 1 ("not ready")."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

# glibc's mallopt parameters (malloc.h): blocks at least this large are mapped on their own;
# the free space at the top of the heap above this is returned to the kernel.
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed blocks of up to 32 MiB instead of mapping each anew.

    A million-row run makes thousands of numpy temporaries of a few MiB; by default each is a
    fresh mapping whose pages fault in and are zeroed again, which measured 15-20% of stage
    5's CPU time at a million rows. Blocks past 32 MiB (glibc's limit) are still mapped on their
    own and returned on free, so ten-million-row arrays do not pile up. The process ends right
    after its run. Returns whether the setting took (False off Linux or without mallopt).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def _terminated_while_starting(signum: int, frame: object) -> None:
    """SIGTERM before the CLI is imported: nothing is written yet, so leave at once."""
    os.write(2, b"terminated\n")
    os._exit(128 + signum)


def main() -> None:
    if not os.environ.get("MLCHECK_NO_MALLOPT"):
        keep_freed_memory()
    signal.signal(signal.SIGTERM, _terminated_while_starting)  # the CLI installs its own
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
