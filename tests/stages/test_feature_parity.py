"""Stage 2, feature_parity: feature checks (FEAT) and environment parity checks (ENV)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.errors import InputError
from mlcheck.results import Finding, Status
from mlcheck.stages import feature_parity as fp

# --------------------------------------------------------------------------- helpers


def _checklist(
    tmp_path: Path, research: dict[str, Any], production: dict[str, Any], **extra: Any
) -> Checklist:
    return Checklist.model_validate(
        {
            "key": "id",
            "research": research,
            "production": production,
            "base_dir": str(tmp_path),
            **extra,
        }
    )


def _context(checklist: Checklist) -> StageContext:
    return StageContext(checklist, LocalEngine(checklist), fp.STAGE)


def _statuses(findings: list[Finding]) -> list[Status]:
    return [f.status for f in findings]


# =========================================================================== skip_reason


def test_stage_runs_with_features_or_environments_on_both_sides(tmp_path: Path) -> None:
    feats = {"features": {"path": "f.parquet"}}
    envs = {"environment": {"path": "env.json"}}
    assert fp.skip_reason(_checklist(tmp_path, feats, feats)) is None
    assert fp.skip_reason(_checklist(tmp_path, envs, envs)) is None
    reason = fp.skip_reason(_checklist(tmp_path, {**feats, **envs}, {}))
    assert reason is not None and "features" in reason and "environment" in reason


# =========================================================================== environments

RESEARCH_JSON = {
    "python": "3.11.7",
    "platform": "Linux-5.15.0-1057-azure-x86_64-with-glibc2.35",
    "packages": {
        "numpy": "1.26.4",
        "pandas": "2.1.4",
        "scikit-learn": "1.4.2",
        "requests": "2.31.0",
    },
}


def _env_context(
    tmp_path: Path, production_text: str, production_name: str = "requirements.txt", **stages: Any
) -> StageContext:
    """Research: the JSON above. Production: `production_text` in a file named `production_name`."""
    (tmp_path / "research.json").write_text(json.dumps(RESEARCH_JSON))
    (tmp_path / production_name).write_text(production_text)
    checklist = _checklist(
        tmp_path,
        {"environment": {"path": "research.json"}},
        {"environment": {"path": production_name}},
        stages={"feature_parity": stages} if stages else {},
    )
    return _context(checklist)


# Production identical to research, as a pip freeze without a Python version.
SAME_FREEZE = "numpy==1.26.4\npandas==2.1.4\nscikit_learn==1.4.2\nrequests==2.31.0\n"


def test_env001_python_minor_change_fails_patch_warns(tmp_path: Path) -> None:
    """Production conda env on Python 3.12.1 (minor change) then 3.11.9 (patch change)."""
    minor = list(
        fp.python_version(_env_context(tmp_path, "dependencies:\n  - python=3.12.1\n", "env.yml"))
    )
    assert _statuses(minor) == [Status.FAIL]
    assert minor[0].observed == "3.12.1" and minor[0].expected == "3.11.7"
    assert minor[0].details["change"] == "minor"
    patch = list(
        fp.python_version(_env_context(tmp_path, "dependencies:\n  - python=3.11.9\n", "env.yml"))
    )
    assert _statuses(patch) == [Status.WARN]


def test_env001_quiet_when_same_or_not_recorded(tmp_path: Path) -> None:
    """Same Python in a conda env passes; a pip freeze records none, which is not a failure."""
    same = list(
        fp.python_version(_env_context(tmp_path, "dependencies:\n  - python=3.11.7\n", "env.yml"))
    )
    assert _statuses(same) == [Status.PASS] and same[0].details["change"] == "same"
    unknown = list(fp.python_version(_env_context(tmp_path, SAME_FREEZE)))
    assert _statuses(unknown) == [Status.PASS]
    assert "not recorded in production.environment" in unknown[0].message


def test_env001_warns_when_only_one_side_declares_an_environment(tmp_path: Path) -> None:
    (tmp_path / "research.json").write_text(json.dumps(RESEARCH_JSON))
    checklist = _checklist(tmp_path, {"environment": {"path": "research.json"}}, {})
    findings = list(fp.python_version(_context(checklist)))
    assert _statuses(findings) == [Status.WARN]
    assert "only research declares" in findings[0].message


def test_env002_minor_change_fails_patch_warns_missing_fails(tmp_path: Path) -> None:
    """Production: scikit-learn 1.4.2 -> 1.5.0 (minor), numpy 1.26.4 -> 1.26.3 (patch), pandas
    absent, scipy present only in production, requests changed but not a listed package."""
    text = "numpy==1.26.3\nscikit-learn==1.5.0\nscipy==1.11.4\nrequests==2.32.0\n"
    findings = {f.source: f for f in fp.listed_package_versions(_env_context(tmp_path, text))}
    assert set(findings) == {"numpy", "pandas", "scikit-learn", "scipy"}
    assert findings["scikit-learn"].status is Status.FAIL
    assert (
        findings["scikit-learn"].message
        == "scikit-learn 1.4.2 in research, 1.5.0 in production (minor version change)"
    )
    assert findings["numpy"].status is Status.WARN and findings["numpy"].details == {
        "change": "patch"
    }
    assert (
        findings["pandas"].status is Status.FAIL
        and "missing from the production" in findings["pandas"].message
    )
    assert (
        findings["scipy"].status is Status.FAIL
        and "missing from the research" in findings["scipy"].message
    )


def test_env002_unpinned_listed_package_warns(tmp_path: Path) -> None:
    text = "numpy>=1.26\npandas==2.1.4\nscikit-learn==1.4.2\n"
    findings = list(fp.listed_package_versions(_env_context(tmp_path, text)))
    assert _statuses(findings) == [Status.WARN, Status.PASS]
    assert findings[0].details == {"unversioned": {"production": "not pinned (>=1.26)"}}


def test_env002_quiet_on_same_versions_with_other_name_spelling(tmp_path: Path) -> None:
    """`scikit_learn` in the freeze is the same package as `scikit-learn` in the JSON."""
    findings = list(fp.listed_package_versions(_env_context(tmp_path, SAME_FREEZE)))
    assert _statuses(findings) == [Status.PASS]
    assert findings[0].details == {
        "same": {"numpy": "1.26.4", "pandas": "2.1.4", "scikit-learn": "1.4.2"}
    }


def test_env002_uses_configured_package_list(tmp_path: Path) -> None:
    """With packages [requests], only requests gates; the scikit-learn change is information."""
    text = "numpy==1.26.4\npandas==2.1.4\nscikit-learn==1.5.0\nrequests==3.0.0\n"
    ctx = _env_context(tmp_path, text, packages=["Requests"])
    findings = list(fp.listed_package_versions(ctx))
    assert [(f.source, f.status) for f in findings] == [("requests", Status.FAIL)]
    other = list(fp.other_package_versions(ctx))
    assert other[0].details["changed"] == {"scikit-learn": ["1.4.2", "1.5.0"]}


def test_env003_reports_other_changes_but_never_fails(tmp_path: Path) -> None:
    """requests changed, attrs only in production: counted, listed, status pass."""
    text = SAME_FREEZE.replace("requests==2.31.0", "requests==2.32.0") + "attrs==23.2.0\n"
    findings = list(fp.other_package_versions(_env_context(tmp_path, text)))
    assert _statuses(findings) == [Status.PASS]
    details = findings[0].details
    assert details["changed"] == {"requests": ["2.31.0", "2.32.0"]}
    assert details["only_production"] == ["attrs"] and details["n_only_research"] == 0
    assert findings[0].observed == 2


def test_env003_quiet_when_identical(tmp_path: Path) -> None:
    findings = list(fp.other_package_versions(_env_context(tmp_path, SAME_FREEZE)))
    assert findings[0].observed == 0 and findings[0].details["n_changed"] == 0


def test_env004_warns_on_unreadable_lines_and_passes_clean_files(tmp_path: Path) -> None:
    findings = list(
        fp.environment_files_read(_env_context(tmp_path, SAME_FREEZE + "numpy = = 2\n"))
    )
    assert _statuses(findings) == [Status.PASS, Status.WARN]
    assert findings[1].details["problems"] == ["line 5: cannot read 'numpy = = 2'"]
    clean = list(fp.environment_files_read(_env_context(tmp_path, SAME_FREEZE)))
    assert _statuses(clean) == [Status.PASS, Status.PASS]


def test_missing_environment_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "research.json").write_text(json.dumps(RESEARCH_JSON))
    checklist = _checklist(
        tmp_path, {"environment": {"path": "research.json"}}, {"environment": {"path": "gone.txt"}}
    )
    with pytest.raises(InputError, match="file not found"):
        list(fp.listed_package_versions(_context(checklist)))
