"""`mlcheck init` on a database or a bucket prefix: the remote counterpart of scanning a folder.

A database's tables (every schema but the system ones) and a prefix's data objects become the same
`DataFile`s as local files (name, first `SAMPLE_ROWS` rows), each carrying the source mapping the
checklist will hold (`{url, table}` or `{path: s3://...}`). Live data: tables named `live_*` or in
schema `live`; for a prefix, `live/` inside it or next to it (like a local folder).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs

from mlcheck.errors import InputError
from mlcheck.init import SAMPLE_ROWS, DataFile, Folder, first_line, format_of_name, read_sample
from mlcheck.remote import open_object, plain_column, read_only_cursor
from mlcheck.urls import is_database_url

_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
)


def without_password(url: str) -> str:
    """The url a checklist may hold: the password is left to PGPASSWORD or `user:${VAR}@`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


def scan_remote(location: str, *, live: bool = False) -> Folder:
    """The tables of a database or a prefix; `live` keeps only the live ones of a database."""
    if is_database_url(location):
        return _scan_database(location, live=live)
    return _scan_prefix(location)


def find_live_prefix(location: str) -> str | None:
    """`live/` inside the production prefix, else next to it; for a database, its live tables."""
    if is_database_url(location):
        return location
    base = location.rstrip("/")
    for candidate in (f"{base}/live", f"{base.rsplit('/', 1)[0]}/live"):
        try:
            if open_object(candidate, {}).is_dir:
                return candidate
        except InputError:
            continue
    return None


def _is_live(schema: str, table: str) -> bool:
    return schema == "live" or table.startswith("live_")


def _scan_database(url: str, *, live: bool) -> Folder:
    folder = Folder(url)
    written = without_password(url)
    with read_only_cursor(url) as cursor:
        cursor.execute(_TABLES)
        names = cursor.fetch_arrow_table().to_pylist()
        for schema, table in ((row["table_schema"], row["table_name"]) for row in names):
            if _is_live(schema, table) != live:
                continue
            qualified = table if schema == "public" else f"{schema}.{table}"
            cursor.execute(f"SELECT * FROM {_quoted(schema)}.{_quoted(table)} LIMIT {SAMPLE_ROWS}")
            sample = cursor.fetch_arrow_table()
            columns = [
                plain_column(c, f) for c, f in zip(sample.columns, sample.schema, strict=True)
            ]
            folder.tables.append(
                DataFile(
                    PurePosixPath(schema, table),
                    (schema.lower(), table.lower()),
                    pa.table(columns, names=sample.column_names),
                    {"url": written, "table": qualified},
                )
            )
    return folder


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scan_prefix(url: str) -> Folder:
    base = open_object(url, {})
    if not base.is_dir:
        raise InputError(f"{base.shown} is not a prefix (a folder of objects)")
    folder = Folder(url.rstrip("/"))
    scheme = url.split("://", 1)[0]
    for path, is_dir in _candidates(base.fs, base.path.rstrip("/")):
        relative = path[len(base.path.rstrip("/")) + 1 :]
        if relative == "live" or relative.startswith("live/"):
            continue  # production's live/ folder is its own side
        try:
            sample = read_sample(PurePosixPath(path), fs=base.fs, is_dir=is_dir)
        except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
            folder.skipped.append(f"{relative}: unreadable ({first_line(exc)})")
            continue
        parts = tuple(p.lower() for p in relative.split("/"))
        spec = {"path": f"{scheme}://{path}"}
        folder.tables.append(DataFile(PurePosixPath(path), parts, sample, spec))
    return folder


def _candidates(fs: pafs.FileSystem, root: str) -> list[tuple[str, bool]]:
    """Data objects under root, and prefixes holding only parquet objects as one dataset each."""
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    files = [i.path for i in infos if i.type == pafs.FileType.File and not _hidden(i.path, root)]
    datasets: list[str] = []
    for info in sorted(infos, key=lambda i: i.path.count("/")):
        if info.type != pafs.FileType.Directory or _hidden(info.path, root):
            continue
        inside = [f for f in files if f.startswith(info.path + "/")]
        covered = any(info.path.startswith(d + "/") for d in datasets)
        if (
            inside
            and not covered
            and all(format_of_name(PurePosixPath(f)) == "parquet" for f in inside)
        ):
            datasets.append(info.path)
    singles = [
        f
        for f in files
        if format_of_name(PurePosixPath(f)) is not None
        and not any(f.startswith(d + "/") for d in datasets)
    ]
    return sorted([(d, True) for d in datasets] + [(f, False) for f in singles])


def _hidden(path: str, root: str) -> bool:
    return any(part.startswith((".", "_")) for part in path[len(root) + 1 :].split("/"))
