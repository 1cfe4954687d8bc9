"""Stage 4, prediction_mismatch: research.predictions vs production.predictions (SPEC 3.4).

Every check asks the aggregate engine (`ctx.engine.aggregate`) and gets small answers: counts,
profiles, quantiles, crosstabs and the first example rows by key. Rows are described by SQL
expressions (`prediction_sql`): scores (`columns.score`: one column, or class-probability columns
for multiclass) are read as doubles, and the two sides' scores are matched on the key in one
registered join of keys unique and non-null on both sides. Two scores agree when both are
missing (null or NaN), equal, or |a - b| <= atol + rtol * max(|a|, |b|).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mlcheck.checklist import Checklist
from mlcheck.classes import ClassMap, class_map
from mlcheck.compare import (
    RowDifference,
    _can_hold,
    _related,
    _same_zone,
    logical_type,
    type_family,
)
from mlcheck.context import StageContext
from mlcheck.engine import SPLIT_COLUMN_DEFAULT
from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import KeyComparison, KeyCounts, Tolerance
from mlcheck.errors import InputError
from mlcheck.findings import key_absence_findings
from mlcheck.registry import check
from mlcheck.results import Finding, Status
from mlcheck.stage_config import admitting
from mlcheck.stages import prediction_sql as sql
from mlcheck.stages.split_reproducibility import required

STAGE = "prediction_mismatch"
SIDES = ("research", "production")
RESEARCH = "research.predictions"
PRODUCTION = "production.predictions"
FEATURES = "production.features"
NUMERIC = {"integer", "floating", "decimal", "boolean", "null"}


def skip_reason(checklist: Checklist) -> str | None:
    missing = [side for side in SIDES if getattr(checklist, side).predictions is None]
    if missing:
        return f"no predictions declared for {' and '.join(missing)}"
    if not checklist.columns.score_columns:
        return "columns.score is not declared"
    own_keys = all(getattr(checklist, s).predictions.key_columns for s in SIDES)
    if not checklist.key_columns and not own_keys:
        return "no key declared: predictions are matched on the key"
    return None


# --------------------------------------------------------------------------- shared helpers


def engine(ctx: StageContext) -> AggregateEngine:
    return ctx.engine.aggregate


def key_of(ctx: StageContext, slot: str = RESEARCH) -> list[str]:
    return list(ctx.engine.key(slot) or [])


def matched_key(ctx: StageContext) -> list[str]:
    """Research's key, which both predictions tables must hold to be matched on it (an input
    error naming the table otherwise, as reading the column was before the engine port)."""
    key = key_of(ctx)
    for slot in (RESEARCH, PRODUCTION):
        for column in key:  # columns, not rows
            required(ctx, slot, column)
    return key


def registered(ctx: StageContext, name: str, register: Callable[[str], None]) -> str:
    """`name`, registered with the aggregate engine once per run by `register(name)`."""
    full = f"{STAGE}:{name}"

    def compute() -> str:
        register(full)
        return full

    result: str = ctx.engine.memo((STAGE, "relation", full), compute)
    return result


def view(
    ctx: StageContext, name: str, source: str, columns: dict[str, str], where: str | None = None
) -> str:
    agg = engine(ctx)
    return registered(ctx, name, lambda full: agg.register_view(full, source, columns, where))


def key_columns(ctx: StageContext, key: Sequence[str]) -> dict[str, str]:
    q = engine(ctx).quote
    return {k: q(k) for k in key}


def key_value(row: dict[str, Any], key: Sequence[str]) -> Any:
    """An example's key: the value, or {part: value} for a composite key."""
    return row[key[0]] if len(key) == 1 else {k: row[k] for k in key}


def plain(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def score_sql(ctx: StageContext, slot: str) -> list[str]:
    """Each score column of `slot` as a double expression; a non-numeric column is an input
    error."""
    agg = engine(ctx)
    schema = agg.schema(ctx.engine.relation(slot))
    out = []
    for name in ctx.columns.score_columns:
        kind = schema.field(name).type
        if type_family(kind) == "text":
            out.append(_numeric_text(ctx, slot, name, kind))
        elif type_family(kind) in NUMERIC:
            out.append(sql.double(agg.quote, name))
        else:
            raise InputError(f"{slot}: score column {name!r} is {kind}, not numeric")
    return out


def _numeric_text(ctx: StageContext, slot: str, name: str, kind: pa.DataType) -> str:
    """A text score column read as numbers ('0.25'), when every value is one."""
    agg = engine(ctx)
    c = agg.quote(name)
    number = f"TRY_CAST({c} AS DOUBLE)"

    def compute() -> int:
        found = agg.count_where(
            ctx.engine.relation(slot), {"bad": f"{c} IS NOT NULL AND {number} IS NULL"}
        )
        return found["bad"]

    if ctx.engine.memo((STAGE, "text_scores", slot, name), compute):
        raise InputError(f"{slot}: score column {name!r} is {kind}, not numeric")
    return number


def _score_dict(ctx: StageContext, values: Sequence[Any]) -> Any:
    """One row's scores for an example: a number, or {column: value} for multiclass."""
    names = ctx.columns.score_columns
    shown = [plain(v) for v in values]
    return shown[0] if len(names) == 1 else dict(zip(names, shown, strict=True))


# --------------------------------------------------------------------------- PRD001


def invalid_kinds(ctx: StageContext, slot: str) -> dict[str, str]:
    """Per kind of invalid output, the SQL condition (a row may be invalid in several ways)."""
    q, xs = engine(ctx).quote, score_sql(ctx, slot)
    raw = [q(c) for c in ctx.columns.score_columns]
    kinds = {
        "null": sql.any_of([f"{r} IS NULL" for r in raw]),
        "nan": sql.any_of(
            [f"({r} IS NOT NULL AND isnan({x}))" for r, x in zip(raw, xs, strict=True)]
        ),
        "inf": sql.any_of([f"abs({x}) = {sql.INF}" for x in xs]),
    }
    if ctx.task != "regression":
        kinds["out_of_range"] = sql.any_of(
            [f"({sql.finite(x)} AND ({x} < 0 OR {x} > 1))" for x in xs]
        )
    if ctx.task != "regression" and len(xs) > 1:
        off = f"abs({sql.row_sum(xs)} - {sql.number(1.0)}) > {sql.number(ctx.config.sum_tolerance)}"
        kinds["bad_sum"] = f"({sql.all_of([sql.finite(x) for x in xs])} AND {off})"
    return kinds


def invalid_counts(ctx: StageContext, slot: str) -> dict[str, int]:
    """Rows of `slot`, invalid rows, and rows per kind: one query."""

    def compute() -> dict[str, int]:
        kinds = invalid_kinds(ctx, slot)
        conditions = {**kinds, "invalid": sql.any_of(list(kinds.values())), "rows": "TRUE"}
        return engine(ctx).count_where(ctx.engine.relation(slot), conditions)

    result: dict[str, int] = ctx.engine.memo((STAGE, "invalid", slot), compute)
    return result


@check("PRD001", STAGE, thresholds=("max_invalid_rate",))
def invalid_outputs(ctx: StageContext) -> Iterator[Finding]:
    """Invalid model outputs: null, NaN, infinite, out of [0, 1], or not summing to 1.

    Measures, on each side, rows whose score is null, NaN or +-inf; for binary and multiclass
    tasks a probability outside [0, 1]; for multiclass (`columns.score` a list) a row whose
    probabilities do not sum to 1 within `sum_tolerance`. details.kinds counts each kind.
    Why it matters: an invalid score becomes an arbitrary decision downstream (NaN >= t is
    false) or an error in the consuming service.
    Usual causes: null inputs the model cannot handle, categories unseen in training, bad
    streaming data, a post-processing step (calibration, softmax) missing or duplicated.
    Fix: see PRD002 for what explains the production rows; validate inputs before scoring.
    """
    for slot in (RESEARCH, PRODUCTION):
        counts = invalid_counts(ctx, slot)
        kinds = {kind: counts[kind] for kind in invalid_kinds(ctx, slot)}
        total, n = counts["rows"], counts["invalid"]
        rate = n / total if total else 0.0
        over = rate > ctx.config.max_invalid_rate
        yield Finding(
            Status.FAIL if over else (Status.WARN if n else Status.PASS),
            f"{n} of {total} outputs of {slot} are invalid ({rate:.2%})" + _kinds_text(kinds),
            source=slot,
            observed=rate,
            threshold=ctx.config.max_invalid_rate,
            hint=_INVALID_HINT if n else None,
            details={
                "rows": total,
                "invalid": n,
                "kinds": kinds,
                "examples": _invalid_examples(ctx, slot) if n else [],
            },
        )


_INVALID_HINT = "The model emits outputs a consumer cannot use: PRD002 attributes production rows to null inputs or unseen categories; guard the scoring code (impute, map unknown categories) and validate outputs before serving."


def _kinds_text(counts: dict[str, int]) -> str:
    found = [f"{kind} {n}" for kind, n in counts.items() if n]
    return f": {', '.join(found)}" if found else ""


def _invalid_examples(ctx: StageContext, slot: str) -> list[dict[str, Any]]:
    """The first invalid rows by key, with their kinds and scores."""
    key, kinds, xs = key_of(ctx, slot), invalid_kinds(ctx, slot), score_sql(ctx, slot)
    scores = {f"mlcheck_s{j}": x for j, x in enumerate(xs)}
    flags = {f"mlcheck_k_{kind}": sql.flag(c) for kind, c in kinds.items()}
    source = ctx.engine.relation(slot)
    where = sql.any_of(list(kinds.values()))
    name = view(ctx, f"invalid:{slot}", source, {**key_columns(ctx, key), **scores, **flags}, where)
    rows = engine(ctx).first_rows(name, [*key, *scores, *flags], key, ctx.config.examples)
    return [
        {
            "key": key_value(row, key),
            "kinds": [kind for kind in kinds if row[f"mlcheck_k_{kind}"]],
            "score": _score_dict(ctx, [row[s] for s in scores]),
        }
        for row in rows
    ]


# --------------------------------------------------------------------------- PRD002


@check("PRD002", STAGE, thresholds=("max_invalid_rate",))
def invalid_output_causes(ctx: StageContext) -> Iterator[Finding]:
    """What explains invalid production outputs: null inputs, unseen categories, or nothing known.

    Joins each invalid production output (PRD001) on the key with production.features and
    counts the rows that have a null (or NaN) model input, naming the columns
    (details.null_inputs), and the rows that carry a category never seen in research TRAINING
    features (the train split when splits are declared, else all research features), naming
    column and value (details.unseen_categories). A row may have both. The rest is unexplained.
    Why it matters: the fix depends on the cause: imputation for nulls, an unknown-category
    fallback for new categories; unexplained rows point at the model or its runtime.
    Fix: impute as in training; map unseen categories to a fallback (handle_unknown='ignore',
    an 'other' bucket); for unexplained rows compare the inputs between environments (stage 2).
    """
    n = invalid_counts(ctx, PRODUCTION)["invalid"]
    total = invalid_counts(ctx, PRODUCTION)["rows"]
    over = total > 0 and n / total > ctx.config.max_invalid_rate
    status = Status.FAIL if over else (Status.WARN if n else Status.PASS)
    if not n:
        yield Finding(
            Status.PASS, "no invalid production outputs to explain", source=PRODUCTION, observed=0
        )
    elif not ctx.declared(FEATURES):
        yield Finding(
            status,
            f"{n} invalid production outputs; production.features is not declared, so they cannot be attributed",
            source=PRODUCTION,
            observed=n,
            hint="Declare production.features to attribute invalid outputs to null inputs or unseen categories.",
        )
    else:
        yield _attribution(ctx, n, status)


@dataclass(frozen=True)
class Causes:
    """Attribution of the invalid production rows (counts, never rows)."""

    counts: dict[str, int]
    null_inputs: dict[str, int]
    unseen: list[dict[str, Any]]
    unseen_values: int
    reference: str
    unexplained_examples: list[Any]


def _attribution(ctx: StageContext, n: int, status: Status) -> Finding:
    causes = attribute(ctx, n)
    counts = causes.counts
    return Finding(
        status,
        _attribution_message(counts, causes),
        source=PRODUCTION,
        observed={
            k: counts[k]
            for k in ("explained_by_null_inputs", "explained_by_unseen_categories", "unexplained")
        },
        hint=_attribution_hint(counts, causes),
        details={
            **counts,
            "explained_share": (n - counts["unexplained"]) / n,
            "null_inputs": causes.null_inputs,
            "unseen_categories": causes.unseen,
            "distinct_unseen_values": causes.unseen_values,
            "reference": causes.reference,
            "unexplained_examples": causes.unexplained_examples,
        },
    )


def _attribution_message(counts: dict[str, int], causes: Causes) -> str:
    nulls = ", ".join(causes.null_inputs) or "-"
    unseen = ", ".join(f"{u['column']}={u['value']!r}" for u in causes.unseen[:3]) or "-"
    return (
        f"{counts['invalid']} invalid production outputs: {counts['explained_by_null_inputs']} with null inputs ({nulls}), "
        f"{counts['explained_by_unseen_categories']} with unseen categories ({unseen}), {counts['unexplained']} unexplained"
    )


def _attribution_hint(counts: dict[str, int], causes: Causes) -> str:
    parts = []
    if counts["explained_by_null_inputs"]:
        parts.append(
            f"Null inputs ({', '.join(causes.null_inputs)}) reach the model: impute them in production exactly as in training."
        )
    if counts["explained_by_unseen_categories"]:
        parts.append(
            "Categories never seen in training reach the model: map unknown categories to a fallback (handle_unknown='ignore' or an 'other' bucket) and monitor their rate (stage 6)."
        )
    if counts["unexplained"]:
        parts.append(
            "Unexplained rows: compare their inputs between environments (stage 2) and check the model artifact and runtime."
        )
    return " ".join(parts)


def attribute(ctx: StageContext, n: int) -> Causes:
    """Null inputs and unseen categories of the production features rows of the `n` invalid
    outputs (matched on keys unique on both sides): one count query over every column."""
    agg, key = engine(ctx), key_of(ctx, PRODUCTION)
    invalid, joined = _invalid_rows_with_features(ctx, key)
    features = agg.schema(ctx.engine.relation(FEATURES))
    columns = feature_columns(ctx, features)
    rows, seen, described = _with_seen_flags(ctx, joined, features)
    nulls = {c: _null_sql(ctx, c, features.field(c).type) for c in columns}
    unseen = {c: f"NOT {agg.quote(flag)}" for c, flag in seen.items()}
    null_any, unseen_any = sql.any_of(list(nulls.values())), sql.any_of(list(unseen.values()))
    found = agg.count_where(
        rows,
        {
            **{f"null:{c}": s for c, s in nulls.items()},
            **{f"unseen:{c}": s for c, s in unseen.items()},
            "null_any": null_any,
            "unseen_any": unseen_any,
            "both": f"{null_any} AND {unseen_any}",
            "rows": "TRUE",
        },
    )
    explained = found["null_any"] + found["unseen_any"] - found["both"]
    counts = {
        "invalid": n,
        "explained_by_null_inputs": found["null_any"],
        "explained_by_unseen_categories": found["unseen_any"],
        "explained_by_both": found["both"],
        "unexplained": n - explained,
        "without_features_row": n - found["rows"],
    }
    null_inputs = {c: found[f"null:{c}"] for c in columns if found[f"null:{c}"]}
    values, distinct = _unseen_values(ctx, rows, seen, found)
    examples = []
    if counts["unexplained"]:
        examples = _unexplained_examples(ctx, key, invalid, rows, f"{null_any} OR {unseen_any}")
    return Causes(
        counts,
        dict(sorted(null_inputs.items(), key=lambda item: (-item[1], item[0]))),
        values,
        distinct,
        described,
        examples,
    )


def _with_seen_flags(
    ctx: StageContext, joined: str, features: pa.Schema
) -> tuple[str, dict[str, str], str]:
    """`joined` with, per categorical feature, whether its value occurs in the training
    reference (column -> flag column), and how the reference was chosen."""
    agg = engine(ctx)
    reference, described = training_reference(ctx)
    if reference is None:
        return joined, {}, described
    names = set(agg.schema(reference).names)
    cats = [c for c in categorical_columns(ctx, features) if c in names]
    seen = {c: f"mlcheck_seen_{i}" for i, c in enumerate(cats)}
    if not seen:
        return joined, seen, described

    def register(full: str) -> None:
        agg.register_membership(full, joined, reference, seen)

    return registered(ctx, "invalid_seen", register), seen, described


def _invalid_rows_with_features(ctx: StageContext, key: list[str]) -> tuple[str, str]:
    """(every invalid production row: key and key text; the invalid rows whose key occurs once
    in production.predictions joined to production.features)."""
    agg, source = engine(ctx), ctx.engine.relation(PRODUCTION)
    q, keys = agg.quote, key_columns(ctx, key)
    invalid = sql.any_of(list(invalid_kinds(ctx, PRODUCTION).values()))
    partition = ", ".join(keys.values())
    marked = view(
        ctx,
        "invalid_marked",
        source,
        {
            **keys,
            "mlcheck_invalid": sql.flag(invalid),
            "mlcheck_n": f"count(*) OVER (PARTITION BY {partition})",
        },
    )
    every = view(
        ctx,
        "invalid_keys",
        marked,
        {**keys, "mlcheck_key": sql.key_text(q, key)},
        "mlcheck_invalid = 1",
    )
    pairable = "" if keys_alike(ctx, PRODUCTION, FEATURES) else " AND FALSE"
    once = view(
        ctx, "invalid_once", marked, keys, f"mlcheck_invalid = 1 AND mlcheck_n = 1{pairable}"
    )
    features = ctx.engine.relation(FEATURES)
    joined = registered(
        ctx, "invalid_features", lambda full: agg.register_join(full, once, features, key)
    )
    return every, joined


def _null_sql(ctx: StageContext, column: str, kind: pa.DataType) -> str:
    """Null, or NaN for a float column (a NaN input is a missing input)."""
    c = engine(ctx).quote(column)
    return f"({c} IS NULL OR isnan({c}))" if type_family(kind) == "floating" else f"{c} IS NULL"


def _unseen_values(
    ctx: StageContext, rows: str, seen: dict[str, str], found: dict[str, int]
) -> tuple[list[dict[str, Any]], int]:
    """The most frequent unseen values (column, value, rows) over every categorical column,
    and how many distinct unseen values there are."""
    agg, limit = engine(ctx), ctx.config.examples
    out: list[dict[str, Any]] = []
    distinct = 0
    for i, (column, flag) in enumerate(seen.items()):
        if not found[f"unseen:{column}"]:
            continue
        unseen = view(
            ctx, f"unseen:{i}", rows, {column: agg.quote(column)}, f"NOT {agg.quote(flag)}"
        )
        counts = agg.value_counts(unseen, column).get(None, ())
        out += [{"column": column, "value": v, "rows": n} for v, n in counts[:limit]]
        distinct += len(counts)
    out.sort(key=lambda u: (-u["rows"], u["column"], str(u["value"])))
    return out[:limit], distinct


def _unexplained_examples(
    ctx: StageContext, key: list[str], invalid: str, rows: str, explained: str
) -> list[Any]:
    """The first invalid rows by key that neither a null input nor an unseen category explains
    (rows without a features row included)."""
    agg, q = engine(ctx), engine(ctx).quote
    causes = view(ctx, "explained", rows, {"mlcheck_key": sql.key_text(q, key)}, explained)
    marked = registered(
        ctx,
        "explained_marked",
        lambda full: agg.register_membership(
            full, invalid, causes, {"mlcheck_key": "mlcheck_explained"}
        ),
    )
    left = view(
        ctx,
        "unexplained",
        marked,
        key_columns(ctx, key),
        "mlcheck_explained IS NULL OR NOT mlcheck_explained",
    )
    return [key_value(r, key) for r in agg.first_rows(left, key, key, ctx.config.examples)]


def feature_columns(ctx: StageContext, schema: pa.Schema) -> list[str]:
    """The model inputs: `columns.features`, else every column without a role, not ignored, not a key."""
    if ctx.columns.features:
        return [c for c in ctx.columns.features if c in schema.names]
    skip = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(FEATURES) or [])
    )
    return [c for c in schema.names if c not in skip]


def categorical_columns(ctx: StageContext, schema: pa.Schema) -> list[str]:
    """Declared categorical features, plus text and boolean ones (a categorical is text)."""
    declared = set(ctx.columns.categorical)
    return [
        c
        for c in feature_columns(ctx, schema)
        if c in declared or type_family(schema.field(c).type) in ("text", "boolean")
    ]


def training_reference(ctx: StageContext) -> tuple[str | None, str]:
    """Research features of the training split when splits are declared, else all of them."""

    def compute() -> tuple[str | None, str]:
        if not ctx.declared("research.features"):
            return None, "research.features not declared"
        agg, features = engine(ctx), ctx.engine.relation("research.features")
        total = agg.num_rows(features)
        if not ctx.declared("research.splits"):
            return features, f"all {total} research features rows (no splits declared)"
        key, q = key_of(ctx, "research.features"), agg.quote
        split = ctx.columns.split or SPLIT_COLUMN_DEFAULT
        splits = view(
            ctx,
            "split_of",
            ctx.engine.relation("research.splits"),
            {**key_columns(ctx, key), "mlcheck_split": q(split)},
        )
        if not keys_alike(ctx, "research.features", "research.splits"):
            return features, f"all {total} research features rows (no training split found)"
        joined = registered(
            ctx, "train_join", lambda full: agg.register_join(full, features, splits, key)
        )
        names = [n.lower() for n in ctx.checklist.stages.split_reproducibility.train]
        train = f"lower(CAST(mlcheck_split AS STRING)) IN ({', '.join(sql.text(n) for n in names)})"
        n = agg.count_where(joined, {"train": train})["train"]
        if n == 0:
            return features, f"all {total} research features rows (no training split found)"
        columns = {c: q(c) for c in agg.schema(features).names}
        return view(ctx, "train", joined, columns, train), f"{n} research training rows"

    result: tuple[str | None, str] = ctx.engine.memo((STAGE, "training_reference"), compute)
    return result


# --------------------------------------------------------------------------- PRD003


def key_comparison(ctx: StageContext) -> KeyComparison:
    """The two predictions tables' keys compared (counts and first keys), once."""

    def compute() -> KeyComparison:
        matched_key(ctx)
        if not keys_alike(ctx, RESEARCH, PRODUCTION):
            return _unmatched_keys(ctx)
        return _compared_keys(ctx)

    result: KeyComparison = ctx.engine.memo((STAGE, "keys"), compute)
    return result


def key_casts(ctx: StageContext, left: str, right: str) -> dict[str, str] | None:
    """Per key column of `left` typed differently in `right` but a number on both sides (a key
    read as 100001 on one side and 100001.0 on the other), the SQL type both are compared in;
    None when a key column cannot match at all (a number against text, or missing)."""
    agg = engine(ctx)
    schemas = [agg.schema(ctx.engine.relation(s)) for s in (left, right)]
    casts = {}
    for k in key_of(ctx, left):
        if k not in schemas[1].names:
            return None
        types = [logical_type(schema.field(k).type) for schema in schemas]
        families = {type_family(t) for t in types}
        if types[0].equals(types[1]):
            continue
        if families <= {"integer"}:
            casts[k] = "BIGINT"
        elif families <= {"integer", "floating", "decimal"}:
            casts[k] = "DOUBLE"
        else:
            return None
    return casts


def keys_alike(ctx: StageContext, left: str, right: str) -> bool:
    """Whether keys of `left` can match keys of `right` (an engine must never cast text keys
    to numbers to make 100001 equal '000100001')."""
    return key_casts(ctx, left, right) is not None


def _compared_keys(ctx: StageContext) -> KeyComparison:
    """Keys typed alike (or as numbers in one common type) compared by the engine."""
    casts = key_casts(ctx, RESEARCH, PRODUCTION) or {}
    key, q = key_of(ctx), engine(ctx).quote
    sides = [ctx.engine.relation(s) for s in (RESEARCH, PRODUCTION)]
    if casts:
        typed = {k: f"CAST({q(k)} AS {casts[k]})" if k in casts else q(k) for k in key}
        sides = [
            view(ctx, f"keys_typed:{s}", r, typed)
            for s, r in zip((RESEARCH, PRODUCTION), sides, strict=True)
        ]
    return engine(ctx).key_comparison(
        sides[0],
        sides[1],
        key,
        {},
        Tolerance(ctx.config.rtol, ctx.config.atol),
        ctx.config.examples,
    )


def _unmatched_keys(ctx: StageContext) -> KeyComparison:
    """Keys typed differently on the two sides: no key matches. Per side its null and
    duplicate key rows, and every other row is on that side only; examples one per row
    (distinct-key counts, unused here, are left at 0)."""
    agg, key = engine(ctx), key_of(ctx)
    keys = key_columns(ctx, key)
    null = sql.any_of([f"{k} IS NULL" for k in keys.values()])
    many = f"count(*) OVER (PARTITION BY {', '.join(keys.values())}) > 1"
    sides = []
    for slot in (RESEARCH, PRODUCTION):
        marked = view(
            ctx,
            f"keys_marked:{slot}",
            ctx.engine.relation(slot),
            {**keys, "mlcheck_null": sql.flag(null), "mlcheck_many": sql.flag(many)},
        )
        found = agg.count_where(
            marked,
            {
                "rows": "TRUE",
                "null": "mlcheck_null = 1",
                "many": "mlcheck_null = 0 AND mlcheck_many = 1",
            },
        )
        present = view(ctx, f"keys_present:{slot}", marked, keys, "mlcheck_null = 0")
        shown = agg.first_rows(present, key, key, ctx.config.examples)
        examples = tuple({"key": key_value(r, key), "rows": 1} for r in shown)
        sides.append((found, KeyCounts(found["null"], found["many"], 0, ()), examples))
    (left, left_counts, lost), (right, right_counts, extra) = sides
    rows = RowDifference(
        "key", left["rows"] - left["null"], right["rows"] - right["null"], 0, 0, lost, extra
    )
    return KeyComparison(
        tuple(key), left["rows"], right["rows"], 0, left_counts, right_counts, rows
    )


@check("PRD003", STAGE, thresholds=("max_missing_predictions", "max_mismatch_rate"))
def keys_predicted_on_one_side(ctx: StageContext) -> Iterator[Finding]:
    """Keys predicted on one side only, and rows whose key is duplicated or null.

    Measures the keys of research.predictions absent from production.predictions and the
    reverse. Rows with a duplicated or null key cannot be paired and are left out of PRD004/
    PRD005, so, as in stages 1-2: a changed number of them fails; the same number on both sides
    warns, and those rows are compared whole (key and scores) as an exact multiset: the share
    without an identical row on the other side counts against `max_mismatch_rate`.
    Why it matters: rows production did not score are decisions never made; extra rows mean the
    two runs scored different populations, so agreement below covers only part of the data; a
    key scored twice with different scores is two answers for one decision.
    Usual causes: rows dropped by a failing or filtering step before scoring, a batch that
    timed out, scoring a different snapshot; a join fan-out or a batch scored twice (duplicates).
    Fix: score the same rows in both environments; make failures explicit rather than dropped;
    deduplicate before scoring.
    """
    hint = (
        "{other} did not score these keys: look for rows dropped or filtered before scoring, or "
        "a different input snapshot."
    )
    keys = key_comparison(ctx)
    limit, examples = ctx.config.max_missing_predictions, ctx.config.examples
    yield from key_absence_findings(keys, RESEARCH, PRODUCTION, limit, hint, examples)
    finding = _set_aside_finding(ctx, keys)
    if finding is not None:
        yield finding


def _set_aside_finding(ctx: StageContext, keys: KeyComparison) -> Finding | None:
    """Rows the key match left out (duplicated or null key), judged like stages 1-2 do."""
    left = keys.left.duplicate_rows + keys.left.null_rows
    right = keys.right.duplicate_rows + keys.right.null_rows
    if not left and not right:
        return None
    counts = {
        side: {"duplicate_key_rows": c.duplicate_rows, "null_key_rows": c.null_rows}
        for side, c in (("research", keys.left), ("production", keys.right))
    }
    details: dict[str, Any] = {
        **counts,
        "research_examples": _row_examples(ctx, RESEARCH) if left else [],
        "production_examples": _row_examples(ctx, PRODUCTION) if right else [],
    }
    head = (
        f"{left} research and {right} production rows have a duplicated or null key "
        "and cannot be paired"
    )
    if counts["research"] != counts["production"]:
        return _changed_count_finding(head, counts, details)
    return _compared_whole_finding(ctx, head, (left, right), details)


def _changed_count_finding(
    head: str, counts: dict[str, dict[str, int]], details: dict[str, Any]
) -> Finding:
    research, production = counts["research"], counts["production"]
    return Finding(
        Status.FAIL,
        f"{head}: the number changed (duplicated: research {research['duplicate_key_rows']}, "
        f"production {production['duplicate_key_rows']}; null: research "
        f"{research['null_key_rows']}, production {production['null_key_rows']})",
        source=PRODUCTION,
        observed=sum(production.values()),
        expected=sum(research.values()),
        hint=_SET_ASIDE_HINT,
        details=details,
    )


def _compared_whole_finding(
    ctx: StageContext, head: str, rows: tuple[int, int], details: dict[str, Any]
) -> Finding:
    """The same numbers of set-aside rows on both sides: warn, or fail when too many of them
    have no identical row (key and scores) on the other side."""
    columns = [*key_of(ctx), *ctx.columns.score_columns]
    found = engine(ctx).multiset_difference(
        _set_aside(ctx, RESEARCH), _set_aside(ctx, PRODUCTION), columns, 1
    )  # one example, unused: DuckDB's multiset_difference cannot be asked for none
    lost, extra = found.lost, found.extra
    rate = max(lost, extra) / rows[0]
    return Finding(
        Status.FAIL if rate > ctx.config.max_mismatch_rate else Status.WARN,
        f"{head}; compared whole (key and scores), {lost} research rows have no identical "
        f"production row ({extra} the other way)",
        source=PRODUCTION,
        observed=rate,
        threshold=ctx.config.max_mismatch_rate,
        hint=_SET_ASIDE_HINT,
        details={**details, "research_rows_differing": lost, "production_rows_differing": extra},
    )


_SET_ASIDE_HINT = (
    "A key scored more than once (a join fan-out, a batch scored twice) or a null key cannot be "
    "paired, so PRD004/PRD005 leave these rows out: deduplicate before scoring, or declare the "
    "full composite key."
)


def _set_aside(ctx: StageContext, slot: str) -> str:
    """The rows of `slot` whose key is duplicated or has a null part: key and score columns."""
    agg, key = engine(ctx), key_of(ctx)
    keys = key_columns(ctx, key)
    scores = {c: agg.quote(c) for c in ctx.columns.score_columns}
    null = sql.any_of([f"{k} IS NULL" for k in keys.values()])
    many = f"count(*) OVER (PARTITION BY {', '.join(keys.values())}) > 1"
    aside = f"CASE WHEN {null} THEN 1 WHEN {many} THEN 1 ELSE 0 END"
    source = ctx.engine.relation(slot)
    marked = view(ctx, f"aside_marked:{slot}", source, {**keys, **scores, "mlcheck_aside": aside})
    return view(ctx, f"aside:{slot}", marked, {**keys, **scores}, "mlcheck_aside = 1")


def _row_examples(ctx: StageContext, slot: str) -> list[dict[str, Any]]:
    """The first rows by key, with their scores (a duplicated key shows all its scores); rows
    of one key ordered by their scores' text, so file order never changes the report."""
    key, names = key_of(ctx), list(ctx.columns.score_columns)
    rows = engine(ctx).first_rows(_set_aside(ctx, slot), [*key, *names], key, ctx.config.examples)
    examples = [{"key": key_value(r, key), **{c: r[c] for c in names}} for r in rows]
    rank = {repr(e["key"]): i for i, e in reversed(list(enumerate(examples)))}
    return sorted(examples, key=lambda e: (rank[repr(e["key"])], repr(list(e.values()))))


# --------------------------------------------------------------------------- matched scores


def matched(ctx: StageContext) -> str:
    """Both sides' scores (and decisions) on keys unique and non-null on both sides: research's
    as mlcheck_r{j}, production's as mlcheck_p{j} (decisions mlcheck_rd / mlcheck_pd)."""
    agg, key = engine(ctx), matched_key(ctx)
    decision = _decision_sql(ctx)
    sides = []
    for slot, tag, made in ((RESEARCH, "r", decision[0]), (PRODUCTION, "p", decision[1])):
        columns = {f"mlcheck_{tag}{j}": x for j, x in enumerate(score_sql(ctx, slot))}
        if made is not None:
            columns[f"mlcheck_{tag}d"] = made
        source = ctx.engine.relation(slot)
        pairable = None if keys_alike(ctx, RESEARCH, PRODUCTION) else "FALSE"
        sides.append(
            view(ctx, f"scores:{slot}", source, {**key_columns(ctx, key), **columns}, pairable)
        )
    return registered(ctx, "matched", lambda full: agg.register_join(full, sides[0], sides[1], key))


def pair_sql(j: int) -> tuple[str, str]:
    return f"mlcheck_r{j}", f"mlcheck_p{j}"


@dataclass(frozen=True)
class ColumnCounts:
    """One score column over the matched keys."""

    matched: int
    mismatched: int  # beyond tolerance (missing vs present counts)
    finite: int  # both sides finite
    mismatched_finite: int
    within: int  # finite, within tolerance but not equal
    nonzero: int  # finite with a non-zero difference
    huge: int  # finite, one side beyond 2**256 (differences may overflow)


def column_counts(ctx: StageContext) -> list[ColumnCounts]:
    """Every score column's counts over the matched keys: one query."""

    def compute() -> list[ColumnCounts]:
        conditions: dict[str, str] = {"rows": "TRUE"}
        for j in range(len(ctx.columns.score_columns)):
            a, b = pair_sql(j)
            near = sql.close(a, b, ctx.config.atol, ctx.config.rtol)
            both = f"{sql.finite(a)} AND {sql.finite(b)}"
            conditions |= {
                f"mis{j}": f"NOT {near}",
                f"fin{j}": both,
                f"misfin{j}": f"{both} AND NOT {near}",
                f"within{j}": f"{both} AND {near} AND {b} - {a} <> 0",
                f"nonzero{j}": f"{both} AND {b} - {a} <> 0",
                f"huge{j}": f"{both} AND greatest(abs({a}), abs({b})) >= {sql.number(2.0**256)}",
            }
        found = engine(ctx).count_where(matched(ctx), conditions)
        return [
            ColumnCounts(
                found["rows"],
                found[f"mis{j}"],
                found[f"fin{j}"],
                found[f"misfin{j}"],
                found[f"within{j}"],
                found[f"nonzero{j}"],
                found[f"huge{j}"],
            )
            for j in range(len(ctx.columns.score_columns))
        ]

    result: list[ColumnCounts] = ctx.engine.memo((STAGE, "column_counts"), compute)
    return result


# --------------------------------------------------------------------------- PRD004


PATTERN_TEXT = {
    "identical": "identical",
    "within_tolerance": "float noise within tolerance",
    "invalid_outputs": "only invalid outputs differ",
    "constant_offset": "a constant offset",
    "tiny_uniform": "tiny differences on most rows",
    "localized": "large differences on a few rows",
    "large_scattered": "large differences scattered over many rows",
    "column_permutation": "score columns permuted",
}
PATTERN_HINT = {
    "invalid_outputs": "Only rows with a missing or infinite score differ: see PRD001/PRD002 for their cause.",
    "constant_offset": "Every score moved by about the same amount: a changed preprocessing step (scaling, centring, an intercept or calibration) or a different base score. Compare the preprocessing code and its fitted parameters.",
    "tiny_uniform": "Tiny differences on most rows: float precision (float32 vs float64) or a library version change (numpy/BLAS, the model library). Compare environments (stage 2); if the difference is acceptable, set stages.prediction_mismatch.atol to {atol}.",
    "localized": "A few rows differ while the rest agree: their inputs differ between environments (see feature parity for these keys) or they hit an edge case (nulls, unseen categories).",
    "large_scattered": "Large differences spread over many rows: a different model, e.g. training not seeded, another artifact or version loaded. Pin the model artifact and seed training.",
}


@check("PRD004", STAGE, thresholds=("atol", "rtol", "max_mismatch_rate"))
def score_agreement(ctx: StageContext) -> Iterator[Finding]:
    """Scores that differ beyond tolerance on matched keys.

    Per score column, on keys present once on both sides: the count and rate of scores beyond
    |a - b| <= atol + rtol * max(|a|, |b|) (a missing score against a present one counts), the
    count that differ only within tolerance, max and mean absolute difference, mean signed
    difference, Spearman rank correlation, and the pattern of the differences
    (details.pattern): identical, within_tolerance (float noise), tiny_uniform (precision or
    library version), constant_offset (a changed preprocessing step), localized (a few rows: their
    inputs), large_scattered (unseeded training or a different model), invalid_outputs.
    Why it matters: the model in production is not the model that was validated.
    Usual causes: see the patterns above: precision or library versions, a changed preprocessing
    step, different inputs on some rows, an unseeded or different model artifact.
    Fix: follow the pattern's hint; for a regression task this is the whole comparison.
    """
    for index, name in enumerate(ctx.columns.score_columns):
        yield _agreement_finding(ctx, index, name)


@dataclass(frozen=True)
class Differences:
    """Statistics of one column's finite differences (production - research), times `shrink`."""

    shrink: float
    max_abs: float
    mean_abs: float
    mean: float
    research_std: float | None  # ddof=1, over research's finite matched scores
    spearman: float | None


def differences(ctx: StageContext, j: int) -> Differences:
    """Profiles of the differences, research's scores and both sides' ranks (three queries),
    in units scaled by `shrink`; once per column."""

    def compute() -> Differences:
        shrink = _shrink(ctx, j)
        a, b = pair_sql(j)
        both = f"({sql.finite(a)} AND {sql.finite(b)})"
        s = sql.number(shrink)
        columns = {
            "d": f"CASE WHEN {both} THEN {b} * {s} - {a} * {s} END",
            "m": f"CASE WHEN {both} THEN abs({b} * {s} - {a} * {s}) END",
            "r": f"CASE WHEN {both} THEN {a} * {s} END",
            "u": sql.average_rank_twice(a, both),
            "v": sql.average_rank_twice(b, both),
        }
        stats = view(ctx, f"differences:{j}", matched(ctx), columns)
        ranked = view(ctx, f"rank_products:{j}", stats, {**{c: c for c in columns}, "uv": "u * v"})
        kinds: dict[str, Any] = dict.fromkeys("dmr", "float") | dict.fromkeys(
            ("u", "v", "uv"), "integer"
        )
        # No distinct count of the floats: nothing here reads it (1M rows: ~0.25 s CPU less).
        found = engine(ctx).profiles(ranked, kinds, 0, float_distinct=False)
        n = found["d"].count
        if n == 0:
            return Differences(shrink, 0.0, 0.0, 0.0, None, None)
        return Differences(
            shrink,
            float(found["m"].max),
            float(found["m"].mean or 0.0),
            float(found["d"].mean or 0.0),
            found["r"].std,
            _spearman(n, found["u"].std, found["v"].std, found["uv"].sum),
        )

    result: Differences = ctx.engine.memo((STAGE, "differences", j), compute)
    return result


def _shrink(ctx: StageContext, j: int) -> float:
    """1.0, or the power of two (exact) that brings finite scores beyond 2**256 below it, so
    that their differences and sums stay inside float64. Statistics are scaled back: one that
    overflows then is inf, its true value being beyond float64."""
    if not column_counts(ctx)[j].huge:
        return 1.0
    a, b = pair_sql(j)
    both = f"({sql.finite(a)} AND {sql.finite(b)})"
    columns = {"r": f"CASE WHEN {both} THEN {a} END", "p": f"CASE WHEN {both} THEN {b} END"}
    found = engine(ctx).profiles(
        view(ctx, f"extremes:{j}", matched(ctx), columns),
        {"r": "float", "p": "float"},
        0,
        float_distinct=False,
    )
    largest = max(
        abs(float(v)) for c in "rp" for v in (found[c].min, found[c].max) if v is not None
    )
    return math.ldexp(1.0, 256 - math.frexp(largest)[1])


def _spearman(
    n: int, std_u: float | None, std_v: float | None, sum_uv: float | None
) -> float | None:
    """Pearson correlation of twice the average ranks u and v (each summing to n(n + 1)):
    Spearman's rank correlation with ties averaged; None when undefined."""
    if n < 2 or not std_u or not std_v or sum_uv is None:
        return None
    covariance = (sum_uv - n * (n + 1) ** 2) / (n - 1)
    return float(covariance / (std_u * std_v))


def name_pattern(ctx: StageContext, j: int, counts: ColumnCounts, found: Differences) -> str:
    """Name the shape of the differences (see PATTERN_HINT)."""
    atol = ctx.config.atol * found.shrink  # the differences are in shrunk units
    if not counts.mismatched:
        return "within_tolerance" if counts.nonzero else "identical"
    if not counts.mismatched_finite:
        return "invalid_outputs"
    median = _median(ctx, j, counts.finite)
    if abs(median) > atol:
        bound = max(atol, 0.01 * abs(median))
        steady = engine(ctx).count_where(
            registered_differences(ctx, j),
            {"steady": f"abs(d - {sql.number(median)}) <= {sql.number(bound)}"},
        )["steady"]
        if steady / counts.finite >= 0.95:
            return "constant_offset"
    n = counts.finite
    std = found.research_std * math.sqrt((n - 1) / n) if found.research_std else 0.0
    scale = std or 1.0
    if found.max_abs <= 1e-3 * scale and counts.nonzero / n >= 0.5:
        return "tiny_uniform"
    return "localized" if counts.mismatched_finite / n <= 0.05 else "large_scattered"


def registered_differences(ctx: StageContext, j: int) -> str:
    """The relation of column j's finite differences (registered by `differences`)."""
    differences(ctx, j)
    return f"{STAGE}:differences:{j}"


def _median(ctx: StageContext, j: int, n: int) -> float:
    """numpy's median of the finite differences: the middle element, or the mean of the two
    middle ones, from exact quantiles (the smallest value reaching each share)."""
    grid = [0.5] if n % 2 else [0.5, 0.5 + 0.5 / n]
    found = engine(ctx).quantiles(registered_differences(ctx, j), "d", grid)[None]
    return float(found[0]) if n % 2 else (float(found[0]) + float(found[1])) / 2


def _agreement_finding(ctx: StageContext, j: int, name: str) -> Finding:
    counts = column_counts(ctx)[j]
    found = differences(ctx, j)
    matched_n, n = counts.matched, counts.mismatched
    rate = n / matched_n if matched_n else 0.0
    permutation = column_permutation(ctx) or {}
    pattern = "column_permutation" if name in permutation else name_pattern(ctx, j, counts, found)
    unshrink = 1.0 / found.shrink  # a power of two: exact, or inf beyond float64
    stats: dict[str, Any] = {
        "within_tolerance_differences": counts.within,
        "compared_finite": counts.finite,
        "max_abs_diff": found.max_abs * unshrink,
        "mean_abs_diff": found.mean_abs * unshrink,
        "mean_diff": found.mean * unshrink,
        "spearman": found.spearman,
    }
    head = (
        f"{n} of {matched_n} scores differ beyond tolerance ({rate:.2%})"
        if n
        else f"all {matched_n} matched scores agree within tolerance"
    )
    over = rate > ctx.config.max_mismatch_rate
    text, hint = _pattern_words(pattern, name, permutation, admitting(stats["max_abs_diff"]))
    return Finding(
        Status.FAIL if over else Status.PASS,
        f"{head}; max |diff| {stats['max_abs_diff']:.3g}; {text}",
        source=PRODUCTION,
        column=name,
        observed=rate,
        threshold=ctx.config.max_mismatch_rate,
        hint=hint if over else None,
        details={
            "matched": matched_n,
            "mismatched": n,
            "rate": rate,
            **stats,
            "pattern": pattern,
            **({"permutation": permutation} if name in permutation else {}),
            "examples": _largest_differences(ctx, j) if n else [],
        },
    )


def _pattern_words(
    pattern: str, name: str, permutation: dict[str, str], atol: str
) -> tuple[str, str | None]:
    """The message's words for a pattern and its hint (`atol`: the setting that would admit
    the differences); a permutation names the columns."""
    if pattern != "column_permutation":
        hint = PATTERN_HINT.get(pattern)
        return PATTERN_TEXT[pattern], hint.format(atol=atol) if hint else None
    text = (
        f"research's {name} values are in production's {permutation[name]}: score columns permuted"
    )
    return text, _PERMUTED_HINT.format(mapping=_arrows(permutation))


_PERMUTED_HINT = (
    "The probability columns are permuted, not recomputed ({mapping}): production's serving "
    "code writes its class columns in another order (e.g. the model's classes_ order against "
    "the names it writes). Fix the writer so each class's probability goes under its own name."
)


def _arrows(mapping: dict[str, str]) -> str:
    return ", ".join(f"research's {a} is production's {b}" for a, b in mapping.items())


def column_permutation(ctx: StageContext) -> dict[str, str] | None:
    """Research score column -> the production column holding its values, when permuting
    production's score columns (a swap of two, or any permutation) makes every column agree
    within `max_mismatch_rate`; None otherwise (and for a single score column)."""

    def compute() -> dict[str, str] | None:
        names, counts = ctx.columns.score_columns, column_counts(ctx)
        rows = counts[0].matched if counts else 0
        limit = ctx.config.max_mismatch_rate * rows
        moved = [i for i in range(len(names)) if counts[i].mismatched > limit]
        if len(moved) < 2:
            return None
        beyond = _cross_mismatches(ctx, moved)
        found: dict[int, int] = {}
        for i in moved:  # the first column without a counterpart ends the search
            # The one other column agreeing on at least half the rows, then within the limit.
            mostly = [j for j in moved if j != i and beyond[i, j] <= rows / 2]
            if len(mostly) != 1 or beyond[i, mostly[0]] > limit:
                return None
            found[i] = mostly[0]
        if sorted(found.values()) != moved:  # two columns cannot come from one
            return None
        return {names[i]: names[j] for i, j in found.items()}

    result: dict[str, str] | None = ctx.engine.memo((STAGE, "permutation"), compute)
    return result


def _cross_mismatches(ctx: StageContext, moved: list[int]) -> dict[tuple[int, int], int]:
    """Research column i against production column j beyond tolerance, every pair in one query."""
    atol, rtol = ctx.config.atol, ctx.config.rtol
    conditions = {
        f"{i}:{j}": f"NOT {sql.close(pair_sql(i)[0], pair_sql(j)[1], atol, rtol)}"
        for i in moved
        for j in moved
        if i != j
    }
    found = engine(ctx).count_where(matched(ctx), conditions)
    return {(i, j): found[f"{i}:{j}"] for i in moved for j in moved if i != j}


def _largest_differences(ctx: StageContext, j: int) -> list[dict[str, Any]]:
    """Mismatched rows, largest difference first (ties by key); rows missing a score on one
    side come last (PRD001 already lists them, and they would crowd out the differences that
    explain a pattern)."""
    a, b = pair_sql(j)
    key = key_of(ctx)
    near = sql.close(a, b, ctx.config.atol, ctx.config.rtol)
    size = (
        f"CASE WHEN {a} IS NULL OR {b} IS NULL OR isnan({b} - {a}) THEN -1 ELSE abs({b} - {a}) END"
    )
    columns = {
        **key_columns(ctx, key),
        "mlcheck_a": a,
        "mlcheck_b": b,
        "mlcheck_order": f"-({size})",
    }
    rows_of = view(ctx, f"mismatched:{j}", matched(ctx), columns, f"NOT {near}")
    rows = engine(ctx).first_rows(
        rows_of,
        ["mlcheck_order", *key, "mlcheck_a", "mlcheck_b"],
        ["mlcheck_order", *key],
        ctx.config.examples,
    )
    out = []
    for row in rows:
        research, production = plain(row["mlcheck_a"]), plain(row["mlcheck_b"])
        difference = None
        if research is not None and production is not None:
            with_inf = (
                production - research
                if math.isfinite(research) or math.isfinite(production)
                else math.nan
            )
            difference = plain(with_inf)
        out.append(
            {
                "key": key_value(row, key),
                "research": research,
                "production": production,
                "difference": difference,
            }
        )
    return out


# --------------------------------------------------------------------------- PRD005


@check("PRD005", STAGE, thresholds=("threshold", "max_flip_rate"))
def decision_flips(ctx: StageContext) -> Iterator[Finding]:
    """Decisions that flip between research and production on matched keys.

    For classification: the decision is `columns.prediction` when declared, else score >=
    `threshold` (binary) or the arg-max class (multiclass). Measures flips (both decisions
    present and different), their direction (details.directions), decisions missing on one side,
    and how many flips happen while the scores agree within tolerance (the decision rule itself
    differs). Not run for regression.
    Why it matters: a flipped decision is a different outcome for a customer; it is what the
    business sees of a score mismatch.
    Usual causes: scores that cross the threshold (PRD004), a different threshold or comparison
    (>= vs >), a decision column computed by different code.
    Fix: align the decision rule and its threshold; fix score differences first.
    """
    if ctx.task == "regression":
        return
    labels, directions, counts = _decision_counts(ctx)
    n, checked = sum(directions.values()), counts["rows"]
    rate = n / checked if checked else 0.0
    rule = n > 0 and 2 * counts["flips_agreeing"] >= n  # most flips keep their score
    over = rate > ctx.config.max_flip_rate
    yield Finding(
        Status.FAIL if over else Status.PASS,
        f"{n} of {checked} decisions flip ({rate:.2%})" + (_RULE_TEXT if rule else ""),
        source=PRODUCTION,
        column=ctx.columns.prediction or ctx.columns.score_columns[0],
        observed=rate,
        threshold=ctx.config.max_flip_rate,
        hint=_flip_hint(ctx, rule) if over else None,
        details={
            "matched": checked,
            "flips": n,
            "rate": rate,
            "flips_with_agreeing_scores": counts["flips_agreeing"],
            "missing_on_one_side": counts["missing"],
            "directions": directions,
            "examples": _flip_examples(ctx, labels) if n else [],
        },
    )


_RULE_TEXT = "; the scores agree, so the decision rule differs"
_RULE_HINT = "Decisions flip although the scores agree: the decision rule differs (threshold, >= vs >, or the decision column is computed by other code). Align the rule."
_CROSS_HINT = "Score differences push rows across the decision threshold {t}: fix the score mismatch (PRD004) first."
_ARGMAX_CROSS_HINT = (
    "Score differences change which class is most probable: fix the score mismatch (PRD004) first."
)
_PERMUTED_FLIP_HINT = "The probability columns are permuted (PRD004 names how), so the most probable class changes: fix the column order and the flips go with it."


def _flip_hint(ctx: StageContext, rule: bool) -> str:
    """Why decisions flip: the rule itself, permuted probability columns, or score differences
    crossing the threshold (binary) or changing the arg-max class (multiclass)."""
    if rule:
        return _RULE_HINT
    if len(ctx.columns.score_columns) > 1:
        return _PERMUTED_FLIP_HINT if column_permutation(ctx) else _ARGMAX_CROSS_HINT
    return _CROSS_HINT.format(t=ctx.config.threshold)


def _decision_sql(ctx: StageContext) -> tuple[str | None, str | None]:
    """The prediction column of each side, typed so that int64, bool and float decisions
    compare by value (not as text: "1" vs "true"); None without a prediction column."""
    name = ctx.columns.prediction
    if not name or ctx.task == "regression":
        return None, None
    agg = engine(ctx)
    types = [agg.schema(ctx.engine.relation(s)).field(name).type for s in (RESEARCH, PRODUCTION)]
    c = agg.quote(name)
    if types[0] == types[1]:
        return c, c
    families = [type_family(t) for t in types]
    whole = all(f in ("integer", "boolean") for f in families)
    if whole:
        return f"CAST({c} AS BIGINT)", f"CAST({c} AS BIGINT)"
    if all(f in ("integer", "boolean", "floating") for f in families):
        return f"CAST({c} AS DOUBLE)", f"CAST({c} AS DOUBLE)"
    return f"CAST({c} AS STRING)", f"CAST({c} AS STRING)"


def decisions(ctx: StageContext) -> str:
    """Per matched key: each side's decision (null = none), whether every score agrees, and
    the score shown for a flip (the score, or the most probable class's probability)."""
    k = len(ctx.columns.score_columns)
    research = [pair_sql(j)[0] for j in range(k)]
    production = [pair_sql(j)[1] for j in range(k)]
    if ctx.columns.prediction:
        rd, pd = "mlcheck_rd", "mlcheck_pd"
    elif k > 1:
        rd, pd = sql.argmax(research), sql.argmax(production)
    else:
        t = sql.number(ctx.config.threshold)
        rd, pd = (
            f"CASE WHEN {sql.finite(x)} THEN (CASE WHEN {x} >= {t} THEN 1 ELSE 0 END) END"
            for x in (research[0], production[0])
        )
    atol, rtol = ctx.config.atol, ctx.config.rtol
    agree = sql.all_of(
        [sql.close(a, b, atol, rtol) for a, b in zip(research, production, strict=True)]
    )
    columns = {
        **key_columns(ctx, key_of(ctx)),
        "mlcheck_rd": rd,
        "mlcheck_pd": pd,
        "mlcheck_agree": sql.flag(agree),
        "mlcheck_rs": sql.largest_finite(research),
        "mlcheck_ps": sql.largest_finite(production),
    }
    return view(ctx, "decisions", matched(ctx), columns)


def _decision_counts(ctx: StageContext) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Decision labels, flip directions ("a->b": rows, in label order) and counts."""
    agg, name = engine(ctx), decisions(ctx)
    table = agg.value_counts(name, "mlcheck_rd", by="mlcheck_pd")
    counts = agg.count_where(
        name,
        {
            "rows": "TRUE",
            "flips_agreeing": "mlcheck_rd <> mlcheck_pd AND mlcheck_agree = 1",
            "missing": "(mlcheck_rd IS NULL) <> (mlcheck_pd IS NULL)",
        },
    )
    cells = [(r, p, n) for p, values in table.items() if p is not None for r, n in values]
    labels = _labels(ctx, {v for r, p, _ in cells for v in (r, p)})
    flips = sorted(
        (_label_index(ctx, labels, r), _label_index(ctx, labels, p), n)
        for r, p, n in cells
        if r != p
    )
    directions = {f"{labels[r]}->{labels[p]}": n for r, p, n in flips}
    return labels, directions, counts


def _labels(ctx: StageContext, values: set[Any]) -> list[str]:
    """Decision labels: the score columns (multiclass), 0/1 (binary), or the prediction
    column's distinct values, sorted (numbers as numbers)."""
    if not ctx.columns.prediction:
        k = len(ctx.columns.score_columns)
        return list(ctx.columns.score_columns) if k > 1 else ["0", "1"]
    return [str(v) for v in sorted(values)]


def _label_index(ctx: StageContext, labels: list[str], v: Any) -> int:
    return labels.index(str(v)) if ctx.columns.prediction else int(v)


def _flip_examples(ctx: StageContext, labels: list[str]) -> list[dict[str, Any]]:
    key = key_of(ctx)
    columns = {
        **key_columns(ctx, key),
        **{c: c for c in ("mlcheck_rd", "mlcheck_pd", "mlcheck_rs", "mlcheck_ps")},
    }
    flips = view(ctx, "flips", decisions(ctx), columns, "mlcheck_rd <> mlcheck_pd")
    rows = engine(ctx).first_rows(flips, list(columns), key, ctx.config.examples)
    return [
        {
            "key": key_value(row, key),
            "research": labels[_label_index(ctx, labels, row["mlcheck_rd"])],
            "production": labels[_label_index(ctx, labels, row["mlcheck_pd"])],
            "research_score": plain(row["mlcheck_rs"]),
            "production_score": plain(row["mlcheck_ps"]),
        }
        for row in rows
    ]


# --------------------------------------------------------------------------- PRD006


@check("PRD006", STAGE)
def output_dtypes(ctx: StageContext) -> Iterator[Finding]:
    """Type changes of the score and decision columns.

    Compares the logical type of each score column (and `columns.prediction`) between sides,
    classified as stage 1 does (string layouts and dictionary encoding are no change): the same
    type passes; a widening, a narrowing that every research value survives, or a precision
    loss (float64 -> float32 rounding) warns; an incompatible change (a number became text, a
    timezone added or removed) fails; an all-null side warns.
    Why it matters: float32 scores differ from float64 ones by ~1e-7 relative, enough to flip
    decisions at the threshold and to break exact-match tests.
    Usual causes: the serving code or its serialisation changed (a float32 model runtime, a CSV
    round trip, a cast in the writer).
    Fix: keep the output schema identical; cast explicitly where it is written.
    """
    names = [
        *ctx.columns.score_columns,
        *([ctx.columns.prediction] if ctx.columns.prediction else []),
    ]
    agg = engine(ctx)
    schemas = [agg.schema(ctx.engine.relation(s)) for s in (RESEARCH, PRODUCTION)]
    for name in names:
        research, production = (s.field(name).type for s in schemas)
        status, what = classify_type_change(ctx, name, research, production)
        yield Finding(
            status,
            f"{name}: {research} in research, {production} in production ({what})",
            source=PRODUCTION,
            column=name,
            observed=str(production),
            expected=str(research),
            hint=None
            if status is Status.PASS
            else "The output schema changed: check the serving code's casts and the file format it writes.",
        )


_CHANGE_TEXT = {
    "widening": "widened",
    "narrowing": "narrowed",
    "precision_loss": "precision loss",
    "incompatible": "incompatible",
}


def classify_type_change(
    ctx: StageContext, name: str, research: pa.DataType, production: pa.DataType
) -> tuple[Status, str]:
    """PRD006's verdict on research's output column type against production's, classified as
    stage 1 does (`compare.classify_dtype_change`): whether every research value survives a
    narrowing cast is asked of the engine."""
    if pa.types.is_null(research) != pa.types.is_null(production):
        return Status.WARN, "no values on one side"  # an all-null column has no type to compare
    lt, rt = logical_type(research), logical_type(production)
    if lt.equals(rt):
        return Status.PASS, "same type"
    lf, rf = type_family(lt), type_family(rt)
    if not _related(lf, rf) or not _same_zone(lt, rt):
        return Status.FAIL, _CHANGE_TEXT["incompatible"]
    if _can_hold(lt, rt):
        return Status.WARN, _CHANGE_TEXT["widening"]
    if _survives(ctx, name, lt, rt):
        widening = lf == "integer" and rf == "floating"
        return Status.WARN, _CHANGE_TEXT["widening" if widening else "narrowing"]
    return Status.WARN, _CHANGE_TEXT["precision_loss"]


def _survives(ctx: StageContext, name: str, research: pa.DataType, production: pa.DataType) -> bool:
    """Whether every research value comes back unchanged from a cast to production's type
    (false for types without a common SQL name: nothing shows the values survive)."""
    agg = engine(ctx)
    changed = sql.changed_by_cast(agg.quote(name), research, production)
    if changed is None:
        return False
    found = agg.count_where(ctx.engine.relation(RESEARCH), {"changed": changed})
    return found["changed"] == 0


# --------------------------------------------------------------------------- PRD007


@check("PRD007", STAGE, thresholds=("atol",))
def prediction_contradicts_probabilities(ctx: StageContext) -> Iterator[Finding]:
    """Multiclass decisions that are not the most probable class of their own row.

    On each side, for rows with finite probabilities and a `columns.prediction` value: the
    prediction's probability (the score column tied to that class: by the checklist's
    `score:` mapping, or by the class label the column's name ends with) against the row's
    largest; a prediction more than `atol` below the largest contradicts it (a tie is not a
    contradiction). Any contradiction fails. details.pairs counts (most probable -> predicted)
    class pairs. Multiclass with a prediction column only.
    Why it matters: the probabilities and the decision cannot both be right: either the score
    columns are tied to the wrong classes (every metric and estimate built on them is then
    wrong, silently), or the decision comes from another rule or other code than the scores.
    Usual causes: probability columns listed in a different order than the model's classes, a
    label encoder that is not the model's, per-class thresholds or costs applied downstream.
    Fix: if details.pairs shows one class consistently read as another, give the mapping
    explicitly (`score: {class: column}`) or fix the column names; otherwise document or align
    the decision rule.
    """
    if ctx.task != "multiclass" or not ctx.columns.prediction:
        return
    classes = class_map(ctx)
    for slot in (RESEARCH, PRODUCTION):
        yield _argmax_finding(ctx, slot, classes)


def contradictions(ctx: StageContext, slot: str, classes: ClassMap) -> tuple[str, dict[str, int]]:
    """Per row of `slot`: the predicted class (its position), the arg-max class, the
    probabilities, kept where the prediction is more than `atol` below the largest; and the
    counts of checked and contradicting rows."""
    agg, key = engine(ctx), key_of(ctx, slot)
    xs = score_sql(ctx, slot)
    predicted = _class_position(ctx, slot, classes)
    top = f"greatest({', '.join(xs)})" if len(xs) > 1 else xs[0]
    chosen = (
        "CASE " + " ".join(f"WHEN {predicted} = {j} THEN {x}" for j, x in enumerate(xs)) + " END"
    )
    valid = sql.all_of([sql.finite(x) for x in xs])
    checked = f"{valid} AND {predicted} IS NOT NULL"
    below = f"{checked} AND {chosen} < {top} - {sql.number(ctx.config.atol)}"
    columns = {
        **key_columns(ctx, key),
        "mlcheck_predicted": predicted,
        "mlcheck_top": sql.argmax(xs),
        **{f"mlcheck_s{j}": x for j, x in enumerate(xs)},
    }
    source = ctx.engine.relation(slot)
    found = agg.count_where(source, {"checked": checked, "contradicting": below})
    return view(ctx, f"contradicting:{slot}", source, columns, below), found


def _class_position(ctx: StageContext, slot: str, classes: ClassMap) -> str:
    """The prediction column's class position per row (null when null or not a class)."""
    agg = engine(ctx)
    name = ctx.columns.prediction or ""
    values = [v for v, _ in agg.value_counts(ctx.engine.relation(slot), name).get(None, ())]
    if not values:
        return "CAST(NULL AS BIGINT)"
    positions = classes.index(pa.array(values))
    c = agg.quote(name)
    cases = [
        f"WHEN {c} = {literal} THEN {int(p)}"
        for v, p in zip(values, positions, strict=True)
        if not math.isnan(p) and (literal := sql.value(v)) is not None
    ]
    return f"(CASE {' '.join(cases)} END)" if cases else "CAST(NULL AS BIGINT)"


def _argmax_finding(ctx: StageContext, slot: str, classes: ClassMap) -> Finding:
    rows, found = contradictions(ctx, slot, classes)
    n, checked = found["contradicting"], found["checked"]
    pairs = _class_pairs(ctx, classes, rows) if n else {}
    head = f"{slot}: {n} of {checked} predictions are not the most probable class of their row"
    common = f" (most often {next(iter(pairs))}: {next(iter(pairs.values()))} rows)" if n else ""
    return Finding(
        Status.FAIL if n else Status.PASS,
        head + common,
        source=slot,
        column=ctx.columns.prediction,
        observed=n,
        threshold=0,
        hint=_ARGMAX_HINT.format(mapping=classes.as_mapping()) if n else None,
        details={
            "checked": checked,
            "contradicting": n,
            "rate": n / checked if checked else 0.0,
            "classes": classes.as_mapping(),
            "tied_by": classes.by,
            "pairs": pairs,
            "examples": _argmax_examples(ctx, slot, classes, rows) if n else [],
        },
    )


_ARGMAX_HINT = (
    "The prediction column disagrees with the probability columns as tied to classes "
    "({mapping}). If details.pairs shows one class consistently read as another, the columns "
    "are tied to the wrong classes: give `score: {{class: column}}` or fix the column names. "
    "Otherwise the decision comes from another rule (per-class thresholds, costs) or other code."
)


def _class_pairs(ctx: StageContext, classes: ClassMap, rows: str) -> dict[str, int]:
    """(most probable -> predicted) class pairs of the contradicting rows, most frequent first
    (ties by pair), at most PAIRS of them."""
    table = engine(ctx).value_counts(rows, "mlcheck_predicted", by="mlcheck_top")
    cells = [(int(t), int(p), n) for t, values in table.items() for p, n in values]
    cells.sort(key=lambda c: (-c[2], c[0], c[1]))
    return {
        f"{classes.labels[t]}->{classes.labels[p]}": n for t, p, n in cells[:PAIRS]
    }  # at most PAIRS class pairs, not rows


# Class pairs listed in PRD007's details (k classes have k(k-1) kinds of contradiction).
PAIRS = 20


def _argmax_examples(
    ctx: StageContext, slot: str, classes: ClassMap, rows: str
) -> list[dict[str, Any]]:
    key = key_of(ctx, slot)
    scores = [f"mlcheck_s{j}" for j in range(len(classes.labels))]
    found = engine(ctx).first_rows(
        rows, [*key, "mlcheck_predicted", "mlcheck_top", *scores], key, ctx.config.examples
    )
    return [
        {
            "key": key_value(row, key),
            "prediction": classes.labels[int(row["mlcheck_predicted"])],
            "most_probable": classes.labels[int(row["mlcheck_top"])],
            "probabilities": dict(
                zip(classes.labels, [float(row[s]) for s in scores], strict=True)
            ),
        }
        for row in found
    ]
