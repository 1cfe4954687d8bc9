"""Stage 3, split_reproducibility: every check fires on a spelled-out defect and stays quiet without it.

Each test writes tiny research/production splits tables (and, when a check needs them, labels
or features) as parquet in tmp_path with a checklist, and runs checks through the real engine.
Statistics are checked against hand computations and, on a larger random frame, against pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.results import Finding, Status
from mlcheck.stages import split_reproducibility as sr

REPO = Path(__file__).resolve().parents[2]
TRAIN, VAL, TEST = "train", "validation", "test"

Tables = dict[str, "pa.Table | dict[str, pa.Table]"]


def make_ctx(
    tmp_path: Path,
    tables: Tables,
    columns: dict[str, Any] | None = None,
    stage: dict[str, Any] | None = None,
    task: str = "binary",
    key: str | list[str] = "id",
) -> StageContext:
    """A stage context over parquet files (one per slot, or a split mapping) and a checklist."""
    doc: dict[str, Any] = {"key": key, "research": {}, "production": {}, "task": task}
    for slot, table in tables.items():
        side, role = slot.split(".")
        if isinstance(table, dict):
            doc[side][role] = {
                name: _write(tmp_path, f"{slot}.{name}", t) for name, t in table.items()
            }
        else:
            doc[side][role] = _write(tmp_path, slot, table)
    doc["columns"] = {"split": "split", **(columns or {})}
    doc["stages"] = {sr.STAGE: stage or {}}
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    checklist = load_checklist(path)
    return StageContext(checklist, LocalEngine(checklist), sr.STAGE)


def _write(tmp_path: Path, name: str, table: pa.Table) -> dict[str, str]:
    pq.write_table(table, tmp_path / f"{name}.parquet")
    return {"path": f"{name}.parquet"}


def run(func: Any, ctx: StageContext) -> list[Finding]:
    return list(func(ctx))


def by_source(items: list[Finding]) -> dict[str | None, Finding]:
    return {f.source: f for f in items}


def splits(
    ids: list[int],
    split: list[str],
    fold: list[int | None] | None = None,
    group: list[str] | None = None,
    day: list[int] | None = None,
) -> pa.Table:
    data: dict[str, Any] = {"id": pa.array(ids, pa.int64()), "split": pa.array(split, pa.string())}
    if fold is not None:
        data["fold"] = pa.array(fold, pa.int64())
    if group is not None:
        data["customer"] = pa.array(group, pa.string())
    if day is not None:
        data["event_time"] = pa.array(
            np.datetime64("2024-01-01T00:00:00") + np.array(day, "timedelta64[D]"),
            pa.timestamp("s"),
        )
    return pa.table(data)


IDS = list(range(1, 11))
SPLIT = [TRAIN] * 6 + [VAL] * 2 + [TEST] * 2
FOLD: list[int | None] = [0, 1, 2, 0, 1, 2, None, None, None, None]
GROUP = ["c1", "c1", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"]
DAY = list(range(1, 11))


def research_splits() -> pa.Table:
    """Ten keys in key order: 1-6 train (folds 0,1,2,0,1,2), 7-8 validation, 9-10 test.

    Customer c1 owns keys 1 and 2 (both train); every other key has its own customer. Event day
    = key, so every held-out row is newer than every training row. No defect.
    """
    return splits(IDS, SPLIT, FOLD, GROUP, DAY)


def reversed_rows(table: pa.Table) -> pa.Table:
    return table.take(pa.array(np.arange(table.num_rows)[::-1]))


def labels() -> pa.Table:
    """defaulted = 1 for keys 1 (train), 7 (validation) and 9 (test); 0 for the rest."""
    return pa.table(
        {
            "id": pa.array(IDS, pa.int64()),
            "defaulted": pa.array([1, 0, 0, 0, 0, 0, 1, 0, 1, 0], pa.int64()),
        }
    )


def with_split(table: pa.Table, changes: dict[int, str]) -> pa.Table:
    """`table` with the split of the given keys replaced."""
    values = table.column("split").to_pylist()
    for i, key in enumerate(table.column("id").to_pylist()):
        values[i] = changes.get(key, values[i])
    return table.set_column(
        table.schema.get_field_index("split"), "split", pa.array(values, pa.string())
    )


FULL_COLUMNS = {
    "fold": "fold",
    "group": "customer",
    "timestamp": "event_time",
    "target": "defaulted",
}


# --------------------------------------------------------------------------- skip and quiet


def test_skip_reason_names_missing_splits_and_key(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": research_splits()}
    )
    assert sr.skip_reason(ctx.checklist) is None
    no_prod = ctx.checklist.model_copy(
        update={"production": ctx.checklist.production.model_copy(update={"splits": None})}
    )
    assert sr.skip_reason(no_prod) == "no splits declared for production"
    assert (
        sr.skip_reason(ctx.checklist.model_copy(update={"key": None}))
        == "no key declared: splits are matched on the key"
    )


def test_identical_splits_in_another_row_order_pass_every_check(tmp_path: Path) -> None:
    """Production = research with rows reversed; labels and a temporal split declared."""
    ctx = make_ctx(
        tmp_path,
        {
            "research.splits": research_splits(),
            "production.splits": reversed_rows(research_splits()),
            "research.labels": labels(),
        },
        columns=FULL_COLUMNS,
        stage={"temporal": True},
    )
    results = [f for spec in REGISTRY.for_stage(sr.STAGE) for f in spec.func(ctx)]
    ran = {spec.id for spec in REGISTRY.for_stage(sr.STAGE) if run(spec.func, ctx)}
    assert ran == {f"SPL00{i}" for i in range(1, 9)}
    assert {f.status for f in results} == {Status.PASS}
    assert all(f.hint is None for f in results)


# --------------------------------------------------------------------------- SPL001


def test_keys_on_one_side_are_counted_with_examples(tmp_path: Path) -> None:
    """Production lost key 10 and gained key 11."""
    production = splits([*IDS[:9], 11], SPLIT)
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": production}
    )
    found = by_source(run(sr.keys_on_one_side, ctx))
    assert found["research.splits"].status is Status.FAIL
    assert found["research.splits"].observed == 1
    assert found["research.splits"].details["examples"] == [10]
    assert found["production.splits"].details["examples"] == [11]
    assert found["production.splits"].hint


def test_keys_on_one_side_within_the_allowance_pass(tmp_path: Path) -> None:
    """Same defect as above, `max_missing_keys: 1`."""
    production = splits([*IDS[:9], 11], SPLIT)
    ctx = make_ctx(
        tmp_path,
        {"research.splits": research_splits(), "production.splits": production},
        stage={"max_missing_keys": 1},
    )
    assert {f.status for f in run(sr.keys_on_one_side, ctx)} == {Status.PASS}


# --------------------------------------------------------------------------- SPL002 / SPL003


def test_unseeded_split_reports_matrix_examples_and_cause(tmp_path: Path) -> None:
    """Key 1 (train) and key 7 (validation) swap splits: proportions unchanged, 2 keys moved."""
    production = with_split(research_splits(), {1: VAL, 7: TRAIN})
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": production}
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.status is Status.FAIL
    assert finding.observed == 2
    assert finding.details["share"] == pytest.approx(0.2)
    assert finding.details["cause"] == "unseeded"
    assert finding.details["matrix"] == {
        TEST: {TEST: 2},
        TRAIN: {TRAIN: 5, VAL: 1},
        VAL: {TRAIN: 1, VAL: 1},
    }
    assert finding.details["examples"] == [
        {"key": 1, "research": TRAIN, "production": VAL},
        {"key": 7, "research": VAL, "production": TRAIN},
    ]
    assert "seed" in (finding.hint or "")


def test_reassigned_within_max_reassigned_passes(tmp_path: Path) -> None:
    """Same two swapped keys, `max_reassigned: 2`."""
    production = with_split(research_splits(), {1: VAL, 7: TRAIN})
    ctx = make_ctx(
        tmp_path,
        {"research.splits": research_splits(), "production.splits": production},
        stage={"max_reassigned": 2},
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.status is Status.PASS
    assert finding.observed == 2


ORDER = [4, 9, 1, 7, 10, 2, 5, 3, 8, 6]


def test_positional_split_on_reordered_rows_is_order_dependent(tmp_path: Path) -> None:
    """Both sides assign by row position (first 6 rows train, next 2 validation, last 2 test);
    production reads the rows in another order (no ORDER BY), so membership differs."""
    production = splits(ORDER, SPLIT)
    ctx = make_ctx(
        tmp_path, {"research.splits": splits(IDS, SPLIT), "production.splits": production}
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    # by position production holds out 5, 3 (validation) and 8, 6 (test): keys 3, 5, 6, 7, 8, 9, 10 move
    moved = {k for k, r, p in zip(IDS, SPLIT, _split_of(ORDER, SPLIT, IDS), strict=True) if r != p}
    assert finding.observed == len(moved) > 0
    assert finding.details["cause"] == "order_dependent"
    assert "ORDER BY" in (finding.hint or "")


def test_split_matching_research_after_sorting_by_key_is_order_dependent(tmp_path: Path) -> None:
    """Research assigned by key order (keys 1-6 train ...) but stored shuffled; production
    assigned the same sequence to its rows in file order, which is another order."""
    research_order = [3, 10, 6, 1, 8, 5, 2, 9, 4, 7]
    research = splits(research_order, _split_of(IDS, SPLIT, research_order))
    ctx = make_ctx(
        tmp_path, {"research.splits": research, "production.splits": splits(ORDER, SPLIT)}
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.status is Status.FAIL
    assert finding.details["cause"] == "order_dependent"


def _split_of(order: list[int], split: list[str], keys: list[int]) -> list[str]:
    """The split of each of `keys` when `split` is assigned to `order` by position."""
    assigned = dict(zip(order, split, strict=True))
    return [assigned[k] for k in keys]


def test_changed_proportions_point_to_a_different_split(tmp_path: Path) -> None:
    """Keys 5 and 6 move from train to test: proportions change (0.6/0.2/0.2 -> 0.4/0.2/0.4)."""
    production = with_split(research_splits(), {5: TEST, 6: TEST})
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": production}
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.details["cause"] == "different_split"
    assert finding.observed == 2


def test_fold_reassignment_matrix(tmp_path: Path) -> None:
    """Keys 1 and 2 swap folds (0 <-> 1); splits unchanged; held-out rows have a null fold."""
    production = splits(IDS, SPLIT, [1, 0, 2, 0, 1, 2, None, None, None, None])
    ctx = make_ctx(
        tmp_path,
        {"research.splits": research_splits(), "production.splits": production},
        columns={"fold": "fold"},
    )
    (finding,) = run(sr.reassigned_folds, ctx)
    assert finding.status is Status.FAIL
    assert finding.observed == 2
    assert finding.details["matrix"] == {
        "(null)": {"(null)": 4},
        "0": {"0": 1, "1": 1},
        "1": {"0": 1, "1": 1},
        "2": {"2": 2},
    }
    assert [e["key"] for e in finding.details["examples"]] == [1, 2]
    assert finding.details["same_split"] == 2
    (same,) = run(sr.reassigned_splits, ctx)
    assert same.status is Status.PASS


def test_fold_check_needs_a_declared_fold(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": research_splits()}
    )
    assert run(sr.reassigned_folds, ctx) == []


def test_split_mapping_form_matches_a_single_table(tmp_path: Path) -> None:
    """Research splits as one file per split (train: keys 1-6, validation: 7-8, test: 9-10);
    production one table with the same membership: nothing moved."""
    mapping = {
        TRAIN: pa.table({"id": pa.array(IDS[:6])}),
        VAL: pa.table({"id": pa.array(IDS[6:8])}),
        TEST: pa.table({"id": pa.array(IDS[8:])}),
    }
    ctx = make_ctx(tmp_path, {"research.splits": mapping, "production.splits": splits(IDS, SPLIT)})
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.status is Status.PASS
    assert finding.details["matrix"] == {TEST: {TEST: 2}, TRAIN: {TRAIN: 6}, VAL: {VAL: 2}}


def test_split_mappings_never_look_order_dependent(tmp_path: Path) -> None:
    """Defect: a splits mapping's rows are grouped by file (6 train rows, then 4 test rows), so
    two mappings with the same sizes had equal assignment sequences in file order and every
    unseeded shuffle was named `order_dependent`. Research train = keys 1-6, test = 7-10;
    production train = 1-5 and 7, test = 6 and 8-10 (keys 6 and 7 swapped, same proportions):
    the cause is `unseeded`. (Single tables still detect order dependence: see
    test_positional_split_on_reordered_rows_is_order_dependent.)"""

    def mapping(train: list[int], test: list[int]) -> dict[str, pa.Table]:
        return {TRAIN: pa.table({"id": train}), TEST: pa.table({"id": test})}

    tables: Tables = {
        "research.splits": mapping([1, 2, 3, 4, 5, 6], [7, 8, 9, 10]),
        "production.splits": mapping([1, 2, 3, 4, 5, 7], [6, 8, 9, 10]),
    }
    (finding,) = run(sr.reassigned_splits, make_ctx(tmp_path, tables))
    assert finding.observed == 2 and finding.details["cause"] == "unseeded"


def test_dictionary_encoded_keys_are_sorted_as_values(tmp_path: Path) -> None:
    """Defect: a dictionary-typed key (pandas categorical ids) crashed SPL002 when it sorted
    keys (examples, order dependence). Research ids k01..k10 as a categorical, split as usual;
    production has k02 and k09 swap split (train <-> test) and k11 in place of k10 (its own
    dictionary): examples are plain strings in key order."""
    names = [f"k{i:02d}" for i in IDS]
    research = splits(IDS, SPLIT).set_column(0, "id", pa.array(names).dictionary_encode())
    production = with_split(splits(IDS, SPLIT), {2: TEST, 9: TRAIN})
    renamed = pa.array([*names[:9], "k11"]).dictionary_encode()
    production = production.set_column(0, "id", renamed)
    ctx = make_ctx(tmp_path, {"research.splits": research, "production.splits": production})
    (moved,) = run(sr.reassigned_splits, ctx)
    assert moved.observed == 2
    assert [e["key"] for e in moved.details["examples"]] == ["k02", "k09"]
    lost = by_source(run(sr.keys_on_one_side, ctx))["research.splits"]
    assert lost.details["examples"] == ["k10"]


def test_keys_typed_differently_per_side_are_still_matched(tmp_path: Path) -> None:
    """Research ids are int64, production's int32 (another writer): production lost key 10 and
    key 1 moved from train to test. The keys match as numbers, as within one type."""
    production = with_split(splits(IDS[:9], SPLIT[:9]), {1: TEST})
    production = production.set_column(0, "id", production.column("id").cast(pa.int32()))
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": production}
    )
    lost = by_source(run(sr.keys_on_one_side, ctx))["research.splits"]
    assert (lost.observed, lost.details["examples"]) == (1, [10])
    (moved,) = run(sr.reassigned_splits, ctx)
    assert moved.observed == 1
    assert moved.details["examples"] == [{"key": 1, "research": TRAIN, "production": TEST}]


def test_composite_key_examples_are_dicts(tmp_path: Path) -> None:
    """Key (shop, id): shop 'b' id 2 moves from train to test."""
    research = pa.table(
        {"shop": ["a", "a", "b", "b"], "id": [1, 2, 1, 2], "split": [TRAIN, TEST, TRAIN, TRAIN]}
    )
    production = pa.table(
        {"shop": ["b", "b", "a", "a"], "id": [2, 1, 2, 1], "split": [TEST, TRAIN, TEST, TRAIN]}
    )
    ctx = make_ctx(
        tmp_path, {"research.splits": research, "production.splits": production}, key=["shop", "id"]
    )
    (finding,) = run(sr.reassigned_splits, ctx)
    assert finding.details["examples"] == [
        {"key": {"shop": "b", "id": 2}, "research": TRAIN, "production": TEST}
    ]


# --------------------------------------------------------------------------- SPL004 / SPL005


def test_keys_in_a_holdout_and_another_split_leak(tmp_path: Path) -> None:
    """Research also lists key 3 in test (train + test), key 7 in test (validation + test), and
    key 5 twice in train (a duplicate, not a leak). Production is clean."""
    leaky = pa.concat_tables(
        [
            research_splits(),
            splits([3, 7, 5], [TEST, TEST, TRAIN], [None, None, 1], ["c3", "c7", "c5"], [3, 7, 5]),
        ]
    )
    ctx = make_ctx(tmp_path, {"research.splits": leaky, "production.splits": research_splits()})
    found = by_source(run(sr.keys_in_several_splits, ctx))
    research = found["research.splits"]
    assert research.status is Status.FAIL
    assert research.observed == 2
    assert research.details["combinations"] == {"test+train": 1, "test+validation": 1}
    assert research.details["examples"] == [
        {"key": 3, "splits": [TEST, TRAIN]},
        {"key": 7, "splits": [TEST, VAL]},
    ]
    assert found["production.splits"].status is Status.PASS


def test_leak_found_when_a_composite_key_has_a_null_part(tmp_path: Path) -> None:
    """Key (shop, id): row 1 has no shop (a null part, ignored) and ('b', 2) is on two rows, in
    train and test. Defect: the null row left a gap in the key codes, so as many rows as code
    numbers looked like unique keys and the leak went unreported."""
    table = pa.table(
        {"shop": [None, "b", "b"], "id": [1, 2, 2], "split": [TRAIN, TRAIN, TEST]},
        schema=pa.schema([("shop", pa.string()), ("id", pa.int64()), ("split", pa.string())]),
    )
    ctx = make_ctx(
        tmp_path, {"research.splits": table, "production.splits": table}, key=["shop", "id"]
    )
    research = by_source(run(sr.keys_in_several_splits, ctx))["research.splits"]
    assert research.status is Status.FAIL
    assert research.details["examples"] == [
        {"key": {"shop": "b", "id": 2}, "splits": [TEST, TRAIN]}
    ]


def test_holdout_names_come_from_the_holdout_setting(tmp_path: Path) -> None:
    """Defect: `holdout` was never read; every split not named in `train` counted as held out.
    Research: key 1 in train and calibration, key 2 in train and eval, key 3 in train and test.
    Defaults: only test is held out, so only key 3 leaks (calibration and eval are neither);
    with `holdout: [eval, test]` keys 2 and 3 leak."""
    table = splits([1, 1, 2, 2, 3, 3, 4], [TRAIN, "calibration", TRAIN, "eval", TRAIN, TEST, TEST])
    tables: Tables = {"research.splits": table, "production.splits": table}
    default = by_source(run(sr.keys_in_several_splits, make_ctx(tmp_path, tables)))
    assert default["research.splits"].details["examples"] == [{"key": 3, "splits": [TEST, TRAIN]}]
    ctx = make_ctx(tmp_path, tables, stage={"holdout": ["EVAL", "test"]})
    named = by_source(run(sr.keys_in_several_splits, ctx))["research.splits"]
    assert named.details["combinations"] == {"eval+train": 1, "test+train": 1}


def test_group_spanning_splits_is_named(tmp_path: Path) -> None:
    """Production gives test key 9 to customer c1, who also owns train keys 1 and 2."""
    group = [*GROUP[:8], "c1", "c10"]
    production = splits(IDS, SPLIT, FOLD, group, DAY)
    ctx = make_ctx(
        tmp_path,
        {"research.splits": research_splits(), "production.splits": production},
        columns={"group": "customer"},
    )
    found = by_source(run(sr.groups_across_splits, ctx))
    assert found["research.splits"].status is Status.PASS
    bad = found["production.splits"]
    assert bad.status is Status.FAIL
    assert bad.observed == 1
    assert bad.details["examples"] == [{"group": "c1", "rows": 3, "splits": [TEST, TRAIN]}]
    assert bad.details["rows_in_leaked_groups"] == 3
    assert "c1" in bad.message


def test_group_is_joined_from_features_when_splits_lack_it(tmp_path: Path) -> None:
    """Splits carry no group column; research.features does: c1 owns train key 1 and test key 10."""
    features = pa.table({"id": pa.array(IDS, pa.int64()), "customer": [*GROUP[:9], "c1"]})
    tables: Tables = {
        "research.splits": splits(IDS, SPLIT),
        "production.splits": splits(IDS, SPLIT),
        "research.features": features,
    }
    ctx = make_ctx(tmp_path, tables, columns={"group": "customer"})
    found = by_source(run(sr.groups_across_splits, ctx))
    assert found["research.splits"].details["examples"] == [
        {"group": "c1", "rows": 3, "splits": [TEST, TRAIN]}
    ]
    assert found["production.splits"].status is Status.WARN  # no group anywhere on that side
    assert "not found" in found["production.splits"].message


# --------------------------------------------------------------------------- SPL006


def test_temporal_split_with_older_test_rows_fails(tmp_path: Path) -> None:
    """Production: test key 9 dated day 3 and validation key 7 dated day 5, before the newest
    training row (key 6, day 6): 2 held-out rows too old."""
    days = [1, 2, 3, 4, 5, 6, 5, 8, 3, 10]
    production = splits(IDS, SPLIT, FOLD, GROUP, days)
    ctx = make_ctx(
        tmp_path,
        {"research.splits": research_splits(), "production.splits": production},
        columns={"timestamp": "event_time"},
        stage={"temporal": True},
    )
    found = by_source(run(sr.temporal_leakage, ctx))
    assert found["research.splits"].status is Status.PASS
    bad = found["production.splits"]
    assert bad.status is Status.FAIL
    assert bad.observed == 2
    assert bad.details["examples"] == [7, 9]
    assert bad.details["by_split"] == {TEST: 1, VAL: 1}
    assert bad.details["newest_training"].isoformat().startswith("2024-01-07")


def test_temporal_check_joins_iso_text_timestamps_from_features(tmp_path: Path) -> None:
    """Timestamps only in features, as ISO text; research test key 10 is dated before train key 1."""
    times = [f"2024-02-{d:02d}T00:00:00" for d in DAY]
    times[9] = "2024-01-15T00:00:00"
    features = pa.table({"id": pa.array(IDS, pa.int64()), "event_time": times})
    tables: Tables = {
        "research.splits": splits(IDS, SPLIT),
        "production.splits": splits(IDS, SPLIT),
        "research.features": features,
        "production.features": features,
    }
    ctx = make_ctx(tmp_path, tables, columns={"timestamp": "event_time"}, stage={"temporal": True})
    assert [f.observed for f in run(sr.temporal_leakage, ctx)] == [1, 1]


def test_nanosecond_timestamps_are_compared_exactly(tmp_path: Path) -> None:
    """Defect: timestamp[ns] ticks (~1.7e18, beyond 2**53) failed the safe float64 cast, so
    SPL006 always warned "cannot be read as time". Research: every held-out row is newer than
    every training row (quiet). Production: test key 9 is 1 ns older than the newest training
    row (key 6), a difference float64 cannot even represent at this magnitude: 1 early row."""
    base = np.datetime64("2024-01-01T00:00:00", "ns") + np.array(DAY, "timedelta64[D]")
    early = base.copy()
    early[8] = base[5] - np.timedelta64(1, "ns")
    tables: Tables = {
        side: splits(IDS, SPLIT).append_column("event_time", pa.array(t, pa.timestamp("ns")))
        for side, t in (("research.splits", base), ("production.splits", early))
    }
    ctx = make_ctx(tmp_path, tables, columns={"timestamp": "event_time"}, stage={"temporal": True})
    found = by_source(run(sr.temporal_leakage, ctx))
    assert found["research.splits"].status is Status.PASS
    assert found["production.splits"].status is Status.FAIL
    assert found["production.splits"].details["examples"] == [9]


@pytest.mark.parametrize("kind", ["us", "text", "date32"])
def test_sentinel_dates_are_compared_as_times(tmp_path: Path, kind: str) -> None:
    """Valid sentinel dates (issue 12.6), beyond nanoseconds and float64's exact integers.
    Research: training key 1 dated 1900-01-01 and test key 10 dated 9999-12-31 (quiet).
    Production: validation key 7 dated 1900-01-01, older than the newest training row (key 6):
    1 early row; test key 10 at 9999-12-31 23:59:59 is newer than every row."""
    base = [datetime(2024, 1, d) for d in DAY]
    research, production = list(base), list(base)
    research[0], research[9] = datetime(1900, 1, 1), datetime(9999, 12, 31)
    production[6], production[9] = datetime(1900, 1, 1), datetime(9999, 12, 31, 23, 59, 59)
    as_kind = {
        "us": lambda v: pa.array(v, pa.timestamp("us")),
        "text": lambda v: pa.array([x.isoformat() for x in v]),
        "date32": lambda v: pa.array([x.date() for x in v], pa.date32()),
    }[kind]
    tables: Tables = {
        side: splits(IDS, SPLIT).append_column("event_time", as_kind(t))
        for side, t in (("research.splits", research), ("production.splits", production))
    }
    ctx = make_ctx(tmp_path, tables, columns={"timestamp": "event_time"}, stage={"temporal": True})
    found = by_source(run(sr.temporal_leakage, ctx))
    assert found["research.splits"].status is Status.PASS
    assert found["production.splits"].status is Status.FAIL
    assert found["production.splits"].details["examples"] == [7]


def test_unreadable_timestamps_warn_instead_of_guessing(tmp_path: Path) -> None:
    """Production's event_time is free text ("last week") that is not a time."""
    production = splits(IDS, SPLIT).append_column("event_time", pa.array(["last week"] * 10))
    tables: Tables = {"research.splits": research_splits(), "production.splits": production}
    ctx = make_ctx(tmp_path, tables, columns={"timestamp": "event_time"}, stage={"temporal": True})
    found = by_source(run(sr.temporal_leakage, ctx))
    assert found["research.splits"].status is Status.PASS
    assert found["production.splits"].status is Status.WARN
    assert "cannot be read as time" in found["production.splits"].message


def test_distinct_counts_match_numpy_unique() -> None:
    values = np.random.default_rng(4).integers(-5, 50, 1000)
    expected = np.unique(values, return_counts=True)
    found = sr.distinct_counts(values)
    assert found[0].tolist() == expected[0].tolist()
    assert found[1].tolist() == expected[1].tolist()
    assert [a.tolist() for a in sr.distinct_counts(np.array([], dtype=np.int64))] == [[], []]


def test_shared_codes_of_nulls_nans_dictionaries_and_mixed_types() -> None:
    """Labels are the sorted distinct values of both sides; each row's code names its value."""
    nan = float("nan")
    cases = [
        ([[1.0, nan, None], [2.0]], [[nan, 3.0, None, 1.0]], ["1.0", "2.0", "3.0", "nan"]),
        ([["b", None], ["a"]], [["c", "a"]], ["a", "b", "c"]),
        ([[1, 2, None]], [["1", "x"]], ["1", "2", "x"]),  # types differ: compared as text
    ]
    for left, right, labels in cases:
        codes = sr.shared_codes(pa.chunked_array(left), pa.chunked_array(right))
        assert codes.labels == labels
        for side, values in (("research", left), ("production", right)):
            named = [codes.name(int(c)) for c in codes.side(side)]
            flat = [v for chunk in values for v in chunk]
            assert named == ["(null)" if v is None else str(v) for v in flat]
    text = pa.chunked_array([pa.array(["y", None, "x"]).dictionary_encode()])
    codes = sr.shared_codes(text, pa.chunked_array([pa.array(["z"]).dictionary_encode()]))
    assert (codes.labels, codes.research.tolist(), codes.production.tolist()) == (
        ["x", "y", "z"],
        [1, -1, 0],
        [2],
    )


def test_temporal_check_runs_only_when_declared(tmp_path: Path) -> None:
    tables: Tables = {"research.splits": research_splits(), "production.splits": research_splits()}
    assert (
        run(sr.temporal_leakage, make_ctx(tmp_path, tables, columns={"timestamp": "event_time"}))
        == []
    )
    (warn,) = run(sr.temporal_leakage, make_ctx(tmp_path, tables, stage={"temporal": True}))
    assert warn.status is Status.WARN
    assert "columns.timestamp" in warn.message


# --------------------------------------------------------------------------- SPL007 / SPL008


def test_split_proportions_warn_when_they_differ(tmp_path: Path) -> None:
    """Keys 5 and 6 move train -> test: train share 0.6 -> 0.4, test 0.2 -> 0.4."""
    production = with_split(research_splits(), {5: TEST, 6: TEST})
    ctx = make_ctx(
        tmp_path, {"research.splits": research_splits(), "production.splits": production}
    )
    (finding,) = run(sr.split_proportions, ctx)
    assert finding.status is Status.WARN
    assert finding.observed == pytest.approx(0.2)
    assert finding.details["production"][TEST] == {"rows": 4, "share": pytest.approx(0.4)}
    (quiet,) = run(
        sr.split_proportions,
        make_ctx(
            tmp_path,
            {
                "research.splits": research_splits(),
                "production.splits": reversed_rows(research_splits()),
            },
        ),
    )
    assert quiet.status is Status.PASS
    assert quiet.observed == 0.0


def test_class_balance_per_split_warns_when_it_shifts(tmp_path: Path) -> None:
    """Production swaps key 7 (validation, defaulted) and key 3 (train, not defaulted):
    validation's default share falls from 1/2 to 0/2, train's rises from 1/6 to 2/6."""
    production = with_split(research_splits(), {7: TRAIN, 3: VAL})
    tables: Tables = {
        "research.splits": research_splits(),
        "production.splits": production,
        "research.labels": labels(),
    }
    ctx = make_ctx(tmp_path, tables, columns={"target": "defaulted"})
    (finding,) = run(sr.class_balance, ctx)
    assert finding.status is Status.WARN
    assert finding.observed == pytest.approx(0.5)
    assert finding.details["research"][TRAIN]["shares"]["1"] == pytest.approx(1 / 6)
    assert finding.details["production"][TRAIN]["shares"]["1"] == pytest.approx(2 / 6)
    assert "(validation)" in finding.message


def test_class_balance_runs_only_for_classification_with_labels(tmp_path: Path) -> None:
    tables: Tables = {
        "research.splits": research_splits(),
        "production.splits": research_splits(),
        "research.labels": labels(),
    }
    (same,) = run(sr.class_balance, make_ctx(tmp_path, tables, columns={"target": "defaulted"}))
    assert same.status is Status.PASS
    assert (
        run(
            sr.class_balance,
            make_ctx(tmp_path, tables, columns={"target": "defaulted"}, task="regression"),
        )
        == []
    )
    assert run(sr.class_balance, make_ctx(tmp_path, tables)) == []


def test_class_balance_counts_only_labelled_rows() -> None:
    """The engine's answer holds labelled rows only; a null split (None) is its own row of the
    table, shown first. train: classes 0, 1, 1; null split: class 0 only; class labels sort as
    numbers (2 after 1, though no train row has it)."""
    kinds = (pa.string(), pa.string())
    splits = sr.Labels(["test", "train"], kinds, text=False)
    classes = sr.Labels(["0", "1", "2"], (pa.int64(), pa.int64()), text=False)
    answer = {"train": ((1, 2), (0, 1)), None: ((0, 1),), "test": ((2, 1),)}
    table = sr._balance(answer, "research", splits, classes)
    assert list(table) == ["(null)", "test", "train"]
    assert table["(null)"] == {"labelled": 1, "shares": {"0": 1.0, "1": 0.0, "2": 0.0}}
    assert table["train"] == {
        "labelled": 3,
        "shares": {"0": pytest.approx(1 / 3), "1": pytest.approx(2 / 3), "2": 0.0},
    }


def test_labels_sort_numbers_as_numbers_and_text_when_types_differ() -> None:
    """Labels of both sides: integers sort as numbers (2 before 10); when the sides type the
    column differently (int vs text) the values are compared as text, so 1 and "1" are one
    label and "10" sorts before "2"."""
    same = sr._labels({"research": [10, 2], "production": [1, 2]}, (pa.int64(), pa.int32()))
    assert same.text and same.labels == ["1", "10", "2"]
    numbers = sr._labels({"research": [10, 2], "production": [1]}, (pa.int64(), pa.int64()))
    assert numbers.labels == ["1", "2", "10"]
    assert numbers.codes([None, 10, 1], "research") == [-1, 2, 0]
    mixed = sr._labels({"research": [1, 2], "production": ["1", "x"]}, (pa.int64(), pa.string()))
    assert mixed.labels == ["1", "2", "x"]
    assert mixed.codes(["1", None], "production") == [0, -1]
    nan = float("nan")
    floats = sr._labels({"research": [nan, 2.0], "production": [1.5]}, (pa.float64(),) * 2)
    assert floats.labels == ["1.5", "2.0", "nan"]


# --------------------------------------------------------------------------- reference: pandas


def test_statistics_match_pandas_on_a_random_frame(tmp_path: Path) -> None:
    """400 keys; production re-draws 10% of splits at random, duplicates 5 keys into test, and
    draws customers from 150 so many span splits. Every count is recomputed with pandas."""
    rng = np.random.default_rng(7)
    n = 400
    split = rng.choice([TRAIN, VAL, TEST], size=n, p=[0.7, 0.15, 0.15])
    redraw = np.where(rng.random(n) < 0.1, rng.choice([TRAIN, VAL, TEST], size=n), split)
    customers = [f"c{c}" for c in rng.integers(0, 150, size=n)]
    research = pd.DataFrame({"id": np.arange(n), "split": split, "customer": customers})
    production = pd.DataFrame({"id": np.arange(n), "split": redraw, "customer": customers}).sample(
        frac=1, random_state=1
    )
    extra = production.head(5).assign(split=TEST)
    production = pd.concat([production, extra[extra.split != TEST]])
    tables: Tables = {
        "research.splits": pa.Table.from_pandas(research, preserve_index=False),
        "production.splits": pa.Table.from_pandas(production, preserve_index=False),
    }
    ctx = make_ctx(tmp_path, tables, columns={"group": "customer"})

    unique = production[~production.id.duplicated(keep=False)]
    merged = research.merge(unique, on="id", suffixes=("_r", "_p"))
    (moved,) = run(sr.reassigned_splits, ctx)
    assert moved.observed == int((merged.split_r != merged.split_p).sum())
    crosstab = pd.crosstab(merged.split_r, merged.split_p)
    assert moved.details["matrix"] == {
        r: {p: int(v) for p, v in row.items() if v} for r, row in crosstab.iterrows()
    }

    leaks = by_source(run(sr.keys_in_several_splits, ctx))
    assert leaks["production.splits"].observed == int(
        (production.groupby("id").split.nunique() > 1).sum()
    )
    groups = by_source(run(sr.groups_across_splits, ctx))
    for side, frame in (("research", research), ("production", production)):
        assert groups[f"{side}.splits"].observed == int(
            (frame.groupby("customer").split.nunique() > 1).sum()
        )

    (shares,) = run(sr.split_proportions, ctx)
    expected = (
        research.split.value_counts(normalize=True)
        .sub(production.split.value_counts(normalize=True))
        .abs()
        .max()
    )
    assert shares.observed == pytest.approx(expected)


# --------------------------------------------------------------------------- end to end


def mlcheck_json(checklist: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlcheck",
            "run",
            str(REPO / checklist),
            "--format",
            "json",
            "-q",
            "-o",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(out.read_text(encoding="utf-8"))


def stage_checks(report: dict[str, Any], stage: str) -> dict[str, list[dict[str, Any]]]:
    (found,) = [s for s in report["stages"] if s["id"] == stage]
    checks: dict[str, list[dict[str, Any]]] = {}
    for item in found["checks"]:
        checks.setdefault(item["id"], []).append(item)
    return checks


def test_e2e_unseeded_split_and_spanning_customer(tmp_path: Path) -> None:
    """checklists/broken/split_reproducibility.yaml: production splits re-drawn without a seed
    (same proportions) and one customer spanning train and test (generate.py's docstring)."""
    code, report = mlcheck_json("checklists/broken/split_reproducibility.yaml", tmp_path)
    assert code == 1
    assert report["stopped_at"] == sr.STAGE
    checks = stage_checks(report, sr.STAGE)
    data = REPO / "sample_data" / "credit"
    research = pd.read_csv(data / "research" / "splits.csv")
    production = pd.read_csv(data / "broken" / "split_reproducibility" / "splits.csv")
    merged = research.merge(production, on="application_id", suffixes=("_r", "_p"))
    (moved,) = checks["SPL002"]
    assert moved["status"] == "fail"
    assert moved["observed"] == int((merged.split_r != merged.split_p).sum()) > 0
    assert moved["details"]["cause"] == "unseeded"
    assert "seed" in moved["hint"]
    (folds,) = checks["SPL003"]
    fold_moved = merged.fold_r.fillna(-1) != merged.fold_p.fillna(-1)
    assert folds["observed"] == int(fold_moved.sum())
    assert folds["details"]["same_split"] == int(
        (fold_moved & (merged.split_r == merged.split_p)).sum()
    )
    spans = production.groupby("customer_id").split.nunique()
    spanning = spans[spans > 1].index.tolist()
    groups = {c["source"]: c for c in checks["SPL005"]}
    assert groups["research.splits"]["status"] == "pass"
    assert len(spanning) == 1
    assert groups["production.splits"]["observed"] == 1
    assert groups["production.splits"]["details"]["examples"][0]["group"] == spanning[0]
    assert checks["SPL007"][0]["status"] == "pass"  # same proportions
    assert checks["SPL008"][0]["status"] == "pass"  # same class balance


def test_e2e_clean_credit_passes_split_stage(tmp_path: Path) -> None:
    code, report = mlcheck_json("checklists/credit.yaml", tmp_path, "--only", sr.STAGE)
    assert code == 0
    checks = stage_checks(report, sr.STAGE)
    assert {c["status"] for items in checks.values() for c in items} == {"pass"}
    assert checks["SPL002"][0]["details"]["matched"] == 5000
