"""Input and output safety: each class of hostile file, in every place mlcheck reads or writes.

Classes (one builder per case; its docstring names the defect):
- file kinds: a named pipe (FIFO), a socket and a character device where a file is expected, as a
  raw source, a features file, a file inside a parquet folder, the sqlite database, an
  environment file and the checklist itself; refused from the file type, before any open, by
  `run` and `validate` (a FIFO would block the reader forever: those cases run in a real process
  with a timeout, so a regression fails instead of hanging the suite);
- symbolic link loops in the same places;
- YAML alias bombs and deep nesting in every YAML file mlcheck reads (the checklist is in
  test_checklist_corpus.py; here the conda environment file);
- SQLite sources whose query would write (ATTACH, VACUUM INTO, ...) or whose database is in WAL
  mode: nothing is created or changed beside the database;
- CSV files cut short inside a quoted field, several ways;
- report paths (`--output`, `--junit`) that name an input under another name: a hard link, a
  symbolic link, the same file by another path; the input keeps its bytes.
"""

from __future__ import annotations

import gzip
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from robustness_support import (
    REPO,
    Case,
    Outcome,
    Project,
    assert_outcome,
    csv_bytes,
    file_states,
    run_processes,
)

from mlcheck.cli import main

APPS = ("production.raw.applications", "checklist.yaml:22")

# --------------------------------------------------------------------------- file kinds


def _place(p: Project, relative: str, make: Callable[[Path], None]) -> None:
    """Replace the project file `relative` by what `make` creates at its path."""
    p.files.pop(relative, None)
    path = p.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _device(path: Path) -> None:
    path.symlink_to("/dev/null")


_SOCKETS: list[socket.socket] = []


def _socket(path: Path) -> None:
    """A listening-less bound unix socket; closed when the module's tests end."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    _SOCKETS.append(server)


@pytest.fixture(scope="module", autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    for server in _SOCKETS:
        server.close()


def fifo_raw(p: Project) -> None:
    """production raw applications.csv is a named pipe."""
    _place(p, "production/raw/applications.csv", _fifo)


def fifo_features(p: Project) -> None:
    """research features.parquet is a named pipe (read by stage 2, after stage 1 has run)."""
    _place(p, "research/features.parquet", _fifo)


def fifo_environment(p: Project) -> None:
    """production/requirements.txt is a named pipe."""
    _place(p, "production/requirements.txt", _fifo)


def fifo_checklist(p: Project) -> None:
    """The checklist itself is a named pipe (the case runs `mlcheck run pipe.yaml`)."""
    _fifo(p.root / "pipe.yaml")


def fifo_in_parquet_folder(p: Project) -> None:
    """production bureau is a parquet folder holding one real part and one named pipe."""
    table = p.table("production/raw/bureau.parquet")
    del p.files["production/raw/bureau.parquet"]
    folder = p.root / "production" / "raw" / "bureau"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    os.mkfifo(folder / "part-1.parquet")
    p.source("production.raw.bureau")["path"] = "production/raw/bureau"


def fifo_database(p: Project) -> None:
    """production bureau is a sqlite url whose database file is a named pipe."""
    os.mkfifo(p.root / "bureau.db")
    p.checklist["production"]["raw"]["bureau"] = {"url": "sqlite:///bureau.db", "table": "bureau"}


def socket_raw(p: Project) -> None:
    """production raw applications.csv is a unix socket."""
    _place(p, "production/raw/applications.csv", _socket)


def socket_environment(p: Project) -> None:
    """research/environment.json is a unix socket."""
    _place(p, "research/environment.json", _socket)


def device_raw(p: Project) -> None:
    """production raw applications.csv is a link to /dev/null (a character device)."""
    _place(p, "production/raw/applications.csv", _device)


def device_live(p: Project) -> None:
    """live features.parquet is a link to /dev/null."""
    _place(p, "live/features.parquet", _device)


def device_environment(p: Project) -> None:
    """research/environment.json is a link to /dev/null."""
    _place(p, "research/environment.json", _device)


def device_checklist(p: Project) -> None:
    """The checklist is a link to /dev/null (the case runs `mlcheck run null.yaml`)."""
    _device(p.root / "null.yaml")


# --------------------------------------------------------------------------- symlink loops


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


def loop_raw(p: Project) -> None:
    """production raw applications.csv is a symbolic link to itself."""
    _place(p, "production/raw/applications.csv", _loop)


def loop_pair_features(p: Project) -> None:
    """production features.parquet -> other.parquet -> features.parquet."""
    p.files.pop("production/features.parquet")
    (p.root / "production").mkdir(parents=True, exist_ok=True)
    (p.root / "production" / "features.parquet").symlink_to("other.parquet")
    (p.root / "production" / "other.parquet").symlink_to("features.parquet")


def loop_through_folder(p: Project) -> None:
    """live predictions sit under a folder link that loops: live/sub -> sub."""
    (p.root / "live").mkdir(parents=True, exist_ok=True)
    (p.root / "live" / "sub").symlink_to("sub")
    p.source("production.live.predictions")["path"] = "live/sub/predictions.parquet"


def loop_environment(p: Project) -> None:
    """production/requirements.txt is a symbolic link to itself."""
    _place(p, "production/requirements.txt", _loop)


def loop_database(p: Project) -> None:
    """production bureau is a sqlite url whose database file is a link loop."""
    _loop(p.root / "bureau.db")
    p.checklist["production"]["raw"]["bureau"] = {"url": "sqlite:///bureau.db", "table": "bureau"}


def loop_checklist(p: Project) -> None:
    """The checklist is a symbolic link to itself (the case runs `mlcheck run loop.yaml`)."""
    _loop(p.root / "loop.yaml")


def loop_in_parquet_folder(p: Project) -> None:
    """production bureau is a parquet folder holding a real part and a part that loops."""
    table = p.table("production/raw/bureau.parquet")
    del p.files["production/raw/bureau.parquet"]
    folder = p.root / "production" / "raw" / "bureau"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    _loop(folder / "part-1.parquet")
    p.source("production.raw.bureau")["path"] = "production/raw/bureau"


# --------------------------------------------------------------------------- YAML in environment files


def _conda(p: Project, text: str) -> None:
    del p.files["production/requirements.txt"]
    p.files["production/environment.yml"] = text
    p.source("production.environment")["path"] = "production/environment.yml"


def _laughs(levels: int) -> list[str]:
    lines = ['x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return lines


def conda_alias_bomb(p: Project) -> None:
    """The conda file's dependencies are nine levels of nine aliases (387 million strings)."""
    _conda(p, "\n".join([*_laughs(9), "dependencies: *a9"]) + "\n")


def conda_bomb_in_pip_list(p: Project) -> None:
    """The bomb hides in the `pip:` sub-list of an otherwise ordinary conda file."""
    _conda(p, "\n".join([*_laughs(8), "dependencies:", "  - numpy=1.26.4", "  - pip: *a8"]) + "\n")


def conda_deep_nesting(p: Project) -> None:
    """The conda file nests 5000 lists deep."""
    _conda(p, "dependencies: " + "[" * 5000 + "]" * 5000 + "\n")


# --------------------------------------------------------------------------- sqlite writes


def _bureau_db(p: Project, *, wal: bool = False) -> Path:
    """production bureau as table `bureau` of production/bureau.db (a WAL-mode file if `wal`)."""
    table = p.table("production/raw/bureau.parquet")
    del p.files["production/raw/bureau.parquet"]
    path = p.root / "production" / "bureau.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        names = table.column_names
        conn.execute(f"CREATE TABLE bureau ({', '.join(names)})")
        rows = list(zip(*(table.column(n).to_pylist() for n in names), strict=True))
        conn.executemany(f"INSERT INTO bureau VALUES ({', '.join('?' * len(names))})", rows)
    conn.close()
    return path


def _bureau_query(p: Project, query: str) -> None:
    _bureau_db(p)
    p.checklist["production"]["raw"]["bureau"] = {
        "url": "sqlite:///production/bureau.db",
        "query": query,
    }


def sqlite_attach(p: Project) -> None:
    """The bureau query attaches a new database file x.db."""
    _bureau_query(p, "ATTACH DATABASE 'x.db' AS x")


def sqlite_vacuum_into(p: Project) -> None:
    """The bureau query copies the database into x.db."""
    _bureau_query(p, "VACUUM INTO 'x.db'")


def sqlite_pragma_write(p: Project) -> None:
    """The bureau query sets the database's user_version."""
    _bureau_query(p, "PRAGMA user_version = 3")


def sqlite_temp_table(p: Project) -> None:
    """The bureau query creates a temporary table."""
    _bureau_query(p, "CREATE TEMP TABLE t AS SELECT * FROM bureau")


def sqlite_wal(p: Project) -> None:
    """Not a defect: bureau is a WAL-mode database (cleanly closed); reading it creates no
    -shm/-wal file (asserted by the test)."""
    _bureau_db(p, wal=True)
    p.checklist["production"]["raw"]["bureau"] = {
        "url": "sqlite:///production/bureau.db",
        "table": "bureau",
    }


# --------------------------------------------------------------------------- truncated csv


def _cut_applications(p: Project, last_field: bytes, *, gz: bool = False) -> None:
    """production applications.csv: its first 20 rows, then the 21st with its last field
    replaced by `last_field` (which opens a quote and never closes it), then the end."""
    lines = csv_bytes(p.table("production/raw/applications.csv")).split(b"\n")
    cut = lines[21].rsplit(b",", 1)[0] + b"," + last_field
    content = b"\n".join([*lines[:21], cut])
    if gz:
        del p.files["production/raw/applications.csv"]
        p.files["production/raw/applications.csv.gz"] = gzip.compress(content)
        p.source("production.raw.applications")["path"] = "production/raw/applications.csv.gz"
    else:
        p.files["production/raw/applications.csv"] = content


def cut_in_last_field(p: Project) -> None:
    """The file ends inside the last (quoted) field of its last row."""
    _cut_applications(p, b'"Nor')


def cut_after_opening_quote(p: Project) -> None:
    """The file ends right after the opening quote of the last field."""
    _cut_applications(p, b'"')


def quote_swallows_rows(p: Project) -> None:
    """A quote opened in the last field is never closed: the next rows become one cell."""
    swallowed = b"100900,9,2024-03-01 10:00:00,41000.5,33,North,auto_loan,9000.25,24\n" * 3
    _cut_applications(p, b'"36\n' + swallowed)


def cut_gzip_csv(p: Project) -> None:
    """A complete gzip stream of a CSV that itself ends inside a quote."""
    _cut_applications(p, b'"Nor', gz=True)


def cut_with_escaped_quotes(p: Project) -> None:
    """The last field holds escaped quotes ("") and is cut before its closing quote."""
    _cut_applications(p, b'"say ""hi"" ')


# --------------------------------------------------------------------------- the corpus

SPECIAL_RUN = "a named pipe (FIFO), not a regular file"
CASES = [
    Case("fifo_raw", fifo_raw, 2, ("production.raw.applications", SPECIAL_RUN), process=True),
    Case("fifo_features", fifo_features, 2, ("research.features", SPECIAL_RUN), process=True),
    Case(
        "fifo_environment",
        fifo_environment,
        2,
        ("production.environment", "requirements.txt", SPECIAL_RUN),
        process=True,
    ),
    Case(
        "fifo_checklist",
        fifo_checklist,
        2,
        ("pipe.yaml", SPECIAL_RUN),
        target="pipe.yaml",
        process=True,
    ),
    Case(
        "fifo_in_parquet_folder",
        fifo_in_parquet_folder,
        2,
        ("production.raw.bureau", "part-1.parquet", SPECIAL_RUN),
        process=True,
    ),
    Case("fifo_database", fifo_database, 2, ("bureau.db", SPECIAL_RUN), process=True),
    Case("socket_raw", socket_raw, 2, (*APPS, "is a socket, not a regular file")),
    Case(
        "socket_environment",
        socket_environment,
        2,
        ("research.environment", "is a socket, not a regular file"),
    ),
    Case("device_raw", device_raw, 2, (*APPS, "is a character device, not a regular file")),
    Case("device_live", device_live, 2, ("production.live.features", "character device")),
    Case("device_environment", device_environment, 2, ("environment.json", "character device")),
    Case(
        "device_checklist",
        device_checklist,
        2,
        ("null.yaml", "is a character device"),
        target="null.yaml",
    ),
    Case("loop_raw", loop_raw, 2, (*APPS, "applications.csv is a symbolic link loop")),
    Case("loop_pair_features", loop_pair_features, 2, ("production.features", "link loop")),
    Case("loop_through_folder", loop_through_folder, 2, ("production.live.predictions", "loop")),
    Case("loop_environment", loop_environment, 2, ("requirements.txt is a symbolic link loop",)),
    Case("loop_database", loop_database, 2, ("bureau.db is a symbolic link loop",)),
    Case("loop_checklist", loop_checklist, 2, ("loop.yaml", "link loop"), target="loop.yaml"),
    Case(
        "loop_in_parquet_folder",
        loop_in_parquet_folder,
        2,
        ("production.raw.bureau", "part-1.parquet is a symbolic link loop"),
    ),
    Case(
        "conda_alias_bomb",
        conda_alias_bomb,
        2,
        ("production.environment", "aliases (*name) are expanded"),
        process=True,
    ),
    Case(
        "conda_bomb_in_pip_list",
        conda_bomb_in_pip_list,
        2,
        ("production.environment", "aliases (*name) are expanded"),
    ),
    Case("conda_deep_nesting", conda_deep_nesting, 2, ("environment.yml", "nests too deeply")),
    Case("sqlite_attach", sqlite_attach, 2, ("production.raw.bureau", "asks for ATTACH")),
    Case("sqlite_vacuum_into", sqlite_vacuum_into, 2, ("production.raw.bureau", "ATTACH")),
    Case("sqlite_pragma_write", sqlite_pragma_write, 2, ("asks for PRAGMA user_version",)),
    Case("sqlite_temp_table", sqlite_temp_table, 2, ("asks for CREATE TEMP",)),
    Case("sqlite_wal", sqlite_wal, 0),
    *(
        Case(build.__name__, build, 2, (*APPS, "ends inside a quoted field"))
        for build in (cut_in_last_field, cut_after_opening_quote, quote_swallows_rows)
    ),
    Case("cut_gzip_csv", cut_gzip_csv, 2, ("applications.csv.gz ends inside a quoted field",)),
    Case("cut_with_escaped_quotes", cut_with_escaped_quotes, 2, ("ends inside a quoted field",)),
]


def _assert_nothing_created(case: Case, root: Path, before: dict[str, object]) -> None:
    """No file appeared (x.db, -shm, -wal, a report) and no input changed."""
    after = file_states(root)
    assert sorted(after) == sorted(before), (case.id, sorted(set(after) ^ set(before)))
    assert after == before, case.id


@pytest.mark.parametrize("case", [c for c in CASES if not c.process], ids=lambda c: c.id)
def test_io_case(case: Case, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a file an ATTACH would create lands where it is looked for
    target = case.prepare(tmp_path)
    before = file_states(tmp_path)
    assert_outcome(case, run_cli(target))
    _assert_nothing_created(case, tmp_path, before)


@pytest.fixture(scope="module")
def process_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The cases that would hang on a regression (a FIFO blocks, a bomb grows), each run by a
    real `python -m mlcheck` with a timeout, a few at a time."""
    chosen = [c for c in CASES if c.process]
    targets = [c.prepare(tmp_path_factory.mktemp(c.id)) for c in chosen]
    outcomes = run_processes([(target, ()) for target in targets])
    return {c.id: o for c, o in zip(chosen, outcomes, strict=True)}


@pytest.mark.parametrize("case", [c for c in CASES if c.process], ids=lambda c: c.id)
def test_io_case_real_process(case: Case, process_outcomes: dict[str, Outcome]) -> None:
    assert_outcome(case, process_outcomes[case.id])


VALIDATE_CASES = [
    c
    for c in CASES
    if c.id.startswith(("fifo_", "socket_", "device_", "loop_")) and c.target is None
]


@pytest.mark.parametrize("case", VALIDATE_CASES, ids=lambda c: c.id)
def test_validate_refuses_each_special_file(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mlcheck validate`: exit 2 naming the file and what it is, nothing opened. A FIFO would
    block the process forever on a regression: those run in a real process with a timeout."""
    target = case.prepare(tmp_path)
    if case.process:
        proc = subprocess.run(
            [sys.executable, "-m", "mlcheck", "validate", str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )
        outcome = Outcome(proc.returncode, proc.stdout, proc.stderr)
    else:
        capsys.readouterr()
        with pytest.raises(SystemExit) as caught:
            main(["validate", str(target)])
        captured = capsys.readouterr()
        outcome = Outcome(int(caught.value.code or 0), captured.out, captured.err)
    assert_outcome(Case(case.id, case.build, 2, case.names[-1:]), outcome)


# --------------------------------------------------------------------------- report paths


def _hard_link(p: Project, name: str) -> None:
    os.link(p.root / "production/raw/applications.csv", p.root / name)


def _symlink(p: Project, name: str) -> None:
    (p.root / name).symlink_to(p.root / "research/environment.json")


REPORT_PATHS: dict[str, tuple[Callable[[Project, str], None] | None, str]] = {
    "hard_link_to_raw": (_hard_link, "report.md"),
    "symlink_to_environment": (_symlink, "report.md"),
    "raw_by_another_path": (None, "production/raw/../raw/applications.csv"),
    "checklist_relative": (None, "./checklist.yaml"),
    "inside_a_parquet_folder_link": (None, "features-link/report.md"),
    "sqlite_database": (None, "production/bureau.db"),
}


def _report_case(p: Project, case_id: str) -> str:
    """Prepare the project for one report-path case (before it is written); the report path."""
    if case_id == "inside_a_parquet_folder_link":
        table = p.table("production/raw/bureau.parquet")
        del p.files["production/raw/bureau.parquet"]
        folder = p.root / "production" / "raw" / "bureau"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
        p.source("production.raw.bureau")["path"] = "production/raw/bureau"
        (p.root / "features-link").symlink_to(folder)
    if case_id == "sqlite_database":
        sqlite_wal(p)
    return REPORT_PATHS[case_id][1]


@pytest.mark.parametrize("option", ["--output", "--junit"])
@pytest.mark.parametrize("case_id", sorted(REPORT_PATHS))
def test_a_report_path_naming_an_input_is_refused(
    case_id: str, option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    """Every other name of an input (a hard link, a symbolic link, another path to it, a file
    inside an input folder reached through a link) is refused before anything is read."""
    project = Project(tmp_path)
    name = _report_case(project, case_id)
    checklist = project.write()
    make = REPORT_PATHS[case_id][0]
    if make is not None:  # links to inputs are made once the inputs exist
        make(project, name)
    before = file_states(tmp_path)
    monkeypatch.chdir(tmp_path)
    outcome = run_cli(checklist, option, name)
    case = Case(case_id, lambda p: None, 2, ("refusing to write the report to", str(Path(name))))
    assert_outcome(case, outcome)
    assert file_states(tmp_path) == before
