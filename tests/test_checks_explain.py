"""`mlcheck checks` and `mlcheck explain`, and the contract every registered check must meet:
a unique id that follows its stage's prefix, a title, thresholds its stage config defines, and an
explanation (the docstring body) that says what usually causes the finding and how to fix it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from mlcheck.cli import app, main
from mlcheck.registry import REGISTRY, CheckSpec
from mlcheck.results import STAGE_ORDER
from mlcheck.stage_config import StagesConfig
from mlcheck.stages import STAGE_MODULES

ALL = REGISTRY.all()
IDS = [spec.id for spec in ALL]
runner = CliRunner()


def prefix(check_id: str) -> str:
    return re.sub(r"\d+$", "", check_id)


def test_every_available_stage_registers_checks() -> None:
    assert STAGE_MODULES, "no stage module is importable"
    for stage in STAGE_MODULES:
        assert REGISTRY.for_stage(stage), f"stage {stage} registers no check"


def test_ids_are_unique_and_shaped_like_abc001() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(re.fullmatch(r"[A-Z]{2,6}\d{3}", i) for i in IDS)


def test_each_prefix_belongs_to_one_stage() -> None:
    """The stage prefix convention: RAW… is data_reproducibility, VAR… variable_availability; a
    stage may use more than one prefix (feature_parity's ENV… environment checks), but a prefix
    never spans two stages, so an id alone tells the reader the stage."""
    stages_of: dict[str, set[str]] = defaultdict(set)
    for spec in ALL:
        stages_of[prefix(spec.id)].add(spec.stage)
    shared = {p: sorted(s) for p, s in stages_of.items() if len(s) > 1}
    assert not shared, f"prefixes used by more than one stage: {shared}"


def test_registry_lists_checks_in_stage_order() -> None:
    order = [STAGE_ORDER.index(spec.stage) for spec in ALL]
    assert order == sorted(order)


@pytest.mark.parametrize("spec", ALL, ids=IDS)
def test_title_and_thresholds(spec: CheckSpec) -> None:
    assert spec.title and spec.title != spec.id and not spec.title.endswith(".")
    config_fields = type(getattr(StagesConfig(), spec.stage)).model_fields
    unknown = [t for t in spec.thresholds if t not in config_fields]
    assert not unknown, f"{spec.id} names thresholds its stage config lacks: {unknown}"


def explanation_problems(spec: CheckSpec) -> list[str]:
    text = spec.explanation
    problems = []
    if len(text.split()) < 20:
        problems.append("explanation missing or shorter than 20 words")
    if not re.search(r"\bcause", text, re.IGNORECASE):
        problems.append("does not say what usually causes it")
    if not re.search(r"\b(fix|remed|resolv|repair)", text, re.IGNORECASE):
        problems.append("does not say how to fix it")
    return problems


@pytest.mark.parametrize("spec", ALL, ids=IDS)
def test_every_check_explains_causes_and_fixes(spec: CheckSpec) -> None:
    """Enforced for every stage: `mlcheck explain ID` prints the docstring body, and a user
    reading a failure needs what probably caused it and what to do."""
    problems = explanation_problems(spec)
    assert not problems, f"{spec.id} ({spec.stage}): " + "; ".join(problems)


# --------------------------------------------------------------------------- the commands


def test_checks_lists_every_check_with_default_thresholds() -> None:
    result = runner.invoke(app, ["checks"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == IDS
    var002 = next(line for line in lines if line.startswith("VAR002"))
    assert "variable_availability" in var002 and "[max_null_rate_increase=0.05]" in var002


def test_checks_json_and_stage_filter() -> None:
    result = runner.invoke(app, ["checks", "--json", "--stage", "variable_availability"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["id"] for e in entries] == [s.id for s in REGISTRY.for_stage("variable_availability")]
    by_id = {e["id"]: e for e in entries}
    assert by_id["VAR007"]["thresholds"] == {"max_staleness": "30d"}
    assert by_id["VAR001"]["title"] == "Expected features missing from live data"


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The console entry point in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_checks_unknown_stage_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "checks", "--stage", "varaible_availability")
    assert code == 2
    assert "unknown stage" in err and "Traceback" not in err


def test_explain_prints_the_docstring_body_and_thresholds() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlcheck", "explain", "var004"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    spec = REGISTRY.get("VAR004")
    assert spec is not None
    assert result.stdout.startswith(
        "VAR004: Research categories that no longer arrive\nstage: variable_availability\n"
    )
    assert "threshold: stages.variable_availability.min_count = 5" in result.stdout
    assert spec.explanation in result.stdout


def test_explain_unknown_id_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "explain", "VAR0077")
    assert code == 2
    assert "unknown check id 'VAR0077'; did you mean VAR007?" in " ".join(err.split())
