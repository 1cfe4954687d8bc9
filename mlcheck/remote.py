"""Sources off the local disk: PostgreSQL (`url: postgresql://...`) and object stores
(`path: s3://bucket/key`, `gs://`, `az://`, `https://`).

`open_remote(spec)` returns a reader with the same two halves as the local ones (`names` from
metadata only: the server's description of the query, a parquet footer, a CSV header; `read` in
columnar form) and the handle it reads from. Failures become one-line InputErrors that never show
a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlcheck.checklist import SourceSpec
from mlcheck.errors import InputError
from mlcheck.sources import (
    _user_query,
    csv_header,
    csv_table,
    detect_format_name,
    refuse_duplicate_names,
)
from mlcheck.urls import OBJECT_STORE_EXTRAS, is_database_url, mask_url, scheme, scrub

if TYPE_CHECKING:
    import pyarrow.dataset as ds


Handle = TypeVar("Handle")


@dataclass(frozen=True)
class _Reader(Generic[Handle]):
    """The local readers' two halves, over a database or an object instead of a file."""

    names: Callable[[SourceSpec, Handle], list[str]]
    read: Callable[[SourceSpec, Handle, list[str] | None], pa.Table]


def open_remote(spec: SourceSpec) -> tuple[Any, Any]:
    """The reader for a remote source and the handle (database or object) it reads from."""
    if is_database_url(spec.url):
        return _POSTGRES, _Database(spec.url or "")
    url, options = spec.path or "", spec.storage_options or {}
    secrets = [unquote(urlsplit(url).password or ""), *_secret_options(options)]
    with _scrubbed(mask_url(url), secrets):
        obj = open_object(url, options)
    fmt = detect_format_name(spec)
    if obj.is_dir and fmt not in (None, "parquet"):
        raise InputError(f"{obj.shown} is a prefix; only parquet datasets can be, not {fmt}")
    if obj.is_dir or fmt is not None:
        reader = _OBJECT_READERS["parquet" if obj.is_dir else fmt or ""]
        return _Reader(_scrubbing(reader.names, secrets), _scrubbing(reader.read, secrets)), obj
    raise InputError(
        f"cannot tell the format of {obj.shown} from its extension; add `format:` "
        f"(csv, tsv, parquet, feather, arrow, jsonl)"
    )


# storage_options keys whose values are credentials (s3 secret_key, gcs token, azure account_key,
# sas_token, connection_string...). Only those are scrubbed from messages: scrubbing a timeout of 1
# or a scheme `http` would turn every `1` or `http` in a message (the endpoint's) into ***.
_SECRET_OPTION = re.compile(r"(?i)secret|password|token|key|credential|connection_string|sas")


def _secret_options(options: dict[str, Any]) -> list[str]:
    return [str(v) for k, v in options.items() if _SECRET_OPTION.search(k)]


@contextmanager
def _scrubbed(shown: str, secrets: list[str]) -> Iterator[None]:
    """A store's error (which may quote a URL with its credentials) as one scrubbed line."""
    try:
        yield
    except (OSError, pa.ArrowException, ValueError) as exc:
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise InputError(f"cannot read {shown}: {scrub(mask_url(first), secrets)}") from None


def _scrubbing(action: Callable[..., Any], secrets: list[str]) -> Callable[..., Any]:
    def guarded(spec: SourceSpec, obj: RemoteObject, *rest: Any) -> Any:
        with _scrubbed(obj.shown, secrets):
            return action(spec, obj, *rest)

    return guarded


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class _Database:
    url: str

    @property
    def password(self) -> str:
        return unquote(urlsplit(self.url).password or "")


def _driver() -> Any:
    try:
        import adbc_driver_postgresql.dbapi as driver
    except ImportError:
        raise InputError(
            "reading postgresql:// needs the PostgreSQL driver: pip install 'mlcheck[postgres]'"
        ) from None
    return driver


@contextmanager
def _read_only(db: _Database) -> Iterator[Any]:
    """A cursor in a read-only transaction (rolled back at the end): a checklist cannot write."""
    driver = _driver()
    try:
        with (
            driver.connect(_with_timeout(db.url), autocommit=False) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SET TRANSACTION READ ONLY")
            try:
                yield cursor
            finally:
                conn.rollback()
    except driver.Error as exc:
        raise InputError(f"{mask_url(db.url)}: {_driver_message(exc, db)}") from None


def read_only_cursor(url: str) -> Any:
    """A cursor on `url` in a read-only transaction (a context manager); errors as InputError."""
    return _read_only(_Database(url))


CONNECT_TIMEOUT_S = 10


def _with_timeout(url: str) -> str:
    """A server that does not answer fails after 10 s, unless the url sets `connect_timeout`."""
    if "connect_timeout=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={CONNECT_TIMEOUT_S}"


_DRIVER_NOISE = re.compile(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?(?:Failed to [a-z ]+: )?")
_SEVERITY = re.compile(r"\b(?:ERROR|FATAL):\s+")


def _driver_message(exc: BaseException, db: _Database) -> str:
    """The server's first line without the driver's prefixes (`IO: [libpq] Failed to ...`)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = _SEVERITY.sub("", _DRIVER_NOISE.sub("", text))
    return scrub(text, [db.password, db.url]).strip()


def _pg_select(spec: SourceSpec, columns: list[str] | None) -> str:
    """The user's query as written (errors point into their own text), or a table's columns."""
    if spec.table is None:
        return _user_query(spec)
    return f"SELECT {', '.join(map(_quote, columns)) if columns else '*'} FROM {_qualified(spec.table)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    """`schema.table` names a table in a schema; a name with a dot in it is quoted by the user."""
    if table.startswith('"'):
        return table
    return ".".join(map(_quote, table.split(".", 1)))


def _pg_names(spec: SourceSpec, db: _Database) -> list[str]:
    with _read_only(db) as cursor:  # the server prepares and describes the query; no row is read
        return list(cursor.adbc_execute_schema(_pg_select(spec, None)).names)


def _pg_read(spec: SourceSpec, db: _Database, columns: list[str] | None) -> pa.Table:
    with _read_only(db) as cursor:
        cursor.execute(_pg_select(spec, columns))
        table = cursor.fetch_arrow_table()
    if columns and spec.table is None:
        table = table.select(columns)
    plain = [plain_column(c, f) for c, f in zip(table.columns, table.schema, strict=True)]
    return pa.table(plain, names=table.column_names)


def plain_column(column: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    """The driver's PostgreSQL types as plain Arrow: numeric(p,s) -> decimal(p,s), numeric ->
    float64, json and other opaque types -> their storage (text; uuid as 16-byte binary)."""
    kind = column.type
    if not isinstance(kind, pa.BaseExtensionType):
        return column
    storage = pa.chunked_array([c.storage for c in column.chunks], type=kind.storage_type)
    if getattr(kind, "type_name", None) != "numeric":
        return storage
    try:
        return storage.cast(_numeric_type(field))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # NaN or Infinity: no decimal holds it
        return storage.cast(pa.float64())


def _numeric_type(field: pa.Field) -> pa.DataType:
    """decimal(p,s) from the column's type modifier; unconstrained numeric has none: float64."""
    typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
    if typmod < 4:
        return pa.float64()
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


_POSTGRES = _Reader(_pg_names, _pg_read)


# --------------------------------------------------------------------------- object stores


@dataclass(frozen=True)
class RemoteObject:
    """One object or prefix: the file system that reaches it and its path there."""

    fs: pafs.FileSystem
    path: str
    shown: str
    is_dir: bool


def open_object(url: str, options: dict[str, Any]) -> RemoteObject:
    """Resolve and stat `url`; a missing bucket, a missing key or an empty object is an error."""
    fs, path = _filesystem(url, options)
    shown = mask_url(url)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        bucket = path.split("/", 1)[0]
        in_bucket = "/" in path and scheme(url) not in ("http", "https")
        if in_bucket and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise InputError(f"bucket {bucket!r} not found ({shown})")
        raise InputError(f"object not found: {shown}")
    if info.type == pafs.FileType.File and info.size == 0:
        raise InputError(f"{shown} is empty (0 bytes)")
    return RemoteObject(fs, path, shown, info.type == pafs.FileType.Directory)


def _filesystem(url: str, options: dict[str, Any]) -> tuple[pafs.FileSystem, str]:
    kind = scheme(url) or ""
    if kind == "s3":
        return _s3(options), url.split("://", 1)[1]
    try:
        import fsspec

        fs = fsspec.filesystem(kind, **options)
    except ImportError:
        extra = OBJECT_STORE_EXTRAS[kind]
        raise InputError(
            f"reading {kind}:// paths needs an optional extra: pip install 'mlcheck[{extra}]'"
        ) from None
    path = url if kind in ("http", "https") else url.split("://", 1)[1]
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


# Variables the AWS SDK itself does not read in every pyarrow build: an endpoint (MinIO, moto,
# a private cloud) and the region, from the standard environment; `storage_options` win.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def _s3(options: dict[str, Any]) -> pafs.S3FileSystem:
    settings: dict[str, Any] = {}
    endpoint = options.get("endpoint_url") or _first_set(_ENDPOINT_VARIABLES)
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        settings.update(endpoint_override=parts.netloc + parts.path, scheme=parts.scheme)
    region = _first_set(_REGION_VARIABLES)
    if region:
        settings["region"] = region
    settings.update({k: v for k, v in options.items() if k != "endpoint_url"})
    try:
        return pafs.S3FileSystem(**settings)
    except TypeError as exc:
        name = re.search(r"argument '(\w+)'", str(exc))
        unknown = repr(name.group(1)) if name else str(exc)
        raise InputError(
            f"storage_options: unknown option {unknown} for s3:// (see pyarrow.fs.S3FileSystem)"
        ) from None


def _first_set(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _stream(obj: RemoteObject) -> pa.NativeFile:
    return obj.fs.open_input_stream(obj.path, compression="detect")


def _csv_names(spec: SourceSpec, obj: RemoteObject) -> list[str]:
    with _stream(obj) as stream:
        return csv_header(spec, stream)


def _csv_read(spec: SourceSpec, obj: RemoteObject, columns: list[str] | None) -> pa.Table:
    with _stream(obj) as stream:
        return csv_table(spec, stream, columns)


def _dataset(obj: RemoteObject) -> ds.Dataset:
    import pyarrow.dataset as ds

    dataset = ds.dataset(obj.path, filesystem=obj.fs, format="parquet", partitioning="hive")
    if not dataset.files:
        raise InputError(f"the prefix {obj.shown} holds no parquet files")
    return dataset


def _parquet_names(spec: SourceSpec, obj: RemoteObject) -> list[str]:
    if obj.is_dir:
        return list(_dataset(obj).schema.names)
    with obj.fs.open_input_file(obj.path) as file:  # reads the footer only
        names = list(pq.read_schema(file).names)
    refuse_duplicate_names(names)
    return names


def _parquet_read(spec: SourceSpec, obj: RemoteObject, columns: list[str] | None) -> pa.Table:
    if obj.is_dir:
        return _dataset(obj).to_table(columns=columns)
    with obj.fs.open_input_file(obj.path) as file, pq.ParquetFile(file) as parquet:
        refuse_duplicate_names(parquet.schema_arrow.names)
        return parquet.read(columns=columns)


def _arrow_names(spec: SourceSpec, obj: RemoteObject) -> list[str]:
    with obj.fs.open_input_file(obj.path) as file:
        try:
            return list(pa.ipc.open_file(file).schema.names)
        except pa.ArrowInvalid:  # an IPC stream has no footer
            file.seek(0)
            return list(pa.ipc.open_stream(file).schema.names)


def _arrow_read(spec: SourceSpec, obj: RemoteObject, columns: list[str] | None) -> pa.Table:
    with obj.fs.open_input_file(obj.path) as file:
        try:
            return feather.read_table(file, columns=columns)
        except pa.ArrowInvalid:
            file.seek(0)
            table = pa.ipc.open_stream(file).read_all()
    return table.select(columns) if columns else table


def _jsonl_names(spec: SourceSpec, obj: RemoteObject) -> list[str]:
    with _stream(obj) as stream:  # the schema is inferred from the first block (1 MiB) only
        options = pajson.ReadOptions(block_size=1 << 20)
        return list(pajson.open_json(stream, read_options=options).schema.names)


def _jsonl_read(spec: SourceSpec, obj: RemoteObject, columns: list[str] | None) -> pa.Table:
    with _stream(obj) as stream:
        table = pajson.read_json(stream)
    return table.select(columns) if columns else table


_OBJECT_READERS = {
    "csv": _Reader(_csv_names, _csv_read),
    "tsv": _Reader(_csv_names, _csv_read),
    "parquet": _Reader(_parquet_names, _parquet_read),
    "arrow": _Reader(_arrow_names, _arrow_read),
    "jsonl": _Reader(_jsonl_names, _jsonl_read),
}
