"""`mlcheck init`: guesses on the sample data layout and on an unusual flat layout built here."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.cli import main
from mlcheck.errors import InputError, UsageError
from mlcheck.init import SAMPLE_ROWS, init_checklist, read_sample, scalar
from mlcheck.validate import validate_sources

REPO = Path(__file__).resolve().parents[1]
CREDIT = REPO / "sample_data" / "credit"


def mlcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --------------------------------------------------------------------------- the sample layout


def test_init_on_sample_data_writes_a_checklist_that_runs_ready(tmp_path: Path) -> None:
    output = tmp_path / "out" / "checklist.yaml"
    made = mlcheck(
        "init",
        str(CREDIT / "research"),
        str(CREDIT / "production"),
        "-o",
        str(output),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    text = output.read_text(encoding="utf-8")
    assert "# guessed" in text and text.startswith("# mlcheck checklist written by `mlcheck init`")
    checklist = load_checklist(output)
    assert checklist.key == "application_id"
    assert set(checklist.research.raw or {}) == {"applications", "bureau"}
    assert checklist.research.features is not None and checklist.research.features.path is not None
    assert not Path(checklist.research.features.path).is_absolute()  # relative to the output folder
    assert (
        checklist.resolve_path(checklist.research.features.path).resolve()
        == (CREDIT / "research" / "features.parquet").resolve()
    )
    assert checklist.production.live is not None and checklist.production.live.labels is not None
    assert (
        checklist.research.environment is not None
        and checklist.research.environment.path.endswith("environment.json")
    )
    assert (
        checklist.production.environment is not None
        and checklist.production.environment.path.endswith("requirements.txt")
    )
    columns = checklist.columns
    assert (columns.target, columns.score, columns.prediction) == (
        "defaulted",
        "p_default",
        "decision",
    )
    assert (columns.split, columns.fold, columns.timestamp) == ("split", "fold", "event_time")
    assert columns.categorical == ["region", "product"]
    assert checklist.task == "binary"
    assert "# group: customer_id" in text  # suggested, not imposed
    checked = mlcheck("validate", str(output), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    ran = mlcheck("run", str(output), "--format", "json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The console entry point in-process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0), capsys.readouterr().err


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "checklist.yaml"
    output.write_text("mine\n", encoding="utf-8")
    code, err = run_main(
        capsys, "init", str(CREDIT / "research"), str(CREDIT / "production"), "-o", str(output)
    )
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert output.read_text(encoding="utf-8") == "mine\n"
    code, err = run_main(
        capsys,
        "init",
        str(CREDIT / "research"),
        str(CREDIT / "production"),
        "-o",
        str(output),
        "--force",
    )
    assert code == 0, err
    assert load_checklist(output).key == "application_id"


# --------------------------------------------------------------------------- an unusual layout


def test_init_never_writes_over_a_file_it_reads(tmp_path: Path) -> None:
    """Defect: `mlcheck init r p -o r/splits.csv --force` (or `-o` naming a hard link to it)
    wrote the checklist over the research splits file. `--force` replaces a checklist, never
    an input: a file of either folder, by any name, exits 2 and is left as it was."""
    import os
    import shutil

    for side in ("research", "production"):
        shutil.copytree(CREDIT / side, tmp_path / side)
    splits = tmp_path / "research" / "splits.csv"
    os.link(splits, tmp_path / "hard.yaml")
    before = splits.read_bytes()
    for output in (splits, tmp_path / "hard.yaml", tmp_path / "production" / "predictions.parquet"):
        made = mlcheck("init", "research", "production", "-o", str(output), "--force", cwd=tmp_path)
        assert made.returncode == 2, made.stderr
        assert "Traceback" not in made.stderr
        assert made.stderr.startswith("error: ") and "is one of the files it reads" in made.stderr
    assert splits.read_bytes() == before
    made = mlcheck("init", "research", "production", "-o", "research/new.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr


def test_init_refuses_a_named_pipe_in_a_folder_before_reading(tmp_path: Path) -> None:
    """Defect: a FIFO in the research folder hung `mlcheck init` forever (SIGTERM too: the
    open blocks inside pyarrow). Like `run`, init finds it with `stat` first: exit 2."""
    import os
    import shutil

    for side in ("research", "production"):
        shutil.copytree(CREDIT / side, tmp_path / side)
    os.mkfifo(tmp_path / "research" / "stream.csv")
    made = subprocess.run(
        [sys.executable, "-m", "mlcheck", "init", "research", "production"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 2, made.stderr
    assert made.stderr.startswith("error: ") and "stream.csv is a named pipe" in made.stderr
    assert "Traceback" not in made.stderr and not (tmp_path / "checklist.yaml").exists()


def write_unusual_side(folder: Path, n: int = 300, seed: int = 0) -> None:
    """A flat folder with unhelpful names: model_inputs.parquet (features keyed by loan_id),
    train_scores.feather (loan_id, score in [0, 1], approved 0/1), y.csv (loan_id, bad),
    assignment.csv (loan_id, subset = train/test) and pip_freeze.txt (pins)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    loan_id = np.arange(5000, 5000 + n)
    pq.write_table(
        pa.table(
            {
                "loan_id": loan_id,
                "amount": rng.normal(1e4, 2e3, n),
                "term": rng.integers(6, 60, n),
                "city": rng.choice(["Oslo", "Bergen"], n),
                "rate": rng.uniform(0.01, 0.2, n) * 10,
            }
        ),
        folder / "model_inputs.parquet",
    )
    score = rng.uniform(0, 1, n)
    feather.write_feather(
        pa.table({"loan_id": loan_id, "score": score, "approved": (score < 0.5).astype(np.int64)}),
        str(folder / "train_scores.feather"),
    )
    pacsv.write_csv(pa.table({"loan_id": loan_id, "bad": rng.integers(0, 2, n)}), folder / "y.csv")
    pacsv.write_csv(
        pa.table({"loan_id": loan_id, "subset": np.where(loan_id % 5 == 0, "test", "train")}),
        folder / "assignment.csv",
    )
    (folder / "pip_freeze.txt").write_text("numpy==1.26.4\npandas==2.1.4\n", encoding="utf-8")


def write_unusual_live(folder: Path, n: int = 200) -> None:
    """live/ inside the production folder: traffic.parquet (features with ISO text times `ts`)
    and live_scores.feather (loan_id, score)."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    loan_id = np.arange(90000, 90000 + n)
    stamps = (np.datetime64("2024-05-01T00:00:00") + np.arange(n) * np.timedelta64(1, "h")).astype(
        str
    )
    pq.write_table(
        pa.table(
            {
                "loan_id": loan_id,
                "ts": stamps,
                "amount": rng.normal(1e4, 2e3, n),
                "term": rng.integers(6, 60, n),
                "city": rng.choice(["Oslo", "Bergen"], n),
                "rate": rng.uniform(0.1, 2, n),
            }
        ),
        folder / "traffic.parquet",
    )
    feather.write_feather(
        pa.table({"loan_id": loan_id, "score": rng.uniform(0, 1, n)}),
        str(folder / "live_scores.feather"),
    )


def test_init_on_an_unusual_flat_layout(tmp_path: Path) -> None:
    write_unusual_side(tmp_path / "nb_exports")
    write_unusual_side(tmp_path / "prod_replay")
    write_unusual_live(tmp_path / "prod_replay" / "live")
    output = tmp_path / "checklists" / "loans.yaml"
    init_checklist(tmp_path / "nb_exports", tmp_path / "prod_replay", output)
    checklist = load_checklist(output)
    research, production = checklist.research, checklist.production
    assert checklist.key == "loan_id"
    assert research.features.path == "../nb_exports/model_inputs.parquet"  # type: ignore[union-attr]
    assert research.predictions.path == "../nb_exports/train_scores.feather"  # type: ignore[union-attr]
    assert research.labels.path == "../nb_exports/y.csv"  # type: ignore[union-attr]
    assert research.splits.path == "../nb_exports/assignment.csv"  # type: ignore[union-attr]
    assert research.environment.path == "../nb_exports/pip_freeze.txt"  # type: ignore[union-attr]
    assert research.raw is None
    assert production.live.features.path == "../prod_replay/live/traffic.parquet"  # type: ignore[union-attr]
    assert production.live.predictions.path == "../prod_replay/live/live_scores.feather"  # type: ignore[union-attr]
    assert production.features.path == "../prod_replay/model_inputs.parquet"  # type: ignore[union-attr]
    columns = checklist.columns
    # `approved` is beside the score in research but not in the live scores: every predictions
    # table is read with columns.prediction, so it is not guessed (the run would exit 2)
    assert (columns.target, columns.score, columns.prediction, columns.split) == (
        "bad",
        "score",
        None,
        "subset",
    )
    assert columns.timestamp == "ts"
    assert columns.features == ["amount", "term", "city", "rate"]
    assert checklist.task == "binary"
    assert validate_sources(checklist, read_schema=True) > 0


def test_split_files_become_a_splits_mapping_and_one_sided_raw_is_left_out(tmp_path: Path) -> None:
    """Research has train.csv/test.csv (id lists) and a raw `extra.csv` that production lacks."""
    for side in ("research", "production"):
        folder = tmp_path / side
        folder.mkdir()
        ids = np.arange(100)
        pq.write_table(
            pa.table({"row_id": ids, "a": ids * 1.0, "b": ids * 2.0, "c": ids % 3, "d": ids % 7}),
            folder / "features.parquet",
        )
        pacsv.write_csv(pa.table({"row_id": ids[:80]}), folder / "train.csv")
        pacsv.write_csv(pa.table({"row_id": ids[80:]}), folder / "test.csv")
    (tmp_path / "research" / "raw").mkdir()
    pacsv.write_csv(
        pa.table({"row_id": np.arange(5), "v": np.arange(5)}),
        tmp_path / "research" / "raw" / "extra.csv",
    )
    output = tmp_path / "c.yaml"
    result = init_checklist(tmp_path / "research", tmp_path / "production", output)
    checklist = load_checklist(output)
    assert isinstance(checklist.research.splits, dict)
    assert sorted(checklist.research.splits) == ["test", "train"]
    assert checklist.research.raw is None
    assert "# raw source only on this side, left out: research/raw/extra.csv" in result.text
    assert "# live: no live/ folder found" in result.text


def test_unreadable_file_is_left_out_with_a_note(tmp_path: Path) -> None:
    for side in ("research", "production"):
        (tmp_path / side).mkdir()
        pq.write_table(
            pa.table({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0]}), tmp_path / side / "features.parquet"
        )
    (tmp_path / "research" / "predictions.parquet").write_bytes(b"not parquet at all")
    result = init_checklist(tmp_path / "research", tmp_path / "production", tmp_path / "c.yaml")
    assert "# left out: research/predictions.parquet: unreadable" in result.text
    assert load_checklist(tmp_path / "c.yaml").research.predictions is None


def test_bad_folders_are_usage_or_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty_a").mkdir()
    (tmp_path / "empty_b").mkdir()
    with pytest.raises(UsageError, match="is not a folder"):
        init_checklist(tmp_path / "missing", tmp_path / "empty_b", tmp_path / "c.yaml")
    with pytest.raises(InputError, match="no data files"):
        init_checklist(tmp_path / "empty_a", tmp_path / "empty_b", tmp_path / "c.yaml")
    output = tmp_path / "checklist.yaml"
    code, err = run_main(
        capsys, "init", str(tmp_path / "empty_a"), str(tmp_path / "empty_b"), "-o", str(output)
    )
    assert code == 2 and "no data files" in err and "Traceback" not in err
    assert not output.exists()


# --------------------------------------------------------------------------- helpers


def test_read_sample_reads_at_most_the_sample(tmp_path: Path) -> None:
    """10 000 rows in a gzipped CSV: only the first SAMPLE_ROWS come back, in file order."""
    table = pa.table({"id": np.arange(10_000), "v": np.arange(10_000) * 0.5})
    pacsv.write_csv(table, tmp_path / "big.csv")
    with gzip.open(tmp_path / "big.csv.gz", "wb") as handle:
        handle.write((tmp_path / "big.csv").read_bytes())
    for name in ("big.csv", "big.csv.gz"):
        sample = read_sample(tmp_path / name)
        assert sample.num_rows == SAMPLE_ROWS
        assert sample.column("id").to_pylist() == list(range(SAMPLE_ROWS))
    (tmp_path / "rows.jsonl").write_text(
        '{"id": 1, "x": "a"}\n{"id": 2, "x": "b"}\n', encoding="utf-8"
    )
    assert read_sample(tmp_path / "rows.jsonl").column_names == ["id", "x"]


@pytest.mark.parametrize(
    "value", ["yes", "No", "null", "1.5", "12", "1e5", "a b", "x: y", "#c", "ünï", ""]
)
def test_scalar_quotes_what_yaml_would_misread(value: str) -> None:
    assert scalar(value) != value
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


@pytest.mark.parametrize("value", ["application_id", "../data/x.csv", "p_default", "a-b.c"])
def test_scalar_leaves_plain_names_bare(value: str) -> None:
    assert scalar(value) == value
    assert yaml.safe_load(f"k: {{path: {scalar(value)}}}") == {"k": {"path": value}}
