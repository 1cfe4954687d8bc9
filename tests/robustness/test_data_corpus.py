"""Bad data: each case breaks one file of the clean project (every stage has inputs).

Every case asserts the exact exit code and that no traceback (and no warning) is printed. An
input error (exit 2) is one `error:` line naming the slot, the checklist line, the file or the
column at fault. A case that is not an error at all (one row, -0.0, unicode names, list columns,
...) completes with the exit code the data dictates, and its JSON report names the defect or says
what could not be computed. Exit code 3 (a crashed check) is never expected. Each builder's
docstring (or name) spells out its defect; the clean project is in robustness_support.py.
"""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from robustness_support import (
    Case,
    Outcome,
    Project,
    assert_outcome,
    csv_bytes,
    parquet_bytes,
    run_processes,
)

from mlcheck.results import STAGE_ORDER

# --------------------------------------------------------------------------- helpers


def finding(outcome: Outcome, check_id: str, column: str | None = None) -> dict[str, Any]:
    """The first result of a check (about `column` when given)."""
    for check in outcome.checks():
        if check["id"] == check_id and (column is None or check["column"] == column):
            return check
    raise AssertionError(f"no {check_id} result about {column!r} in the report")


def statuses(outcome: Outcome) -> dict[str, str]:
    return {s["id"]: s["status"] for s in outcome.report["stages"]}


def not_ready_at(stage: str) -> Callable[[Outcome], None]:
    def expect(outcome: Outcome) -> None:
        assert outcome.report["stopped_at"] == stage
        assert statuses(outcome)[stage] == "fail"

    return expect


def null_cells(values: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> pa.Array:
    """`values` with nulls at `rows`."""
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def replace_cells(values: pa.ChunkedArray, rows: np.ndarray, new: float) -> pa.Array:
    array = values.to_numpy().astype(np.float64, copy=True)
    array[rows] = new
    return pa.array(array)


def rename_everywhere(p: Project, old: str, new: str) -> None:
    """Rename a column in every table that has it, and in the checklist's roles."""
    for name, value in list(p.files.items()):
        if isinstance(value, pa.Table) and old in value.column_names:
            names = [new if c == old else c for c in value.column_names]
            p.files[name] = value.rename_columns(names)
    columns = p.checklist["columns"]
    columns["features"] = [new if c == old else c for c in columns["features"]]
    columns["categorical"] = [new if c == old else c for c in columns["categorical"]]


def all_tables(p: Project, change: Callable[[pa.Table], pa.Table]) -> None:
    """Apply `change` to every table of the project."""
    for name, value in list(p.files.items()):
        if isinstance(value, pa.Table):
            p.files[name] = change(value)


def move(p: Project, old: str, new: str, content: object = None) -> None:
    """Serve a slot from a differently named file (the checklist follows)."""
    value = p.files.pop(old)
    p.files[new] = value if content is None else content  # type: ignore[assignment]
    for side in ("research", "production"):
        _repoint(p.checklist[side], old, new)


def _repoint(node: object, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and value == old:
                node[key] = new
            else:
                _repoint(value, old, new)


# --------------------------------------------------------------------------- data cases: files


def empty_parquet(p: Project) -> None:
    """production/features.parquet is a 0-byte file."""
    p.files["production/features.parquet"] = b""


def empty_csv(p: Project) -> None:
    """research/splits.csv is a 0-byte file."""
    p.files["research/splits.csv"] = b""


def blank_csv(p: Project) -> None:
    """production/splits.csv holds three empty lines: not even a header."""
    p.files["production/splits.csv"] = b"\n\n\n"


def header_only_csv(p: Project) -> None:
    """production/splits.csv has its header and no rows (every column typed null)."""
    p.files["production/splits.csv"] = b'"application_id","customer_id","split","fold"\n'


def header_only_raw(p: Project) -> None:
    """production applications.csv has its header and no rows."""
    header = csv_bytes(p.table("production/raw/applications.csv")).split(b"\n", 1)[0]
    p.files["production/raw/applications.csv"] = header + b"\n"


def _gzip_raw(p: Project) -> bytes:
    """Both sides' applications as .csv.gz; returns production's compressed bytes."""
    for side in ("research", "production"):
        data = gzip.compress(csv_bytes(p.table(f"{side}/raw/applications.csv")), mtime=0)
        move(p, f"{side}/raw/applications.csv", f"{side}/raw/applications.csv.gz", data)
    value = p.files["production/raw/applications.csv.gz"]
    assert isinstance(value, bytes)
    return value


def gzip_sources(p: Project) -> None:
    """Not a defect: both sides' applications are gzip-compressed CSV."""
    _gzip_raw(p)


def truncated_gzip(p: Project) -> None:
    """production applications.csv.gz is cut in half (an interrupted copy)."""
    data = _gzip_raw(p)
    p.files["production/raw/applications.csv.gz"] = data[: len(data) // 2]


def not_gzip(p: Project) -> None:
    """production applications.csv.gz holds plain text, not gzip data."""
    _gzip_raw(p)
    p.files["production/raw/applications.csv.gz"] = b"this is not gzip data at all\n" * 10


def corrupt_parquet(p: Project) -> None:
    """production/predictions.parquet is 4 KiB of random bytes."""
    rng = np.random.default_rng(7)
    p.files["production/predictions.parquet"] = rng.integers(0, 256, 4096, np.uint8).tobytes()


def truncated_parquet(p: Project) -> None:
    """production/predictions.parquet is cut in half: no footer."""
    data = parquet_bytes(p.table("production/predictions.parquet"))
    p.files["production/predictions.parquet"] = data[: len(data) // 2]


def parquet_named_csv(p: Project) -> None:
    """production/splits.csv holds parquet bytes."""
    p.files["production/splits.csv"] = parquet_bytes(p.table("production/splits.csv"))


def csv_named_parquet(p: Project) -> None:
    """production/raw/bureau.parquet holds CSV text."""
    p.files["production/raw/bureau.parquet"] = csv_bytes(p.table("production/raw/bureau.parquet"))


def wrong_delimiter(p: Project) -> None:
    """production applications.csv is written with ';' between fields."""
    text = csv_bytes(p.table("production/raw/applications.csv")).decode()
    p.files["production/raw/applications.csv"] = text.replace(",", ";").encode()


def declared_wrong_delimiter(p: Project) -> None:
    """The checklist declares ';' for a comma-separated applications.csv."""
    p.source("production.raw.applications")["read_options"] = {"delimiter": ";"}


def latin1_csv(p: Project) -> None:
    """production applications.csv is latin-1 ('Nörth') while read as UTF-8."""
    text = csv_bytes(p.table("production/raw/applications.csv")).decode()
    p.files["production/raw/applications.csv"] = text.replace("North", "N\u00f6rth").encode(
        "latin-1"
    )


def latin1_declared(p: Project) -> None:
    """Not a defect: latin-1 on both sides, declared with `read_options: {encoding}`."""
    for side in ("research", "production"):
        text = csv_bytes(p.table(f"{side}/raw/applications.csv")).decode()
        p.files[f"{side}/raw/applications.csv"] = text.replace("North", "N\u00f6rth").encode(
            "latin-1"
        )
        p.source(f"{side}.raw.applications")["read_options"] = {"encoding": "latin-1"}


def ragged_csv(p: Project) -> None:
    """One row of production applications.csv has a tenth field."""
    lines = csv_bytes(p.table("production/raw/applications.csv")).split(b"\n")
    lines[5] += b",surplus"
    p.files["production/raw/applications.csv"] = b"\n".join(lines)


def unterminated_quote(p: Project) -> None:
    """A row of production applications.csv opens a quote it never closes."""
    lines = csv_bytes(p.table("production/raw/applications.csv")).split(b"\n")
    lines[7] = lines[7].replace(b'"', b"", 1)
    lines[7] = b'"' + lines[7]
    p.files["production/raw/applications.csv"] = b"\n".join(lines[:9])


def csv_path_is_folder(p: Project) -> None:
    """production splits point at a folder named more_splits.csv."""
    (p.root / "production" / "more_splits.csv").mkdir(parents=True)
    p.source("production.splits")["path"] = "production/more_splits.csv"


def unknown_extension(p: Project) -> None:
    """production bureau is parquet saved as bureau.xlsx, with no `format:`."""
    data = parquet_bytes(p.table("production/raw/bureau.parquet"))
    move(p, "production/raw/bureau.parquet", "production/raw/bureau.xlsx", data)


def corrupt_feather(p: Project) -> None:
    """production predictions.feather holds a repeated magic string, no data."""
    move(p, "production/predictions.parquet", "production/predictions.feather", b"ARROW1" * 50)


def malformed_jsonl(p: Project) -> None:
    """production predictions.jsonl ends in the middle of a JSON object."""
    rows = '{"application_id": 1, "p_default": 0.5}\n{"applic\n'
    move(p, "production/predictions.parquet", "production/predictions.jsonl", rows)


def mixed_types_jsonl(p: Project) -> None:
    """production predictions.jsonl: a key and a score change type between rows."""
    rows = '{"application_id": 100001, "p_default": 0.5, "decision": 1}\n'
    rows += '{"application_id": "100002", "p_default": "high", "decision": 0}\n'
    move(p, "production/predictions.parquet", "production/predictions.jsonl", rows)


def not_a_database(p: Project) -> None:
    """production bureau is a sqlite url to a file that is not a database."""
    p.files["production/bureau.db"] = b"SQLite format 2\x00" + b"\x00" * 200
    p.checklist["production"]["raw"]["bureau"] = {
        "url": "sqlite:///production/bureau.db",
        "table": "bureau",
    }


def missing_table(p: Project) -> None:
    """production bureau is a sqlite table that the database does not have."""
    path = p.root / "production" / "bureau.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE other (application_id INTEGER)")
    conn.close()
    p.checklist["production"]["raw"]["bureau"] = {
        "url": "sqlite:///production/bureau.db",
        "table": "bureau",
    }


def environment_garbage(p: Project) -> None:
    """research/environment.json holds binary bytes."""
    p.files["research/environment.json"] = b"\x89PNG\r\n\x1a\n\x00\x00garbage{{{"


def environment_missing(p: Project) -> None:
    """production/requirements.txt does not exist."""
    del p.files["production/requirements.txt"]


def split_files_disagree(p: Project) -> None:
    """Splits as one file per split, the test file's key written as text with a stray column."""
    table = p.table("production/splits.csv")
    train = pc.equal(table["split"], "train")
    p.files["production/splits_train.csv"] = table.filter(train).drop_columns(["split"])
    rest = table.filter(pc.invert(train)).drop_columns(["split"])
    keys = pc.binary_join_element_wise("id-", pc.cast(rest["application_id"], pa.string()), "")
    p.files["production/splits_rest.csv"] = rest.set_column(0, "application_id", keys)
    p.checklist["production"]["splits"] = {
        "train": {"path": "production/splits_train.csv"},
        "test": {"path": "production/splits_rest.csv"},
    }


# --------------------------------------------------------------------------- data cases: content


def mixed_types_csv(p: Project) -> None:
    """Production's income column holds a few words among the numbers."""
    table = p.table("production/raw/applications.csv")
    income = pc.cast(table["income"], pa.string()).to_numpy(zero_copy_only=False).copy()
    income[[3, 30, 300]] = "unknown"
    p.set_column("production/raw/applications.csv", "income", pa.array(income))


def all_null_production_feature(p: Project) -> None:
    """production features: income is null in every row."""
    table = p.table("production/features.parquet")
    p.set_column("production/features.parquet", "income", pa.nulls(table.num_rows, pa.float64()))


def all_null_live_feature(p: Project) -> None:
    """live features: income is null in every row."""
    table = p.table("live/features.parquet")
    p.set_column("live/features.parquet", "income", pa.nulls(table.num_rows, pa.float64()))


def all_null_everywhere(p: Project) -> None:
    """income is all-null (typed null) in research, production and live alike."""
    for name in (
        "research/features.parquet",
        "production/features.parquet",
        "live/features.parquet",
    ):
        p.set_column(name, "income", pa.nulls(p.table(name).num_rows))


def duplicate_csv_columns(p: Project) -> None:
    """production applications.csv names two columns 'income' (age renamed)."""
    text = csv_bytes(p.table("production/raw/applications.csv"))
    header, rest = text.split(b"\n", 1)
    p.files["production/raw/applications.csv"] = (
        header.replace(b'"age"', b'"income"') + b"\n" + rest
    )


def duplicate_parquet_columns(p: Project) -> None:
    """production features.parquet names two columns 'age'."""
    table = p.table("production/features.parquet")
    names = ["age" if c == "loan_amount" else c for c in table.column_names]
    p.files["production/features.parquet"] = pa.Table.from_arrays(table.columns, names=names)


def unicode_names(p: Project) -> None:
    """Not a defect: income and region renamed with spaces, accents, € and CJK."""
    rename_everywhere(p, "income", "revenu annuel (€)")
    rename_everywhere(p, "region", "région / 地域")


def unicode_values(p: Project) -> None:
    """A category spelled with emoji and accents, the same on every side."""

    def change(table: pa.Table) -> pa.Table:
        if "region" not in table.column_names:
            return table
        region = pc.replace_substring(table["region"], "North", "Nørd 🌲")
        return table.set_column(table.column_names.index("region"), "region", region)

    all_tables(p, change)


def one_row_everywhere(p: Project) -> None:
    """Every table holds one row: the same application on research and production sides."""
    key = p.table("research/features.parquet")["application_id"][0]
    for name, value in list(p.files.items()):
        if isinstance(value, pa.Table):
            rows = value.slice(0, 1) if name.startswith("live/") else None
            p.files[name] = (
                rows if rows is not None else value.filter(pc.equal(value["application_id"], key))
            )


def one_row_live(p: Project) -> None:
    """Live features, predictions and labels hold one row each."""
    for name in ("live/features.parquet", "live/predictions.parquet", "live/labels.parquet"):
        p.edit(name, lambda t: t.slice(0, 1))


def zero_rows_production(p: Project) -> None:
    """production features.parquet has its schema and no rows."""
    p.edit("production/features.parquet", lambda t: t.slice(0, 0))


def zero_rows_live(p: Project) -> None:
    """Live features, predictions and labels have their schemas and no rows."""
    for name in ("live/features.parquet", "live/predictions.parquet", "live/labels.parquet"):
        p.edit(name, lambda t: t.slice(0, 0))


def zero_rows_raw(p: Project) -> None:
    """Not a defect: bureau has no rows on both sides (identical, empty)."""
    for side in ("research", "production"):
        p.edit(f"{side}/raw/bureau.parquet", lambda t: t.slice(0, 0))


def null_keys(p: Project) -> None:
    """production features: three application_id cells are null."""
    table = p.table("production/features.parquet")
    p.set_column(
        "production/features.parquet",
        "application_id",
        null_cells(table["application_id"].combine_chunks(), np.array([2, 20, 200])),
    )


def all_keys_null(p: Project) -> None:
    """production predictions: every application_id is null."""
    table = p.table("production/predictions.parquet")
    p.set_column(
        "production/predictions.parquet", "application_id", pa.nulls(table.num_rows, pa.int64())
    )


def key_int_vs_string(p: Project) -> None:
    """production features: application_id is text ('100001'), research int64."""
    table = p.table("production/features.parquet")
    keys = pc.cast(table["application_id"], pa.string())
    p.set_column("production/features.parquet", "application_id", keys)


def key_int_vs_float(p: Project) -> None:
    """production predictions: application_id is float64 (100001.0), same values."""
    table = p.table("production/predictions.parquet")
    keys = pc.cast(table["application_id"], pa.float64())
    p.set_column("production/predictions.parquet", "application_id", keys)


def key_int_vs_padded_text(p: Project) -> None:
    """Production predictions carry their keys as zero-padded text ('000100001', not 100001)."""
    table = p.table("production/predictions.parquet")
    keys = pc.utf8_lpad(pc.cast(table["application_id"], pa.string()), 9, "0")
    p.set_column("production/predictions.parquet", "application_id", keys)


def million_categories(p: Project) -> None:
    """A raw source of one column: a million distinct category codes, production shuffled."""
    n = 1_000_000
    codes = pc.binary_join_element_wise("cat-", pc.cast(pa.array(np.arange(n)), pa.string()), "")
    table = pa.table({"category": codes})
    p.files["research/raw/categories.parquet"] = table
    order = np.random.default_rng(3).permutation(n)
    p.files["production/raw/categories.parquet"] = table.take(order)
    for side in ("research", "production"):
        p.checklist[side]["raw"]["categories"] = {
            "path": f"{side}/raw/categories.parquet",
            "key": "category",
        }


def million_category_feature(p: Project) -> None:
    """Live traffic where `region` takes a million distinct values (one per row)."""
    n = 1_000_000
    rng = np.random.default_rng(5)
    codes = pc.binary_join_element_wise("zone-", pc.cast(pa.array(np.arange(n)), pa.string()), "")
    live = p.table("live/features.parquet")
    rows = rng.integers(0, live.num_rows, n)
    table = live.take(rows).set_column(0, "application_id", pa.array(np.arange(n) + 900_000))
    p.files["live/features.parquet"] = table.set_column(
        table.column_names.index("region"), "region", codes
    )
    p.checklist["production"]["live"].pop("labels")
    p.checklist["production"]["live"].pop("predictions")


def inf_scores(p: Project) -> None:
    """production predictions: three p_default values are +inf."""
    table = p.table("production/predictions.parquet")
    p.set_column(
        "production/predictions.parquet",
        "p_default",
        replace_cells(table["p_default"], np.array([1, 11, 111]), np.inf),
    )


def nan_both_sides(p: Project) -> None:
    """The same keys' debt_to_income is NaN in research and production (NaN equals NaN)."""
    research = p.table("research/features.parquet")
    nan_keys = research["application_id"].to_numpy()[[4, 40, 400]]
    for side in ("research", "production"):
        name = f"{side}/features.parquet"
        table = p.table(name)
        rows = np.flatnonzero(np.isin(table["application_id"].to_numpy(), nan_keys))
        p.set_column(name, "debt_to_income", replace_cells(table["debt_to_income"], rows, np.nan))


def negative_zero(p: Project) -> None:
    """income is 0.0 for three keys in research and -0.0 for the same keys in production."""
    research = p.table("research/features.parquet")
    zero_keys = research["application_id"].to_numpy()[[6, 60, 600]]
    for side, zero in (("research", 0.0), ("production", -0.0)):
        name = f"{side}/features.parquet"
        table = p.table(name)
        rows = np.flatnonzero(np.isin(table["application_id"].to_numpy(), zero_keys))
        p.set_column(name, "income", replace_cells(table["income"], rows, zero))


def infinities_in_features(p: Project) -> None:
    """debt_to_income is +inf for a few rows in research, production and live alike."""
    research = p.table("research/features.parquet")
    keys = research["application_id"].to_numpy()[[8, 80, 800]]
    for side in ("research", "production"):
        name = f"{side}/features.parquet"
        table = p.table(name)
        rows = np.flatnonzero(np.isin(table["application_id"].to_numpy(), keys))
        p.set_column(name, "debt_to_income", replace_cells(table["debt_to_income"], rows, np.inf))
    live = p.table("live/features.parquet")
    p.set_column(
        "live/features.parquet",
        "debt_to_income",
        replace_cells(live["debt_to_income"], np.array([9, 90, 900]), -np.inf),
    )


def nan_live_scores(p: Project) -> None:
    """Live predictions: every 50th p_default is NaN (20 rows)."""
    live = p.table("live/predictions.parquet")
    rows = np.arange(0, live.num_rows, 50)
    p.set_column(
        "live/predictions.parquet", "p_default", replace_cells(live["p_default"], rows, np.nan)
    )


def tz_aware_vs_naive(p: Project) -> None:
    """production applied_at is zone-aware (Europe/Paris), research naive."""
    table = p.table("production/raw/applications.csv")
    aware = pc.assume_timezone(table["applied_at"], "Europe/Paris")
    p.set_column("production/raw/applications.csv", "applied_at", aware)


def tz_aware_live(p: Project) -> None:
    """Not a defect: live event_time is zone-aware UTC."""
    table = p.table("live/features.parquet")
    p.set_column(
        "live/features.parquet", "event_time", pc.assume_timezone(table["event_time"], "UTC")
    )


def decimal_production(p: Project) -> None:
    """production bureau total_debt is decimal(14, 2), research float64."""
    table = p.table("production/raw/bureau.parquet")
    p.set_column(
        "production/raw/bureau.parquet",
        "total_debt",
        pc.cast(table["total_debt"], pa.decimal128(14, 2)),
    )


def decimal_feature_everywhere(p: Project) -> None:
    """debt_to_income is decimal(12, 6) in research, production and live."""
    for name in (
        "research/features.parquet",
        "production/features.parquet",
        "live/features.parquet",
    ):
        column = p.table(name)["debt_to_income"]
        p.set_column(name, "debt_to_income", pc.cast(column, pa.decimal128(12, 6)))


def list_and_struct_columns(p: Project) -> None:
    """bureau gains a list column (account ages) and a struct column (address) on both sides."""
    for side in ("research", "production"):
        name = f"{side}/raw/bureau.parquet"
        table = p.table(name)
        ids = table["application_id"].to_numpy()
        offsets = pa.array(np.arange(0, 2 * len(ids) + 1, 2, dtype=np.int32))
        ages = pa.ListArray.from_arrays(offsets, pa.array(np.stack([ids % 7, ids % 11], 1).ravel()))
        address = pa.StructArray.from_arrays(
            [pa.array(ids % 100), pa.array((ids % 3).astype(str))], names=["zip", "street"]
        )
        p.files[name] = table.append_column("account_ages", ages).append_column("address", address)


def list_feature_in_live(p: Project) -> None:
    """Live traffic delivers `age` as a one-element list instead of an integer."""
    live = p.table("live/features.parquet")
    ages = live["age"].combine_chunks()
    offsets = pa.array(np.arange(len(ages) + 1, dtype=np.int32))
    p.set_column("live/features.parquet", "age", pa.ListArray.from_arrays(offsets, ages))


def list_key(p: Project) -> None:
    """Live labels carry each key wrapped in a one-element list."""
    keys = p.table("live/labels.parquet")["application_id"].combine_chunks()
    offsets = pa.array(np.arange(len(keys) + 1, dtype=np.int32))
    p.set_column("live/labels.parquet", "application_id", pa.ListArray.from_arrays(offsets, keys))


def list_key_predictions(p: Project) -> None:
    """production predictions wrap each key in a list, and score twice too high (invalid outputs
    whose examples are sorted by key: Arrow crashed the process sorting list keys)."""
    table = p.table("production/predictions.parquet")
    keys = table["application_id"].combine_chunks()
    offsets = pa.array(np.arange(len(keys) + 1, dtype=np.int32))
    table = table.set_column(0, "application_id", pa.ListArray.from_arrays(offsets, keys))
    p.files["production/predictions.parquet"] = table.set_column(
        1, "p_default", pc.multiply(table["p_default"], 2.0)
    )


def list_categorical(p: Project) -> None:
    """`product` (declared categorical) holds lists of codes in research, production and live."""
    for name in (
        "research/features.parquet",
        "production/features.parquet",
        "live/features.parquet",
    ):
        codes = pc.utf8_length(p.table(name)["product"]).combine_chunks()
        offsets = pa.array(np.arange(len(codes) + 1, dtype=np.int32))
        p.set_column(name, "product", pa.ListArray.from_arrays(offsets, codes))


def huge_integer_scores(p: Project) -> None:
    """Live scores arrive as int64 counts beyond 2**53 (a unit bug upstream), not probabilities."""
    live = p.table("live/predictions.parquet")
    scores = np.full(live.num_rows, 2**53 + 1, dtype=np.int64)
    p.set_column("live/predictions.parquet", "p_default", pa.array(scores))


def booleans_as_strings(p: Project) -> None:
    """Live labels spelled 'yes'/'no' while research labels are 0/1."""
    live = p.table("live/labels.parquet")
    words = pc.if_else(pc.equal(live["defaulted"], 1), "yes", "no")
    p.set_column("live/labels.parquet", "defaulted", words)


def booleans_true_false_csv(p: Project) -> None:
    """Labels as CSV with true/false on research, 1/0 integers on live (parquet)."""
    research = p.table("research/labels.parquet")
    as_bool = research.set_column(1, "defaulted", pc.cast(research["defaulted"], pa.bool_()))
    move(p, "research/labels.parquet", "research/labels.csv", as_bool)


def target_absent(p: Project) -> None:
    """research labels name the target 'label', not 'defaulted'."""
    p.edit("research/labels.parquet", lambda t: t.rename_columns(["application_id", "label"]))


def score_absent_live(p: Project) -> None:
    """Live predictions lack the p_default column."""
    p.edit("live/predictions.parquet", lambda t: t.drop_columns(["p_default"]))


def key_absent(p: Project) -> None:
    """production features lack the application_id column."""
    p.edit("production/features.parquet", lambda t: t.drop_columns(["application_id"]))


def duplicate_keys(p: Project) -> None:
    """production features repeat their first five rows (five duplicated keys)."""
    table = p.table("production/features.parquet")
    p.files["production/features.parquet"] = pa.concat_tables([table, table.slice(0, 5)])


def duplicate_prediction_keys(p: Project) -> None:
    """production predictions score the first two keys a second time, with other scores
    (conflicting answers for one key; research has no duplicate)."""
    table = p.table("production/predictions.parquet")
    again = table.slice(0, 2)
    rescored = pc.subtract(pa.scalar(1.0), again["p_default"])
    again = again.set_column(again.column_names.index("p_default"), "p_default", rescored)
    p.files["production/predictions.parquet"] = pa.concat_tables([table, again])


def duplicate_prediction_keys_both_sides(p: Project) -> None:
    """research and production predictions both repeat their first two rows, identically:
    the same count on both sides warns, and the repeated rows agree when compared whole."""
    for side in ("research", "production"):
        table = p.table(f"{side}/predictions.parquet")
        p.files[f"{side}/predictions.parquet"] = pa.concat_tables([table, table.slice(0, 2)])


def out_of_range_scores(p: Project) -> None:
    """production predictions: two p_default values are 1.5."""
    table = p.table("production/predictions.parquet")
    p.set_column(
        "production/predictions.parquet",
        "p_default",
        replace_cells(table["p_default"], np.array([0, 1]), 1.5),
    )


def score_as_text(p: Project) -> None:
    """production predictions: p_default is text."""
    table = p.table("production/predictions.parquet")
    p.set_column(
        "production/predictions.parquet", "p_default", pc.cast(table["p_default"], pa.string())
    )


def three_classes_binary(p: Project) -> None:
    """research labels: every 7th defaulted is 2 in a binary task."""
    table = p.table("research/labels.parquet")
    labels = table["defaulted"].to_numpy().copy()
    labels[::7] = 2
    p.set_column("research/labels.parquet", "defaulted", pa.array(labels))


def single_class_live(p: Project) -> None:
    """Live labels are all 0: the live ROC AUC is undefined."""
    table = p.table("live/labels.parquet")
    p.set_column("live/labels.parquet", "defaulted", pa.array(np.zeros(table.num_rows, np.int64)))


def inverted_live_scores(p: Project) -> None:
    """Live scores are 1 - p: the deployed model ranks applicants backwards."""
    live = p.table("live/predictions.parquet")
    p.set_column("live/predictions.parquet", "p_default", pc.subtract(1.0, live["p_default"]))


def constant_live_scores(p: Project) -> None:
    """Every live score is 0.5 (a model serving its fallback): all ties, no ranking at all."""
    live = p.table("live/predictions.parquet")
    p.set_column("live/predictions.parquet", "p_default", pa.array(np.full(live.num_rows, 0.5)))


def unknown_split_name(p: Project) -> None:
    """production splits rename 'validation' to 'holdout'."""
    table = p.table("production/splits.csv")
    split = pc.replace_substring(table["split"], "validation", "holdout")
    p.set_column("production/splits.csv", "split", split)


def fold_as_text(p: Project) -> None:
    """Not a defect: folds spelled 'fold-0'.. on both sides."""
    for side in ("research", "production"):
        table = p.table(f"{side}/splits.csv")
        fold = pc.binary_join_element_wise("fold-", pc.cast(table["fold"], pa.string()), "")
        p.set_column(f"{side}/splits.csv", "fold", fold)


def huge_unsigned_keys(p: Project) -> None:
    """Keys above int64's range (uint64) in every table, consistently."""

    def change(table: pa.Table) -> pa.Table:
        if "application_id" not in table.column_names:
            return table
        keys = table["application_id"].to_numpy().astype(np.uint64) + np.uint64(2**63)
        return table.set_column(0, "application_id", pa.array(keys, pa.uint64()))

    for side in ("research", "production"):  # CSV would read such keys as floats
        for name in ("raw/applications", "splits"):
            move(p, f"{side}/{name}.csv", f"{side}/{name}.parquet")
    all_tables(p, change)


def null_timestamps_live(p: Project) -> None:
    """Live event_time is null in every row."""
    table = p.table("live/features.parquet")
    p.set_column(
        "live/features.parquet", "event_time", pa.nulls(table.num_rows, table["event_time"].type)
    )


def timestamp_as_text(p: Project) -> None:
    """Live event_time is text in day/month/year form, not a timestamp."""
    table = p.table("live/features.parquet")
    text = pc.strftime(table["event_time"], "%d/%m/%Y %H:%M")
    p.set_column("live/features.parquet", "event_time", text)


def live_missing_feature(p: Project) -> None:
    """Live features lack bureau_score."""
    p.edit("live/features.parquet", lambda t: t.drop_columns(["bureau_score"]))


def partitioned_dataset(p: Project) -> None:
    """Not a defect: production features are a hive-partitioned folder."""
    table = p.files.pop("production/features.parquet")
    assert isinstance(table, pa.Table)
    folder = p.root / "production" / "features"
    pq.write_to_dataset(table, str(folder), partition_cols=["region"])
    p.source("production.features")["path"] = "production/features"


def feather_sources(p: Project) -> None:
    """Not a defect: predictions on both sides are feather files."""
    for side in ("research", "production"):
        move(p, f"{side}/predictions.parquet", f"{side}/predictions.feather")


def long_column_name(p: Project) -> None:
    """Not a defect: loan_amount renamed with 5000 more characters everywhere."""
    rename_everywhere(p, "loan_amount", "loan_amount_" + "x" * 5000)


def empty_column_name(p: Project) -> None:
    """production applications.csv has an empty column name."""
    text = csv_bytes(p.table("production/raw/applications.csv"))
    p.files["production/raw/applications.csv"] = text.replace(b'"term_months"', b'""', 1)


def bom_and_crlf(p: Project) -> None:
    """production applications.csv starts with a UTF-8 BOM and ends lines with CRLF."""
    text = csv_bytes(p.table("production/raw/applications.csv"))
    p.files["production/raw/applications.csv"] = b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n")


# --------------------------------------------------------------------------- expectations


def all_pass(outcome: Outcome) -> None:
    assert {s["status"] for s in outcome.report["stages"]} == {"pass"}


def says(
    check_id: str, status: str, column: str | None = None, text: str = ""
) -> Callable[[Outcome], None]:
    """A `check_id` result with `status` (about `column`) whose message contains `text`."""

    def expect(outcome: Outcome) -> None:
        results = [c for c in outcome.checks() if c["id"] == check_id]
        assert any(
            c["status"] == status and column in (None, c["column"]) and text in c["message"]
            for c in results
        ), (status, column, text, [(c["status"], c["column"], c["message"]) for c in results])

    return expect


def both(*expectations: Callable[[Outcome], None]) -> Callable[[Outcome], None]:
    def expect(outcome: Outcome) -> None:
        for one in expectations:
            one(outcome)

    return expect


def stops_at(
    stage: str, check_id: str, column: str | None = None, text: str = ""
) -> Callable[[Outcome], None]:
    """Not ready: `stage` fails (the run stops there) and `check_id` says why."""
    return both(not_ready_at(stage), says(check_id, "fail", column, text))


def reports_column(name: str) -> Callable[[Outcome], None]:
    def expect(outcome: Outcome) -> None:
        assert name in {c["column"] for c in outcome.checks()}, name
        all_pass(outcome)

    return expect


def details_of(check_id: str, **wanted: object) -> Callable[[Outcome], None]:
    def expect(outcome: Outcome) -> None:
        details = finding(outcome, check_id)["details"]
        for key, value in wanted.items():
            assert details[key] == value, (key, details[key])

    return expect


RAW, FEAT, SPLIT, PRED, PERF, AVAIL = STAGE_ORDER
APPS = ("production.raw.applications", "checklist.yaml:22")

CASES = [
    # files that cannot be read: exit 2 naming the slot, its checklist line and the file
    Case(
        "empty_parquet",
        empty_parquet,
        2,
        ("production.features", "checklist.yaml:26", "features.parquet is empty (0 bytes)"),
    ),
    Case(
        "empty_csv",
        empty_csv,
        2,
        ("research.splits", "checklist.yaml:12", "splits.csv is empty (0 bytes)"),
    ),
    Case(
        "blank_csv", blank_csv, 2, ("production.splits", "checklist.yaml:28", "not even a header")
    ),
    Case(
        "truncated_gzip",
        truncated_gzip,
        2,
        (*APPS, "cannot read production/raw/applications.csv.gz"),
    ),
    Case("not_gzip", not_gzip, 2, (*APPS, "cannot read production/raw/applications.csv.gz")),
    Case(
        "corrupt_parquet",
        corrupt_parquet,
        2,
        (
            "production.predictions",
            "checklist.yaml:30",
            "cannot read production/predictions.parquet",
        ),
        process=True,
    ),
    Case(
        "truncated_parquet",
        truncated_parquet,
        2,
        ("production.predictions", "cannot read production/predictions.parquet"),
    ),
    Case(
        "parquet_named_csv",
        parquet_named_csv,
        2,
        ("production.splits", "cannot read production/splits.csv"),
    ),
    Case(
        "csv_named_parquet",
        csv_named_parquet,
        2,
        ("production.raw.bureau", "cannot read production/raw/bureau.parquet"),
    ),
    Case(
        "wrong_delimiter",
        wrong_delimiter,
        2,
        (*APPS, "semicolon-separated, not comma-separated", "delimiter: ';'"),
        process=True,
    ),
    Case(
        "declared_wrong_delimiter",
        declared_wrong_delimiter,
        2,
        (*APPS, "comma-separated, not semicolon-separated"),
    ),
    Case(
        "latin1_csv", latin1_csv, 2, (*APPS, "column 'region' is not valid utf8 text", "encoding")
    ),
    Case("ragged_csv", ragged_csv, 2, (*APPS, "Expected 9 columns, got 10")),
    Case(
        "unterminated_quote",
        unterminated_quote,
        2,
        (*APPS, "cannot read production/raw/applications.csv"),
    ),
    Case(
        "csv_path_is_folder",
        csv_path_is_folder,
        2,
        ("production.splits", "more_splits.csv is a folder"),
    ),
    Case(
        "unknown_extension",
        unknown_extension,
        2,
        ("production.raw.bureau", "bureau.xlsx", "add `format:`"),
    ),
    Case(
        "corrupt_feather",
        corrupt_feather,
        2,
        ("production.predictions", "cannot read production/predictions.feather"),
    ),
    Case(
        "malformed_jsonl",
        malformed_jsonl,
        2,
        ("production.predictions", "cannot read production/predictions.jsonl"),
    ),
    Case(
        "mixed_types_jsonl",
        mixed_types_jsonl,
        2,
        ("production/predictions.jsonl", "application_id"),
    ),
    Case("not_a_database", not_a_database, 2, ("production.raw.bureau", "file is not a database")),
    Case("missing_table", missing_table, 2, ("production.raw.bureau", "no such table: bureau")),
    Case(
        "environment_garbage",
        environment_garbage,
        2,
        ("research.environment", "environment.json is not UTF-8 text"),
    ),
    Case(
        "environment_missing",
        environment_missing,
        2,
        ("production.environment", "file not found", "requirements.txt"),
    ),
    Case(
        "split_files_disagree",
        split_files_disagree,
        2,
        ("production.splits", "application_id", "do not share a schema"),
    ),
    Case(
        "duplicate_csv_columns",
        duplicate_csv_columns,
        2,
        (*APPS, "duplicate column name(s) 'income'"),
        process=True,
    ),
    Case(
        "duplicate_parquet_columns",
        duplicate_parquet_columns,
        2,
        ("production.features", "checklist.yaml:26", "duplicate column name(s) 'age'"),
    ),
    # data a stage cannot use: exit 2 naming the column (or role) at fault
    Case(
        "list_feature_in_live", list_feature_in_live, 2, ("feature 'age' must be numeric", "list")
    ),
    Case(
        "list_key",
        list_key,
        2,
        ("production.live.labels", "checklist.yaml:39", "key column 'application_id' holds list"),
    ),
    Case(
        "list_key_predictions",
        list_key_predictions,
        2,
        ("production.predictions", "checklist.yaml:30", "key column 'application_id' holds list"),
        process=True,
    ),
    Case(
        "booleans_as_strings",
        booleans_as_strings,
        2,
        ("target", "production.live", "must be numeric", "string"),
    ),
    Case(
        "three_classes_binary",
        three_classes_binary,
        2,
        ("research.predictions", "0/1 or boolean", "found 2"),
    ),
    Case("target_absent", target_absent, 2, ("columns.target 'defaulted'", "research.labels")),
    Case(
        "score_absent_live",
        score_absent_live,
        2,
        ("production.live.predictions", "checklist.yaml:37", "'p_default' is absent"),
    ),
    Case(
        "timestamp_as_text",
        timestamp_as_text,
        2,
        ("production.live.features", "'event_time'", "ISO-8601"),
    ),
    # readable data with a defect: the run completes, not ready, and the report names it
    Case(
        "header_only_csv",
        header_only_csv,
        1,
        expect=stops_at(SPLIT, "SPL001", text="1000 of 1000 rows"),
        process=True,
    ),
    Case(
        "header_only_raw",
        header_only_raw,
        1,
        expect=stops_at(RAW, "RAW003", "application_id", "all null"),
    ),
    Case(
        "mixed_types_csv",
        mixed_types_csv,
        1,
        expect=stops_at(RAW, "RAW003", "income", "incompatible"),
    ),
    Case(
        "all_null_production_feature",
        all_null_production_feature,
        1,
        expect=stops_at(FEAT, "FEAT009", "income"),
    ),
    Case(
        "all_null_live_feature",
        all_null_live_feature,
        1,
        expect=stops_at(AVAIL, "VAR002", "income", "entirely null"),
    ),
    Case(
        "all_null_everywhere",
        all_null_everywhere,
        1,
        expect=both(
            says("VAR002", "warn", "income", "research 100.0%"), stops_at(AVAIL, "VAR007", "income")
        ),
    ),
    Case(
        "zero_rows_production",
        zero_rows_production,
        1,
        expect=stops_at(FEAT, "FEAT004", text="1000 feature rows only in research"),
    ),
    Case(
        "zero_rows_live",
        zero_rows_live,
        1,
        expect=both(
            says("PERF001", "warn", text="realized n/a"), stops_at(AVAIL, "VAR002", text="no rows")
        ),
    ),
    Case(
        "null_keys",
        null_keys,
        1,
        expect=stops_at(FEAT, "FEAT003", text="3 feature rows have a null or duplicated key"),
    ),
    Case(
        "all_keys_null", all_keys_null, 1, expect=stops_at(PRED, "PRD003", text="1000 of 1000 rows")
    ),
    Case(
        "duplicate_keys",
        duplicate_keys,
        1,
        expect=stops_at(FEAT, "FEAT003", text="10 feature rows"),
    ),
    Case(
        "duplicate_prediction_keys",
        duplicate_prediction_keys,
        1,
        expect=stops_at(PRED, "PRD003", text="0 research and 4 production rows have a duplicated"),
    ),
    Case(
        "duplicate_prediction_keys_both_sides",
        duplicate_prediction_keys_both_sides,
        0,
        expect=says("PRD003", "warn", None, "compared whole (key and scores), 0 research rows"),
    ),
    Case(
        "key_absent",
        key_absent,
        1,
        expect=both(
            stops_at(FEAT, "FEAT001", text="application_id"),
            says("FEAT003", "warn", text="without a key"),
        ),
    ),
    Case(
        "key_int_vs_string",
        key_int_vs_string,
        1,
        expect=stops_at(
            FEAT, "FEAT002", "application_id", "int64 in research, string in production"
        ),
    ),
    Case(
        "key_int_vs_padded_text",
        key_int_vs_padded_text,
        1,
        expect=stops_at(PRED, "PRD003", text="1000 of 1000 rows"),
    ),
    Case("inf_scores", inf_scores, 1, expect=stops_at(PRED, "PRD001", text="inf 3")),
    Case(
        "out_of_range_scores",
        out_of_range_scores,
        1,
        expect=stops_at(PRED, "PRD001", text="out_of_range 2"),
    ),
    Case(
        "score_as_text",
        score_as_text,
        1,
        expect=stops_at(PRED, "PRD006", "p_default", "string in production"),
    ),
    Case(
        "tz_aware_vs_naive",
        tz_aware_vs_naive,
        1,
        expect=stops_at(RAW, "RAW003", "applied_at", "timezone added or removed"),
    ),
    Case(
        "decimal_production",
        decimal_production,
        1,
        expect=stops_at(RAW, "RAW003", "total_debt", "precision_loss"),
    ),
    Case(
        "inverted_live_scores",
        inverted_live_scores,
        1,
        expect=stops_at(PERF, "PERF001", text="roc_auc"),
    ),
    Case(
        "constant_live_scores",
        constant_live_scores,
        1,
        expect=stops_at(PERF, "PERF001", text="roc_auc"),
    ),
    Case(
        "unknown_split_name",
        unknown_split_name,
        1,
        expect=stops_at(SPLIT, "SPL002", "split", "changed split"),
    ),
    Case(
        "null_timestamps_live",
        null_timestamps_live,
        1,
        expect=stops_at(AVAIL, "VAR007", "event_time", "null"),
    ),
    Case(
        "live_missing_feature",
        live_missing_feature,
        1,
        expect=stops_at(AVAIL, "VAR001", "bureau_score", "missing"),
    ),
    Case(
        "empty_column_name",
        empty_column_name,
        1,
        expect=stops_at(RAW, "RAW002", text="missing in production: term_months"),
    ),
    Case(
        "million_category_feature",
        million_category_feature,
        1,
        expect=stops_at(AVAIL, "VAR005", "region", "1000000 unseen categories"),
    ),
    # not errors at all: the run completes with the verdict the data dictates
    Case(
        "one_row_everywhere",
        one_row_everywhere,
        1,
        expect=both(
            says("PERF001", "warn", text="cannot be computed"), stops_at(AVAIL, "VAR005", "region")
        ),
        process=True,
    ),
    Case(
        "one_row_live",
        one_row_live,
        1,
        expect=both(
            says("PERF001", "warn", text="realized n/a, estimated n/a"), stops_at(AVAIL, "VAR003")
        ),
    ),
    Case(
        "single_class_live",
        single_class_live,
        0,
        expect=both(
            says("PERF001", "pass", text="realized n/a"),
            details_of("PERF001", realized_status="n/a"),
        ),
    ),
    Case("zero_rows_raw", zero_rows_raw, 0, expect=all_pass),
    Case(
        "unicode_names", unicode_names, 0, expect=reports_column("revenu annuel (€)"), process=True
    ),
    Case("unicode_values", unicode_values, 0, expect=all_pass),
    Case("long_column_name", long_column_name, 0, expect=all_pass),
    Case("negative_zero", negative_zero, 0, expect=all_pass),
    Case("nan_both_sides", nan_both_sides, 0, expect=all_pass),
    Case("infinities_in_features", infinities_in_features, 0, expect=all_pass),
    Case("nan_live_scores", nan_live_scores, 0, expect=says("PERF003", "pass", text="score")),
    Case("key_int_vs_float", key_int_vs_float, 0, expect=all_pass),
    Case("huge_unsigned_keys", huge_unsigned_keys, 0, expect=all_pass),
    Case("million_categories", million_categories, 0, expect=all_pass),
    Case(
        "list_categorical",
        list_categorical,
        0,
        expect=says("FEAT001", "warn", "product", "cannot be compared"),
    ),
    Case("huge_integer_scores", huge_integer_scores, 1, expect=stops_at(PERF, "PERF001")),
    Case("tz_aware_live", tz_aware_live, 0, expect=all_pass),
    Case("decimal_feature_everywhere", decimal_feature_everywhere, 0, expect=all_pass),
    Case(
        "list_and_struct_columns",
        list_and_struct_columns,
        0,
        expect=both(
            says("RAW010", "warn", "account_ages", "not compared"),
            says("RAW010", "warn", "address", "not compared"),
        ),
    ),
    Case("booleans_true_false_csv", booleans_true_false_csv, 0, expect=all_pass),
    Case("fold_as_text", fold_as_text, 0, expect=all_pass),
    Case("latin1_declared", latin1_declared, 0, expect=all_pass),
    Case("gzip_sources", gzip_sources, 0, expect=all_pass),
    Case("bom_and_crlf", bom_and_crlf, 0, expect=all_pass),
    Case("partitioned_dataset", partitioned_dataset, 0, expect=all_pass),
    Case("feather_sources", feather_sources, 0, expect=all_pass),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_data(case: Case, tmp_path: Path, run_cli) -> None:
    assert_outcome(case, run_cli(case.prepare(tmp_path)))


@pytest.fixture(scope="module")
def process_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The `process=True` cases, each run by a real `python -m mlcheck` (a few at a time)."""
    chosen = [c for c in CASES if c.process]
    targets = [c.prepare(tmp_path_factory.mktemp(c.id)) for c in chosen]
    outcomes = run_processes([(target, ()) for target in targets])
    return {c.id: o for c, o in zip(chosen, outcomes, strict=True)}


@pytest.mark.parametrize("case", [c for c in CASES if c.process], ids=lambda c: c.id)
def test_bad_data_real_process(case: Case, process_outcomes: dict[str, Outcome]) -> None:
    assert_outcome(case, process_outcomes[case.id])
