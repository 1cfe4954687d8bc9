"""Readers for every supported source format. Each returns a pyarrow Table; inputs are only read.

Formats: csv and tsv (optionally .gz), parquet (a file or a hive-partitioned folder), feather/arrow
IPC (file or stream), jsonl/ndjson (optionally .gz), and SQLite (`url: sqlite:///file.db` with a
`query` or a `table`, opened read-only). Every reader has two halves: `names` reads only metadata
or a header (for `mlcheck validate`), `read` reads the data, projecting columns where the format
allows. Every failure becomes one-line InputError naming the slot, the file and the checklist line.
"""

from __future__ import annotations

import codecs
import gzip
import mmap
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlcheck.checklist import SQLITE_PREFIX, Checklist, ReadOptions, SourceSpec, format_from_name
from mlcheck.errors import InputError
from mlcheck.input_files import refuse_unreadable, resolve_input
from mlcheck.urls import is_database_url, is_object_store, mask_url

if TYPE_CHECKING:
    import pyarrow.dataset as ds

# What pyarrow raises for unreadable input; each becomes an InputError naming the source.
_READ_ERRORS = (
    pa.ArrowException,
    OSError,
    sqlite3.Error,
    ValueError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
)
DEFAULT_NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
T = TypeVar("T")
_CANONICAL = {"ndjson": "jsonl", "ipc": "arrow", "feather": "arrow"}


# --------------------------------------------------------------------------- which sources


def declared_sources(checklist: Checklist) -> dict[str, SourceSpec]:
    """Every table source by its dotted label; a splits mapping gives `research.splits.train`, ..."""
    sources: dict[str, SourceSpec] = {}
    for side_name in ("research", "production"):
        side = getattr(checklist, side_name)
        for name, spec in (side.raw or {}).items():
            sources[f"{side_name}.raw.{name}"] = spec
        for role in ("features", "splits", "predictions", "labels"):
            value = getattr(side, role)
            if isinstance(value, dict):
                sources.update({f"{side_name}.{role}.{n}": s for n, s in value.items()})
            elif value is not None:
                sources[f"{side_name}.{role}"] = value
    live = checklist.production.live
    for role in ("features", "predictions", "labels"):
        if live is not None and getattr(live, role) is not None:
            sources[f"production.live.{role}"] = getattr(live, role)
    return sources


def source_identity(spec: SourceSpec, checklist: Checklist) -> tuple[object, ...]:
    """What makes two slots the same read: one file backing several slots is read once."""
    options = spec.read_options.model_dump_json() if spec.read_options else None
    try:
        location: object = source_location(spec, checklist)
    except InputError:  # a bad url is reported when the source is read; a server or a bucket
        location = (spec.url, spec.path, repr(sorted((spec.storage_options or {}).items())))
    return (location, detect_format_name(spec), spec.query, spec.table, options)


def shared_read_spec(spec: SourceSpec, checklist: Checklist) -> SourceSpec:
    """The read that serves every slot backed by the same source as `spec`.

    Its columns are the union of the slots' `columns:` (None, i.e. all, if any slot wants all),
    and its key the union of their key columns, so one read answers all of them.
    """
    ident = source_identity(spec, checklist)
    siblings = [
        s for s in declared_sources(checklist).values() if source_identity(s, checklist) == ident
    ]
    siblings = siblings or [spec]
    columns = (
        None if any(s.columns is None for s in siblings) else _union(s.columns for s in siblings)
    )
    keys = _union(_key_columns(s, checklist) for s in siblings)
    return spec.model_copy(update={"columns": columns, "key": keys or None})


def select_declared(
    table: pa.Table, spec: SourceSpec, checklist: Checklist, label: str
) -> pa.Table:
    """A slot's view of a (shared) table: its `columns:` plus its key columns, in that order."""
    if not spec.columns:
        return table
    absent = [c for c in spec.columns if c not in table.column_names]
    if absent:
        raise InputError(f"{label} ({checklist.where(label)}): {_absent(absent)}")
    keys = [k for k in _key_columns(spec, checklist) if k in table.column_names]
    return table.select(list(dict.fromkeys([*spec.columns, *keys])))


def _key_columns(spec: SourceSpec, checklist: Checklist) -> list[str]:
    return spec.key_columns or checklist.key_columns or []


def _union(groups: Iterator[list[str] | None]) -> list[str]:
    return list(dict.fromkeys(c for group in groups for c in group or []))


def _absent(columns: list[str]) -> str:
    noun = "column" if len(columns) == 1 else "columns"
    return f"declared {noun} {', '.join(map(repr, columns))} absent"


# --------------------------------------------------------------------------- entry points


def read_source(spec: SourceSpec, checklist: Checklist, label: str) -> pa.Table:
    """Read one source: all columns, or its `columns:` plus whichever key columns it has."""

    def read(reader: _Reader, location: Path) -> pa.Table:
        wanted = None
        if spec.columns:
            names = reader.names(spec, location)
            absent = [c for c in spec.columns if c not in names]
            if absent:
                raise InputError(_absent(absent))
            keys = [k for k in _key_columns(spec, checklist) if k in names]
            wanted = list(dict.fromkeys([*spec.columns, *keys]))
        table = reader.read(spec, location, wanted)
        if table.num_columns == 0:
            raise InputError(f"{describe(spec)} has no columns")
        refuse_duplicate_names(table.column_names)
        return table

    return _guarded(spec, checklist, label, read)


def peek_columns(spec: SourceSpec, checklist: Checklist, label: str) -> list[str]:
    """Column names of a source from its metadata or header, without reading the data."""
    return _guarded(spec, checklist, label, lambda reader, location: reader.names(spec, location))


def refuse_duplicate_names(names: list[str]) -> None:
    """Two columns with one name cannot be told apart (by a check, or by the user reading it)."""
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        shown = ", ".join(map(repr, repeated))
        raise InputError(
            f"duplicate column name(s) {shown}; give every column its own name",
            hint="a header with the same name twice, or a join that kept both sides' columns",
        )


def describe(spec: SourceSpec) -> str:
    """The source as the user wrote it, for messages."""
    if spec.path is not None:
        return mask_url(spec.path)
    return f"{mask_url(spec.url or '')} ({'query' if spec.query else 'table ' + repr(spec.table)})"


def detect_format_name(spec: SourceSpec) -> str | None:
    """The canonical format from `format:` or the name, without touching the file system."""
    if spec.url is not None:
        return "sql"
    fmt = spec.format or format_from_name(spec.path or "")
    return _CANONICAL.get(fmt, fmt) if fmt else None


def detect_format(spec: SourceSpec, path: Path | None) -> str:
    """The explicit `format:`, else from the extension (ignoring .gz); a folder is parquet."""
    fmt = detect_format_name(spec)
    if fmt == "sql":
        return fmt
    if path is not None and path.is_dir():
        if fmt not in (None, "parquet"):
            raise InputError(f"{path} is a folder; only parquet datasets can be folders, not {fmt}")
        return "parquet"
    if fmt is None:
        name = path.name if path is not None else describe(spec)
        raise InputError(
            f"cannot tell the format of {name} from its extension; add `format:` "
            f"(csv, tsv, parquet, feather, arrow, jsonl)"
        )
    return fmt


def _guarded(
    spec: SourceSpec, checklist: Checklist, label: str, action: Callable[[_Reader, Path], T]
) -> T:
    """Resolve the source, pick its reader, run `action`; any failure becomes one InputError
    naming the slot, its checklist line and the file."""
    prefix = f"{label} ({checklist.where(label)})"
    try:
        if is_database_url(spec.url) or is_object_store(spec.path):
            from mlcheck.remote import open_remote  # PostgreSQL, s3://, ...: mlcheck/remote.py

            return action(*open_remote(spec))
        location = source_location(spec, checklist)
        fmt = detect_format(spec, location if spec.path is not None else None)
        if spec.path is not None:
            _check_file(location)
        return action(_READERS[fmt], location)
    except InputError as exc:
        raise InputError(f"{prefix}: {exc.message}", hint=exc.hint) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{prefix}: {describe(spec)} {_not_text(exc.encoding)}") from None
    except _READ_ERRORS as exc:
        raise InputError(f"{prefix}: cannot read {describe(spec)}: {_first_line(exc)}") from None


def source_location(spec: SourceSpec, checklist: Checklist) -> Path:
    """The file or folder of a path source, or the database file of a sqlite url."""
    if is_database_url(spec.url) or is_object_store(spec.path):
        raise InputError(f"{describe(spec)} is not a local file")
    if spec.path is not None:
        return resolve_input(checklist.resolve_path(spec.path))
    return _database_path(spec.url or "", checklist)


def _database_path(url: str, checklist: Checklist) -> Path:
    """SQLAlchemy convention: sqlite:///rel.db is relative (to the checklist), sqlite:////abs.db not."""
    if not url.startswith(SQLITE_PREFIX):
        raise InputError(
            f"unsupported database url {mask_url(url)!r}: only {SQLITE_PREFIX}path.db is built in"
        )
    name = unquote(url[len(SQLITE_PREFIX) :].split("?", 1)[0])
    if not name or name == ":memory:":
        raise InputError(f"{url!r} names no database file")
    return resolve_input(checklist.resolve_path(name))


def _check_file(path: Path) -> None:
    """Exists, and is a regular file or folder (asked with stat: a named pipe is never opened)."""
    if not path.exists():
        raise InputError(f"file not found: {path}")
    refuse_unreadable(path, folder_ok=True)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _not_text(encoding: str) -> str:
    return (
        f"is not valid {encoding} text; set the right `read_options: {{encoding: ...}}` "
        f"(e.g. latin-1, cp1252)"
    )


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class _Reader:
    names: Callable[[SourceSpec, Path], list[str]]
    read: Callable[[SourceSpec, Path, list[str] | None], pa.Table]


def _options(spec: SourceSpec) -> ReadOptions:
    return spec.read_options or ReadOptions()  # type: ignore[call-arg]


def _csv_formats(spec: SourceSpec) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    options = _options(spec)
    default_delimiter = "\t" if detect_format_name(spec) == "tsv" else ","
    read = pacsv.ReadOptions(
        encoding=options.encoding or "utf8", autogenerate_column_names=not options.header
    )
    return read, pacsv.ParseOptions(delimiter=options.delimiter or default_delimiter)


def _csv_names(spec: SourceSpec, path: Path) -> list[str]:
    return csv_header(spec, str(path))


def csv_header(spec: SourceSpec, source: str | pa.NativeFile) -> list[str]:
    """The column names of a CSV file or open stream (local or remote), reading one block."""
    read, parse = _csv_formats(spec)
    read.block_size = 1 << 16  # the header is in the first block; read nothing more
    try:
        with pacsv.open_csv(source, read_options=read, parse_options=parse) as reader:
            names = list(reader.schema.names)
    except pa.ArrowInvalid as exc:
        _raise_if_empty(exc)
        raise
    _refuse_glued_header(names, parse.delimiter)
    return names


def _csv_read(spec: SourceSpec, path: Path, columns: list[str] | None) -> pa.Table:
    table = csv_table(spec, str(path), columns)
    read, parse = _csv_formats(spec)
    _refuse_open_quote_at_end(path, read.encoding, parse.delimiter)
    return table


def csv_table(spec: SourceSpec, source: str | pa.NativeFile, columns: list[str] | None) -> pa.Table:
    """A CSV file or open stream (local or remote) read whole, with the checklist's options."""
    read, parse = _csv_formats(spec)
    options = _options(spec)
    convert = pacsv.ConvertOptions(
        null_values=options.null_values if options.null_values is not None else DEFAULT_NULL_VALUES,
        strings_can_be_null=True,
        include_columns=columns or [],
    )
    try:
        table = pacsv.read_csv(
            source, read_options=read, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        _raise_if_empty(exc)
        raise
    # pyarrow keeps bytes that are not UTF-8 as a binary column (or name) rather than failing.
    names = table.column_names  # decoding the names raises UnicodeDecodeError for a bad header
    binary = [n for n, t in zip(names, table.schema.types, strict=True) if pa.types.is_binary(t)]
    if binary:
        raise InputError(f"column {binary[0]!r} {_not_text(read.encoding)}")
    _refuse_glued_header(names, parse.delimiter)
    return table


def _refuse_open_quote_at_end(path: Path, encoding: str, delimiter: str) -> None:
    """pyarrow ends a quoted field at the end of the file when its closing quote is missing, so
    a truncated file reads as one odd cell (and any rows the quote swallowed are lost)."""
    if '\n",'.encode(encoding, errors="replace") != b'\n",':
        return  # not ASCII-compatible (UTF-16, ...): the bytes cannot be scanned as they are
    if ends_inside_quote(path, ord(delimiter)):
        raise InputError(
            f"{path.name} ends inside a quoted field: the file is truncated or a quote is "
            "never closed"
        )


_SCAN_BLOCK = 1 << 24
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4", ".br")
_QUOTE = ord('"')


def ends_inside_quote(path: Path, delimiter: int, block: int = _SCAN_BLOCK) -> bool:
    """Whether a CSV file's bytes end inside a quoted field.

    Quotes come in runs; only runs of odd length matter (an even run is escaped quotes, or an
    empty quoted field). An odd run that starts a field (after a delimiter, a line end or the
    start of the file) toggles in or out of a quoted field; an odd run anywhere else is either a
    closing quote or literal text in an unquoted field, and both leave the field unquoted. So
    the state at the end is the parity of the field-starting odd runs after the last odd run
    that does not start a field. A plain file is read backwards from its end in growing blocks
    until such a run is found (almost every closed quoted field has one), a compressed one is
    streamed forwards. Blocks are cut between runs, never inside one.
    """
    if path.suffix.lower() in _COMPRESSED:
        return _quote_state_forward(path, delimiter, block)
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm.rfind(b'"') < 0:
            return False
        data = np.frombuffer(mm, np.uint8)
        try:
            return _quote_state_backward(data, delimiter, block)
        finally:
            del data  # the map cannot close while numpy views it


def _quote_state_backward(data: np.ndarray, delimiter: int, block: int) -> bool:
    start = 3 if bytes(data[:3]) == codecs.BOM_UTF8 else 0  # fields start after a BOM
    later_toggles, hi, size = 0, len(data), 1 << 16
    while hi > start:
        lo = _run_boundary(data, max(start, hi - size), start)
        before = int(data[lo - 1]) if lo > start else ord("\n")
        resets, toggles = _odd_runs(data[lo:hi], before, delimiter)
        if resets is not None:
            return bool((resets + later_toggles) % 2)
        later_toggles += toggles
        hi, size = lo, min(size * 2, block)
    return bool(later_toggles % 2)


def _run_boundary(data: np.ndarray, lo: int, start: int) -> int:
    """`lo`, moved back to the start of the run of quotes it falls in (if it falls in one)."""
    while lo > start and data[lo] == _QUOTE and data[lo - 1] == _QUOTE:
        window = data[max(start, lo - 4096) : lo]
        others = np.flatnonzero(window != _QUOTE)
        lo = lo - len(window) + (int(others[-1]) + 1 if others.size else 0)
    return lo


def _quote_state_forward(path: Path, delimiter: int, block: int) -> bool:
    inside, before, held = False, ord("\n"), b""
    with pa.input_stream(str(path), compression="detect") as stream:
        chunk = stream.read(block).removeprefix(codecs.BOM_UTF8)
        while chunk:
            data = held + chunk
            body = data.rstrip(b'"')  # a run at the end may go on in the next chunk
            held = data[len(body) :]
            resets, toggles = _odd_runs(np.frombuffer(body, np.uint8), before, delimiter)
            inside = bool(resets % 2) if resets is not None else inside ^ bool(toggles % 2)
            before = body[-1] if body else before
            chunk = stream.read(block)
    resets, toggles = _odd_runs(np.frombuffer(held, np.uint8), before, delimiter)
    return bool(resets % 2) if resets is not None else inside ^ bool(toggles % 2)


def _odd_runs(data: np.ndarray, before: int, delimiter: int) -> tuple[int | None, int]:
    """For a block cut between runs, with `before` the byte preceding it: the number of
    field-starting odd runs after the last odd run that starts no field (None when there is no
    such run), and the number of field-starting odd runs in all."""
    quotes = np.flatnonzero(data == _QUOTE)
    if not quotes.size:
        return None, 0
    breaks = np.flatnonzero(np.diff(quotes) != 1) + 1
    first = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((first, [quotes.size])))
    starts = quotes[first[lengths % 2 == 1]]
    prior = np.where(starts > 0, data[np.maximum(starts - 1, 0)], before)
    opens = (prior == delimiter) | (prior == ord("\n")) | (prior == ord("\r"))
    closes = np.flatnonzero(~opens)
    after = int(np.count_nonzero(opens[closes[-1] :])) if closes.size else None
    return after, int(np.count_nonzero(opens))


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _refuse_glued_header(names: list[str], delimiter: str) -> None:
    """A header read as one column that holds another common delimiter: the file uses that one
    (reading on would report every column missing, hiding the real cause)."""
    if len(names) != 1:
        return
    for other, word in _DELIMITER_NAMES.items():
        if other != delimiter and other in names[0]:
            shown = names[0] if len(names[0]) <= 60 else names[0][:57] + "..."
            used = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
            setting = "tab" if other == "\t" else other
            raise InputError(
                f"the header is one column {shown!r}: the file looks {word}-separated, not "
                f"{used}-separated; set `read_options: {{delimiter: '{setting}'}}`"
            )


def _raise_if_empty(exc: pa.ArrowInvalid) -> None:
    if "Empty CSV file" in str(exc):
        raise InputError("the file is empty (not even a header)") from None


def _dataset(path: Path) -> ds.Dataset:
    import pyarrow.dataset as ds  # imports pandas: only when a parquet source is read

    partitioning = "hive" if Path(path).is_dir() else None
    try:
        dataset = ds.dataset(str(path), format="parquet", partitioning=partitioning)
    except pa.ArrowInvalid as exc:
        if "duplicate field names" in str(exc) and Path(path).is_file():
            refuse_duplicate_names(pq.read_schema(str(path)).names)
        raise
    if not dataset.files:
        raise InputError(f"the folder {path} holds no parquet files")
    return dataset


def _parquet_names(spec: SourceSpec, path: Path) -> list[str]:
    if Path(path).is_dir():
        return list(_dataset(path).schema.names)
    names = list(pq.read_schema(str(path)).names)
    refuse_duplicate_names(names)
    return names


# Rows per record batch when reading a parquet folder: large enough that a row group comes back
# as one chunk rather than many small ones.
_PARQUET_BATCH_ROWS = 1 << 24


def _parquet_read(spec: SourceSpec, path: Path, columns: list[str] | None) -> pa.Table:
    if Path(path).is_dir():
        return _dataset(path).to_table(columns=columns, batch_size=_PARQUET_BATCH_ROWS)
    # One file: each column comes back as one contiguous chunk (numpy views it without a copy),
    # and the dataset layer (which imports pandas) is not needed.
    with pq.ParquetFile(str(path)) as file:
        refuse_duplicate_names(file.schema_arrow.names)
        return file.read(columns=columns)


def _arrow_names(spec: SourceSpec, path: Path) -> list[str]:
    try:
        with pa.ipc.open_file(str(path)) as reader:
            return list(reader.schema.names)
    except pa.ArrowInvalid:
        pass  # not the IPC file format: a stream, or feather v1
    try:
        with pa.OSFile(str(path), "rb") as handle:
            return list(pa.ipc.open_stream(handle).schema.names)
    except pa.ArrowInvalid:
        return list(feather.read_table(str(path)).column_names)


def _arrow_read(spec: SourceSpec, path: Path, columns: list[str] | None) -> pa.Table:
    try:
        return feather.read_table(str(path), columns=columns)
    except pa.ArrowInvalid:
        pass  # an IPC *stream* has no footer, so the file reader rejects it
    with pa.OSFile(str(path), "rb") as handle:
        table = pa.ipc.open_stream(handle).read_all()
    return table.select(columns) if columns else table


def _jsonl_names(spec: SourceSpec, path: Path) -> list[str]:
    # The schema is inferred from the first block (1 MiB) only.
    options = pajson.ReadOptions(block_size=1 << 20)
    with pa.input_stream(str(path), compression="detect") as stream:
        return list(pajson.open_json(stream, read_options=options).schema.names)


def _jsonl_read(spec: SourceSpec, path: Path, columns: list[str] | None) -> pa.Table:
    with pa.input_stream(str(path), compression="detect") as stream:
        table = pajson.read_json(stream)
    return table.select(columns) if columns else table


# --------------------------------------------------------------------------- sqlite


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    """A connection that can neither write nor create a file, whatever the query says.

    `mode=ro&immutable=1`: read-only, no locks, and no `-shm`/`-wal` file is made even for a
    WAL-mode database (plain mode=ro creates both and leaves them). Immutable reads the main
    file alone, so a database whose -wal or -journal still holds changes is refused first
    rather than read stale. An authorizer then lets a query read and nothing else: ATTACH
    (which VACUUM INTO also asks for) would create a file even on a read-only connection.
    """
    db = Path(path)
    refuse_unreadable(db, folder_ok=False)
    if not db.is_file():
        raise InputError(f"database not found: {db}")
    _refuse_unfinished_writes(db)
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro&immutable=1", uri=True, factory=_ReadingOnly)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(conn.authorize)
    return conn


def _refuse_unfinished_writes(db: Path) -> None:
    """A non-empty -wal holds committed changes not yet in the file; a non-empty -journal an
    interrupted write. Applying either means writing, so the database is refused instead."""
    remedies = {
        "-wal": (
            f"holds changes not yet written to {db.name} (it is open elsewhere or was not "
            f"closed cleanly)",
            f"close the writer, or run `sqlite3 {db.name} 'PRAGMA wal_checkpoint(TRUNCATE)'`",
        ),
        "-journal": (
            f"holds an interrupted write to {db.name}",
            f"open it once with `sqlite3 {db.name}` (which rolls the write back)",
        ),
    }
    for suffix, (what, remedy) in remedies.items():
        side = db.with_name(db.name + suffix)
        if side.is_file() and side.stat().st_size > 0:
            raise InputError(
                f"{side.name} {what}; mlcheck never writes to a database, so it cannot apply "
                f"it: {remedy}, or read a copy made with `.backup`"
            )


# What a source query may do: read tables, views and pragma table-valued functions, call
# functions, recurse. SQLite reports eponymous virtual tables (json_each, pragma_table_info) as
# an UPDATE of the schema table the first time they are used; that is allowed, nothing else is.
_READS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_SCHEMA_TABLES = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
_READ_PRAGMAS = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "database_list", "function_list", "module_list",
    "pragma_list", "compile_options",
}  # fmt: skip
_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH",  # also what VACUUM and VACUUM INTO ask for
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_TRANSACTION: "a transaction",
    sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT",
}


class _ReadingOnly(sqlite3.Connection):
    """A connection whose authorizer refuses everything but reading, and whose `execute` turns
    a refusal into an InputError naming what the query asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: list[str] = []

    def authorize(self, action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
        if action in _READS or (action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_PRAGMAS:
            return sqlite3.SQLITE_OK
        self.refused.append(_action_name(action, arg1))
        return sqlite3.SQLITE_DENY

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.refused.clear()
        try:
            return super().execute(sql, *args)
        except sqlite3.DatabaseError:
            if self.refused:
                raise InputError(
                    f"the query may only read; it asks for {self.refused[0]} "
                    "(mlcheck never changes a database or creates files beside it)"
                ) from None
            raise


def _action_name(action: int, arg1: str | None) -> str:
    if action == sqlite3.SQLITE_PRAGMA:
        return f"PRAGMA {arg1}"
    if action == sqlite3.SQLITE_INSERT and arg1 in _SCHEMA_TABLES:
        return "CREATE TEMP" if "temp" in (arg1 or "") else "CREATE"
    return _ACTIONS.get(action, "a change to the database")


def _user_query(spec: SourceSpec) -> str:
    """The user's query, or a SELECT of the quoted table; without a final `;`."""
    if spec.table is not None:
        return f"SELECT * FROM {_quote(spec.table)}"
    return (spec.query or "").strip().rstrip(";").strip()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_names(spec: SourceSpec, path: Path) -> list[str]:
    with closing(_sqlite_connect(path)) as conn:
        # EXPLAIN compiles without running: errors point into the user's own text.
        conn.execute(f"EXPLAIN {_user_query(spec)}")
        cursor = conn.execute(f"SELECT * FROM ({_user_query(spec)}) LIMIT 0")
        return [d[0] for d in cursor.description or []]


def _sql_read(spec: SourceSpec, path: Path, columns: list[str] | None) -> pa.Table:
    query = _user_query(spec)
    if columns and spec.table is not None:
        query = f"SELECT {', '.join(map(_quote, columns))} FROM {_quote(spec.table)}"
    with closing(_sqlite_connect(path)) as conn:
        cursor = conn.execute(query)
        names = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    values = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    table = pa.table({n: _sql_column(v) for n, v in zip(names, values, strict=True)})
    return table.select(columns) if columns else table


def _sql_column(values: tuple[object, ...]) -> pa.Array:
    """SQLite types per value: INTEGER -> int64, REAL -> float64 (int+real too), TEXT -> string,
    BLOB -> binary, NULL -> null. A column mixing other types becomes text rather than failing."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        objects = np.empty(len(values), dtype=object)
        objects[:] = values
        is_null = np.asarray(objects == None)  # noqa: E711 - elementwise, vectorised
        return pa.array(objects.astype(str), type=pa.string(), mask=is_null)


_READERS = {
    "csv": _Reader(_csv_names, _csv_read),
    "tsv": _Reader(_csv_names, _csv_read),
    "parquet": _Reader(_parquet_names, _parquet_read),
    "arrow": _Reader(_arrow_names, _arrow_read),
    "jsonl": _Reader(_jsonl_names, _jsonl_read),
    "sql": _Reader(_sql_names, _sql_read),
}


# --------------------------------------------------------------------------- parquet in place


@dataclass(frozen=True)
class ParquetLayout:
    """A local parquet source as an engine reads it in place: its files (one file, or every
    file of a folder that pyarrow's dataset reads), the folder for hive partition columns (None
    for a file) and the schema the pyarrow reader gives for the slot's columns."""

    files: tuple[Path, ...]
    folder: Path | None
    schema: pa.Schema


def parquet_layout(spec: SourceSpec, checklist: Checklist, label: str) -> ParquetLayout | None:
    """The in-place layout of a local parquet source (its metadata only is read), with the
    columns `read_source` + `select_declared` give a slot; None for any other source."""
    if spec.url is not None or is_object_store(spec.path) or spec.path is None:
        return None
    if detect_format_name(spec) not in (None, "parquet"):
        return None

    def layout(reader: _Reader, location: Path) -> ParquetLayout | None:
        if reader is not _READERS["parquet"]:
            return None
        if Path(location).is_dir():
            dataset = _dataset(location)
            files, folder, schema = tuple(map(Path, dataset.files)), Path(location), dataset.schema
        else:
            files, folder, schema = (Path(location),), None, pq.read_schema(str(location))
        refuse_duplicate_names(schema.names)
        if spec.columns:
            absent = [c for c in spec.columns if c not in schema.names]
            if absent:
                raise InputError(_absent(absent))
            keys = [k for k in _key_columns(spec, checklist) if k in schema.names]
            wanted = list(dict.fromkeys([*spec.columns, *keys]))
            schema = pa.schema([schema.field(c) for c in wanted])
        if not len(schema):
            raise InputError(f"{describe(spec)} has no columns")
        return ParquetLayout(files, folder, schema.remove_metadata())

    return _guarded(spec, checklist, label, layout)


# ---- one column of local parquet (scale)


def read_parquet_column(
    spec: SourceSpec, checklist: Checklist, label: str, name: str
) -> pa.ChunkedArray:
    """One column of a local parquet source, decoding only that column (the whole-table read
    of a ten-million-row source holds every column at once); errors as `read_source` gives."""

    def read(reader: _Reader, location: Path) -> pa.ChunkedArray:
        if reader is not _READERS["parquet"]:
            raise InputError(f"{describe(spec)} is not parquet")  # callers check the layout first
        return _parquet_read(spec, location, [name]).column(0)

    return _guarded(spec, checklist, label, read)


def parquet_rows(files: tuple[Path, ...]) -> int:
    """Rows of a local parquet layout, from the files' footers (no data is read)."""
    return sum(pq.read_metadata(str(f)).num_rows for f in files)


# --------------------------------------------------------------------------- text read by an engine (spark)


@dataclass(frozen=True)
class TextLayout:
    """A local csv/tsv or json-lines file as an engine reads it itself, line by line, each batch
    of lines converted by pyarrow's own reader under `schema` (so every value is the one the
    reader gives). `schema` (the slot's columns, in the reader's order) holds the types pyarrow
    infers from the file's first block; when every line converts under them, the reader of
    the whole file gives exactly these types (it widens a type only for a value that does not
    convert), and the engine raises Unsupported when a line does not."""

    path: Path
    format: str  # "csv" or "jsonl"
    schema: pa.Schema
    names: tuple[str, ...]  # every column of the file, in its order (csv: the header's)
    header: bool = True  # csv: the first line of the file names the columns
    delimiter: str = ","
    null_values: tuple[str, ...] = ()


_UTF8 = {"utf8", "utf-8", "utf_8"}


def text_layout(spec: SourceSpec, checklist: Checklist, label: str) -> TextLayout | None:
    """The layout of a local UTF-8 csv/tsv/jsonl source with the columns `read_source` gives
    the slot (only its first block is read); None for any other source."""
    if spec.url is not None or is_object_store(spec.path) or spec.path is None:
        return None
    fmt = detect_format_name(spec)
    if (
        fmt not in ("csv", "tsv", "jsonl")
        or (_options(spec).encoding or "utf8").lower() not in _UTF8
    ):
        return None

    def layout(reader: _Reader, location: Path) -> TextLayout | None:
        if Path(location).is_dir() or _starts_blank(location):
            return None  # a blank first line: the header is the first non-blank one
        schema = _first_block_schema(spec, location, fmt)
        names = tuple(schema.names)
        refuse_duplicate_names(list(names))
        if spec.columns:
            absent = [c for c in spec.columns if c not in names]
            if absent:
                raise InputError(_absent(absent))
            keys = [k for k in _key_columns(spec, checklist) if k in names]
            schema = pa.schema([schema.field(c) for c in dict.fromkeys([*spec.columns, *keys])])
        if any(pa.types.is_binary(t) for t in schema.types):
            return None  # not UTF-8: the reader's message
        options = _options(spec)
        delimiter = _csv_formats(spec)[1].delimiter
        nulls = options.null_values if options.null_values is not None else DEFAULT_NULL_VALUES
        if fmt == "jsonl":
            return TextLayout(Path(location), "jsonl", schema, names, header=False)
        return TextLayout(
            Path(location), "csv", schema, names, options.header, delimiter, tuple(nulls)
        )

    return _guarded(spec, checklist, label, layout)


def _starts_blank(path: Path) -> bool:
    with pa.input_stream(str(path), compression="detect") as stream:
        return stream.read(1) in (b"\n", b"\r")


def _first_block_schema(spec: SourceSpec, path: Path, fmt: str) -> pa.Schema:
    """The types pyarrow's streaming reader infers from the first block (1 MiB)."""
    if fmt == "jsonl":
        options = pajson.ReadOptions(block_size=1 << 20)
        with pa.input_stream(str(path), compression="detect") as stream:
            return pajson.open_json(stream, read_options=options).schema
    read, parse = _csv_formats(spec)
    options = _options(spec)
    convert = pacsv.ConvertOptions(
        null_values=options.null_values if options.null_values is not None else DEFAULT_NULL_VALUES,
        strings_can_be_null=True,
    )
    try:
        with pacsv.open_csv(
            str(path), read_options=read, parse_options=parse, convert_options=convert
        ) as reader:
            schema = reader.schema
    except pa.ArrowInvalid as exc:
        _raise_if_empty(exc)
        raise
    _refuse_glued_header(schema.names, parse.delimiter)
    _refuse_open_quote_at_end(path, read.encoding, parse.delimiter)
    return schema
