"""PostgreSQL sources (`url: postgresql://...`) against a real server started once per test session.

The server (tests/servers.py) has two users: `postgres` (trusted, loads the data) and `alice`,
who logs in with a password holding `@` and `/`, so the masking of passwords is exercised for
real. Database `mlcheck` holds:
- `kinds`: one column per mapped type (numeric(10,2), numeric, a NaN numeric, timestamptz, text,
  bool, int[], jsonb, date, int2, float4, bytea, uuid, timestamp) and a null row;
- `accounts`: ids 1..5 with a `balance`; a row with `x = 0` makes `1 / x` fail when evaluated;
- the credit sample (`research_features`, ...), for the end-to-end comparison with the files.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from servers import (
    PASSWORD,
    Postgres,
    assert_same_report,
    credit_checklist,
    credit_files_report,
    credit_sources,
    execute,
    features_checklist,
    free_port,
    ingest,
    postgres_bin,
    run_cli,
    start_postgres,
)

from mlcheck.checklist import load_checklist
from mlcheck.errors import InputError
from mlcheck.remote import _with_timeout
from mlcheck.sources import peek_columns, read_source


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are absent; run .ci/postgres.sh")
    server = start_postgres(bin_dir)
    try:
        admin = server.url(db="postgres")
        execute(admin, "CREATE DATABASE mlcheck")
        execute(admin, f"CREATE ROLE alice LOGIN PASSWORD '{PASSWORD}'")
        _load(server)
        _load_sides(server)
        yield server
    finally:
        server.stop()


def _load(server: Postgres) -> None:
    url = server.url()
    execute(
        url,
        "CREATE TABLE kinds (id int8, amount numeric(10,2), ratio numeric, odd numeric, "
        "seen timestamptz, name text, ok bool, tags int4[], doc jsonb, day date, "
        "small int2, single float4, raw bytea, uid uuid, naive timestamp)",
        "INSERT INTO kinds VALUES (1, 12.34, 0.125, 'NaN', '2024-03-01 12:00:00+02', 'a', true, "
        "'{1,2}', '{\"k\": 1}', '2024-03-01', 7, 0.5, '\\x00ff', "
        "'00000000-0000-0000-0000-0000000000ff', '2024-03-01 12:00:00'), "
        "(2, NULL, NULL, 1.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "CREATE TABLE accounts (id int8, balance float8, x int4)",
        "INSERT INTO accounts SELECT i, i * 10.5, i - 3 FROM generate_series(1, 5) AS i",
    )
    tables = {
        slot.replace(".", "_"): _read_file(path) for slot, (_, path) in credit_sources().items()
    }
    ingest(url, tables)
    execute(url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice")


def _load_sides(server: Postgres) -> None:
    """Databases `research` and `production` holding the credit tables under plain names
    (raw_applications, features, live_features, ...), as `mlcheck init` would meet them."""
    for side in ("research", "production"):
        execute(server.url(db="postgres"), f"CREATE DATABASE {side}")
        tables = {
            slot.split(".", 1)[1].replace(".", "_"): _read_file(path)
            for slot, (_, path) in credit_sources().items()
            if slot.startswith(side)
        }
        ingest(server.url(db=side), tables)
        execute(server.url(db=side), "GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice")


def _read_file(path: Path) -> pa.Table:
    return pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)


def _read(folder: Path, spec: dict[str, object]) -> pa.Table:
    checklist = load_checklist(features_checklist(folder, spec))
    source = checklist.research.features
    assert source is not None
    return read_source(source, checklist, "research.features")


def _one_line_error(proc: object, *fragments: str) -> str:
    err = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 2, err  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert PASSWORD not in err + proc.stdout  # type: ignore[attr-defined]
    assert "s3cr%40t" not in err
    for line in filter(None, err.splitlines()):  # `validate` lists one line per slot
        assert line.startswith(("error: ", "  research.", "  production.")), err
    for fragment in fragments:
        assert fragment in err, err
    return err


# --------------------------------------------------------------------------- reading


def test_type_mapping(postgres: Postgres, tmp_path: Path) -> None:
    table = _read(tmp_path, {"url": postgres.url("alice", PASSWORD), "table": "kinds"})
    schema = dict(zip(table.column_names, table.schema.types, strict=True))
    assert schema["amount"] == pa.decimal128(10, 2)
    assert schema["ratio"] == pa.float64()  # unconstrained numeric
    assert schema["odd"] == pa.float64()  # NaN fits no decimal
    assert schema["seen"] == pa.timestamp("us", tz="UTC")
    assert schema["name"] == pa.string() and schema["doc"] == pa.string()
    assert schema["ok"] == pa.bool_() and schema["day"] == pa.date32()
    assert schema["tags"] == pa.list_(pa.int32())
    assert schema["small"] == pa.int16() and schema["single"] == pa.float32()
    assert schema["raw"] == pa.binary() and schema["uid"] == pa.binary(16)
    assert schema["naive"] == pa.timestamp("us")
    rows = table.sort_by("id").to_pylist()
    assert rows[0]["amount"] == decimal.Decimal("12.34") and rows[0]["ratio"] == 0.125
    assert rows[0]["seen"] == dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert rows[0]["tags"] == [1, 2] and rows[0]["doc"] == '{"k": 1}'
    assert rows[0]["raw"] == b"\x00\xff" and rows[0]["uid"] == bytes(15) + b"\xff"
    assert rows[0]["odd"] != rows[0]["odd"] and rows[1]["odd"] == 1.5  # NaN, then 1.5
    assert rows[1] == {**dict.fromkeys(rows[1]), "id": 2, "odd": 1.5}  # nulls stay null


def test_query_with_declared_columns(postgres: Postgres, tmp_path: Path) -> None:
    spec = {
        "url": postgres.url("alice", PASSWORD),
        "query": "SELECT id, balance, x FROM accounts WHERE id > 2;",
        "columns": ["balance"],
    }
    table = _read(tmp_path, spec)
    assert table.column_names == ["balance", "id"]  # the key comes along
    assert sorted(table.column("balance").to_pylist()) == [31.5, 42.0, 52.5]


def test_schema_qualified_table(postgres: Postgres, tmp_path: Path) -> None:
    table = _read(tmp_path, {"url": postgres.url("alice", PASSWORD), "table": "public.accounts"})
    assert table.num_rows == 5


def test_password_from_variable_or_pgpassword(postgres: Postgres, tmp_path: Path) -> None:
    with_var = postgres.url("alice").replace("alice@", "alice:${ALICE_PW}@")
    path = features_checklist(tmp_path, {"url": with_var, "table": "accounts"})
    proc = run_cli(
        "validate", path, env={"ALICE_PW": PASSWORD.replace("@", "%40").replace("/", "%2F")}
    )
    assert proc.returncode == 0, proc.stderr
    path = features_checklist(tmp_path, {"url": postgres.url("alice"), "table": "accounts"})
    assert run_cli("validate", path, env={"PGPASSWORD": PASSWORD}).returncode == 0
    _one_line_error(run_cli("validate", path, env={"PGPASSWORD": "wrong"}), "password")


# --------------------------------------------------------------------------- errors


def test_errors_are_one_line_without_the_password(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.url("alice", PASSWORD)
    cases = {
        "refused": (
            {"url": url.replace(str(postgres.port), str(free_port())), "table": "accounts"},
            "Connection refused",
        ),
        "auth": (
            {"url": postgres.url("alice", "not-" + PASSWORD), "table": "accounts"},
            'password authentication failed for user "alice"',
        ),
        "table": ({"url": url, "table": "nope"}, 'relation "nope" does not exist'),
        "query": (
            {"url": url, "query": "SELEC id FROM accounts"},
            'syntax error at or near "SELEC"',
        ),
        "database": (
            {"url": postgres.url("alice", PASSWORD, db="nodb"), "table": "t"},
            'database "nodb" does not exist',
        ),
    }
    # validate reports every source's problem in one process: one line per slot
    raw = {name: spec for name, (spec, _) in cases.items()}
    path = tmp_path / "all.yaml"
    path.write_text(
        yaml.safe_dump({"version": 1, "research": {"raw": raw}, "production": {"raw": raw}})
    )
    err = _one_line_error(run_cli("validate", path), *(expected for _, expected in cases.values()))
    assert err.count("postgresql://alice:***@127.0.0.1") == 2 * len(cases), err
    for name in ("refused", "query"):  # a run stops at the first source it cannot read
        spec, expected = cases[name]
        err = _one_line_error(run_cli("run", features_checklist(tmp_path, spec)), expected)
        assert err.startswith("error: research.features") and err.count("\n") == 1, err


def test_a_silent_server_times_out(tmp_path: Path) -> None:
    """A port that accepts connections but never answers: libpq's connect_timeout ends it."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql://alice:{PASSWORD.replace('@', '%40').replace('/', '%2F')}@127.0.0.1:{silent.getsockname()[1]}/db"
        path = features_checklist(tmp_path, {"url": f"{url}?connect_timeout=1", "table": "t"})
        _one_line_error(run_cli("validate", path), "timeout expired")
    assert _with_timeout("postgresql://h/db") == "postgresql://h/db?connect_timeout=10"
    assert _with_timeout("postgresql://h/db?sslmode=require").endswith("&connect_timeout=10")
    assert (
        _with_timeout("postgresql://h/db?connect_timeout=3")
        == "postgresql://h/db?connect_timeout=3"
    )


def test_read_only_transaction(postgres: Postgres, tmp_path: Path) -> None:
    """A query that writes fails, and the table keeps its rows."""
    spec = {
        "url": postgres.url(),
        "query": "WITH gone AS (DELETE FROM accounts RETURNING *) SELECT * FROM gone",
    }
    with pytest.raises(InputError, match="read-only transaction"):
        _read(tmp_path, spec)
    assert _read(tmp_path, {"url": postgres.url(), "table": "accounts"}).num_rows == 5


def test_validate_reads_no_rows(postgres: Postgres, tmp_path: Path) -> None:
    """`1 / x` fails on the row with x = 0: validate (the query is only described) never evaluates it, a run does."""
    spec = {"url": postgres.url("alice", PASSWORD), "query": "SELECT id, 1 / x AS y FROM accounts"}
    checklist = load_checklist(features_checklist(tmp_path, spec))
    assert checklist.research.features is not None
    assert peek_columns(checklist.research.features, checklist, "research.features") == ["id", "y"]
    path = features_checklist(tmp_path, {**spec, "columns": ["y", "z"]})
    proc = run_cli("validate", path)
    assert proc.returncode == 2 and "declared column 'z' is absent" in proc.stderr
    _one_line_error(run_cli("run", features_checklist(tmp_path, spec)), "division by zero")


def test_unknown_scheme_masks_the_password(tmp_path: Path) -> None:
    path = features_checklist(
        tmp_path, {"url": "mysql://bob:${DB_PW}@db.example/sales", "table": "t"}
    )
    proc = run_cli("validate", path, env={"DB_PW": "hunter2-secret"})
    assert proc.returncode == 2
    assert "hunter2-secret" not in proc.stderr + proc.stdout
    assert "mysql://bob:***@db.example/sales" in proc.stderr


def test_missing_driver_says_how_to_install(tmp_path: Path) -> None:
    path = features_checklist(tmp_path, {"url": "postgresql://alice@127.0.0.1:1/db", "table": "t"})
    code = "import sys, runpy; sys.modules['adbc_driver_postgresql'] = None; "
    code += "sys.argv = ['mlcheck', 'validate', sys.argv[1]]; runpy.run_module('mlcheck', run_name='__main__')"
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'mlcheck[postgres]'" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- init


def test_init_from_two_databases(postgres: Postgres, tmp_path: Path) -> None:
    research, production = (
        postgres.url("alice", PASSWORD, db=d) for d in ("research", "production")
    )
    output = tmp_path / "checklist.yaml"
    made = run_cli("init", research, production, "-o", output)
    assert made.returncode == 0, made.stderr
    text = output.read_text()
    assert PASSWORD not in text and "s3cr%40t" not in text and PASSWORD not in made.stderr
    assert "set PGPASSWORD" in text
    checklist = load_checklist(output)
    assert checklist.key == "application_id"
    assert set(checklist.research.raw or {}) == {"raw_applications", "raw_bureau"}
    features = checklist.research.features
    assert features is not None and features.table == "features"
    assert features.url == postgres.url("alice", db="research")
    live = checklist.production.live
    assert live is not None and live.features is not None and live.features.table == "live_features"
    assert checklist.columns.score == "p_default" and checklist.columns.target == "defaulted"
    env = {"PGPASSWORD": PASSWORD}
    assert run_cli("validate", output, env=env).returncode == 0
    ran = run_cli("run", output, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr


# --------------------------------------------------------------------------- end to end


def test_credit_sample_from_postgres_matches_the_files(postgres: Postgres, tmp_path: Path) -> None:
    """PostgreSQL keeps timestamps in microseconds (the CSV read gives seconds) and fingerprints
    hash stored values, so the exact reference is the files with microsecond timestamps; against
    the original files only the fingerprints differ."""
    url = postgres.url("alice").replace("alice@", "alice:${ALICE_PW}@")
    slots = credit_sources()
    database = credit_checklist(
        tmp_path / "db", {s: {"url": url, "table": s.replace(".", "_")} for s in slots}
    )
    copies = {}
    for slot, (_, path) in slots.items():
        copies[slot] = {"path": str(tmp_path / f"{slot}.parquet")}
        pq.write_table(_microseconds(_read_file(path)), copies[slot]["path"])
    reference = credit_checklist(tmp_path / "ref", copies)
    env = {"ALICE_PW": PASSWORD.replace("@", "%40").replace("/", "%2F")}
    runs = [
        run_cli("run", checklist, "--format", "json", "--keep-going", env=env)
        for checklist in (database, reference)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert_same_report(runs[0].stdout, runs[1].stdout)
    fingerprints = ("fingerprint", "research_fingerprint", "production_fingerprint")
    assert_same_report(runs[0].stdout, credit_files_report(), ignore=fingerprints)


def _microseconds(table: pa.Table) -> pa.Table:
    kinds = [
        pa.timestamp("us", t.tz) if pa.types.is_timestamp(t) else t for t in table.schema.types
    ]
    return table.cast(pa.schema(list(zip(table.column_names, kinds, strict=True))))
