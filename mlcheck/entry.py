"""The console-script entry. Imports the CLI inside a guard so that even a broken install or
an import-time bug exits 3 (internal error) with one line, never 1 ("not ready")."""

from __future__ import annotations

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
    cli_main()
