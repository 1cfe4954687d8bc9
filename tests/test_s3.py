"""Object-store sources (`path: s3://bucket/key`, and https:// through fsspec) against real servers.

S3 is moto's server (a real S3 API over HTTP on a local port, started once per session); the
endpoint and credentials come from the standard AWS variables, as they would in CI. Bucket `data`:
- `credit/...`: the credit sample, byte for byte, for the end-to-end comparison with the files;
- `credit-tree/research|production|live/...`: the sample's folders as they are (for `init`);
- `tiny/scores.parquet`, `tiny/scores.csv`: ids 1..4 with a score;
- `tiny/partitioned/region=north|south/part-0.parquet`: a hive-partitioned prefix;
- `tiny/late_error.csv`: a valid header and 1 MiB of good rows, then a row with a missing field
  (only a full read sees it);
- `tiny/empty.csv`: 0 bytes;
- `tiny/bad_pages.parquet`: an intact footer (schema: id, score) over corrupt data pages.
"""

from __future__ import annotations

import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from servers import (
    CREDIT_CHECKLIST,
    S3,
    assert_same_report,
    credit_checklist,
    credit_files_report,
    credit_sources,
    features_checklist,
    free_port,
    run_cli,
    start_moto,
    start_moto_with_auth,
)

from mlcheck.checklist import load_checklist
from mlcheck.errors import InputError
from mlcheck.sources import read_source

CREDIT = CREDIT_CHECKLIST.parent.parent / "sample_data" / "credit"
SCORES = pa.table({"id": [1, 2, 3, 4], "score": [0.1, 0.2, 0.3, 0.4]})


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    server = start_moto()
    try:
        client = server.client()
        client.create_bucket(Bucket="data")
        for slot, (_, path) in credit_sources().items():
            client.upload_file(str(path), "data", f"credit/{slot}{path.suffix}")
        for path in sorted(CREDIT.glob("[lpr]*/**/*")):  # live/, production/, research/
            if path.is_file():
                key = f"credit-tree/{path.relative_to(CREDIT).as_posix()}"
                client.upload_file(str(path), "data", key)
        client.put_object(Bucket="data", Key="tiny/scores.parquet", Body=_parquet(SCORES))
        client.put_object(Bucket="data", Key="tiny/scores.csv", Body=b"id,score\n1,0.1\n2,0.2\n")
        for region, ids in (("north", [1, 2]), ("south", [3])):
            part = pa.table({"id": ids, "score": [i / 10 for i in ids]})
            key = f"tiny/partitioned/region={region}/part-0.parquet"
            client.put_object(Bucket="data", Key=key, Body=_parquet(part))
        late = b"id,score\n" + b"1,0.5\n" * (1 << 18) + b"2\n"
        client.put_object(Bucket="data", Key="tiny/late_error.csv", Body=late)
        client.put_object(Bucket="data", Key="tiny/empty.csv", Body=b"")
        client.put_object(Bucket="data", Key="tiny/bad_pages.parquet", Body=_corrupt_pages())
        yield server
    finally:
        server.server.stop()


@pytest.fixture
def aws(s3: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The standard AWS variables point at the moto server (for in-process reads)."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _corrupt_pages() -> bytes:
    """A parquet file whose first data page is garbled: its footer still reads, its data cannot."""
    table = pa.table({"id": list(range(10_000)), "score": [i / 10_000 for i in range(10_000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    data = bytearray(sink.getvalue())
    data[60:400] = bytes(b ^ 0x5A for b in data[60:400])
    return bytes(data)


def _read(folder: Path, spec: dict[str, object]) -> pa.Table:
    checklist = load_checklist(features_checklist(folder, spec))
    assert checklist.research.features is not None
    return read_source(checklist.research.features, checklist, "research.features")


def _one_line_error(proc: object, *fragments: str) -> str:
    err: str = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 2, err  # type: ignore[attr-defined]
    assert "Traceback" not in err
    for line in filter(None, err.splitlines()):  # `validate` lists one line per slot
        assert line.startswith(("error: ", "  research.", "  production.")), err
    for fragment in fragments:
        assert fragment in err, err
    return err


# --------------------------------------------------------------------------- reading


def test_parquet_and_csv_objects(aws: S3, tmp_path: Path) -> None:
    assert _read(tmp_path, {"path": "s3://data/tiny/scores.parquet"}).equals(SCORES)
    csv = _read(tmp_path, {"path": "s3://data/tiny/scores.csv", "columns": ["score"]})
    assert csv.to_pydict() == {"score": [0.1, 0.2], "id": [1, 2]}


def test_partitioned_prefix(aws: S3, tmp_path: Path) -> None:
    table = _read(tmp_path, {"path": "s3://data/tiny/partitioned"}).sort_by("id")
    assert table.to_pydict() == {
        "id": [1, 2, 3],
        "score": [0.1, 0.2, 0.3],
        "region": ["north", "north", "south"],
    }


def test_storage_options_instead_of_the_environment(s3: S3, tmp_path: Path) -> None:
    host = s3.endpoint.removeprefix("http://")
    spec = {
        "path": "s3://data/tiny/scores.parquet",
        "storage_options": {
            "endpoint_override": host,
            "scheme": "http",
            "region": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
        },
    }
    assert _read(tmp_path, spec).equals(SCORES)


def test_only_secret_storage_options_are_scrubbed_from_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused connection names the endpoint it tried: a timeout of 1, a scheme or a region
    is not a secret, and scrubbing it would turn every `1` or `http` of the message into ***."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    options = {"connect_timeout": 1, "region": "us-east-1"}
    options |= {"access_key": "reader", "secret_key": "Hidden-9"}
    spec = {"path": "s3://data/x.parquet", "storage_options": options}
    with pytest.raises(InputError) as error:
        _read(tmp_path, spec)
    message = str(error.value)
    assert "Failed to connect to 127.0.0.1:" in message and "***" not in message, message


def test_validate_reads_the_header_or_footer_only(s3: S3, tmp_path: Path) -> None:
    path = features_checklist(
        tmp_path, {"path": "s3://data/tiny/late_error.csv", "columns": ["score"]}
    )
    proc = run_cli("validate", path, env=s3.env)
    assert proc.returncode == 0, proc.stderr
    _one_line_error(run_cli("run", path, env=s3.env), "s3://data/tiny/late_error.csv")
    pages = features_checklist(
        tmp_path, {"path": "s3://data/tiny/bad_pages.parquet", "columns": ["score"]}
    )
    assert run_cli("validate", pages, env=s3.env).returncode == 0  # the footer only
    _one_line_error(
        run_cli("run", pages, env=s3.env), "cannot read s3://data/tiny/bad_pages.parquet"
    )
    absent = features_checklist(
        tmp_path, {"path": "s3://data/tiny/scores.parquet", "columns": ["nope"]}
    )
    _one_line_error(run_cli("validate", absent, env=s3.env), "declared column 'nope' is absent")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://no-such-bucket/x.parquet", "bucket 'no-such-bucket' not found"),
        ("s3://data/tiny/missing.parquet", "object not found: s3://data/tiny/missing.parquet"),
        ("s3://data/tiny/empty.csv", "s3://data/tiny/empty.csv is empty (0 bytes)"),
        ("s3://data/tiny", "s3://data/tiny is a prefix"),
    ],
)
def test_missing_objects(s3: S3, tmp_path: Path, path: str, expected: str) -> None:
    spec = {"path": path, "format": "csv"} if path.endswith("tiny") else {"path": path}
    for command in ("validate", "run"):
        _one_line_error(run_cli(command, features_checklist(tmp_path, spec), env=s3.env), expected)


def test_denied_access(s3: S3, tmp_path: Path) -> None:
    """A server that checks credentials denies keys it does not know: exit 2, one line."""
    proc, endpoint = start_moto_with_auth(tmp_path)
    try:
        env = {**s3.env, "AWS_ENDPOINT_URL": endpoint, "AWS_SECRET_ACCESS_KEY": "secret-key-xyz"}
        path = features_checklist(tmp_path, {"path": "s3://data/x.parquet"})
        err = _one_line_error(run_cli("validate", path, env=env), "cannot read s3://data/x.parquet")
        assert "ACCESS_DENIED" in err or "Forbidden" in err or "InvalidAccessKeyId" in err, err
        assert "secret-key-xyz" not in err
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unknown_storage_option(s3: S3, tmp_path: Path) -> None:
    spec = {"path": "s3://data/tiny/scores.parquet", "storage_options": {"regoin": "x"}}
    _one_line_error(
        run_cli("validate", features_checklist(tmp_path, spec), env=s3.env),
        "unknown option 'regoin'",
    )


def test_missing_extra_says_how_to_install(tmp_path: Path) -> None:
    """gs:// needs gcsfs (the `gcs` extra), which the test extra does not install."""
    if _importable("gcsfs"):
        pytest.skip("gcsfs is installed here")
    path = features_checklist(tmp_path, {"path": "gs://bucket/scores.parquet"})
    _one_line_error(run_cli("validate", path), "pip install 'mlcheck[gcs]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_environment_must_be_local(tmp_path: Path) -> None:
    path = features_checklist(tmp_path, {"path": "s3://data/tiny/scores.parquet"})
    body = yaml.safe_load(path.read_text())
    body["research"]["environment"] = {"path": "s3://data/requirements.txt"}
    path.write_text(yaml.safe_dump(body))
    for command in ("validate", "run"):
        proc = run_cli(command, path)
        _one_line_error(proc, "research.environment", "read from local disk, not s3://data/")


def test_checklist_refuses_unknown_schemes_and_stray_options(tmp_path: Path) -> None:
    proc = run_cli("validate", features_checklist(tmp_path, {"path": "ftp://u:hunter2@host/x.csv"}))
    assert proc.returncode == 2 and "hunter2" not in proc.stderr
    assert "unsupported path 'ftp://u:***@host/x.csv'" in proc.stderr
    spec = {"path": "local.csv", "storage_options": {"region": "x"}}
    proc = run_cli("validate", features_checklist(tmp_path, spec))
    assert proc.returncode == 2 and "`storage_options` go with an object-store" in proc.stderr


# --------------------------------------------------------------------------- https (fsspec)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server for a folder holding scores.parquet and a corrupt scores.csv.gz."""
    folder = tmp_path / "site"
    folder.mkdir()
    pq.write_table(SCORES, folder / "scores.parquet")
    (folder / "scores.csv.gz").write_bytes(b"not gzip")  # unreadable: the reader's own error
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_http_through_fsspec(web: str, tmp_path: Path) -> None:
    assert _read(tmp_path, {"path": f"{web}/scores.parquet"}).equals(SCORES)
    proc = run_cli("validate", features_checklist(tmp_path, {"path": f"{web}/missing.parquet"}))
    _one_line_error(proc, f"object not found: {web}/missing.parquet")


def test_http_credentials_are_masked(web: str, tmp_path: Path) -> None:
    with_user = web.replace("http://", "http://reader:hunter2-pw@")
    for name in ("missing.parquet", "scores.csv.gz"):
        proc = run_cli("run", features_checklist(tmp_path, {"path": f"{with_user}/{name}"}))
        err = _one_line_error(proc, "http://reader:***@127.0.0.1")
        assert "hunter2-pw" not in err + proc.stdout


# --------------------------------------------------------------------------- init


def test_init_from_two_prefixes(s3: S3, tmp_path: Path) -> None:
    output = tmp_path / "checklist.yaml"
    research, production = "s3://data/credit-tree/research", "s3://data/credit-tree/production/"
    made = run_cli("init", research, production, "-o", output, env=s3.env)
    assert made.returncode == 0, made.stderr
    checklist = load_checklist(output)
    assert checklist.key == "application_id"
    assert set(checklist.research.raw or {}) == {"applications", "bureau"}
    assert checklist.research.features is not None
    assert checklist.research.features.path == f"{research}/features.parquet"
    live = checklist.production.live
    assert live is not None and live.labels is not None
    assert live.labels.path == "s3://data/credit-tree/live/labels.parquet"
    assert checklist.columns.split == "split" and checklist.columns.timestamp == "event_time"
    assert run_cli("validate", output, env=s3.env).returncode == 0
    ran = run_cli("run", output, env=s3.env)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_init_refuses_what_is_neither_folder_nor_remote(tmp_path: Path) -> None:
    made = run_cli("init", str(tmp_path / "nope"), "s3://data/x", "-o", tmp_path / "c.yaml")
    assert (
        made.returncode == 2 and "is not a folder, a database url or a bucket prefix" in made.stderr
    )


# --------------------------------------------------------------------------- end to end


def test_credit_sample_from_s3_matches_the_files(s3: S3, tmp_path: Path) -> None:
    slots = credit_sources()
    replace = {
        slot: {"path": f"s3://data/credit/{slot}{p.suffix}"} for slot, (_, p) in slots.items()
    }
    remote = credit_checklist(tmp_path, replace)
    run = run_cli("run", remote, "--format", "json", "--keep-going", env=s3.env)
    assert run.returncode == 0, run.stderr
    assert_same_report(run.stdout, credit_files_report())
