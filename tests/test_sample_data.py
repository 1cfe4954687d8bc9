"""The sample data, its checklists, and end-to-end smoke runs of `mlcheck` on them.

The committed files under sample_data/credit/ are what every stage's tests and the README rely
on, so these tests pin them: the generator is deterministic and matches what is committed, every
checklist validates, the clean data is clean, and each broken variant carries exactly the defects
its function docstring in sample_data/generate.py lists.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from mlcheck.results import STAGE_ORDER
from mlcheck.stages import available_stages

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "sample_data" / "generate.py"
DATA = ROOT / "sample_data" / "credit"
BROKEN = DATA / "broken"
CHECKLISTS = sorted((ROOT / "checklists").rglob("*.yaml"))
KEY = "application_id"


def read(path: Path) -> pa.Table:
    return pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)


def by_key(table: pa.Table) -> pa.Table:
    return table.sort_by(KEY)


def column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def aligned(left: pa.Table, right: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Both tables restricted to their common keys, in key order."""
    common = np.intersect1d(column(left, KEY), column(right, KEY))
    pick = [t.filter(pc.is_in(t.column(KEY), pa.array(common))) for t in (left, right)]
    return by_key(pick[0]), by_key(pick[1])


def keys(table: pa.Table) -> set[int]:
    return set(column(table, KEY).tolist())


def generate(out: Path) -> dict[str, str]:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, timeout=120)
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("generated")
    return out, generate(out)


# --------------------------------------------------------------------------- the generator


def test_generator_is_deterministic(generated, tmp_path):
    _, first = generated
    assert generate(tmp_path) == first
    assert len(first) == 36


def test_committed_data_is_what_the_generator_writes(generated):
    """A generator change without regenerating would leave the stage tests on stale data."""
    out, hashes = generated
    committed = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file())
    assert committed == sorted(hashes)
    for name in hashes:
        if name.endswith((".csv", ".parquet")):
            assert same_content(read(out / name), read(DATA / name)), name
        else:
            assert (out / name).read_text() == (DATA / name).read_text(), name


def same_content(left: pa.Table, right: pa.Table) -> bool:
    """Table equality where NaN equals NaN (pyarrow's `equals` says NaN != NaN)."""
    if left.schema != right.schema:
        return False
    for name in left.column_names:
        a, b = left.column(name), right.column(name)
        if pa.types.is_floating(a.type):
            nulls_match = np.array_equal(a.is_null().to_numpy(), b.is_null().to_numpy())
            values = [c.fill_null(0.0).to_numpy() for c in (a, b)]
            if not (nulls_match and np.array_equal(*values, equal_nan=True)):
                return False
        elif not a.equals(b):
            return False
    return True


# --------------------------------------------------------------------------- checklists


@pytest.mark.parametrize("checklist", CHECKLISTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_checklist_validates(checklist):
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", "validate", str(checklist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_every_variant_has_a_checklist():
    variants = {p.name for p in BROKEN.iterdir()}
    assert {p.stem for p in (ROOT / "checklists" / "broken").glob("*.yaml")} == variants
    assert variants == set(STAGE_ORDER) | {"performance_drift"}


# --------------------------------------------------------------------------- the clean data

RESEARCH_FILES = [
    "raw/applications.csv",
    "raw/bureau.parquet",
    "features.parquet",
    "splits.csv",
]


@pytest.mark.parametrize("name", RESEARCH_FILES)
def test_production_replays_research_exactly(name):
    """Same content, rows in another order."""
    research, production = read(DATA / "research" / name), read(DATA / "production" / name)
    assert column(research, KEY).tolist() != column(production, KEY).tolist()
    assert by_key(research).equals(by_key(production))


def test_production_scores_differ_by_float_noise_only():
    research = read(DATA / "research" / "predictions.parquet")
    production = by_key(read(DATA / "production" / "predictions.parquet"))
    difference = np.abs(column(research, "p_default") - column(production, "p_default"))
    assert 0 < difference.max() < 1e-9
    assert np.array_equal(column(research, "decision"), column(production, "decision"))


def test_environments_pin_the_same_versions():
    env = json.loads((DATA / "research" / "environment.json").read_text())
    pins = dict(
        line.split("==")
        for line in (DATA / "production" / "requirements.txt").read_text().splitlines()
    )
    assert set(env) == {"python", "platform", "packages"}
    assert pins == env["packages"]


def test_research_is_realistic():
    """5000 applications; 400 raw income nulls imputed with the research median; a rare region
    with 4 rows, all in train; a group split; decisions at 0.5; a useful model."""
    raw = read(DATA / "research" / "raw" / "applications.csv")
    features = read(DATA / "research" / "features.parquet")
    splits = read(DATA / "research" / "splits.csv")
    scores = read(DATA / "research" / "predictions.parquet")
    labels = read(DATA / "research" / "labels.parquet")
    assert raw.num_rows == features.num_rows == splits.num_rows == 5000
    income = column(raw, "income")
    assert np.isnan(income).sum() == 400 and features.column("income").null_count == 0
    imputed = column(features, "income")[np.isnan(income)]
    assert np.all(imputed == np.nanmedian(income))
    assert np.mean(income[~np.isnan(income)]) > np.median(income[~np.isnan(income)])  # skewed
    assert (
        dict(zip(*np.unique(column(features, "region"), return_counts=True), strict=True))[
            "Islands"
        ]
        == 4
    )
    islands = column(features, "region") == "Islands"
    assert set(column(splits, "split")[islands]) == {"train"}
    assert set(np.unique(column(features, "product"))) == {
        "personal_loan",
        "auto_loan",
        "credit_card",
    }
    assert spanning_customers(splits) == set()
    p = column(scores, "p_default")
    assert np.array_equal(column(scores, "decision"), (p >= 0.5).astype(np.int64))
    assert 0.7 < roc_auc_score(column(labels, "defaulted"), p) < 0.85


def spanning_customers(splits: pa.Table) -> set[int]:
    """Customers with applications in both train and test."""
    split, customer = column(splits, "split"), column(splits, "customer_id")
    return set(customer[split == "train"].tolist()) & set(customer[split == "test"].tolist())


def test_live_window_and_delayed_labels():
    features = read(DATA / "live" / "features.parquet")
    labels = read(DATA / "live" / "labels.parquet")
    applied = column(read(DATA / "research" / "raw" / "applications.csv"), "applied_at")
    times = column(features, "event_time")
    assert features.num_rows == 6000 and np.all(np.diff(times) >= np.timedelta64(0))
    assert times.min() > applied.max()
    assert np.timedelta64(80, "D") < times.max() - times.min() <= np.timedelta64(84, "D")
    # The older 60% are labelled, the newest 40% are not yet.
    assert column(labels, KEY).tolist() == column(features, KEY)[:3600].tolist()


def test_live_drift_is_mild():
    """Every numeric feature moves by well under 0.1 research standard deviations."""
    research = read(DATA / "research" / "features.parquet")
    live = read(DATA / "live" / "features.parquet")
    for name in ("income", "age", "loan_amount", "debt_to_income", "bureau_score"):
        before, after = column(research, name), column(live, name)
        assert abs(after.mean() - before.mean()) / before.std() < 0.05, name


def test_live_performance_matches_research():
    base = research_test_auc()
    predictions = read(DATA / "live" / "predictions.parquet")
    labels = read(DATA / "live" / "labels.parquet")
    scores, truth = aligned(predictions, labels)
    assert abs(roc_auc_score(column(truth, "defaulted"), column(scores, "p_default")) - base) < 0.02


def research_test_auc() -> float:
    """The research test-split ROC AUC: the performance stage's baseline."""
    splits = by_key(read(DATA / "research" / "splits.csv"))
    test = column(splits, "split") == "test"
    p = column(read(DATA / "research" / "predictions.parquet"), "p_default")[test]
    y = column(read(DATA / "research" / "labels.parquet"), "defaulted")[test]
    return float(roc_auc_score(y, p))


# --------------------------------------------------------------------------- broken variants


def test_data_reproducibility_variant():
    research = read(DATA / "research" / "raw" / "applications.csv")
    production = read(BROKEN / "data_reproducibility" / "raw" / "applications.csv")
    assert len(keys(research) - keys(production)) == 37
    assert keys(production) <= keys(research)
    assert production.schema.field("term_months").type == pa.string()
    before, after = aligned(research, production)
    terms = np.char.add(column(before, "term_months").astype(str), "m")
    assert np.array_equal(column(after, "term_months").astype(str), terms)
    change = column(after, "loan_amount") / column(before, "loan_amount") - 1
    assert np.count_nonzero(change) == 12 and np.all(np.abs(change[change != 0]) > 0.01)
    for name in ("customer_id", "applied_at", "income", "age", "region", "product"):
        assert before.column(name).equals(after.column(name)), name


def test_data_reproducibility_variant_bureau_precision():
    research = read(DATA / "research" / "raw" / "bureau.parquet")
    production = by_key(read(BROKEN / "data_reproducibility" / "raw" / "bureau.parquet"))
    assert production.schema.field("total_debt").type == pa.float32()
    exact, single = (
        column(research, "total_debt"),
        column(production, "total_debt").astype(np.float64),
    )
    beyond = np.abs(exact - single) > 1e-9 * np.abs(exact)
    assert beyond.sum() == 4801 and np.max(np.abs(exact - single) / exact) < 6e-8
    rest = [c for c in research.column_names if c != "total_debt"]
    assert research.select(rest).equals(production.select(rest))


def test_feature_parity_variant():
    research = read(DATA / "research" / "features.parquet")
    production = by_key(read(BROKEN / "feature_parity" / "features.parquet"))
    raw_income = column(read(DATA / "research" / "raw" / "applications.csv"), "income")
    imputed = np.isnan(raw_income)
    income = column(production, "income")
    assert np.all(income[imputed] == 0.0) and np.array_equal(income[~imputed], raw_income[~imputed])
    assert np.all(column(research, "income")[imputed] == 46616.399999999994)
    loans_before, loans_after = column(research, "loan_amount"), column(production, "loan_amount")
    assert (loans_after > loans_before).sum() == 39 and (loans_after < loans_before).sum() == 50
    low, high = np.percentile(
        column(read(DATA / "research" / "raw" / "applications.csv"), "loan_amount"), [1, 99]
    )
    assert loans_after.min() == low and loans_after.max() == high
    assert production.schema.field("debt_to_income").type == pa.float32()
    dti, exact = (
        column(production, "debt_to_income").astype(np.float64),
        column(research, "debt_to_income"),
    )
    assert np.all(np.isposinf(dti[imputed])) and np.isfinite(dti[~imputed]).all()
    assert np.all(np.abs(dti - exact)[~imputed] <= 1e-9 + 1e-7 * np.abs(exact[~imputed]))
    same = ["age", "region", "product", "bureau_score", "n_open_accounts", "delinquencies_12m"]
    assert research.select(same).equals(production.select(same))


def test_feature_parity_variant_requirements():
    clean = pins(DATA / "production" / "requirements.txt")
    broken = pins(BROKEN / "feature_parity" / "requirements.txt")
    changed = {name: (clean[name], broken[name]) for name in clean if clean[name] != broken[name]}
    assert changed == {"scikit-learn": ("1.4.2", "1.5.0"), "numpy": ("1.26.4", "1.26.3")}


def pins(path: Path) -> dict[str, str]:
    return dict(line.split("==") for line in path.read_text().splitlines())


def test_split_reproducibility_variant():
    research = read(DATA / "research" / "splits.csv")
    production = by_key(read(BROKEN / "split_reproducibility" / "splits.csv"))
    labels = column(read(DATA / "research" / "labels.parquet"), "defaulted")
    assert keys(research) == keys(production)
    before, after = column(research, "split"), column(production, "split")
    folds_before, folds_after = (column(t, "fold") for t in (research, production))
    moved = before != after
    assert moved.sum() == 1948
    assert np.sum(~moved & (before == "train") & (folds_before != folds_after)) == 1620
    for name in ("train", "validation", "test"):  # proportions and class balance unchanged
        assert (after == name).sum() == (before == name).sum()
        assert labels[after == name].sum() == labels[before == name].sum()
    assert np.array_equal(
        np.unique(folds_after, return_counts=True)[1],
        np.unique(folds_before, return_counts=True)[1],
    )
    assert spanning_customers(production) == {94809}


def test_prediction_mismatch_variant_inputs():
    variant = BROKEN / "prediction_mismatch"
    for name in ("raw/applications.csv", "raw/bureau.parquet", "features.parquet"):
        assert read(variant / "research" / name).equals(
            by_key(read(variant / "production" / name))
        ), name
    features = read(variant / "research" / "features.parquet")
    splits = read(DATA / "research" / "splits.csv")
    atlantis = column(features, "region") == "Atlantis"
    assert atlantis.sum() == 25 and set(column(splits, "split")[atlantis]) <= {"validation", "test"}
    assert features.column("bureau_score").null_count == 40
    assert (
        read(variant / "research" / "raw" / "bureau.parquet").column("bureau_score").null_count
        == 40
    )
    assert (
        np.sum(
            column(read(variant / "research" / "raw" / "applications.csv"), "region") == "Atlantis"
        )
        == 25
    )


def test_prediction_mismatch_variant_outputs():
    variant = BROKEN / "prediction_mismatch"
    features = read(variant / "research" / "features.parquet")
    research = read(variant / "research" / "predictions.parquet")
    production = by_key(read(variant / "production" / "predictions.parquet"))
    defect = (column(features, "region") == "Atlantis") | features.column(
        "bureau_score"
    ).is_null().to_numpy(zero_copy_only=False)
    before, after = column(research, "p_default"), column(production, "p_default")
    assert not np.isnan(before).any() and np.array_equal(np.isnan(after), defect)
    assert production.column("decision").null_count == 65
    changed = ~defect & (before != after)
    assert changed.sum() == 15 and np.allclose(after[changed], 1 - before[changed])
    flipped = column(production, "decision")[changed] != column(research, "decision")[changed]
    assert flipped.all()


def test_performance_drop_variant_is_concept_drift():
    predictions = read(DATA / "live" / "predictions.parquet")
    clean = read(DATA / "live" / "labels.parquet")
    drifted = read(BROKEN / "performance_drop" / "live" / "labels.parquet")
    assert keys(clean) == keys(drifted)
    scores, truth = aligned(predictions, drifted)
    realized = roc_auc_score(column(truth, "defaulted"), column(scores, "p_default"))
    assert research_test_auc() - realized > 0.05
    rates = [column(t, "defaulted").mean() for t in (clean, drifted)]
    assert abs(rates[0] - rates[1]) < 0.02  # no label drift: only the relationship changed


def test_performance_drift_variant_shifts_bureau_score():
    research = read(DATA / "research" / "features.parquet")
    clean = read(DATA / "live" / "features.parquet")
    drifted = read(BROKEN / "performance_drift" / "live" / "features.parquet")
    before = column(research, "bureau_score")
    shift = (column(drifted, "bureau_score").mean() - before.mean()) / before.std()
    assert -0.55 < shift < -0.45
    others = [c for c in clean.column_names if c != "bureau_score"]
    assert clean.select(others).equals(drifted.select(others))


def test_variable_availability_variant():
    clean = read(DATA / "live" / "features.parquet")
    live = read(BROKEN / "variable_availability" / "live" / "features.parquet")
    regions = column(clean, "region")
    assert (regions == "North").sum() == 612 and live.num_rows == 5388
    assert "North" not in set(column(live, "region"))
    assert "n_open_accounts" not in live.column_names
    assert live.column("num_open_accounts").equals(
        clean.filter(pa.array(regions != "North")).column("n_open_accounts")
    )
    assert (column(live, "product") == "bnpl").sum() == 216
    stale = live.column("delinquencies_12m").is_null().to_numpy(zero_copy_only=False)
    times = column(live, "event_time")
    assert stale.sum() == 2239 and np.array_equal(
        stale, times >= np.datetime64("2025-02-24T00:00:00")
    )
    assert times.max() - times[~stale].max() > np.timedelta64(30, "D")
    variant = BROKEN / "variable_availability" / "live"
    assert keys(read(variant / "predictions.parquet")) == keys(live)
    assert read(variant / "labels.parquet").num_rows == 3239


# --------------------------------------------------------------------------- end to end


def run_json(checklist: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", "run", str(checklist), "--format", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # A crash before the report (exit 1 from an uncaught import error) must not pass as "not ready".
    assert done.returncode in (0, 1) and done.stdout.startswith("{"), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


def test_clean_checklist_is_ready():
    code, report = run_json(ROOT / "checklists" / "credit.yaml")
    failing = [
        (s["id"], c["id"], c["message"])
        for s in report["stages"]
        for c in s["checks"]
        if c["status"] in ("fail", "error")
    ]
    assert (code, report["verdict"], failing) == (0, "ready", [])


BROKEN_STAGE = {name: name for name in STAGE_ORDER} | {"performance_drift": "performance_drop"}


@pytest.mark.parametrize("variant", sorted(BROKEN_STAGE))
def test_broken_checklist_stops_at_its_stage(variant):
    stage = BROKEN_STAGE[variant]
    if stage not in available_stages():
        pytest.skip(f"stage {stage} is not built yet")
    code, report = run_json(ROOT / "checklists" / "broken" / f"{variant}.yaml")
    statuses = {s["id"]: s["status"] for s in report["stages"]}
    earlier = [s for s in STAGE_ORDER[: STAGE_ORDER.index(stage)] if s in statuses]
    assert (code, report["stopped_at"], statuses[stage]) == (1, stage, "fail")
    assert all(statuses[s] in ("pass", "warn") for s in earlier), statuses
