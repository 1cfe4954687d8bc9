"""What an input path is, asked of the file system before anything is opened.

Opening a named pipe (FIFO) for reading blocks until some writer comes, a device such as
/dev/zero never ends, a socket cannot be read at all, and resolving a symbolic link loop raises
deep inside pathlib. So every input mlcheck reads (a source file or folder, a database, an
environment file, the checklist) is `stat`ed first: only a regular file, or a folder where a
folder is allowed, is ever opened. Everything else is an InputError naming what the path is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mlcheck.errors import InputError

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
# Names a parquet dataset skips inside its folder (pyarrow's default ignore prefixes).
_IGNORED_PREFIXES = (".", "_")


def resolve_input(path: Path) -> Path:
    """`path` made absolute with its symbolic links followed; a link loop is an InputError."""
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13 raises RuntimeError("Symlink loop ...")
        raise InputError(f"{path} is a symbolic link loop") from None
    except OSError as exc:  # Python >= 3.13
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path} is a symbolic link loop") from None
        raise


def unreadable_kind(path: Path, *, folder_ok: bool) -> str | None:
    """Why `path` must not be opened as an input, in a sentence; None when it may be (a regular
    file, a folder if `folder_ok`) or when it does not exist (callers say "not found")."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symbolic link loop"
        return None  # permission and the like: the open that follows reports it in its words
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a file"
    expected = "a regular file or folder" if folder_ok else "a regular file"
    return f"{path} is {_KINDS.get(stat.S_IFMT(mode), 'a special file')}, not {expected}"


def refuse_unreadable(path: Path, *, folder_ok: bool) -> None:
    """Raise InputError when `path` is something other than a regular file (or folder)."""
    problem = unreadable_kind(path, folder_ok=folder_ok)
    if problem is None and folder_ok and path.is_dir():
        problem = unreadable_inside(path)
    if problem is not None:
        raise InputError(problem)


def unreadable_inside(folder: Path) -> str | None:
    """The first file of a dataset folder (hidden and `_` names skipped, as pyarrow does) that
    is not a regular file or folder, as `unreadable_kind` words it; None when all are."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(_IGNORED_PREFIXES))
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            if name.startswith(_IGNORED_PREFIXES):
                continue
            problem = unreadable_kind(Path(root) / name, folder_ok=True)
            if problem is not None:
                return problem
    return None


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` names, following links; None when nothing is there.
    Two paths name the same file exactly when their identities are equal (hard links too)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)
