"""One exception base carrying the process exit code; the CLI catches it in one place."""

from __future__ import annotations

EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class MlcheckError(Exception):
    """Base of every error mlcheck reports to the user; `exit_code` is what the process returns."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ChecklistError(MlcheckError):
    """The checklist file is malformed or invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        head = f"{path}: " if path else ""
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{head}{len(problems)} {noun} in the checklist")
        self.problems = problems
        self.path = path


class InputError(MlcheckError):
    """A declared source is missing, unreadable, or lacks a declared column."""


class UsageError(MlcheckError):
    """The command line is wrong (unknown stage, bad option value)."""


class InternalError(MlcheckError):
    """A bug in mlcheck itself."""

    exit_code = EXIT_INTERNAL
