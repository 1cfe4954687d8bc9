"""End-to-end behaviour of `mlcheck run`: exit codes, outputs, streams, signals.

The CLI runs in a subprocess on tiny files in tmp_path. Most runs go through `HARNESS`: the real
`python -m mlcheck` entry point, after swapping in the fixture stages defined below (a private
registry in the child process only), so outcomes are controlled, do not depend on the real stages
being written concurrently, and never touch the real registry. A few tests run plain
`python -m mlcheck` with the real stages. Usage errors, which never reach a stage, are also checked
in-process through `main()` to keep the suite fast; one of them runs as a real process too.

Fixture stages (driven by the columns of the tiny `features` files):
- data_reproducibility (runs when features are declared on both sides):
  FIX001 fails when the two sides' row counts differ, FIX002 warns when the sums of `x` differ,
  FIX003 crashes (ZeroDivisionError) when research has a `crash` column, FIX004 reports the
  run's seed as `observed`, FIX005 sleeps when research has a `slow` column (after writing the
  file named by $MLCHECK_TEST_MARKER) and yields one finding per row when it has a `many` column.
- feature_parity (runs only when research labels are declared): FIX101 always passes.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlcheck.cli import main
from mlcheck.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NOT_READY, EXIT_READY, EXIT_USAGE
from mlcheck.results import STAGE_ORDER, Finding, Status

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


def child_code(*, fixtures: bool = True, batch: bool = False) -> str:
    """Python source for a child process running the CLI (see the module docstring)."""
    lines = ["import runpy, sys"]
    if fixtures:  # None in sys.modules keeps the real stage modules, and scipy, out of the child
        lines.append(
            f"sys.modules.update(dict.fromkeys({[f'mlcheck.stages.{s}' for s in STAGE_ORDER]!r}))"
        )
    lines += [f"sys.path.insert(0, {str(TESTS_DIR)!r})", "import test_cli"]
    if fixtures:
        lines.append("test_cli.install_fixture_stages()")
    # A batch runs several invocations in one process (each with its own streams and exit
    # code) to keep the suite fast: most of a run's cost here is importing mlcheck.
    lines.append(
        "test_cli.run_batch(sys.argv[1])"
        if batch
        else "runpy.run_module('mlcheck', run_name='__main__', alter_sys=True)"
    )
    return "\n".join(lines) + "\n"


HARNESS = child_code()
TIMEOUT = 60


# --------------------------------------------------------------------------- fixture stages


def _rows(ctx: object) -> tuple[int, int]:
    engine = ctx.engine  # type: ignore[attr-defined]
    return engine.num_rows("research.features"), engine.num_rows("production.features")


def fix_row_counts(ctx: object) -> Iterator[Finding]:
    """Row counts match"""
    research, production = _rows(ctx)
    status = Status.PASS if research == production else Status.FAIL
    yield Finding(
        status,
        f"{research} vs {production} rows",
        source="features",
        observed=production,
        expected=research,
        hint="rows were lost",
    )


def fix_sums(ctx: object) -> Iterator[Finding]:
    """Sums of x match"""
    engine = ctx.engine  # type: ignore[attr-defined]
    sums = [
        sum(engine.column(slot, "x").to_pylist())
        for slot in ("research.features", "production.features")
    ]
    yield Finding(
        Status.PASS if sums[0] == sums[1] else Status.WARN,
        f"sums {sums[0]} vs {sums[1]}",
        column="x",
    )


def fix_crash(ctx: object) -> Iterator[Finding]:
    """Crashes on demand"""
    if "crash" in ctx.engine.table("research.features").column_names:  # type: ignore[attr-defined]
        yield Finding(Status.PASS, str(1 / 0))
    yield Finding(Status.PASS, "no crash requested")


def fix_seed(ctx: object) -> Iterator[Finding]:
    """Reports the seed"""
    yield Finding(Status.PASS, "seed", observed=ctx.seed)  # type: ignore[attr-defined]


def fix_slow_or_many(ctx: object) -> Iterator[Finding]:
    """Slow or many on demand"""
    table = ctx.engine.table("research.features")  # type: ignore[attr-defined]
    if "slow" in table.column_names:
        Path(os.environ["MLCHECK_TEST_MARKER"]).write_text("sleeping")
        time.sleep(TIMEOUT)
    if "many" in table.column_names:
        yield from (
            Finding(Status.FAIL, f"finding {i}", details={"i": i}) for i in range(table.num_rows)
        )


def fix_always(ctx: object) -> Iterator[Finding]:
    """Always passes"""
    yield Finding(Status.PASS, "fine")


def install_fixture_stages() -> None:
    """Called in the child process only: replace the stages and registry with the fixtures."""
    import mlcheck.runner
    import mlcheck.stages
    from mlcheck.registry import CheckSpec, Registry

    registry = Registry()
    for check_id, func in (
        ("FIX001", fix_row_counts),
        ("FIX002", fix_sums),
        ("FIX003", fix_crash),
        ("FIX004", fix_seed),
        ("FIX005", fix_slow_or_many),
    ):
        registry.register(CheckSpec(check_id, "data_reproducibility", func))
    registry.register(CheckSpec("FIX101", "feature_parity", fix_always))
    mlcheck.runner.REGISTRY = registry
    mlcheck.stages.STAGE_MODULES.clear()
    mlcheck.stages.STAGE_MODULES["data_reproducibility"] = SimpleNamespace(  # type: ignore[assignment]
        skip_reason=lambda c: (
            None if c.research.features and c.production.features else "no features declared"
        )
    )
    mlcheck.stages.STAGE_MODULES["feature_parity"] = SimpleNamespace(  # type: ignore[assignment]
        skip_reason=lambda c: None if c.research.labels else "no research labels declared"
    )


# --------------------------------------------------------------------------- helpers


def write_case(
    tmp_path: Path,
    research: str = "id,x\n1,1\n2,2\n",
    production: str | None = None,
    extra: str = "",
) -> Path:
    """A checklist over two tiny CSVs; returns the checklist path."""
    (tmp_path / "research.csv").write_text(research)
    (tmp_path / "production.csv").write_text(research if production is None else production)
    checklist = tmp_path / "checklist.yaml"
    checklist.write_text(
        "name: tiny\nkey: id\n"
        "research:\n  features: {path: research.csv}\n"
        "production:\n  features: {path: production.csv}\n" + extra
    )
    return checklist


def mlcheck(
    *args: str | Path, real: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI through the fixture harness, or with `real` as plain `python -m mlcheck`."""
    prefix = [sys.executable, "-m", "mlcheck"] if real else [sys.executable, "-c", HARNESS]
    return subprocess.run(
        [*prefix, *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )


def runs(*argvs: list[str | Path], real: bool = False) -> list[subprocess.CompletedProcess[str]]:
    """Run several `mlcheck ...` command lines in one child process, in order."""
    batch = json.dumps([[str(a) for a in argv] for argv in argvs])
    proc = subprocess.run(
        [sys.executable, "-c", child_code(fixtures=not real, batch=True), batch],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        subprocess.CompletedProcess(argv, code, out, err)
        for argv, (code, out, err) in zip(argvs, json.loads(proc.stdout), strict=True)
    ]


def fixture_run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return runs(["run", *args])[0]


def run_batch(batch: str) -> None:
    """Child side of `runs`: call `main` per command line, capture its streams and exit code."""
    import contextlib
    import io

    results = []
    for argv in json.loads(batch):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        results.append((code, out.getvalue(), err.getvalue()))
    sys.stdout.write(json.dumps(results))


def assert_one_line_error(
    proc: subprocess.CompletedProcess[str], code: int, *fragments: str
) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in proc.stderr


# --------------------------------------------------------------------------- usage errors: exit 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "c.yaml", "--bogus"], "No such option: --bogus"),
        (["run"], "Missing argument"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["run", "c.yaml", "--format", "pdf"], "Invalid value for '--format'"),
        (["run", "c.yaml", "--fail-on", "maybe"], "Invalid value for '--fail-on'"),
        (["run", "c.yaml", "--seed", "many"], "Invalid value for '--seed'"),
        (["run", "c.yaml", "--only", "stage_seven"], "--only: unknown stage 'stage_seven'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    proc = subprocess.CompletedProcess(args, exit_info.value.code, captured.out, captured.err)
    assert_one_line_error(proc, EXIT_USAGE, fragment)  # type: ignore[arg-type]
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_a_usage_error_exits_2_from_a_real_process() -> None:
    proc = mlcheck("run", "c.yaml", "--bogus", real=True)
    assert_one_line_error(proc, EXIT_USAGE, "No such option: --bogus")
    assert proc.stdout == ""


def test_checklist_and_input_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    """One case per line of `cases`; the input files must come out untouched."""
    checklist = write_case(tmp_path)
    (tmp_path / "bad.yaml").write_text("research: {}\nproduction: {}\nstagez: {}\n")
    (tmp_path / "gone.yaml").write_text(checklist.read_text().replace("production.csv", "gone.csv"))
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "empty.yaml").write_text(
        checklist.read_text().replace("production.csv", "empty.csv")
    )
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    (tmp_path / "a folder").mkdir()
    cases = [
        (["run", tmp_path / "nope.yaml"], ["file not found"]),
        (["run", tmp_path / "bad.yaml"], ["line 3", "stagez"]),
        (["run", tmp_path / "gone.yaml"], ["production.features", "file not found"]),
        (["run", tmp_path / "empty.yaml"], ["production.features", "empty"]),  # found while running
        (["run", checklist, "--output", tmp_path / "research.csv"], ["refusing to write"]),
        (["run", checklist, "--junit", checklist], ["refusing to write"]),
        (
            ["run", checklist, "--output", tmp_path / "r.json", "--junit", tmp_path / "r.json"],
            ["different files"],
        ),
        (["run", checklist, "--output", tmp_path / "research.csv" / "r.md"], ["cannot write"]),
        (["run", checklist, "--output", tmp_path / "a folder"], ["cannot write"]),
    ]
    for proc, (_, fragments) in zip(runs(*(argv for argv, _ in cases)), cases, strict=True):
        assert_one_line_error(proc, EXIT_USAGE, *fragments)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "a folder"])


def test_help_exits_0() -> None:
    (proc,) = runs(["run", "--help"])
    assert proc.returncode == EXIT_READY and "--keep-going" in proc.stdout


# --------------------------------------------------------------------------- outcomes: 0, 1, 3


def test_ready_exits_0_with_the_report_on_stdout_and_nothing_on_stderr(tmp_path: Path) -> None:
    proc = fixture_run(write_case(tmp_path))
    assert proc.returncode == EXIT_READY, proc.stderr
    assert proc.stderr == ""  # stderr is a pipe: no progress, no notes
    assert proc.stdout.rstrip().splitlines()[-1].startswith("READY")
    assert "\x1b" not in proc.stdout  # stdout is not a terminal: no colour
    assert "no research labels declared" in proc.stdout


def test_not_ready_exits_1_and_stops_at_the_failing_stage(tmp_path: Path) -> None:
    checklist = write_case(tmp_path, production="id,x\n1,1\n")
    checklist.write_text(
        checklist.read_text().replace("research:\n", "research:\n  labels: {path: research.csv}\n")
    )
    proc, keep_going = runs(
        ["run", checklist, "--format", "json"],
        ["run", checklist, "--format", "json", "--keep-going"],
    )
    assert proc.returncode == EXIT_NOT_READY, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == "not_ready" and report["stopped_at"] == "data_reproducibility"
    assert [(s["id"], s["status"]) for s in report["stages"]] == [
        ("data_reproducibility", "fail"),
        ("feature_parity", "not_run"),
    ]
    assert keep_going.returncode == EXIT_NOT_READY
    assert [s["status"] for s in json.loads(keep_going.stdout)["stages"]] == ["fail", "pass"]


def test_only_and_skip(tmp_path: Path) -> None:
    """The fixture's feature_parity stage always skips here (no research labels): selecting
    only it, or skipping the one stage that runs, checks nothing and is not ready (exit 1)."""
    checklist = write_case(tmp_path)
    skipped, only, ran, unavailable = runs(
        ["run", checklist, "--format", "json", "--skip", "data_reproducibility"],
        ["run", checklist, "--only", "feature_parity"],
        ["run", checklist, "--format", "json", "--only", "data_reproducibility"],
        ["run", checklist, "--only", "performance_drop"],  # a stage the fixture build lacks
    )
    assert skipped.returncode == EXIT_NOT_READY
    report = json.loads(skipped.stdout)
    assert report["stages"][0]["reason"] == "not selected (--skip)"
    assert (report["verdict"], report["stopped_at"]) == ("not_ready", None)
    assert only.returncode == EXIT_NOT_READY
    assert "NOT READY: nothing was checked (every stage was skipped)" in only.stdout
    assert ran.returncode == EXIT_READY
    assert json.loads(ran.stdout)["stages"][1]["reason"] == "not selected (--only)"
    assert_one_line_error(unavailable, EXIT_USAGE, "not available")


def test_fail_on_warn_makes_a_warning_block(tmp_path: Path) -> None:
    checklist = write_case(tmp_path, production="id,x\n1,1\n2,5\n")
    lenient, strict = runs(
        ["run", checklist], ["run", checklist, "--fail-on", "warn", "--junit", tmp_path / "r.xml"]
    )
    assert lenient.returncode == EXIT_READY
    assert strict.returncode == EXIT_NOT_READY
    failure = ET.parse(tmp_path / "r.xml").getroot().find(".//failure")
    assert failure is not None and failure.get("type") == "warn"


def test_require_all_fails_a_stage_skipped_for_missing_inputs(tmp_path: Path) -> None:
    checklist = write_case(tmp_path)
    proc = fixture_run(checklist, "--require-all", "--format", "json")
    assert proc.returncode == EXIT_NOT_READY
    parity = json.loads(proc.stdout)["stages"][1]
    assert (parity["status"], parity["reason"]) == (
        "fail",
        "no research labels declared (--require-all)",
    )


def test_a_crashing_check_exits_3_but_still_writes_the_report(tmp_path: Path) -> None:
    checklist = write_case(tmp_path, research="id,x,crash\n1,1,0\n", production="id,x\n1,1\n")
    proc, verbose = runs(
        ["run", checklist, "--format", "json"], ["run", checklist, "--format", "json", "--verbose"]
    )
    assert proc.returncode == EXIT_INTERNAL
    assert (
        "Traceback" not in proc.stderr
        and "1 check(s) crashed" in proc.stderr
        and "bug in mlcheck" in proc.stderr
    )
    checks = json.loads(proc.stdout)["stages"][0]["checks"]
    crashed = [c for c in checks if c["status"] == "error"]
    assert [c["id"] for c in crashed] == ["FIX003"] and "traceback" not in crashed[0]["details"]
    assert {c["id"] for c in checks} >= {"FIX001", "FIX002", "FIX004"}  # the rest of the stage ran
    details = next(
        c for c in json.loads(verbose.stdout)["stages"][0]["checks"] if c["status"] == "error"
    )["details"]
    assert "ZeroDivisionError" in details["traceback"]


def test_report_never_overwrites_a_sqlite_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect: only `path:` sources were protected, so `-o d.db` overwrote the sqlite database a
    `url:` source reads. Both sides read table r of d.db: the run refuses (exit 2) before
    reading anything and d.db is byte-for-byte unchanged; a report next to it is written."""
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute("CREATE TABLE r (id INTEGER, x REAL)")
        db.execute("INSERT INTO r VALUES (1, 0.5), (2, 1.5)")
    db.close()
    source = '{a: {url: "sqlite:///d.db", table: r}}'
    checklist = tmp_path / "c.yaml"
    checklist.write_text(
        f"version: 1\nkey: id\nresearch:\n  raw: {source}\nproduction:\n  raw: {source}\n"
    )
    before = (tmp_path / "d.db").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(checklist), "-q", "--output", str(tmp_path / "d.db")])
    assert exit_info.value.code == EXIT_USAGE
    assert "refusing to write the report to" in capsys.readouterr().err
    assert (tmp_path / "d.db").read_bytes() == before
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(checklist), "-q", "--output", str(tmp_path / "report.json")])
    assert exit_info.value.code == EXIT_READY and (tmp_path / "report.json").exists()


@pytest.mark.parametrize("verbose", [False, True])
def test_internal_error_outside_checks_is_short_unless_verbose(
    verbose: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bug outside any check (here: the runner divides by zero) exits 3; in-process for speed."""
    monkeypatch.setattr("mlcheck.cli.run_checklist", lambda *a, **k: 1 / 0)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(write_case(tmp_path)), *(["--verbose"] if verbose else [])])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == EXIT_INTERNAL
    assert stderr.startswith("internal error: ZeroDivisionError: division by zero\n")
    assert "please report it" in stderr
    assert ("Traceback" in stderr) is verbose


# --------------------------------------------------------------------------- outputs


def test_output_and_junit_files_and_a_note_on_stderr(tmp_path: Path) -> None:
    checklist = write_case(tmp_path)
    out, junit = tmp_path / "report.json", tmp_path / "report.xml"
    proc, quiet = runs(
        ["run", checklist, "--format", "json", "--output", out, "--junit", junit],
        ["run", checklist, "--format", "markdown", "--output", tmp_path / "r.md", "-q"],
    )
    assert proc.returncode == EXIT_READY and proc.stdout == ""
    assert proc.stderr.startswith("READY") and str(out) in proc.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["verdict"] == "ready"
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["data_reproducibility", "feature_parity"]
    assert quiet.stderr == "" and (tmp_path / "r.md").read_text(encoding="utf-8").startswith(
        "## ✅ mlcheck: READY"
    )


def test_same_inputs_and_seed_give_byte_identical_json_across_processes(tmp_path: Path) -> None:
    """Two processes (so two hash seeds) on the same inputs: the same bytes apart from timings."""
    checklist = write_case(tmp_path, production="id,x\n2,2\n1,1\n")
    argv: list[str | Path] = ["run", checklist, "--format", "json", "--seed", "7", "--keep-going"]
    first, second = runs(argv)[0].stdout, runs(argv)[0].stdout
    untimed = re.compile(r'"duration_s": [0-9.e-]+')
    assert untimed.sub("", first) == untimed.sub("", second)
    seed_check = next(c for c in json.loads(first)["stages"][0]["checks"] if c["id"] == "FIX004")
    assert seed_check["observed"] == 7


def test_terminal_report_verbose_and_no_color(tmp_path: Path) -> None:
    checklist = write_case(tmp_path)
    plain, verbose = runs(["run", checklist, "--no-color"], ["run", checklist, "-v", "--no-color"])
    assert "FIX001" not in plain.stdout and "passed (--verbose lists them)" in plain.stdout
    assert "FIX001" in verbose.stdout and "\x1b" not in verbose.stdout


def test_a_closed_pipe_keeps_the_exit_code_and_prints_no_traceback(tmp_path: Path) -> None:
    """The report is bigger than a pipe buffer; the reader stops after a few bytes (`| head`)."""
    rows = "".join(f"{i},{i},0\n" for i in range(3000))
    checklist = write_case(
        tmp_path,
        research="id,x,many\n" + rows,
        production="id,x\n" + "".join(f"{i},{i}\n" for i in range(3000)),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10)
    proc.stdout.close()
    assert proc.wait(timeout=TIMEOUT) == EXIT_NOT_READY
    assert b"Traceback" not in proc.stderr.read()


# --------------------------------------------------------------------------- progress and Ctrl-C


def test_progress_goes_to_a_terminal_stderr_and_never_into_the_report(tmp_path: Path) -> None:
    checklist = write_case(tmp_path)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=REPO,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(follower)
    stdout, _ = proc.communicate(timeout=TIMEOUT)
    terminal = _drain(leader)
    assert proc.returncode == EXIT_READY
    assert "mlcheck:" in terminal  # the spinner's text
    assert json.loads(stdout)["verdict"] == "ready"  # the report is clean JSON
    quiet = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist), "-q"],
        stdout=subprocess.PIPE,
        stderr=(pair := pty.openpty())[1],
        cwd=REPO,
    )
    os.close(pair[1])
    quiet.communicate(timeout=TIMEOUT)
    assert _drain(pair[0]) == ""


def _drain(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.5)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    checklist = write_case(tmp_path, research="id,x,slow\n1,1,0\n", production="id,x\n1,1\n")
    marker = tmp_path / "sleeping"
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "MLCHECK_TEST_MARKER": str(marker)},
    )
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the slow stage never started"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == EXIT_INTERRUPTED
    assert stderr.strip() == "interrupted"
    assert stdout == ""


# --------------------------------------------------------------------------- the real stages


def test_real_cli_with_nothing_declared_is_a_checklist_error(tmp_path: Path) -> None:
    """No source at all: `run` (with or without --require-all) and `validate` exit 2 before
    any stage, saying there is nothing to check."""
    checklist = tmp_path / "c.yaml"
    checklist.write_text("research: {}\nproduction: {}\n")
    plain, strict, validated = runs(
        ["run", checklist, "--format", "json"],
        ["run", checklist, "--require-all"],
        ["validate", checklist],
        real=True,
    )
    for proc in (plain, strict, validated):
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert proc.stdout == ""
        assert "nothing to check" in proc.stderr


def test_real_cli_with_every_stage_skipped_checked_nothing(tmp_path: Path) -> None:
    """Sources declared but no stage can use them (predictions without columns.score): every
    stage skips for missing inputs, so nothing was checked: exit 1, never READY."""
    (tmp_path / "predictions.csv").write_text("id,p\n1,0.1\n2,0.9\n")
    checklist = tmp_path / "c.yaml"
    checklist.write_text(
        "key: id\nresearch:\n  predictions: {path: predictions.csv}\n"
        "production:\n  predictions: {path: predictions.csv}\n"
    )
    terminal, as_json, strict = runs(
        ["run", checklist, "--no-color"],
        ["run", checklist, "--format", "json"],
        ["run", checklist, "--require-all", "--format", "json"],
        real=True,
    )
    assert terminal.returncode == EXIT_NOT_READY, terminal.stderr
    assert "NOT READY: nothing was checked (every stage was skipped)" in terminal.stdout
    assert "READY ·" not in terminal.stdout.replace("NOT READY", "")
    report = json.loads(as_json.stdout)
    assert {s["status"] for s in report["stages"]} == {"skipped"}
    assert (as_json.returncode, report["verdict"]) == (EXIT_NOT_READY, "not_ready")
    assert strict.returncode == EXIT_NOT_READY
    assert {s["status"] for s in json.loads(strict.stdout)["stages"]} == {"fail", "not_run"}


# --------------------------------------------------------------------------- report paths


def test_a_report_path_that_is_an_input_by_another_name_is_refused(tmp_path: Path) -> None:
    """Defect: `--output` naming a hard link to an input overwrote the input (exit 0). Files are
    compared by identity (device and inode), so every other name of an input is refused too."""
    checklist = write_case(tmp_path)
    (tmp_path / "sub").mkdir()
    os.link(tmp_path / "research.csv", tmp_path / "sub" / "hard.csv")
    (tmp_path / "soft.csv").symlink_to("production.csv")
    os.link(checklist, tmp_path / "checklist-link.yaml")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    names = [
        tmp_path / "sub" / "hard.csv",  # a hard link to research.csv
        tmp_path / "soft.csv",  # a symbolic link to production.csv
        tmp_path / "sub" / ".." / "research.csv",  # the same file by another path
        tmp_path / "checklist-link.yaml",  # a hard link to the checklist
    ]
    argvs: list[list[str | Path]] = [["run", checklist, "--output", name] for name in names]
    argvs += [["run", checklist, "--output", tmp_path / "r.md", "--junit", name] for name in names]
    for proc in runs(*argvs):
        assert_one_line_error(proc, EXIT_USAGE, "refusing to write the report to")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert not (tmp_path / "r.md").exists()


def test_a_report_path_that_is_a_file_of_a_parquet_folder_by_another_name_is_refused(
    tmp_path: Path,
) -> None:
    """Defect: a hard link to a file inside a parquet-folder source was accepted as `--output`
    (only the folder itself was compared by identity). Every file in a source folder is an input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "research").mkdir()
    pq.write_table(pa.table({"id": [1, 2], "x": [1.0, 2.0]}), tmp_path / "research" / "a.parquet")
    (tmp_path / "production.csv").write_text("id,x\n1,1\n2,2\n")
    checklist = tmp_path / "checklist.yaml"
    checklist.write_text(
        "key: id\nresearch:\n  features: {path: research}\n"
        "production:\n  features: {path: production.csv}\n"
    )
    os.link(tmp_path / "research" / "a.parquet", tmp_path / "hard.parquet")
    before = (tmp_path / "research" / "a.parquet").read_bytes()
    output, junit = runs(
        ["run", checklist, "--output", tmp_path / "hard.parquet"],
        ["run", checklist, "--output", tmp_path / "r.md", "--junit", tmp_path / "hard.parquet"],
        real=True,
    )
    for proc in (output, junit):
        assert_one_line_error(proc, EXIT_USAGE, "refusing to write the report to")
    assert (tmp_path / "hard.parquet").read_bytes() == before
    assert not (tmp_path / "r.md").exists()


def test_output_and_junit_naming_one_file_by_two_names_are_refused(tmp_path: Path) -> None:
    checklist = write_case(tmp_path)
    (tmp_path / "report.xml").write_text("old")
    os.link(tmp_path / "report.xml", tmp_path / "same.xml")
    (tmp_path / "alias.xml").symlink_to("report.xml")
    hard, soft, relative = runs(
        ["run", checklist, "-o", tmp_path / "report.xml", "--junit", tmp_path / "same.xml"],
        ["run", checklist, "-o", tmp_path / "alias.xml", "--junit", tmp_path / "report.xml"],
        ["run", checklist, "-o", tmp_path / "new.xml", "--junit", tmp_path / "." / "new.xml"],
    )
    for proc in (hard, soft, relative):
        assert_one_line_error(proc, EXIT_USAGE, "give them different files")
    assert (tmp_path / "report.xml").read_text() == "old" and not (tmp_path / "new.xml").exists()


def test_output_creates_missing_folders_and_follows_a_symlink(tmp_path: Path) -> None:
    """Defect: `-o out/r.md` failed when out/ did not exist. A report path that is a symbolic
    link is written through (the link stays a link)."""
    checklist = write_case(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "latest.md").write_text("old")
    (tmp_path / "latest.md").symlink_to(tmp_path / "reports" / "latest.md")
    nested, linked = runs(
        ["run", checklist, "-q", "-f", "markdown", "-o", tmp_path / "out" / "deep" / "r.md"],
        ["run", checklist, "-q", "-f", "markdown", "-o", tmp_path / "latest.md"],
    )
    assert nested.returncode == EXIT_READY, nested.stderr
    assert (tmp_path / "out" / "deep" / "r.md").read_text(encoding="utf-8").startswith("## ")
    assert linked.returncode == EXIT_READY, linked.stderr
    assert (tmp_path / "latest.md").is_symlink()
    assert (tmp_path / "reports" / "latest.md").read_text(encoding="utf-8").startswith("## ")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["latest.md"]


def test_a_report_replaces_an_existing_file_keeping_its_mode(tmp_path: Path) -> None:
    """Written beside the target and renamed over it: readers never see half a report."""
    checklist = write_case(tmp_path)
    report = tmp_path / "report.json"
    report.write_text("old")
    report.chmod(0o640)
    (proc,) = runs(["run", checklist, "-q", "-f", "json", "-o", report])
    assert proc.returncode == EXIT_READY, proc.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["verdict"] == "ready"
    assert report.stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- output errors


def test_an_error_keeps_its_exit_code_when_stderr_is_a_closed_pipe(tmp_path: Path) -> None:
    """Defect (review): `mlcheck validate bad.yaml 2>&1 | head -1` exited 1 (not ready), not 2:
    the error line hit a closed pipe and the BrokenPipeError replaced the exit code."""
    checklist = write_case(tmp_path, extra="columns: {categorical: [xx]}\n")
    missing = tmp_path / "absent.yaml"
    for argv in (["validate", str(checklist)], ["run", str(missing)], ["run", "--bogus"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader left before mlcheck wrote its error
        proc = subprocess.run(
            [sys.executable, "-m", "mlcheck", *argv],
            stdout=subprocess.DEVNULL,
            stderr=write_end,
            cwd=REPO,
            timeout=TIMEOUT,
        )
        os.close(write_end)
        assert proc.returncode == EXIT_USAGE, argv


def test_stdout_on_a_full_disk_is_an_output_error(tmp_path: Path) -> None:
    """Defect: `> /dev/full` exited 3 (a bug); like `--output /dev/full` it is exit 2."""
    checklist = write_case(tmp_path)
    commands = [
        [sys.executable, "-c", HARNESS, "run", str(checklist)],
        [sys.executable, "-m", "mlcheck", "env", "capture"],
        [sys.executable, "-m", "mlcheck", "schema"],
        [sys.executable, "-m", "mlcheck", "checks"],  # these two exited 3 (review)
        [sys.executable, "-m", "mlcheck", "explain", "RAW001"],
    ]
    for command in commands:
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                command, stdout=full, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=TIMEOUT
            )
        assert proc.returncode == EXIT_USAGE, (command, proc.stderr)
        assert proc.stderr.startswith("error: cannot write to stdout: No space left on device")
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    flag, null = runs(
        ["run", checklist, "--output", "/dev/full"], ["run", checklist, "-o", "/dev/null"]
    )
    assert_one_line_error(flag, EXIT_USAGE, "cannot write /dev/full: No space left on device")
    assert null.returncode == EXIT_READY, null.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # written in place, never renamed over


def test_verbose_prints_the_traceback_of_a_crashed_check(tmp_path: Path) -> None:
    """Defect: the error message asks for `--verbose` output, which showed no traceback."""
    checklist = write_case(tmp_path, research="id,x,crash\n1,1,0\n", production="id,x\n1,1\n")
    quiet, verbose = runs(["run", checklist], ["run", checklist, "--verbose"])
    assert quiet.returncode == verbose.returncode == EXIT_INTERNAL
    assert "Traceback" not in quiet.stderr
    assert "FIX003 crashed:" in verbose.stderr
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "ZeroDivisionError: division by zero" in verbose.stderr
    assert "fix_crash" in verbose.stderr  # the frame of the check itself


# --------------------------------------------------------------------------- SIGTERM


def _start_slow_run(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    """A run whose first stage sleeps; returns once the stage is running."""
    checklist = write_case(tmp_path, research="id,x,slow\n1,1,0\n", production="id,x\n1,1\n")
    marker = tmp_path / "sleeping"
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "MLCHECK_TEST_MARKER": str(marker)},
    )
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the slow stage never started"
    return proc


def test_sigterm_is_a_clean_interruption_with_exit_143(tmp_path: Path) -> None:
    """Defect: SIGTERM killed the run silently. Now: one line, exit 143, no report file, and a
    report left by an earlier run keeps its content."""
    (tmp_path / "out").mkdir()
    report = tmp_path / "out" / "report.json"
    report.write_text("earlier report")
    proc = _start_slow_run(tmp_path, "--output", str(report), "--junit", str(tmp_path / "j.xml"))
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143
    assert stderr.strip() == "terminated"
    assert stdout == ""
    assert report.read_text() == "earlier report"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json"]
    assert not (tmp_path / "j.xml").exists()


def test_a_report_cut_short_on_stdout_says_so(tmp_path: Path) -> None:
    """The report is far bigger than the pipe; nobody reads it, so the write blocks; SIGTERM
    then: stderr says the report on stdout is incomplete."""
    rows = "".join(f"{i},{i},0\n" for i in range(3000))
    checklist = write_case(
        tmp_path,
        research="id,x,many\n" + rows,
        production="id,x\n" + "".join(f"{i},{i}\n" for i in range(3000)),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "run", str(checklist), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10)  # the report is being written, and the pipe is full
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 143
    stderr = proc.stderr.read().decode()
    assert "terminated while writing the report to stdout: the report is incomplete" in stderr
    assert "Traceback" not in stderr
    proc.stdout.close()
    proc.stderr.close()


def test_sigterm_while_starting_exits_143(tmp_path: Path) -> None:
    """Before the CLI module is imported (about half a second), SIGTERM also exits 143 with one
    line. The child's import of mlcheck.cli is held up by a finder that waits for the signal."""
    marker = tmp_path / "importing"
    code = (
        "import sys, time\n"
        "class Slow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mlcheck.cli':\n"
        f"            open({str(marker)!r}, 'w').close()\n"
        f"            time.sleep({TIMEOUT})\n"
        "sys.meta_path.insert(0, Slow())\n"
        "from mlcheck.entry import main\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", "c.yaml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, stderr, stdout) == (143, "terminated\n", "")
