"""Stage 2, feature_parity: feature checks (FEAT) and environment parity checks (ENV)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlcheck.checklist import Checklist, load_checklist
from mlcheck.cli import main
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.errors import InputError
from mlcheck.results import Finding, Status
from mlcheck.runner import RunOptions, run_checklist
from mlcheck.stages import feature_parity as fp

REPO = Path(__file__).resolve().parents[2]

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


def _only(findings: Any) -> Finding:
    """The one finding a check yields on these frames (fails if it yields more or none)."""
    (finding,) = list(findings)
    return finding  # type: ignore[no-any-return]


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


# =========================================================================== features


def _base(n: int = 20) -> dict[str, Any]:
    """Research features for ids 1..n: an income, an int age, a region, a ratio (all float64)."""
    ids = np.arange(1, n + 1)
    return {
        "id": ids,
        "income": 30000.0 + 1000.0 * ids,
        "age": (20 + ids).astype(np.int64),
        "region": np.array(["north", "south"])[ids % 2],
        "ratio": ids / 7.0,
    }


def _table(columns: dict[str, Any]) -> pa.Table:
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()})


def _feature_context(
    tmp_path: Path, research: pa.Table, production: pa.Table, key: str | None = "id", **stages: Any
) -> StageContext:
    pq.write_table(research, tmp_path / "research.parquet")
    pq.write_table(production, tmp_path / "production.parquet")
    doc: dict[str, Any] = {
        "research": {"features": {"path": "research.parquet"}},
        "production": {"features": {"path": "production.parquet"}},
        "base_dir": str(tmp_path),
        "stages": {"feature_parity": stages},
    }
    if key:
        doc["key"] = key
    return _context(Checklist.model_validate(doc))


def _by_column(findings: list[Finding]) -> dict[str | None, Finding]:
    return {f.column: f for f in findings}


def _clean_context(tmp_path: Path, **stages: Any) -> StageContext:
    """Production = research with its rows reversed: every feature check must pass."""
    research = _table(_base())
    return _feature_context(
        tmp_path, research, research.take(pa.array(np.arange(19, -1, -1))), **stages
    )


FEATURE_CHECKS = [
    fp.feature_columns,
    fp.feature_types,
    fp.feature_keys,
    fp.lost_feature_rows,
    fp.extra_feature_rows,
    fp.unseeded_sampling,
    fp.feature_statistics,
    fp.feature_cells,
    fp.imputation_mismatch,
    fp.clipping_mismatch,
    fp.infinities,
    fp.float_precision,
]


@pytest.mark.parametrize("feature_check", FEATURE_CHECKS, ids=lambda f: f.__name__)
def test_every_feature_check_is_quiet_on_identical_content_in_another_order(
    tmp_path: Path, feature_check: Any
) -> None:
    findings = list(feature_check(_clean_context(tmp_path)))
    assert findings and _statuses(findings) == [Status.PASS] * len(findings)


def test_feature_checks_yield_nothing_when_only_environments_are_declared(tmp_path: Path) -> None:
    ctx = _env_context(tmp_path, SAME_FREEZE)
    assert all(list(c(ctx)) == [] for c in FEATURE_CHECKS)


def test_identical_content_is_recognised_by_fingerprint(tmp_path: Path) -> None:
    findings = list(fp.feature_cells(_clean_context(tmp_path)))
    assert findings[0].message.startswith("feature tables have identical content")


def test_feat001_missing_renamed_and_extra_columns(tmp_path: Path) -> None:
    """Production renamed `age` to `age_years` (same values) and added a `debug` column."""
    base = _base()
    production = {**base, "age_years": base["age"], "debug": np.zeros(20)}
    del production["age"]
    findings = list(
        fp.feature_columns(_feature_context(tmp_path, _table(base), _table(production)))
    )
    assert _statuses(findings) == [Status.FAIL, Status.WARN]
    assert findings[0].details == {"missing": ["age"], "renamed": {"age": "age_years"}}
    assert "renamed? age -> age_years" in findings[0].message
    assert findings[1].details == {"extra": ["age_years", "debug"]}


def test_feat002_incompatible_type_fails_widening_passes(tmp_path: Path) -> None:
    """Production: `age` written as text ("21".."40"), `income` unchanged; research `age` int32
    vs production int64 in the second run (a widening)."""
    base = _base()
    texted = {**base, "age": base["age"].astype(str)}
    findings = _by_column(
        list(fp.feature_types(_feature_context(tmp_path, _table(base), _table(texted))))
    )
    assert (
        findings["age"].status is Status.FAIL and findings["age"].details["kind"] == "incompatible"
    )
    narrow = {**base, "age": base["age"].astype(np.int32)}
    widened = list(fp.feature_types(_feature_context(tmp_path, _table(narrow), _table(base))))
    assert _statuses(widened) == [Status.PASS] and widened[0].details["kind"] == "widening"


def test_feat003_duplicate_and_null_keys_fail_and_no_key_warns(tmp_path: Path) -> None:
    """Production: id 5 appears twice (row 6 re-keyed to 5) and row 7 has a null id."""
    base = _base()
    ids = pa.array([*range(1, 6), 5, None, *range(8, 21)], pa.int64())
    production = _table({**base, "id": ids})
    finding = _only(fp.feature_keys(_feature_context(tmp_path, _table(base), production)))
    assert finding.status is Status.FAIL and finding.observed == 3
    assert (
        finding.details["production_duplicate_rows"] == 2
        and finding.details["production_null"] == 1
    )
    assert finding.details["production_duplicates"] == [{"key": 5, "rows": 2}]
    keyless = list(
        fp.feature_keys(_feature_context(tmp_path, _table(base), _table(base), key=None))
    )
    assert _statuses(keyless) == [Status.WARN]


def test_feat004_feat005_lost_and_extra_rows_with_examples(tmp_path: Path) -> None:
    """Production lost ids 19 and 20 and gained id 21 (19 rows vs 20: not a sampling pattern)."""
    base = _base(21)
    research = _table({k: v[:20] for k, v in base.items()})
    production = _table({k: v[[*range(18), 20]] for k, v in base.items()})
    ctx = _feature_context(tmp_path, research, production)
    lost, extra = _only(fp.lost_feature_rows(ctx)), _only(fp.extra_feature_rows(ctx))
    assert (lost.status, lost.observed) == (Status.FAIL, 2)
    assert lost.details["examples"] == [{"key": 19, "rows": 1}, {"key": 20, "rows": 1}]
    assert (extra.status, extra.observed) == (Status.FAIL, 1)
    assert _statuses(list(fp.unseeded_sampling(ctx))) == [Status.PASS]
    tolerant = _feature_context(tmp_path, research, production, max_lost_rows=2, max_extra_rows=1)
    assert (
        _statuses([*fp.lost_feature_rows(tolerant), *fp.extra_feature_rows(tolerant)])
        == [Status.PASS] * 2
    )


def test_feat006_same_count_different_rows_is_named_sampling(tmp_path: Path) -> None:
    """Both sides keep 10 of ids 1..12: research 1..10, production 1..8, 11, 12."""
    base = _base(12)
    research = _table({k: v[:10] for k, v in base.items()})
    production = _table({k: v[[*range(8), 10, 11]] for k, v in base.items()})
    finding = _only(fp.unseeded_sampling(_feature_context(tmp_path, research, production)))
    assert finding.status is Status.FAIL and finding.observed == 4
    assert finding.details == {"rows": 10, "only_research": 2, "only_production": 2}


def test_feat007_statistics_fail_without_key_and_warn_with_one(tmp_path: Path) -> None:
    """Production income is 10% higher on every row: mean/sum/min/max all differ."""
    base = _base()
    production = _table({**base, "income": base["income"] * 1.1})
    keyless = _by_column(
        list(fp.feature_statistics(_feature_context(tmp_path, _table(base), production, key=None)))
    )
    assert keyless["income"].status is Status.FAIL
    differences = keyless["income"].details["differences"]
    assert differences["mean"]["research"] == pytest.approx(np.mean(base["income"]))
    assert differences["mean"]["production"] == pytest.approx(np.mean(base["income"] * 1.1))
    keyed = _by_column(
        list(fp.feature_statistics(_feature_context(tmp_path, _table(base), production)))
    )
    assert keyed["income"].status is Status.WARN


def test_feat008_logic_differences_fail_with_examples_noise_passes(tmp_path: Path) -> None:
    """Production: `age` +1 at ids 4 and 9 (logic); `ratio` perturbed by 1e-12 relative
    everywhere (noise within rtol 1e-7)."""
    base = _base()
    age = base["age"].copy()
    age[[3, 8]] += 1
    production = _table({**base, "age": age, "ratio": base["ratio"] * (1 + 1e-12)})
    findings = _by_column(
        list(fp.feature_cells(_feature_context(tmp_path, _table(base), production)))
    )
    assert findings["age"].status is Status.FAIL and findings["age"].observed == 2
    assert findings["age"].details["causes"] == {"unexplained": 2}
    assert findings["age"].details["examples"] == [
        {"key": 4, "research": 24, "production": 25},
        {"key": 9, "research": 29, "production": 30},
    ]
    assert findings[None].status is Status.PASS and "3 column(s) agree" in findings[None].message
    allowed = _by_column(
        list(
            fp.feature_cells(
                _feature_context(tmp_path, _table(base), production, max_mismatched_cells=2)
            )
        )
    )
    assert allowed["age"].status is Status.PASS


def test_feat008_examples_with_a_dictionary_encoded_key(tmp_path: Path) -> None:
    """Defect: a dictionary-typed key (pandas categorical ids) crashed FEAT008 when it sorted
    the example keys. Ids c, a, b as a categorical; production's age of b and c is +1 (and its
    rows come in another order): 2 cells fail, examples in key order as plain strings."""
    research = _table({"id": pa.array(list("cab")).dictionary_encode(), "age": [30, 10, 20]})
    production = _table({"id": pa.array(list("bca")).dictionary_encode(), "age": [21, 31, 10]})
    cells = _by_column(list(fp.feature_cells(_feature_context(tmp_path, research, production))))
    assert cells["age"].status is Status.FAIL
    assert cells["age"].details["examples"] == [
        {"key": "b", "research": 20, "production": 21},
        {"key": "c", "research": 30, "production": 31},
    ]


def test_feat009_nulls_filled_in_production_name_the_fill_value(tmp_path: Path) -> None:
    """Research income is null at ids 3 and 7; production filled both with 0.0."""
    base = _base()
    income = pa.array(
        [None if i in (3, 7) else v for i, v in zip(base["id"], base["income"], strict=True)],
        pa.float64(),
    )
    production_income = np.where(np.isin(base["id"], [3, 7]), 0.0, base["income"])
    ctx = _feature_context(
        tmp_path, _table({**base, "income": income}), _table({**base, "income": production_income})
    )
    finding = _only(fp.imputation_mismatch(ctx))
    assert finding.status is Status.FAIL and finding.column == "income"
    assert finding.message == "2 nulls in `income` became 0.0 in production"
    assert finding.details["null_in_research"] == {
        "count": 2,
        "production_values": [{"value": 0.0, "count": 2}],
    }
    cells = _by_column(list(fp.feature_cells(ctx)))["income"]
    assert cells.details["causes"] == {"imputation": 2}


def test_feat009_different_fill_values_name_research_median(tmp_path: Path) -> None:
    """Research filled ids 2, 5, 11, 17 with the median of the other 16 incomes (hand: ids 1,3,4,
    6..10,12..16,18..20: the 8th and 9th are ids 10 and 12 -> (40000 + 42000) / 2 = 41000.0);
    production 0.0."""
    base = _base()
    filled = np.isin(base["id"], [2, 5, 11, 17])
    median = float(np.median(base["income"][~filled]))
    assert median == 41000.0
    research = _table({**base, "income": np.where(filled, median, base["income"])})
    production = _table({**base, "income": np.where(filled, 0.0, base["income"])})
    finding = _only(fp.imputation_mismatch(_feature_context(tmp_path, research, production)))
    assert (
        finding.message
        == "4 cells of `income` are 41,000.0 (the median of the other rows) in research but 0.0 in production"
    )
    assert finding.details["fill_differs"]["count"] == 4
    assert [e["key"] for e in finding.details["examples"]] == [2, 5, 11, 17]


def test_feat009_values_emptied_in_production(tmp_path: Path) -> None:
    """Production left `region` null at ids 1 and 2 where research has a value (text column)."""
    base = _base()
    region = pa.array([None, None, *base["region"][2:]], pa.string())
    ctx = _feature_context(tmp_path, _table(base), _table({**base, "region": region}))
    finding = _only(fp.imputation_mismatch(ctx))
    assert finding.column == "region" and finding.details["null_in_production"]["count"] == 2
    assert finding.message.startswith("2 cells of `region` holding 2 different values")


def test_feat009_fill_needs_min_fill_cells(tmp_path: Path) -> None:
    """Two cells of `ratio` set to 0.0 in production: fewer than min_fill_cells (3), not a fill."""
    base = _base()
    ratio = base["ratio"].copy()
    ratio[[0, 1]] = 0.0
    ctx = _feature_context(tmp_path, _table(base), _table({**base, "ratio": ratio}))
    assert _statuses(list(fp.imputation_mismatch(ctx))) == [Status.PASS]
    assert _by_column(list(fp.feature_cells(ctx)))["ratio"].details["causes"] == {"unexplained": 2}


def test_huge_integers_are_diagnosed_without_crashing(tmp_path: Path) -> None:
    """`big` holds 2**60 + id (not exact in float64); production adds 1 at id 3: one logic cell."""
    ids = np.arange(1, 21)
    research = _table({"id": ids, "big": 2**60 + ids})
    production = _table({"id": ids, "big": 2**60 + ids + (ids == 3)})
    finding = _by_column(list(fp.feature_cells(_feature_context(tmp_path, research, production))))
    assert finding["big"].status is Status.FAIL and finding["big"].observed == 1
    assert finding["big"].details["examples"] == [
        {"key": 3, "research": 2**60 + 3, "production": 2**60 + 4}
    ]


def _clip_tables(
    production_bounds: tuple[float, float], scale: float = 1.0
) -> tuple[pa.Table, pa.Table]:
    """Raw values 1..100; research clips at [2, 99], production at `production_bounds` (times scale)."""
    raw = np.arange(1.0, 101.0)
    ids = np.arange(1, 101)
    research = _table({"id": ids, "x": np.clip(raw, 2.0, 99.0)})
    production = _table({"id": ids, "x": np.clip(raw, *production_bounds) * scale})
    return research, production


def test_feat010_clipping_names_both_sides_clip_points(tmp_path: Path) -> None:
    """Production clips at [5, 96]: raw 1..4 differ low (4 cells), raw 97..100 differ high (4);
    quantiles 5%..95% agree (hand: both 5.95 and 95.05 with linear interpolation)."""
    research, production = _clip_tables((5.0, 96.0))
    ctx = _feature_context(tmp_path, research, production)
    finding = _only(fp.clipping_mismatch(ctx))
    assert finding.status is Status.FAIL
    assert finding.expected == [2.0, 99.0] and finding.observed == [5.0, 96.0]
    assert (finding.details["low_cells"], finding.details["high_cells"]) == (4, 4)
    assert finding.details["research"] == {"min": 2.0, "max": 99.0, "at_min": 2, "at_max": 2}
    assert finding.details["production"] == {"min": 5.0, "max": 96.0, "at_min": 5, "at_max": 5}
    quantiles = finding.details["quantiles"]
    assert quantiles["research"][0] == pytest.approx(
        np.quantile(research.column("x").to_numpy(), 0.05)
    )
    assert quantiles["production"][-1] == pytest.approx(95.05)
    assert _by_column(list(fp.feature_cells(ctx)))["x"].details["causes"] == {"clipping": 8}


def test_feat010_quiet_when_the_middle_differs_too(tmp_path: Path) -> None:
    """Production doubles every value (a logic bug): extremes differ but so does the middle."""
    research, production = _clip_tables((2.0, 99.0), scale=2.0)
    ctx = _feature_context(tmp_path, research, production)
    assert _statuses(list(fp.clipping_mismatch(ctx))) == [Status.PASS]
    assert _by_column(list(fp.feature_cells(ctx)))["x"].details["causes"] == {"unexplained": 100}


def test_feat011_infinities_introduced_and_removed(tmp_path: Path) -> None:
    """Research ratio is -inf at id 1; production has it finite (1/7) and +inf at ids 4 and 5."""
    base = _base()
    research_ratio, production_ratio = base["ratio"].copy(), base["ratio"].copy()
    research_ratio[0] = -np.inf
    production_ratio[[3, 4]] = np.inf
    ctx = _feature_context(
        tmp_path,
        _table({**base, "ratio": research_ratio}),
        _table({**base, "ratio": production_ratio}),
    )
    finding = _only(fp.infinities(ctx))
    assert finding.status is Status.FAIL and finding.column == "ratio"
    assert finding.details["research"] == {"+inf": 0, "-inf": 1}
    assert finding.details["production"] == {"+inf": 2, "-inf": 0}
    assert (finding.details["introduced"], finding.details["removed"]) == (2, 1)
    assert [e["key"] for e in finding.details["examples"]] == [1, 4, 5]
    assert _by_column(list(fp.feature_cells(ctx)))["ratio"].details["causes"] == {"infinity": 3}


def test_feat011_quiet_when_infinities_match(tmp_path: Path) -> None:
    base = _base()
    ratio = base["ratio"].copy()
    ratio[[2, 6]] = [np.inf, -np.inf]
    table = _table({**base, "ratio": ratio})
    assert _statuses(list(fp.infinities(_feature_context(tmp_path, table, table)))) == [Status.PASS]


def test_feat012_float32_cast_is_precision_not_logic(tmp_path: Path) -> None:
    """Production stores `ratio` as float32 (id/7 is not exact in float32) and rtol is 1e-9, so the
    round-trip error is beyond rtol: FEAT012 warns, FEAT008 does not fail for those cells."""
    base = _base()
    production = _table({**base, "ratio": base["ratio"].astype(np.float32)})
    ctx = _feature_context(tmp_path, _table(base), production, rtol=1e-9)
    finding = _only(fp.float_precision(ctx))
    assert finding.status is Status.WARN and finding.column == "ratio"
    assert finding.message.startswith("`ratio` is float64 in research, float32 in production")
    round_trip = base["ratio"].astype(np.float32).astype(np.float64)
    relative = np.abs(round_trip - base["ratio"]) / np.maximum(
        np.abs(round_trip), np.abs(base["ratio"])
    )
    assert finding.details["max_rel_diff"] == pytest.approx(relative.max())
    beyond_rtol = int((relative > 1e-9).sum())
    assert finding.details["precision"] == beyond_rtol > 0
    assert _by_column(list(fp.feature_cells(ctx)))[None].status is Status.PASS


def test_feat012_float32_arithmetic_noise_in_float64_is_precision(tmp_path: Path) -> None:
    """Both float64, production `income` off by 3e-7 relative (float32-scale arithmetic): beyond
    rtol 1e-7, within float32_rtol 1e-6 -> precision warning, no logic failure."""
    base = _base()
    production = _table({**base, "income": base["income"] * (1 + 3e-7)})
    ctx = _feature_context(tmp_path, _table(base), production)
    finding = _only(fp.float_precision(ctx))
    assert finding.status is Status.WARN and finding.details["precision"] == 20
    assert finding.details["research_type"] is None
    assert all(f.status is Status.PASS for f in fp.feature_cells(ctx))
    assert all(f.status is Status.PASS for f in fp.feature_statistics(ctx))
    strict = _feature_context(tmp_path, _table(base), production, float32_rtol=1e-7)
    assert _by_column(list(fp.feature_cells(strict)))["income"].status is Status.FAIL


# =========================================================================== end to end


def _run_json(checklist: str, *args: str) -> tuple[int, dict[str, Any]]:
    cmd = [
        sys.executable,
        "-m",
        "mlcheck",
        "run",
        str(REPO / checklist),
        "--format",
        "json",
        "-q",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    return done.returncode, json.loads(done.stdout)


def _stage_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    stage = next(s for s in report["stages"] if s["id"] == fp.STAGE)
    return stage["checks"]  # type: ignore[no-any-return]


def test_e2e_broken_feature_parity_names_every_defect() -> None:
    """The sample-data variant: income imputed 0.0 instead of the research median, loan_amount
    clipped at the 1st/99th instead of the 0.5th/99.5th percentiles of raw loan_amount,
    debt_to_income cast to float32, scikit-learn 1.4.2 -> 1.5.0. References come from the raw
    research files, read here with pyarrow and numpy."""
    code, report = _run_json("checklists/broken/feature_parity.yaml")
    assert code == 1 and report["stopped_at"] == fp.STAGE
    checks = {(c["id"], c["column"] or c["source"]): c for c in _stage_checks(report)}
    raw = pacsv.read_csv(REPO / "sample_data/credit/research/raw/applications.csv")
    income = raw.column("income").to_numpy(zero_copy_only=False)
    loans = raw.column("loan_amount").to_numpy()
    median = float(np.nanmedian(income))
    imputation = checks[("FEAT009", "income")]
    assert imputation["status"] == "fail"
    assert imputation["details"]["fill_differs"]["count"] == int(np.isnan(income).sum())
    research_fill = imputation["details"]["fill_differs"]["research_values"]
    assert research_fill == [{"value": pytest.approx(median, rel=1e-11), "count": 400}]
    assert imputation["details"]["fill_differs"]["production_values"] == [
        {"value": 0.0, "count": 400}
    ]
    assert (
        "(the median of the other rows) in research but 0.0 in production" in imputation["message"]
    )
    clip = checks[("FEAT010", "loan_amount")]
    assert clip["expected"] == pytest.approx(list(np.percentile(loans, [0.5, 99.5])), rel=1e-12)
    assert clip["observed"] == pytest.approx(list(np.percentile(loans, [1.0, 99.0])), rel=1e-12)
    assert checks[("FEAT012", "debt_to_income")]["status"] == "warn"
    assert "float32 in production" in checks[("FEAT012", "debt_to_income")]["message"]
    assert checks[("FEAT011", "debt_to_income")]["details"]["introduced"] == 400
    sklearn = checks[("ENV002", "scikit-learn")]
    assert (sklearn["status"], sklearn["expected"], sklearn["observed"]) == (
        "fail",
        "1.4.2",
        "1.5.0",
    )
    assert checks[("ENV002", "numpy")]["status"] == "warn"


def test_clean_credit_checklist_passes_the_stage() -> None:
    checklist = load_checklist(REPO / "checklists/credit.yaml")
    result = run_checklist(checklist, RunOptions(only=(fp.STAGE,)))
    stage = next(s for s in result.stages if s.id == fp.STAGE)
    assert stage.status is Status.PASS and result.ready
    assert {c.status for c in stage.checks} == {Status.PASS}


def test_stage_report_is_deterministic() -> None:
    """Same inputs, same seed: byte-identical stage JSON (timings aside)."""
    checklist = load_checklist(REPO / "checklists/broken/feature_parity.yaml")
    options = RunOptions(only=(fp.STAGE,), keep_going=True)
    first, second = (run_checklist(checklist, options).to_dict() for _ in range(2))
    strip = [{k: v for k, v in s.items() if k != "duration_s"} for s in first["stages"]]
    again = [{k: v for k, v in s.items() if k != "duration_s"} for s in second["stages"]]
    assert json.dumps(strip) == json.dumps(again)


def test_corrupt_environment_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Production's environment JSON is truncated: exit 2, a one-line message, no traceback."""
    (tmp_path / "research.json").write_text(json.dumps(RESEARCH_JSON))
    (tmp_path / "production.json").write_text('{"python": "3.11.7", "packages": {')
    (tmp_path / "checklist.yaml").write_text(
        "research: {environment: {path: research.json}}\n"
        "production: {environment: {path: production.json}}\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path / "checklist.yaml"), "-q"])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "production.environment (production.json): not valid JSON (line 1)" in stderr
    assert "Traceback" not in stderr
