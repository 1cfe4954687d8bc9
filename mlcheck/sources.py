"""Readers for every supported source format. Each returns a pyarrow Table; inputs are only read.

Every failure becomes an InputError naming the source and its checklist line, never a traceback.
"""

from __future__ import annotations

import gzip
import sqlite3
import zlib
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlcheck.checklist import Checklist, ReadOptions, SourceSpec
from mlcheck.errors import InputError

_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def source_identity(spec: SourceSpec, checklist: Checklist) -> tuple[object, ...]:
    """What makes two slots the same read: one file backing several slots is read once."""
    location = str(checklist.resolve_path(spec.path).resolve()) if spec.path else spec.url
    return (location, spec.format, spec.query, spec.table, spec.read_options)


def describe(spec: SourceSpec) -> str:
    return spec.path or f"{spec.url} ({'query' if spec.query else 'table ' + str(spec.table)})"


def detect_format(spec: SourceSpec, path: Path | None) -> str:
    """The explicit `format:`, else from the extension (ignoring .gz), a folder is parquet."""
    if spec.format:
        return {"ndjson": "jsonl", "ipc": "arrow", "feather": "arrow"}.get(spec.format, spec.format)
    if spec.url:
        return "sql"
    assert path is not None
    if path.is_dir():
        return "parquet"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIX_FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {path.name}; add `format:` "
            f"(one of csv, tsv, parquet, feather, arrow, jsonl, sql)"
        )
    return "arrow" if fmt == "feather" else fmt


def read_source(spec: SourceSpec, checklist: Checklist, label: str) -> pa.Table:
    """Read one source completely (only `columns:` if given). `label` is the dotted slot name."""
    where = checklist.where(label)
    path = checklist.resolve_path(spec.path) if spec.path else None
    try:
        if path is not None and not path.exists():
            raise InputError(f"file not found: {path}")
        fmt = detect_format(spec, path)
        table = _READERS[fmt](spec, path)
        if table.num_columns == 0:
            raise InputError("the source has no columns (empty file?)")
        if spec.columns:
            table = _select(table, spec.columns)
    except InputError as exc:
        raise InputError(f"{label} ({where}): {exc.message}", hint=exc.hint) from None
    except (pa.ArrowException, OSError, sqlite3.Error, ValueError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label} ({where}): cannot read {describe(spec)}: {first}") from None
    return table


def _select(table: pa.Table, columns: list[str]) -> pa.Table:
    absent = [c for c in columns if c not in table.column_names]
    if absent:
        raise InputError(f"declared column(s) absent: {', '.join(map(repr, absent))}")
    return table.select(columns)


def _csv(spec: SourceSpec, path: Path | None, delimiter: str = ",") -> pa.Table:
    assert path is not None
    options = spec.read_options or ReadOptions()  # type: ignore[call-arg]
    read = pacsv.ReadOptions(encoding=options.encoding or "utf8", autogenerate_column_names=not options.header)
    parse = pacsv.ParseOptions(delimiter=options.delimiter or delimiter)
    convert = pacsv.ConvertOptions(
        null_values=options.null_values if options.null_values is not None else ["", "NA", "NaN", "null", "NULL", "None", "nan", "N/A"],
        strings_can_be_null=True,
    )
    try:
        return pacsv.read_csv(str(path), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError("the file is empty") from None
        raise


def _tsv(spec: SourceSpec, path: Path | None) -> pa.Table:
    return _csv(spec, path, delimiter="\t")


def _parquet(spec: SourceSpec, path: Path | None) -> pa.Table:
    assert path is not None
    if path.is_dir():
        return ds.dataset(str(path), format="parquet", partitioning="hive").to_table(columns=spec.columns)
    return pq.read_table(str(path), columns=spec.columns)


def _arrow(spec: SourceSpec, path: Path | None) -> pa.Table:
    assert path is not None
    try:
        return feather.read_table(str(path), columns=spec.columns)
    except pa.ArrowInvalid:
        # An IPC *stream* (not file) has no footer; read it as a stream.
        with pa.OSFile(str(path), "rb") as handle:
            return pa.ipc.open_stream(handle).read_all()


def _jsonl(spec: SourceSpec, path: Path | None) -> pa.Table:
    assert path is not None
    return pajson.read_json(str(path))


def _sql(spec: SourceSpec, path: Path | None) -> pa.Table:
    url = spec.url or ""
    if not url.startswith("sqlite:///"):
        raise InputError(f"unsupported database url {url!r}: only sqlite:///path.db is built in")
    db = unquote(url[len("sqlite:///") :])
    if not Path(db).exists():
        raise InputError(f"database not found: {db}")
    # mode=ro: inputs are only ever read.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        query = spec.query or f'SELECT * FROM "{(spec.table or "").replace(chr(34), chr(34) * 2)}"'
        cursor = conn.execute(query)
        names = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    finally:
        conn.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})


_READERS = {
    "csv": _csv,
    "tsv": _tsv,
    "parquet": _parquet,
    "arrow": _arrow,
    "jsonl": _jsonl,
    "sql": _sql,
}


def peek_columns(spec: SourceSpec, checklist: Checklist, label: str) -> list[str]:
    """Column names of a source from its metadata or header, without reading the data."""
    path = checklist.resolve_path(spec.path) if spec.path else None
    where = checklist.where(label)
    try:
        fmt = detect_format(spec, path)
        if fmt == "parquet":
            assert path is not None
            if path.is_dir():
                return list(ds.dataset(str(path), format="parquet", partitioning="hive").schema.names)
            return list(pq.read_schema(str(path)).names)
        if fmt == "arrow":
            assert path is not None
            return _arrow(spec, path).column_names
        if fmt in ("csv", "tsv"):
            options = spec.read_options or ReadOptions()  # type: ignore[call-arg]
            read = pacsv.ReadOptions(encoding=options.encoding or "utf8", block_size=1 << 16)
            parse = pacsv.ParseOptions(delimiter=options.delimiter or ("\t" if fmt == "tsv" else ","))
            reader = pacsv.open_csv(str(path), read_options=read, parse_options=parse)
            return list(reader.schema.names)
        return read_source(spec, checklist, label).column_names
    except InputError as exc:
        raise InputError(f"{label} ({where}): {exc.message}") from None
    except (pa.ArrowException, OSError, ValueError, EOFError, zlib.error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label} ({where}): cannot read {describe(spec)}: {first}") from None
