"""Every source format read round-trip, per-source options, SQLite read-only and relative to the
checklist, read-once through the engine, and each unreadable input as a one-line InputError that
names the slot, the file and the checklist line."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import socket
import sqlite3
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcheck.checklist import Checklist, load_checklist
from mlcheck.engine import LocalEngine
from mlcheck.errors import InputError
from mlcheck.sources import (
    _sqlite_connect,
    declared_sources,
    detect_format,
    peek_columns,
    read_source,
    shared_read_spec,
    source_identity,
)

# Three rows covering int, float with a null, text with a null and unicode.
TABLE = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "income": pa.array([1200.5, None, 310.0], pa.float64()),
        "region": pa.array(["north", "süd", None], pa.string()),
    }
)


def checklist_for(tmp_path: Path, source: str, *, key: str = "id") -> Checklist:
    """A checklist in `tmp_path` whose research.features is `source` (a YAML flow mapping).

    The source is on line 4, so error messages must cite `checklist.yaml:4`.
    """
    text = f"""\
        version: 1
        key: {key}
        research:
          features: {source}
        production: {{}}
        """
    path = tmp_path / "checklist.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_checklist(path)


def read(tmp_path: Path, source: str) -> pa.Table:
    checklist = checklist_for(tmp_path, source)
    spec = checklist.research.features
    assert spec is not None
    return read_source(spec, checklist, "research.features")


def read_error(tmp_path: Path, source: str) -> str:
    with pytest.raises(InputError) as caught:
        read(tmp_path, source)
    message = caught.value.message
    assert caught.value.exit_code == 2
    assert "\n" not in message
    assert message.startswith(f"research.features ({tmp_path / 'checklist.yaml'}:4): ")
    return message


def by_id(table: pa.Table) -> pa.Table:
    return table.sort_by("id").select(["id", "income", "region"])


# --------------------------------------------------------------------------- round trips


def _write_csv(path: Path, delimiter: str = ",") -> None:
    options = pacsv.WriteOptions(delimiter=delimiter)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            pacsv.write_csv(TABLE, handle, write_options=options)
    else:
        pacsv.write_csv(TABLE, path, write_options=options)


def _write_ipc_stream(path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, TABLE.schema) as writer:
        writer.write_table(TABLE)


def _write_jsonl(path: Path) -> None:
    text = '{"id": 1, "income": 1200.5, "region": "north"}\n'
    text += (
        '{"id": 2, "income": null, "region": "süd"}\n{"id": 3, "income": 310.0, "region": null}\n'
    )
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


WRITERS = {
    "t.csv": _write_csv,
    "t.csv.gz": _write_csv,
    "t.tsv": lambda p: _write_csv(p, "\t"),
    "t.tsv.gz": lambda p: _write_csv(p, "\t"),
    "t.parquet": lambda p: pq.write_table(TABLE, p),
    "t.feather": lambda p: feather.write_feather(TABLE, p),
    "t.arrow": lambda p: feather.write_feather(TABLE, p, compression="uncompressed"),
    "stream.arrow": _write_ipc_stream,
    "t.jsonl": _write_jsonl,
    "t.ndjson": _write_jsonl,
    "t.jsonl.gz": _write_jsonl,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_each_format_reads_back_what_was_written(tmp_path: Path, name: str) -> None:
    WRITERS[name](tmp_path / name)
    checklist = checklist_for(tmp_path, f"{{path: {name}}}")
    spec = checklist.research.features
    assert spec is not None
    table = read_source(spec, checklist, "research.features")
    assert by_id(table).to_pylist() == TABLE.to_pylist()
    assert peek_columns(spec, checklist, "research.features") == ["id", "income", "region"]


def test_hive_partitioned_parquet_folder(tmp_path: Path) -> None:
    """A folder with region=north/, region=süd/ (and a null partition): the partition column is
    restored from the folder names."""
    folder = tmp_path / "features"
    pq.write_to_dataset(TABLE.drop_null(), folder, partition_cols=["region"])
    (folder / "_SUCCESS").write_text("")  # a marker file Spark leaves; it is not data
    table = read(tmp_path, "{path: features}")
    assert sorted(table.column_names) == ["id", "income", "region"]
    assert by_id(table).to_pylist() == TABLE.drop_null().to_pylist()


def test_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "export.dat")
    assert by_id(read(tmp_path, "{path: export.dat, format: parquet}")).equals(TABLE)


def test_read_options_delimiter_encoding_nulls_and_header(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes("1;café;-\n2;-;7.5\n".encode("latin-1"))
    options = "{delimiter: ';', encoding: latin-1, null_values: ['-'], header: false}"
    table = read(tmp_path, f"{{path: t.csv, read_options: {options}}}")
    assert table.column_names == ["f0", "f1", "f2"]
    assert table.to_pydict() == {"f0": [1, 2], "f1": ["café", None], "f2": [None, 7.5]}


def test_header_only_csv_is_a_valid_empty_table(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,income,region\n")
    table = read(tmp_path, "{path: t.csv}")
    assert table.num_rows == 0
    assert table.column_names == ["id", "income", "region"]


def test_unicode_and_spaces_in_column_names(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,monthly income,région\n1,2.5,x\n", encoding="utf-8")
    table = read(tmp_path, "{path: t.csv, columns: ['monthly income', région]}")
    assert table.column_names == ["monthly income", "région", "id"]


# --------------------------------------------------------------------------- columns


def test_columns_subset_keeps_the_key_and_projects_parquet(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "t.parquet")
    table = read(tmp_path, "{path: t.parquet, columns: [income]}")
    assert table.column_names == ["income", "id"]
    assert table.column("income").to_pylist() == [1200.5, None, 310.0]


@pytest.mark.parametrize("name", ["t.parquet", "t.feather", "t.csv", "stream.arrow", "t.jsonl"])
def test_columns_subset_in_every_format(tmp_path: Path, name: str) -> None:
    WRITERS[name](tmp_path / name)
    assert read(tmp_path, f"{{path: {name}, columns: [region]}}").column_names == ["region", "id"]


def test_an_absent_declared_column_names_it(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "t.parquet")
    message = read_error(tmp_path, "{path: t.parquet, columns: [income, salary]}")
    assert message.endswith("declared column 'salary' absent")


def test_a_source_without_the_key_column_still_reads(tmp_path: Path) -> None:
    """The key is added to a `columns:` subset only when the file has it."""
    pq.write_table(TABLE.drop_columns(["id"]), tmp_path / "t.parquet")
    assert read(tmp_path, "{path: t.parquet, columns: [income]}").column_names == ["income"]


# --------------------------------------------------------------------------- sqlite


def _make_db(path: Path) -> None:
    """Table `apps`: id INTEGER, income REAL with a NULL, region TEXT, blob BLOB, and `mixed`
    holding an integer, a text and a NULL (SQLite allows any type in any column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE apps (id INTEGER, income REAL, region TEXT, blob BLOB, mixed)")
        conn.executemany(
            "INSERT INTO apps VALUES (?, ?, ?, ?, ?)",
            [
                (1, 1200.5, "north", b"\x00\x01", 5),
                (2, None, "süd", None, "five"),
                (3, 310.0, None, b"", None),
            ],
        )
    conn.close()


def test_sqlite_table_types_nulls_and_mixed_columns(tmp_path: Path) -> None:
    _make_db(tmp_path / "db" / "apps.db")
    table = read(tmp_path, "{url: 'sqlite:///db/apps.db', table: apps}")
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.binary(), pa.string()]
    assert table.to_pydict() == {
        "id": [1, 2, 3],
        "income": [1200.5, None, 310.0],
        "region": ["north", "süd", None],
        "blob": [b"\x00\x01", None, b""],
        "mixed": ["5", "five", None],
    }


def test_sqlite_query_with_trailing_semicolon_and_projection(tmp_path: Path) -> None:
    _make_db(tmp_path / "apps.db")
    query = "SELECT id, income * 2 AS double_income, region FROM apps WHERE id > 1 ORDER BY id;"
    table = read(
        tmp_path, f'{{url: "sqlite:///apps.db", query: "{query}", columns: [double_income]}}'
    )
    assert table.to_pydict() == {"double_income": [None, 620.0], "id": [2, 3]}


def test_sqlite_empty_result_keeps_its_columns(tmp_path: Path) -> None:
    _make_db(tmp_path / "apps.db")
    table = read(
        tmp_path, "{url: 'sqlite:///apps.db', query: 'SELECT id, region FROM apps WHERE 0'}"
    )
    assert table.num_rows == 0
    assert table.column_names == ["id", "region"]


def test_sqlite_path_is_relative_to_the_checklist_not_the_cwd(tmp_path: Path, monkeypatch) -> None:
    _make_db(tmp_path / "conf" / "data" / "apps.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    assert read(conf, "{url: 'sqlite:///data/apps.db', table: apps}").num_rows == 3


def test_sqlite_absolute_path_has_four_slashes(tmp_path: Path) -> None:
    db = tmp_path / "abs dir" / "apps.db"  # a space: the path is URI-encoded for sqlite
    _make_db(db)
    conf = tmp_path / "conf"
    conf.mkdir()
    assert read(conf, f"{{url: 'sqlite:///{db}', table: apps}}").num_rows == 3


def test_sqlite_is_opened_read_only(tmp_path: Path) -> None:
    """A query that writes fails: the authorizer refuses it (and underneath, the database is
    opened mode=ro, immutable, query_only)."""
    _make_db(tmp_path / "apps.db")
    digest = hashlib.sha256((tmp_path / "apps.db").read_bytes()).hexdigest()
    message = read_error(
        tmp_path, "{url: 'sqlite:///apps.db', query: 'DELETE FROM apps RETURNING id'}"
    )
    assert "the query may only read; it asks for DELETE" in message
    assert hashlib.sha256((tmp_path / "apps.db").read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps.db", "checklist.yaml"]


def test_sqlite_connection_is_read_only(tmp_path: Path) -> None:
    _make_db(tmp_path / "apps.db")
    conn = _sqlite_connect(tmp_path / "apps.db")
    try:
        with pytest.raises(InputError, match="it asks for DELETE"):
            conn.execute("DELETE FROM apps")
        conn.set_authorizer(None)  # the layer below the authorizer refuses writes too
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM apps")
    finally:
        conn.close()
    with sqlite3.connect(tmp_path / "apps.db") as check:
        assert check.execute("SELECT count(*) FROM apps").fetchone() == (3,)
    check.close()


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{url: 'sqlite:///apps.db', query: 'SELEC id FROM apps'}", 'near "SELEC": syntax error'),
        ("{url: 'sqlite:///apps.db', table: nope}", "no such table: nope"),
        ("{url: 'sqlite:///apps.db', query: 'SELECT salary FROM apps'}", "no such column: salary"),
    ],
    ids=["syntax", "unknown-table", "unknown-column"],
)
def test_sqlite_query_errors(tmp_path: Path, source: str, fragment: str) -> None:
    _make_db(tmp_path / "apps.db")
    message = read_error(tmp_path, source)
    assert "cannot read sqlite:///apps.db" in message
    assert fragment in message


def test_sqlite_missing_database(tmp_path: Path) -> None:
    message = read_error(tmp_path, "{url: 'sqlite:///missing.db', table: apps}")
    assert message.endswith(f"database not found: {tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()  # sqlite must not create it


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    message = read_error(tmp_path, "{path: data/nope.parquet}")
    assert message.endswith(f"file not found: {tmp_path / 'data' / 'nope.parquet'}")


def test_corrupt_parquet(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1 this is not really parquet")
    message = read_error(tmp_path, "{path: t.parquet}")
    assert "cannot read t.parquet: " in message


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(b"id,x\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(50_000)))
    (tmp_path / "t.csv.gz").write_bytes(data[: len(data) // 2])
    message = read_error(tmp_path, "{path: t.csv.gz}")
    assert "cannot read t.csv.gz: " in message
    assert "runcated" in message


def test_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    message = read_error(tmp_path, "{path: t.xlsx}")
    assert "cannot tell the format of t.xlsx" in message
    assert "add `format:`" in message


def test_wrong_encoding_asks_for_read_options(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes("id,city\n1,Málaga\n".encode("latin-1"))
    message = read_error(tmp_path, "{path: t.csv}")
    assert "column 'city' is not valid utf8 text" in message
    assert "encoding" in message


def test_wrong_encoding_in_the_header(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes("id,régión\n1,2\n".encode("latin-1"))
    message = read_error(tmp_path, "{path: t.csv}")
    assert "t.csv is not valid utf-8 text" in message


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.feather", "t.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    assert read_error(tmp_path, f"{{path: {name}}}").endswith(f"{name} is empty (0 bytes)")


def test_blank_csv_is_empty(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("\n")
    assert read_error(tmp_path, "{path: t.csv}").endswith("the file is empty (not even a header)")


def test_malformed_jsonl(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"id": 1}\n{"id": \n')
    assert "cannot read t.jsonl: JSON parse error" in read_error(tmp_path, "{path: t.jsonl}")


def test_folder_without_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "holds no parquet files" in read_error(tmp_path, "{path: empty}")


def test_folder_with_a_non_parquet_format(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    assert "only parquet datasets can be folders" in read_error(tmp_path, "{path: d.csv}")


def test_ragged_csv(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,x\n1,2\n3,4,5\n")
    assert "cannot read t.csv: CSV parse error" in read_error(tmp_path, "{path: t.csv}")


# --------------------------------------------------------------------------- metadata only


def test_peek_reads_only_the_csv_header(tmp_path: Path) -> None:
    """A malformed row far into the file does not disturb reading the header."""
    rows = "".join(f"{i},{i}\n" for i in range(200_000)) + "broken,row,here\n"
    (tmp_path / "t.csv").write_text("id,x\n" + rows)
    checklist = checklist_for(tmp_path, "{path: t.csv}")
    spec = checklist.research.features
    assert spec is not None
    assert peek_columns(spec, checklist, "research.features") == ["id", "x"]
    assert "CSV parse error" in read_error(tmp_path, "{path: t.csv}")  # a full read does fail


def test_peek_sqlite_compiles_but_does_not_run_the_query(tmp_path: Path) -> None:
    """An endless recursive query, sorted so that not even a first row exists: a peek returns
    at once."""
    _make_db(tmp_path / "apps.db")
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x AS n, x * 2 AS twice FROM c ORDER BY x"
    )
    checklist = checklist_for(tmp_path, f"{{url: 'sqlite:///apps.db', query: '{endless}'}}")
    spec = checklist.research.features
    assert spec is not None
    assert peek_columns(spec, checklist, "research.features") == ["n", "twice"]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{url: 'sqlite:///apps.db', query: 'SELEC id FROM apps'}", 'near "SELEC": syntax error'),
        ("{url: 'sqlite:///apps.db', table: nope}", "no such table: nope"),
    ],
    ids=["syntax", "unknown-table"],
)
def test_peek_sqlite_errors_point_into_the_users_query(
    tmp_path: Path, source: str, fragment: str
) -> None:
    _make_db(tmp_path / "apps.db")
    checklist = checklist_for(tmp_path, source)
    spec = checklist.research.features
    assert spec is not None
    with pytest.raises(InputError, match=fragment):
        peek_columns(spec, checklist, "research.features")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{path: x.TSV.gz}", "tsv"),
        ("{path: x.csv.gz}", "csv"),
        ("{path: x.pq}", "parquet"),
        ("{path: x.ipc}", "arrow"),
        ("{path: x.feather}", "arrow"),
        ("{path: x.ndjson}", "jsonl"),
        ("{path: x.txt, format: tsv}", "tsv"),
        ("{path: x.bin, format: feather}", "arrow"),
        ("{path: folder}", "parquet"),
        ("{url: 'sqlite:///x.db', table: t}", "sql"),
    ],
)
def test_detect_format(tmp_path: Path, source: str, expected: str) -> None:
    (tmp_path / "folder").mkdir()
    checklist = checklist_for(tmp_path, source)
    spec = checklist.research.features
    assert spec is not None
    path = checklist.resolve_path(spec.path) if spec.path else None
    assert detect_format(spec, path) == expected


# --------------------------------------------------------------------------- read once, untouched


def _shared_file_checklist(tmp_path: Path) -> Checklist:
    """One parquet file backs research features, predictions and labels (with different
    `columns:`); production features is a second file; a splits mapping reuses the first."""
    pq.write_table(TABLE.append_column("p", pa.array([0.1, 0.2, 0.3])), tmp_path / "all.parquet")
    pq.write_table(TABLE, tmp_path / "prod.parquet")
    text = """\
        key: id
        research:
          features: {path: all.parquet, columns: [income, region]}
          predictions: {path: ./all.parquet, columns: [p]}
          labels: {path: all.parquet}
        production:
          features: {path: prod.parquet}
          splits:
            train: {path: all.parquet, columns: [region]}
        """
    (tmp_path / "checklist.yaml").write_text(textwrap.dedent(text))
    return load_checklist(tmp_path / "checklist.yaml")


def test_each_distinct_file_is_read_once(tmp_path: Path) -> None:
    checklist = _shared_file_checklist(tmp_path)
    reads: list[str] = []
    engine = LocalEngine(checklist, on_read=reads.append)
    assert engine.table("research.features").column_names == ["income", "region", "id"]
    assert engine.table("research.predictions").column_names == ["p", "id"]
    assert engine.table("research.labels").column_names == ["id", "income", "region", "p"]
    assert engine.table("production.features").num_rows == 3
    assert engine.table("production.splits").column_names == ["region", "id", "split"]
    assert reads == ["research.features", "production.features"]


def test_shared_read_unions_columns_and_keys(tmp_path: Path) -> None:
    checklist = _shared_file_checklist(tmp_path)
    sources = declared_sources(checklist)
    assert list(sources) == [
        "research.features",
        "research.predictions",
        "research.labels",
        "production.features",
        "production.splits.train",
    ]
    identity = source_identity(sources["research.features"], checklist)
    assert source_identity(sources["research.predictions"], checklist) == identity
    assert source_identity(sources["production.features"], checklist) != identity
    # labels wants every column, so the shared read is the whole file
    assert shared_read_spec(sources["research.features"], checklist).columns is None


def test_shared_read_projects_when_every_slot_lists_columns(tmp_path: Path) -> None:
    pq.write_table(TABLE.append_column("p", pa.array([0.1, 0.2, 0.3])), tmp_path / "all.parquet")
    text = """\
        key: id
        research:
          features: {path: all.parquet, columns: [income]}
          predictions: {path: all.parquet, columns: [p]}
        production: {}
        """
    (tmp_path / "checklist.yaml").write_text(textwrap.dedent(text))
    checklist = load_checklist(tmp_path / "checklist.yaml")
    spec = checklist.research.features
    assert spec is not None
    shared = shared_read_spec(spec, checklist)
    assert (shared.columns, shared.key) == (["income", "p"], ["id"])
    assert read_source(shared, checklist, "research.features").column_names == ["income", "p", "id"]


def test_an_absent_column_through_the_engine(tmp_path: Path) -> None:
    pq.write_table(TABLE, tmp_path / "t.parquet")
    checklist = checklist_for(tmp_path, "{path: t.parquet, columns: [salary]}")
    with pytest.raises(InputError, match=r"research\.features \(.*checklist\.yaml:4\): .*'salary'"):
        LocalEngine(checklist).table("research.features")


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_inputs_are_untouched(tmp_path: Path) -> None:
    """Reading every format (and the sqlite db) changes no byte and creates no file."""
    for name, write in WRITERS.items():
        write(tmp_path / name)
    _make_db(tmp_path / "apps.db")
    (tmp_path / "checklist.yaml").write_text("research: {}\nproduction: {}\n")
    before = _fingerprint(tmp_path)
    for name in WRITERS:
        read(tmp_path, f"{{path: {name}}}")
    read(tmp_path, "{url: 'sqlite:///apps.db', table: apps}")
    after = _fingerprint(tmp_path)
    after.pop("checklist.yaml"), before.pop("checklist.yaml")  # rewritten by the helper itself
    assert after == before


# --------------------------------------------------------------------------- what kind of file


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe `t.csv`. Opening it for reading blocks until a writer comes: a safety timer
    plays that writer after 10 s (and closes at once), so code that does open it fails the test
    with the wrong outcome instead of hanging the suite."""
    path = tmp_path / "t.csv"
    os.mkfifo(path)
    timer = threading.Timer(10, _release_reader, (path,))
    timer.daemon = True
    timer.start()
    yield path
    timer.cancel()


def _release_reader(path: Path) -> None:
    with contextlib.suppress(OSError):  # ENXIO: nobody is reading, as it should be
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def socket_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "t.csv"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    yield path
    server.close()


def test_a_named_pipe_is_refused_without_being_opened(tmp_path: Path, fifo: Path) -> None:
    """Defect: a FIFO source blocked the read (and `validate`) forever."""
    message = read_error(tmp_path, "{path: t.csv}")
    assert message.endswith(f"{fifo} is a named pipe (FIFO), not a regular file or folder")
    checklist = checklist_for(tmp_path, "{path: t.csv}")
    assert checklist.research.features is not None
    with pytest.raises(InputError, match="named pipe"):
        peek_columns(checklist.research.features, checklist, "research.features")


def test_a_socket_is_refused(tmp_path: Path, socket_file: Path) -> None:
    message = read_error(tmp_path, "{path: t.csv}")
    assert message.endswith(f"{socket_file} is a socket, not a regular file or folder")


def test_a_device_is_refused(tmp_path: Path) -> None:
    """/dev/null reads as nothing and /dev/zero or /dev/urandom never end: no device is read."""
    message = read_error(tmp_path, "{path: /dev/null, format: csv}")
    assert message.endswith("/dev/null is a character device, not a regular file or folder")


def test_a_special_file_inside_a_parquet_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "features"
    pq.write_to_dataset(TABLE, folder, partition_cols=["region"])
    os.mkfifo(folder / "region=north" / "zz.parquet")
    message = read_error(tmp_path, "{path: features}")
    assert "zz.parquet is a named pipe (FIFO)" in message


def test_a_database_that_is_a_named_pipe_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "apps.db")
    message = read_error(tmp_path, "{url: 'sqlite:///apps.db', table: apps}")
    assert message.endswith("apps.db is a named pipe (FIFO), not a regular file")


@pytest.mark.parametrize(
    "source",
    ["{path: loop.csv}", "{path: loop/t.parquet}", "{url: 'sqlite:///loop.db', table: apps}"],
    ids=["file", "inside", "database"],
)
def test_a_symlink_loop_is_an_input_error(tmp_path: Path, source: str) -> None:
    """Defect: resolving a path through a symbolic link loop raised RuntimeError (exit 3)."""
    for name in ("loop.csv", "loop", "loop.db"):
        (tmp_path / name).symlink_to(name)
    message = read_error(tmp_path, source)
    assert "is a symbolic link loop" in message


def test_a_symlink_loop_in_the_engine_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    checklist = checklist_for(tmp_path, "{path: a.csv}")
    with pytest.raises(InputError, match=r"a\.csv is a symbolic link loop"):
        LocalEngine(checklist).table("research.features")


# --------------------------------------------------------------------------- sqlite never writes


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("ATTACH DATABASE ''x.db'' AS x", "ATTACH"),
        ("VACUUM INTO ''x.db''", "ATTACH"),  # VACUUM INTO attaches its target
        ("VACUUM", "ATTACH"),
        ("PRAGMA user_version = 7", "PRAGMA user_version"),
        ("CREATE TEMP TABLE t AS SELECT 1 AS a", "CREATE TEMP"),
        ("DELETE FROM apps", "DELETE"),
    ],
    ids=["attach", "vacuum-into", "vacuum", "pragma-write", "temp-table", "delete"],
)
def test_a_query_that_would_write_is_refused_and_creates_nothing(
    tmp_path: Path, query: str, refused: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: ATTACH and VACUUM INTO created x.db (relative to the working folder, here
    tmp_path) despite mode=ro."""
    monkeypatch.chdir(tmp_path)
    _make_db(tmp_path / "apps.db")
    digest = hashlib.sha256((tmp_path / "apps.db").read_bytes()).hexdigest()
    message = read_error(tmp_path, f"{{url: 'sqlite:///apps.db', query: '{query}'}}")
    assert f"the query may only read; it asks for {refused}" in message
    assert _listing(tmp_path) == ["apps.db", "checklist.yaml"]
    assert hashlib.sha256((tmp_path / "apps.db").read_bytes()).hexdigest() == digest


def test_reading_queries_still_run(tmp_path: Path) -> None:
    """The authorizer lets reads through: functions, CTEs, recursion, views, json_each."""
    _make_db(tmp_path / "apps.db")
    with sqlite3.connect(tmp_path / "apps.db") as conn:
        conn.execute("CREATE VIEW v AS SELECT id, upper(region) AS r FROM apps")
    conn.close()
    query = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
        "SELECT n.i AS id, v.r, (SELECT count(*) FROM json_each(''[1,2]'')) AS two "
        "FROM n LEFT JOIN v ON v.id = n.i ORDER BY n.i"
    )
    table = read(tmp_path, f"{{url: 'sqlite:///apps.db', query: '{query}'}}")
    # SQLite's upper() changes ASCII letters only
    assert table.to_pydict() == {"id": [1, 2, 3], "r": ["NORTH", "SüD", None], "two": [2, 2, 2]}


def _wal_db(path: Path) -> sqlite3.Connection:
    """A WAL-mode copy of the `apps` table; the connection is returned open (its -wal file holds
    the rows until a checkpoint), with automatic checkpoints off."""
    _make_db(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def test_a_wal_database_leaves_no_shm_or_wal_file(tmp_path: Path) -> None:
    """Defect: opening a WAL-mode database with mode=ro created apps.db-shm and apps.db-wal."""
    _wal_db(tmp_path / "apps.db").close()  # closed cleanly: checkpointed, -wal and -shm removed
    assert _listing(tmp_path) == ["apps.db"]
    assert read(tmp_path, "{url: 'sqlite:///apps.db', table: apps}").num_rows == 3
    checklist = checklist_for(tmp_path, "{url: 'sqlite:///apps.db', table: apps}")
    assert checklist.research.features is not None
    peek_columns(checklist.research.features, checklist, "research.features")
    assert _listing(tmp_path) == ["apps.db", "checklist.yaml"]


def test_a_database_with_changes_still_in_its_wal_file_is_refused(tmp_path: Path) -> None:
    """Committed rows that live only in apps.db-wal would be invisible to an immutable read:
    mlcheck says so rather than report on stale data, and writes nothing to find out."""
    writer = _wal_db(tmp_path / "apps.db")
    try:
        writer.execute("INSERT INTO apps (id) VALUES (4)")
        writer.commit()
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        message = read_error(tmp_path, "{url: 'sqlite:///apps.db', table: apps}")
        assert "apps.db-wal holds changes not yet written to apps.db" in message
        assert "wal_checkpoint" in message
        after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before}
        assert after == before
    finally:
        writer.close()


def test_a_database_with_a_hot_journal_is_refused(tmp_path: Path) -> None:
    """A non-empty -journal means an interrupted write: the file may be half-updated."""
    _make_db(tmp_path / "apps.db")
    (tmp_path / "apps.db-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    message = read_error(tmp_path, "{url: 'sqlite:///apps.db', table: apps}")
    assert "apps.db-journal holds an interrupted write" in message


# --------------------------------------------------------------------------- truncated csv


@pytest.mark.parametrize(
    "text",
    [
        'id,income,region\n1,2.5,north\n2,3.5,"sou',  # cut inside the last quoted field
        'id,income,region\n1,2.5,"north\n2,3.5,south\n',  # a quote never closed: rows swallowed
        'id,income,region\n1,2.5,"north ""x"" \n',  # escaped quotes, then the end
        'id,income,region\r\n1,2.5,north\r\n2,3.5,"',  # CRLF, cut right after the opening quote
        '"id","income","region"\n"1","2.5","nor',  # every field quoted
    ],
    ids=["last-field", "swallowed-rows", "escaped-quotes", "crlf", "all-quoted"],
)
def test_a_csv_ending_inside_an_open_quote_is_truncated(tmp_path: Path, text: str) -> None:
    """Defect: pyarrow ends the last field at the end of the file, so a truncated file read as
    one odd cell and a lost row."""
    (tmp_path / "t.csv").write_text(text)
    message = read_error(tmp_path, "{path: t.csv}")
    assert message.endswith(
        "t.csv ends inside a quoted field: the file is truncated or a quote is never closed"
    )


def test_a_truncated_gzip_csv_and_tsv_are_found_too(tmp_path: Path) -> None:
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(b'id,x\n1,"a\n'))
    assert "ends inside a quoted field" in read_error(tmp_path, "{path: t.csv.gz}")
    (tmp_path / "t.tsv").write_bytes(b'id\tx\n1\t"a')
    assert "ends inside a quoted field" in read_error(tmp_path, "{path: t.tsv}")


@pytest.mark.parametrize(
    "text",
    [
        'id,income,region\n1,2.5,"a ""quoted"" word"\n',
        'id,income,region\n1,2.5,12" pipe\n2,3,"x"\n',  # a bare quote inside a field is text
        'id,income,region\n1,2.5,""\n2,3,"multi\nline"\n',
        'id,income,region\n1,2.5,"a,b"',  # no final newline, but the quote is closed
    ],
    ids=["escaped", "bare-quote", "multi-line", "no-final-newline"],
)
def test_a_csv_whose_quotes_close_is_read(tmp_path: Path, text: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    assert read(tmp_path, "{path: t.csv}").num_rows == text.count("\n1,") + text.count("\n2,")


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_quote_runs_cut_by_read_blocks_stay_whole(tmp_path: Path, name: str) -> None:
    """An escaped quote `""` split by a block boundary is still one escaped quote, and a run
    that ends exactly at a boundary is still one run (plain files are read backwards,
    compressed ones forwards)."""
    from mlcheck.sources import ends_inside_quote

    def scan(data: bytes, block: int) -> bool:
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return ends_inside_quote(path, ord(","), block)

    truncated = b'id,x\n1,"aaa""b'  # the escaped quote sits at bytes 11 and 12
    closed = truncated + b'"\n'
    for block in (4, 11, 12, 13, 1 << 24):
        assert scan(truncated, block) is True, block
        assert scan(closed, block) is False, block
    assert scan(b'id,x\n1,""', 9) is False  # an empty quoted field split in two
    assert scan(b'id,x\n1,"', 8) is True
    assert scan(b'id,x\n1,"' + b"a," * 200_000 + b'b"\n2,"', 1 << 16) is True
    assert scan(b'id,x\n1,"' + b"a," * 200_000 + b'b"\n', 1 << 16) is False


def _quote_state_by_hand(data: bytes, delimiter: int) -> bool:
    """The reference: pyarrow's parser walked byte by byte. A quote opens a field only at its
    start; inside, `""` is a quote and `"` closes; after the close the field goes on unquoted."""
    inside, at_start, i = False, True, 0
    while i < len(data):
        byte = data[i]
        if inside:
            if byte == ord('"') and data[i + 1 : i + 2] == b'"':
                i += 2
                continue
            inside = byte != ord('"')
        elif byte == ord('"') and at_start:
            inside, at_start = True, False
        else:
            at_start = byte in (delimiter, ord("\n"), ord("\r"))
        i += 1
    return inside


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b'a,"\n\r'[x % 5] for x in b)),
    block=st.integers(1, 70),
    compressed=st.booleans(),
)
def test_the_quote_scan_agrees_with_the_parser_byte_by_byte(
    data: bytes, block: int, compressed: bool
) -> None:
    """Any bytes of `a , " \\n \\r`, any block size, read backwards (plain) or forwards (gz)."""
    from mlcheck.sources import ends_inside_quote

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("t.csv.gz" if compressed else "t.csv")
        path.write_bytes(gzip.compress(data) if compressed else data)
        if not data and not compressed:
            return  # an empty file is refused before this scan (and cannot be mapped)
        assert ends_inside_quote(path, ord(","), block) == _quote_state_by_hand(data, ord(","))
