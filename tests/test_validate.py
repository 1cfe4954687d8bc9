"""`mlcheck validate`: sources exist and have their declared and key columns, checked from
metadata only, every problem at once; and the `validate`/`schema` commands end to end."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import Checklist, load_checklist
from mlcheck.cli import main
from mlcheck.validate import SourceProblems, validate_sources

REPO = Path(__file__).resolve().parents[1]
TABLE = pa.table({"id": [1, 2], "income": [10.0, 20.0], "split": ["train", "test"]})


def _project(tmp_path: Path) -> None:
    """Files for the checklists below: a parquet, a CSV, a sqlite db and an environment file."""
    pq.write_table(TABLE, tmp_path / "features.parquet")
    (tmp_path / "train.csv").write_text("id,income\n1,10\n")
    (tmp_path / "test.csv").write_text("id,income\n2,20\n")
    (tmp_path / "env.json").write_text('{"python": "3.11.7", "packages": {}}')
    with sqlite3.connect(tmp_path / "preds.db") as conn:
        conn.execute("CREATE TABLE preds (id INTEGER, score REAL)")
    conn.close()


GOOD = """\
    key: id
    research:
      features: {path: features.parquet, columns: [income]}
      splits:
        train: {path: train.csv}
        test: {path: test.csv}
      predictions: {url: 'sqlite:///preds.db', table: preds}
      environment: {path: env.json}
    production:
      features: {path: features.parquet}
    """

# Five defects, one per line 3-7 of the file; each must be reported, all at once.
BROKEN = """\
    key: id
    research:
      features: {path: features.parquet, columns: [income, salary]}
      splits: {path: train.csv, key: [id, customer_id]}
      predictions: {url: 'sqlite:///preds.db', table: predictions}
      labels: {path: labels/missing.parquet}
      environment: {path: requirements.txt}
    production: {}
    """


def checklist(tmp_path: Path, text: str) -> Checklist:
    _project(tmp_path)
    path = tmp_path / "checklist.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_checklist(path)


def test_a_good_checklist_counts_its_sources(tmp_path: Path) -> None:
    # 5 tables (features, 2 split files, predictions, production features) + 1 environment
    assert validate_sources(checklist(tmp_path, GOOD), read_schema=True) == 6


def test_every_problem_at_once_with_slot_line_and_file(tmp_path: Path) -> None:
    loaded = checklist(tmp_path, BROKEN)
    with pytest.raises(SourceProblems) as caught:
        validate_sources(loaded, read_schema=True)
    where = f"{tmp_path / 'checklist.yaml'}"
    assert caught.value.exit_code == 2
    assert caught.value.message == "5 problems with the checklist's sources:"
    assert caught.value.problems == [
        f"research.features ({where}:3): declared column 'salary' is absent",
        f"research.splits ({where}:4): declared key column 'customer_id' is absent",
        f"research.predictions ({where}:5): cannot read sqlite:///preds.db (table 'predictions'): "
        "no such table: predictions",
        f"research.labels ({where}:6): file not found: {tmp_path / 'labels' / 'missing.parquet'}",
        f"research.environment ({where}:7): file not found: {tmp_path / 'requirements.txt'}",
    ]


def test_run_preflight_checks_existence_only(tmp_path: Path) -> None:
    """`run` asks for existence only: absent columns surface when the data is read."""
    loaded = checklist(tmp_path, BROKEN)
    with pytest.raises(SourceProblems) as caught:
        validate_sources(loaded, read_schema=False)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        f"file not found: {tmp_path / 'labels' / 'missing.parquet'}",
        f"file not found: {tmp_path / 'requirements.txt'}",
    ]


def test_a_missing_database_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("sqlite:///preds.db", "sqlite:///db/nope.db")
    with pytest.raises(SourceProblems) as caught:
        validate_sources(checklist(tmp_path, text), read_schema=False)
    assert caught.value.problems[0].endswith(f"database not found: {tmp_path / 'db' / 'nope.db'}")
    assert not (tmp_path / "db").exists()


def test_reads_only_headers(tmp_path: Path) -> None:
    """A CSV whose header is fine but whose body is malformed validates: only the header is read."""
    loaded = checklist(tmp_path, GOOD)
    body = "".join(f"{i},{i}\n" for i in range(200_000))
    (tmp_path / "train.csv").write_text("id,income\n" + body + "not,a,valid,row\n")
    assert validate_sources(loaded, read_schema=True) == 6


def test_an_unreadable_header_is_a_problem(tmp_path: Path) -> None:
    loaded = checklist(tmp_path, GOOD)
    (tmp_path / "features.parquet").write_bytes(b"garbage, not parquet")
    with pytest.raises(SourceProblems) as caught:
        validate_sources(loaded, read_schema=True)
    # the file backs two slots; each is named, with its own checklist line
    research, production = caught.value.problems
    assert research.startswith(f"research.features ({tmp_path / 'checklist.yaml'}:3): cannot read")
    assert production.startswith(f"production.features ({tmp_path / 'checklist.yaml'}:10): cannot")


# --------------------------------------------------------------------------- the CLI


def mlcheck(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=120,
        check=False,
    )


def test_cli_validate_ok(tmp_path: Path) -> None:
    checklist(tmp_path, GOOD)
    done = mlcheck("validate", str(tmp_path / "checklist.yaml"))
    assert done.returncode == 0, done.stderr
    assert "ok: " in done.stderr
    assert "is valid (6 sources checked)" in done.stderr


def test_cli_validate_source_problems_exit_2(tmp_path: Path) -> None:
    checklist(tmp_path, BROKEN)
    done = mlcheck("validate", str(tmp_path / "checklist.yaml"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "5 problems with the checklist's sources" in done.stderr
    assert "declared column 'salary' is absent" in done.stderr


def test_cli_validate_checklist_problems_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_text("research:\n  featurs: {path: x.csv}\nproduction: {}\ntask: binery\n")
    done = mlcheck("validate", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "line 2: unknown key `research.featurs`; did you mean `features`?" in done.stderr
    assert "did you mean `binary`?" in done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: the checklist is empty"),
        (b"name: caf\xe9\n", "line 1: the file is not UTF-8 text (byte 0xe9)"),
        (b"research:\n\tfeatures: {}\n", "line 2, column 1: a tab character"),
        (b"[1, 2\n", "line 2, column 1: invalid YAML"),
    ],
    ids=["empty", "latin-1", "tab", "syntax"],
)
def test_main_bad_checklist_files_exit_2_without_traceback(
    tmp_path: Path, capsys, content: bytes, expected: str
) -> None:
    """In-process through the CLI entry point (the subprocess tests cover the real process)."""
    path = tmp_path / "checklist.yaml"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as caught:
        main(["validate", str(path)])
    stderr = capsys.readouterr().err
    assert caught.value.code == 2
    assert "Traceback" not in stderr
    assert expected in stderr


def test_main_missing_checklist_exit_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", str(tmp_path / "nope.yaml")])
    assert caught.value.code == 2
    assert f"file not found: {tmp_path / 'nope.yaml'}" in capsys.readouterr().err


def test_cli_validate_the_sample_checklist() -> None:
    done = mlcheck("validate", "checklists/credit.yaml")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_cli_schema_prints_a_json_schema_that_separates_good_from_bad() -> None:
    done = mlcheck("schema")
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    sample = yaml.safe_load((REPO / "checklists" / "credit.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(sample)) == []
    sample["research"]["predictons"] = sample["research"].pop("predictions")
    assert [e.message for e in validator.iter_errors(sample)] == [
        "Additional properties are not allowed ('predictons' was unexpected)"
    ]


# --------------------------------------------------------------------------- role columns

ROLES = """\
    key: id
    research:
      features: {path: features.parquet}
      predictions: {url: 'sqlite:///preds.db', table: preds}
      labels: {path: labels.csv}
    production:
      features: {path: features.parquet}
      predictions: {url: 'sqlite:///preds.db', table: preds}
    columns:
      target: defaulted
      score: score
      features: [income]
    """


def _roles(tmp_path: Path, **replace: str) -> Checklist:
    text = ROLES
    written = {"target": "defaulted", "score": "score", "features": "[income]"}
    for role, new in replace.items():
        text = text.replace(f"{role}: {written[role]}", f"{role}: {new}")
    (tmp_path / "labels.csv").write_text("id,defaulted\n1,0\n2,1\n")
    return checklist(tmp_path, text)


def test_role_columns_that_are_present_validate(tmp_path: Path) -> None:
    assert validate_sources(_roles(tmp_path), read_schema=True) == 5


def test_a_misspelled_role_column_is_named_with_a_guess_and_the_columns(tmp_path: Path) -> None:
    """Defect: `validate` said "valid" whatever `columns:` named."""
    loaded = _roles(tmp_path, target="defaultd", score="scor", features="[incme, age]")
    with pytest.raises(SourceProblems) as caught:
        validate_sources(loaded, read_schema=True)
    where = tmp_path / "checklist.yaml"
    assert caught.value.problems == [
        f"research.labels ({where}:5): columns.target 'defaultd' is absent; "
        "did you mean 'defaulted'? (columns: id, defaulted)",
        f"research.predictions ({where}:4): columns.score 'scor' is absent; "
        "did you mean 'score'? (columns: id, score)",
        f"production.predictions ({where}:8): columns.score 'scor' is absent; "
        "did you mean 'score'? (columns: id, score)",
        f"columns.features 'incme' ({where}:12) is in none of research.features, "
        "production.features; did you mean 'income'? (columns: id, income, split)",
        f"columns.features 'age' ({where}:12) is in none of research.features, "
        "production.features (columns: id, income, split)",
    ]


def test_run_gives_the_same_message_before_reading_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect: `run` ended with exit 2 naming neither the columns nor the near one."""
    loaded = _roles(tmp_path, score="scor")
    with pytest.raises(SystemExit) as caught:
        main(["run", loaded.source_file])
    stderr = capsys.readouterr().err
    assert caught.value.code == 2
    assert (
        "columns.score 'scor'" in stderr and "did you mean 'score'? (columns: id, score)" in stderr
    )
    with pytest.raises(SystemExit) as caught:
        main(["validate", loaded.source_file])
    assert caught.value.code == 2
    assert capsys.readouterr().err == stderr


def test_role_columns_are_looked_up_per_slot_from_a_list_of_names(tmp_path: Path) -> None:
    """The one place roles meet tables: a role with several columns (multiclass scores) is
    checked column by column, in every table the role must be in."""
    from mlcheck.validate import role_column_problems, role_requirements

    loaded = _roles(tmp_path, score="[score, p_other]")
    requirements = {r.role: r for r in role_requirements(loaded)}
    assert requirements["columns.score"].columns == ("score", "p_other")
    assert requirements["columns.score"].every == (
        "research.predictions",
        "production.predictions",
        "production.live.predictions",
    )
    names = {
        "research.predictions": ["id", "score", "p_other"],
        "production.predictions": ["id", "p_other"],
    }
    (problem,) = role_column_problems(loaded, names)  # unread tables: nothing said about them
    assert problem.startswith("production.predictions (")
    assert "columns.score 'score'" in problem and problem.endswith("(columns: id, p_other)")


def test_every_bundled_checklist_has_its_role_columns(tmp_path: Path) -> None:
    for path in sorted((REPO / "checklists").rglob("*.yaml")):
        assert validate_sources(load_checklist(path), read_schema=True) > 0, path


# --------------------------------------------------------------------------- what kind of file


def test_a_named_pipe_source_is_refused_before_any_read(tmp_path: Path) -> None:
    """Defect: `validate` (and `run`) opened the pipe and waited forever for a writer. The
    pre-flight of both refuses it from its file type alone."""
    loaded = checklist(tmp_path, GOOD)
    (tmp_path / "test.csv").unlink()
    os.mkfifo(tmp_path / "test.csv")
    guard = threading.Timer(10, _release_reader, (tmp_path / "test.csv",))
    guard.daemon = True
    guard.start()
    try:
        for read_schema in (False, True):
            with pytest.raises(SourceProblems) as caught:
                validate_sources(loaded, read_schema=read_schema)
            assert caught.value.problems == [
                f"research.splits.test ({tmp_path / 'checklist.yaml'}:6): "
                f"{tmp_path / 'test.csv'} is a named pipe (FIFO), not a regular file or folder"
            ]
    finally:
        guard.cancel()


def _release_reader(path: Path) -> None:
    """Play the writer a blocked reader waits for (then leave): the test fails, never hangs."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_special_environment_and_database_files_are_refused(tmp_path: Path) -> None:
    loaded = checklist(tmp_path, GOOD)
    (tmp_path / "env.json").unlink()
    (tmp_path / "env.json").symlink_to("/dev/null")
    (tmp_path / "preds.db").unlink()
    (tmp_path / "preds.db").symlink_to("preds.db")
    with pytest.raises(SourceProblems) as caught:
        validate_sources(loaded, read_schema=False)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        f"{tmp_path / 'preds.db'} is a symbolic link loop",
        f"{tmp_path / 'env.json'} is a character device, not a regular file",
    ]
