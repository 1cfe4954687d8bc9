"""Real servers for the remote-source tests: a PostgreSQL cluster and an S3 API (moto).

Each starts on a free port in its own temporary folder and is stopped (and the folder removed) by
the session fixture that started it, whatever happened. Also: the credit sample checklist
rewritten to point at the remote copies, and the report JSON compared without run-specific parts.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
CREDIT_CHECKLIST = REPO / "checklists" / "credit.yaml"
PASSWORD = "s3cr@t/Pw"  # needs escaping in a URL (@, /): the masking path is the real one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(versions[-1]).parent if versions else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


@dataclass
class Postgres:
    bin: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, user: str = "postgres", password: str | None = None, db: str = "mlcheck") -> str:
        from urllib.parse import quote

        secret = f":{quote(password, safe='')}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{db}"

    def _as_owner(self, *argv: str | Path) -> None:
        """initdb refuses to run as root: as root, run the server tools as `postgres`."""
        command = [str(a) for a in argv]
        if os.geteuid() == 0:
            command = ["su", "postgres", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._as_owner(self.bin / "initdb", "-D", self.data, "-A", "trust", "--no-sync")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all alice 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.folder / "server.log"
        self._as_owner(
            self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._as_owner(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(bin_dir: Path) -> Postgres:
    folder = Path(tempfile.mkdtemp(prefix="mlcheck-pg-"))
    server = Postgres(bin_dir, folder, free_port())
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def execute(url: str, *statements: str) -> None:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def ingest(url: str, tables: dict[str, Any]) -> None:
    """Create and fill one table per Arrow table (ADBC bulk ingest: COPY under the hood)."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for name, table in tables.items():
            cursor.adbc_ingest(name, table, mode="create")


# --------------------------------------------------------------------------- S3 (moto)


@dataclass
class S3:
    server: Any
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3

        env = self.env
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        )


def start_moto() -> S3:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3(server, f"http://{host}:{port}")


def start_moto_with_auth(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server (own process) that checks credentials: unknown keys are denied."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "moto.log").open("wb"),
    )
    _wait_for_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import time

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError("moto server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto server did not start")


# --------------------------------------------------------------------------- the credit sample


def features_checklist(folder: Path, *sources: dict[str, Any]) -> Path:
    """A checklist whose research and production features are the given sources (one: both)."""
    research, production = (sources * 2)[:2]
    path = folder / "checklist.yaml"
    body = {
        "version": 1,
        "key": "id",
        "research": {"features": research},
        "production": {"features": production},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def credit_sources() -> dict[str, tuple[str, Path]]:
    """Every table slot of the credit checklist: dotted slot -> (its key chain, its file)."""
    data = yaml.safe_load(CREDIT_CHECKLIST.read_text())
    found: dict[str, tuple[str, Path]] = {}

    def walk(node: Any, dotted: str) -> None:
        if isinstance(node, dict) and "path" in node:
            if not dotted.endswith("environment"):
                found[dotted] = (dotted, (CREDIT_CHECKLIST.parent / node["path"]).resolve())
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{dotted}.{key}" if dotted else key)

    walk({"research": data["research"], "production": data["production"]}, "")
    return found


def credit_checklist(folder: Path, replace: dict[str, dict[str, Any]]) -> Path:
    """The credit checklist as `folder`/checklists/credit.yaml, every table slot replaced by
    `replace[slot]`; the environment files are copied beside it at the same relative paths, so
    the report names them exactly as the original run does."""
    data = yaml.safe_load(CREDIT_CHECKLIST.read_text())
    for side in ("research", "production"):
        relative = data[side]["environment"]["path"]
        copy = folder / "checklists" / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CREDIT_CHECKLIST.parent / relative, copy)
    for dotted, spec in replace.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = spec
    path = folder / "checklists" / "credit.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=300,
        check=False,
    )


@functools.cache
def credit_files_report() -> str:
    """The credit sample's JSON report (`run --keep-going`) from its files: the reference the
    PostgreSQL and S3 copies are compared with, computed once per test session."""
    proc = run_cli("run", CREDIT_CHECKLIST, "--format", "json", "--keep-going")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def comparable_report(text: str, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON report without what differs between two runs on the same data: durations, and
    the checklist's own path (`checklist`)."""
    data = json.loads(text)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: strip(v)
                for k, v in node.items()
                if k not in ("duration_s", "checklist", *ignore)
            }
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(data)


def assert_same_report(got: str, expected: str, ignore: tuple[str, ...] = ()) -> None:
    """Equal reports (see `comparable_report`, minus `ignore` keys); else fail with the diff."""
    import difflib

    lines = [
        json.dumps(comparable_report(text, ignore), indent=1, sort_keys=True).splitlines()
        for text in (got, expected)
    ]
    diff = list(difflib.unified_diff(lines[1], lines[0], "files", "remote", lineterm="", n=2))
    assert not diff, "\n".join(diff[:80])
