"""Stage 4, prediction_mismatch: research.predictions vs production.predictions (SPEC 3.4).

Scores (`columns.score`: one column, or a list of class-probability columns for multiclass) are
read once per side as a float64 matrix (rows x score columns) with a null mask, and matched on
the key with the engine's cached join. Two scores agree when both are missing (null or NaN),
equal, or |a - b| <= atol + rtol * max(|a|, |b|).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.checklist import Checklist
from mlcheck.classes import ClassMap, class_map
from mlcheck.compare import add_hashes, classify_dtype_change, pair_kind, within_tolerance
from mlcheck.context import StageContext
from mlcheck.engine import SPLIT_COLUMN_DEFAULT, KeyJoin, as_text, decoded, value_counts
from mlcheck.errors import InputError
from mlcheck.registry import check
from mlcheck.results import Finding, Status
from mlcheck.stage_config import admitting
from mlcheck.stages.split_reproducibility import (
    aligned,
    distinct_counts,
    first_by_key,
    key_values,
    keys_on_one_side_findings,
    on_matched_keys,
    shared_codes,
)

STAGE = "prediction_mismatch"
SIDES = ("research", "production")
RESEARCH = "research.predictions"
PRODUCTION = "production.predictions"
FEATURES = "production.features"


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


@dataclass(frozen=True)
class Scores:
    """A side's score columns as a float64 matrix (rows x columns); null is NaN plus `null`."""

    values: np.ndarray
    null: np.ndarray
    types: tuple[pa.DataType, ...]


def scores(ctx: StageContext, slot: str) -> Scores:
    def compute() -> Scores:
        arrays = [ctx.engine.column(slot, name) for name in ctx.columns.score_columns]
        values = [
            _as_float(slot, name, a)
            for name, a in zip(ctx.columns.score_columns, arrays, strict=True)
        ]
        nulls = [np.asarray(a.is_null().to_numpy(), dtype=bool) for a in arrays]
        return Scores(
            np.column_stack(values), np.column_stack(nulls), tuple(a.type for a in arrays)
        )

    result: Scores = ctx.engine.memo((STAGE, "scores", slot), compute)
    return result


def _as_float(slot: str, name: str, array: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    try:
        cast = array.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(f"{slot}: score column {name!r} is {array.type}, not numeric") from None
    return np.asarray(cast.to_numpy(), dtype=np.float64)


def invalid_kinds(ctx: StageContext, slot: str) -> dict[str, np.ndarray]:
    """Per kind of invalid output, a row mask (a row may be invalid in several ways)."""

    def compute() -> dict[str, np.ndarray]:
        s = scores(ctx, slot)
        finite = np.isfinite(s.values)
        kinds = {
            "null": s.null.any(axis=1),
            "nan": (np.isnan(s.values) & ~s.null).any(axis=1),
            "inf": np.isinf(s.values).any(axis=1),
        }
        if ctx.task != "regression":
            kinds["out_of_range"] = (finite & ((s.values < 0) | (s.values > 1))).any(axis=1)
        if ctx.task != "regression" and s.values.shape[1] > 1:
            off = np.abs(s.values.sum(axis=1) - 1.0) > ctx.config.sum_tolerance
            kinds["bad_sum"] = finite.all(axis=1) & off
        return kinds

    result: dict[str, np.ndarray] = ctx.engine.memo((STAGE, "invalid", slot), compute)
    return result


def invalid_rows(ctx: StageContext, slot: str) -> np.ndarray:
    return np.flatnonzero(np.logical_or.reduce(list(invalid_kinds(ctx, slot).values())))


def _score_dict(ctx: StageContext, values: np.ndarray) -> Any:
    """One row's scores for an example: a number, or {column: value} for multiclass."""
    names = ctx.columns.score_columns
    plain = [None if np.isnan(v) else float(v) for v in values]
    return plain[0] if len(names) == 1 else dict(zip(names, plain, strict=True))


# --------------------------------------------------------------------------- PRD001


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
        kinds, bad = invalid_kinds(ctx, slot), invalid_rows(ctx, slot)
        total, n = ctx.engine.num_rows(slot), len(bad)
        rate = n / total if total else 0.0
        over = rate > ctx.config.max_invalid_rate
        counts = {kind: int(mask.sum()) for kind, mask in kinds.items()}
        yield Finding(
            Status.FAIL if over else (Status.WARN if n else Status.PASS),
            f"{n} of {total} outputs of {slot} are invalid ({rate:.2%})" + _kinds_text(counts),
            source=slot,
            observed=rate,
            threshold=ctx.config.max_invalid_rate,
            hint=_INVALID_HINT if n else None,
            details={
                "rows": total,
                "invalid": n,
                "kinds": counts,
                "examples": _invalid_examples(ctx, slot, bad, kinds),
            },
        )


_INVALID_HINT = "The model emits outputs a consumer cannot use: PRD002 attributes production rows to null inputs or unseen categories; guard the scoring code (impute, map unknown categories) and validate outputs before serving."


def _kinds_text(counts: dict[str, int]) -> str:
    found = [f"{kind} {n}" for kind, n in counts.items() if n]
    return f": {', '.join(found)}" if found else ""


def _invalid_examples(
    ctx: StageContext, slot: str, bad: np.ndarray, kinds: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    picked = bad[first_by_key(ctx, slot, bad, ctx.config.examples)]
    values = scores(ctx, slot).values
    return [
        {
            "key": key,
            "kinds": [k for k, mask in kinds.items() if mask[row]],
            "score": _score_dict(ctx, values[row]),
        }
        for key, row in zip(key_values(ctx, slot, picked), picked, strict=True)
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
    bad = invalid_rows(ctx, PRODUCTION)
    total = ctx.engine.num_rows(PRODUCTION)
    over = total > 0 and len(bad) / total > ctx.config.max_invalid_rate
    status = Status.FAIL if over else (Status.WARN if len(bad) else Status.PASS)
    if not len(bad):
        yield Finding(
            Status.PASS, "no invalid production outputs to explain", source=PRODUCTION, observed=0
        )
    elif not ctx.declared(FEATURES):
        yield Finding(
            status,
            f"{len(bad)} invalid production outputs; production.features is not declared, so they cannot be attributed",
            source=PRODUCTION,
            observed=len(bad),
            hint="Declare production.features to attribute invalid outputs to null inputs or unseen categories.",
        )
    else:
        yield _attribution(ctx, bad, status)


@dataclass(frozen=True)
class Causes:
    """Attribution of invalid rows (positions into `bad`)."""

    null_any: np.ndarray
    unseen_any: np.ndarray
    has_features: np.ndarray
    null_inputs: dict[str, int]
    unseen: list[dict[str, Any]]
    unseen_values: int
    reference: str


def _attribution(ctx: StageContext, bad: np.ndarray, status: Status) -> Finding:
    causes = attribute(ctx, bad)
    n = len(bad)
    unexplained = np.flatnonzero(~causes.null_any & ~causes.unseen_any)
    picked = unexplained[first_by_key(ctx, PRODUCTION, bad[unexplained], ctx.config.examples)]
    counts = {
        "invalid": n,
        "explained_by_null_inputs": int(causes.null_any.sum()),
        "explained_by_unseen_categories": int(causes.unseen_any.sum()),
        "explained_by_both": int((causes.null_any & causes.unseen_any).sum()),
        "unexplained": len(unexplained),
        "without_features_row": int((~causes.has_features).sum()),
    }
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
            "explained_share": (n - len(unexplained)) / n,
            "null_inputs": causes.null_inputs,
            "unseen_categories": causes.unseen,
            "distinct_unseen_values": causes.unseen_values,
            "reference": causes.reference,
            "unexplained_examples": key_values(ctx, PRODUCTION, bad[picked]),
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


def attribute(ctx: StageContext, bad: np.ndarray) -> Causes:
    """Null inputs and unseen categories of the production features rows of `bad` outputs."""
    join = ctx.engine.join(PRODUCTION, FEATURES)
    feature_row = np.full(ctx.engine.num_rows(PRODUCTION), -1, dtype=np.int64)
    feature_row[join.left_rows] = join.right_rows
    rows = feature_row[bad]
    has = rows >= 0
    table = ctx.engine.table(FEATURES).take(pa.array(rows[has], type=pa.int64()))
    null_any, null_inputs = _null_inputs(table, feature_columns(ctx, table))
    unseen_any, unseen, distinct, reference = _unseen(ctx, table)
    return Causes(
        _scatter(has, null_any),
        _scatter(has, unseen_any),
        has,
        null_inputs,
        unseen,
        distinct,
        reference,
    )


def _scatter(has: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(has), dtype=bool)
    out[has] = values
    return out


def feature_columns(ctx: StageContext, table: pa.Table) -> list[str]:
    """The model inputs: `columns.features`, else every column without a role, not ignored, not a key."""
    if ctx.columns.features:
        return [c for c in ctx.columns.features if c in table.column_names]
    skip = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(FEATURES) or [])
    )
    return [c for c in table.column_names if c not in skip]


def _null_inputs(table: pa.Table, columns: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    any_null = np.zeros(table.num_rows, dtype=bool)
    counts: dict[str, int] = {}
    for name in columns:
        null = np.asarray(pc.is_null(table.column(name), nan_is_null=True).to_numpy(), dtype=bool)
        any_null |= null
        if null.any():
            counts[name] = int(null.sum())
    return any_null, dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def categorical_columns(ctx: StageContext, table: pa.Table) -> list[str]:
    """Declared categorical features, plus string/dictionary/boolean-typed ones."""
    declared = set(ctx.columns.categorical)
    return [
        c
        for c in feature_columns(ctx, table)
        if c in declared or _is_categorical_type(table.schema.field(c).type)
    ]


def _is_categorical_type(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_dictionary(kind)
        or pa.types.is_boolean(kind)
    )


def _unseen(
    ctx: StageContext, table: pa.Table
) -> tuple[np.ndarray, list[dict[str, Any]], int, str]:
    any_unseen = np.zeros(table.num_rows, dtype=bool)
    found: list[dict[str, Any]] = []
    if not ctx.declared("research.features"):
        return any_unseen, found, 0, "research.features not declared"
    reference, described = training_reference(ctx)
    distinct = 0
    for name in categorical_columns(ctx, table):
        if name not in reference.column_names:
            continue
        values, seen = _comparable(table.column(name), _distinct(ctx, reference, name))
        unseen = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=seen)))
        any_unseen |= np.asarray(unseen.to_numpy(), dtype=bool)
        rows, count = _value_rows(name, values.filter(unseen), ctx.config.examples)
        found, distinct = found + rows, distinct + count
    found.sort(key=lambda u: (-u["rows"], u["column"], str(u["value"])))
    return any_unseen, found[: ctx.config.examples], distinct, described


def _comparable(values: pa.ChunkedArray, seen: pa.Array) -> tuple[pa.ChunkedArray, pa.Array]:
    values = decoded(values)
    if values.type != seen.type:
        return as_text(values), as_text(seen)
    return values, seen


def _distinct(ctx: StageContext, reference: pa.Table, name: str) -> pa.Array:
    def compute() -> pa.Array:
        return pc.unique(decoded(reference.column(name)).drop_null())

    result: pa.Array = ctx.engine.memo((STAGE, "training_values", name), compute)
    return result


def _value_rows(name: str, values: pa.ChunkedArray, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The `limit` most frequent values with their rows, and how many distinct values there are."""
    if len(values) == 0:
        return [], 0
    distinct, counts = value_counts(values)
    top = zip(distinct.slice(0, limit).to_pylist(), counts[:limit].tolist(), strict=True)
    return [{"column": name, "value": v, "rows": n} for v, n in top], len(counts)


def training_reference(ctx: StageContext) -> tuple[pa.Table, str]:
    """Research features of the training split when splits are declared, else all of them."""

    def compute() -> tuple[pa.Table, str]:
        table = ctx.engine.table("research.features")
        if not ctx.declared("research.splits"):
            return table, f"all {table.num_rows} research features rows (no splits declared)"
        split = aligned(
            ctx, "research.features", "research.splits", ctx.columns.split or SPLIT_COLUMN_DEFAULT
        )
        names = pa.array([n.lower() for n in ctx.checklist.stages.split_reproducibility.train])
        train = pc.fill_null(
            pc.is_in(pc.utf8_lower(split.cast(pa.string())), value_set=names), False
        )
        n = int(pc.sum(train).as_py() or 0)
        if n == 0:
            return table, f"all {table.num_rows} research features rows (no training split found)"
        return table.filter(train), f"{n} research training rows"

    result: tuple[pa.Table, str] = ctx.engine.memo((STAGE, "training_reference"), compute)
    return result


# --------------------------------------------------------------------------- PRD003


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
    yield from keys_on_one_side_findings(
        ctx, RESEARCH, PRODUCTION, ctx.config.max_missing_predictions, hint
    )
    finding = _set_aside_finding(ctx)
    if finding is not None:
        yield finding


def _set_aside_finding(ctx: StageContext) -> Finding | None:
    """Rows the key match left out (duplicated or null key), judged like stages 1-2 do."""
    join = ctx.engine.join(RESEARCH, PRODUCTION)
    left = np.union1d(join.left_duplicate_rows, join.left_null_rows).astype(np.int64)
    right = np.union1d(join.right_duplicate_rows, join.right_null_rows).astype(np.int64)
    if not len(left) and not len(right):
        return None
    counts = {
        side: {"duplicate_key_rows": len(duplicates), "null_key_rows": len(nulls)}
        for side, duplicates, nulls in (
            ("research", join.left_duplicate_rows, join.left_null_rows),
            ("production", join.right_duplicate_rows, join.right_null_rows),
        )
    }
    details: dict[str, Any] = {
        **counts,
        "research_examples": _row_examples(ctx, RESEARCH, left),
        "production_examples": _row_examples(ctx, PRODUCTION, right),
    }
    head = (
        f"{len(left)} research and {len(right)} production rows have a duplicated or null key "
        "and cannot be paired"
    )
    if counts["research"] != counts["production"]:
        return _changed_count_finding(head, counts, details)
    return _compared_whole_finding(ctx, head, (left, right), join.key, details)


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
    ctx: StageContext,
    head: str,
    rows: tuple[np.ndarray, np.ndarray],
    key: tuple[str, ...],
    details: dict[str, Any],
) -> Finding:
    """The same numbers of set-aside rows on both sides: warn, or fail when too many of them
    have no identical row (key and scores) on the other side."""
    lost, extra = _multiset_difference(ctx, *rows, key)
    rate = max(lost, extra) / len(rows[0])
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


def _row_examples(ctx: StageContext, slot: str, rows: np.ndarray) -> list[dict[str, Any]]:
    """The first rows by key, with their scores (a duplicated key shows all its scores); rows
    of one key ordered by their scores' text, so file order never changes the report."""
    picked = rows[first_by_key(ctx, slot, rows, ctx.config.examples)]
    table = ctx.engine.table(slot).take(pa.array(picked)).select(ctx.columns.score_columns)
    keys = key_values(ctx, slot, picked)
    rank = {repr(k): i for i, k in reversed(list(enumerate(keys)))}  # first position of a key
    examples = [{"key": k, **v} for k, v in zip(keys, table.to_pylist(), strict=True)]
    return sorted(examples, key=lambda e: (rank[repr(e["key"])], repr(list(e.values()))))


def _multiset_difference(
    ctx: StageContext, left: np.ndarray, right: np.ndarray, key: tuple[str, ...]
) -> tuple[int, int]:
    """(research rows without an identical production row, production rows without an
    identical research row) among `left`/`right`, over the key and score columns, exactly."""
    columns = [*key, *ctx.columns.score_columns]
    hashes = (
        _whole_row_hashes(ctx, RESEARCH, PRODUCTION, left, columns),
        _whole_row_hashes(ctx, PRODUCTION, RESEARCH, right, columns),
    )
    distinct, inverse = np.unique(np.concatenate(hashes), return_inverse=True)
    research = np.bincount(inverse[: len(left)], minlength=len(distinct))
    production = np.bincount(inverse[len(left) :], minlength=len(distinct))
    return (
        int(np.maximum(research - production, 0).sum()),
        int(np.maximum(production - research, 0).sum()),
    )


def _whole_row_hashes(
    ctx: StageContext, slot: str, other: str, rows: np.ndarray, columns: list[str]
) -> np.ndarray:
    """A 64-bit hash of each of `rows` over `columns`, values normalised to the type they share
    with `other`'s column (as stage 1 hashes rows: a salted sum of value hashes)."""
    table, other_table = ctx.engine.table(slot), ctx.engine.table(other)
    total = np.zeros(len(rows), dtype=np.uint64)
    for position, name in enumerate(columns):
        column, other_type = (
            table.column(name).take(pa.array(rows)),
            other_table.schema.field(name).type,
        )
        salt = np.uint64((0x9E3779B97F4A7C15 * (2 * position + 1)) % 2**64)
        add_hashes(total, column, pair_kind(column.type, other_type), other_type, salt)
    return total


# --------------------------------------------------------------------------- PRD004


@dataclass(frozen=True)
class Agreement:
    """Research vs production scores of one column on matched keys."""

    research: np.ndarray
    production: np.ndarray
    mismatch: np.ndarray  # beyond tolerance (missing vs present counts)
    finite: np.ndarray  # both sides finite

    @functools.cached_property
    def shrink(self) -> float:
        """1.0, or the power of two (exact) that brings finite scores beyond 2**256 below it, so
        that their differences, sums and squares stay inside float64. Statistics are scaled
        back: one that overflows then is inf, its true value being beyond float64."""
        both = (self.research[self.finite], self.production[self.finite])
        largest = max((float(np.abs(side).max()) for side in both if len(side)), default=0.0)
        return 1.0 if largest < 2.0**256 else math.ldexp(1.0, 256 - math.frexp(largest)[1])

    @functools.cached_property
    def diff(self) -> np.ndarray:
        """production - research where both are finite, times `shrink`."""
        research, production = self.research[self.finite], self.production[self.finite]
        if self.shrink != 1.0:
            research, production = research * self.shrink, production * self.shrink
        return production - research


def agreement(research: np.ndarray, production: np.ndarray, atol: float, rtol: float) -> Agreement:
    """Scores compared by the one tolerance rule of every stage (`compare.within_tolerance`):
    missing (NaN) equals missing, an infinity only equals itself."""
    close = within_tolerance(research, production, rtol, atol)
    finite = np.isfinite(research) & np.isfinite(production)
    return Agreement(research, production, ~close, finite)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when undefined."""
    if len(x) < 2:
        return None
    x_order = np.argsort(x)
    # Matched scores mostly keep their order across sides: x's order is y's first guess.
    rx, x_tied = _midranks(x, x_order)
    y_order = _order_from(y, x_order)
    # y strictly ascending in x's order, neither side tied: y's ranks are x's, not recomputed.
    ry = rx if y_order is x_order and not x_tied else _midranks(y, y_order)[0]
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as scipy.stats.rankdata's default)."""
    return _midranks(values, np.argsort(values))[0]


def _midranks(values: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, bool]:
    """`average_ranks` given any ascending order of `values`, and whether any values tie. Ties
    are averaged, so which of equal values comes first (an unstable sort, a guessed order)
    never changes a rank."""
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ranks = np.empty(len(values), dtype=np.float64)
    if len(starts) == len(values):  # no ties: the i-th smallest has rank i + 1, no averaging
        ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
        return ranks, False
    ends = np.append(starts[1:], len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks, True


def _order_from(values: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """An ascending order of `values` (spearman's finite scores), from the order of a similar
    array: `guess` itself when it sorts them strictly (so no two tie); a few pairs out of place
    are fixed by a stable sort (Timsort merges the sorted runs in about one pass); anything
    else is sorted afresh."""
    guessed = values[guess]
    # Pairs not strictly ascending (ties; a NaN is never in order, so never passes for sorted).
    unordered = len(values) - 1 - np.count_nonzero(guessed[1:] > guessed[:-1])
    if unordered == 0:
        return guess
    if unordered <= len(values) // 100:
        return guess[np.argsort(guessed, kind="stable")]
    return np.argsort(values)


def name_pattern(agree: Agreement, atol: float) -> str:
    """Name the shape of the differences (see PATTERN_HINT)."""
    diff, mismatch = agree.diff, agree.mismatch[agree.finite]
    if not agree.mismatch.any():
        return "within_tolerance" if np.any(diff != 0) else "identical"
    if not mismatch.any():
        return "invalid_outputs"
    atol *= agree.shrink  # diff is in shrunk units
    median = float(np.median(diff))
    steady = np.abs(diff - median) <= max(atol, 0.01 * abs(median))
    if abs(median) > atol and steady.mean() >= 0.95:
        return "constant_offset"
    scale = float(np.std(agree.research[agree.finite] * agree.shrink)) or 1.0
    if float(np.abs(diff).max()) <= 1e-3 * scale and np.mean(diff != 0) >= 0.5:
        return "tiny_uniform"
    return "localized" if mismatch.mean() <= 0.05 else "large_scattered"


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
    join, every = ctx.engine.join(RESEARCH, PRODUCTION), matched_agreement(ctx)
    for index, name in enumerate(ctx.columns.score_columns):
        agree = Agreement(
            every.research[:, index],
            every.production[:, index],
            every.mismatch[:, index],
            every.finite[:, index],
        )
        yield _agreement_finding(ctx, name, agree, join.left_rows)


def matched_agreement(ctx: StageContext) -> Agreement:
    """Every score column of both sides on matched keys (rows x columns), compared once for
    PRD004 (per column) and PRD005 (per key): the tolerance rule is element-wise, so a column of
    the whole comparison is that column's comparison."""

    def compute() -> Agreement:
        join = ctx.engine.join(RESEARCH, PRODUCTION)
        research, production = on_matched_keys(
            join, scores(ctx, RESEARCH).values, scores(ctx, PRODUCTION).values
        )
        return agreement(research, production, ctx.config.atol, ctx.config.rtol)

    # Keyed by both slots so it is released with production's predictions after this stage.
    result: Agreement = ctx.engine.memo((STAGE, "agreement", RESEARCH, PRODUCTION), compute)
    return result


def _agreement_finding(ctx: StageContext, name: str, agree: Agreement, rows: np.ndarray) -> Finding:
    matched, n = len(agree.research), int(agree.mismatch.sum())
    rate = n / matched if matched else 0.0
    permutation = column_permutation(ctx) or {}
    pattern = "column_permutation" if name in permutation else name_pattern(agree, ctx.config.atol)
    stats = _difference_stats(agree)
    head = (
        f"{n} of {matched} scores differ beyond tolerance ({rate:.2%})"
        if n
        else f"all {matched} matched scores agree within tolerance"
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
            "matched": matched,
            "mismatched": n,
            "rate": rate,
            **stats,
            "pattern": pattern,
            **({"permutation": permutation} if name in permutation else {}),
            "examples": _largest_differences(ctx, agree, rows),
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
        names, every = ctx.columns.score_columns, matched_agreement(ctx)
        limit = ctx.config.max_mismatch_rate * len(every.research)
        moved = [i for i in range(len(names)) if every.mismatch[:, i].sum() > limit]
        if len(moved) < 2:
            return None
        found: dict[int, int] = {}
        for i in moved:  # the first column without a counterpart ends the search
            j = _same_values(ctx, every, i, moved, limit)
            if j is None:
                return None
            found[i] = j
        if sorted(found.values()) != moved:  # two columns cannot come from one
            return None
        return {names[i]: names[j] for i, j in found.items()}

    result: dict[str, str] | None = ctx.engine.memo((STAGE, "permutation"), compute)
    return result


def _same_values(
    ctx: StageContext, every: Agreement, column: int, candidates: list[int], limit: float
) -> int | None:
    """The one other production column among `candidates` whose values agree with research's
    `column`: screened on the first rows (all pairs at once), confirmed on every row."""
    rtol, atol = ctx.config.rtol, ctx.config.atol
    sample = max(16, (1 << 16) // len(candidates))
    head = within_tolerance(
        every.research[:sample, column, None], every.production[:sample, candidates], rtol, atol
    )
    mostly = head.mean(axis=0) >= 0.5  # a screen only: the full comparison below decides
    screened = [j for j, ok in zip(candidates, mostly, strict=True) if ok and j != column]
    if len(screened) != 1:
        return None
    close = within_tolerance(
        every.research[:, column], every.production[:, screened[0]], rtol, atol
    )
    return screened[0] if (~close).sum() <= limit else None


def _difference_stats(agree: Agreement) -> dict[str, Any]:
    diff = agree.diff
    close_but_different = ~agree.mismatch[agree.finite] & (diff != 0)
    with np.errstate(over="ignore"):  # scaled back: beyond float64's range is inf
        unshrink = 1.0 / agree.shrink
        return {
            "within_tolerance_differences": int(close_but_different.sum()),
            "compared_finite": len(diff),
            "max_abs_diff": float(np.abs(diff).max()) * unshrink if len(diff) else 0.0,
            "mean_abs_diff": float(np.abs(diff).mean()) * unshrink if len(diff) else 0.0,
            "mean_diff": float(diff.mean()) * unshrink if len(diff) else 0.0,
            "spearman": spearman(agree.research[agree.finite], agree.production[agree.finite]),
        }


def _largest_differences(
    ctx: StageContext, agree: Agreement, rows: np.ndarray
) -> list[dict[str, Any]]:
    """Mismatched rows, largest difference first; rows missing a score on one side come last
    (PRD001 already lists them, and they would crowd out the differences that explain a pattern)."""
    bad = np.flatnonzero(agree.mismatch)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, listed last
        size = np.abs(agree.production[bad] * agree.shrink - agree.research[bad] * agree.shrink)
    size = np.where(np.isnan(size), -1.0, size)
    picked = bad[largest(size, ctx.config.examples)]
    keys = key_values(ctx, RESEARCH, rows[picked])
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float64: inf; inf - inf: null
        differences = agree.production[picked] - agree.research[picked]
    return [
        {
            "key": k,
            "research": _plain(agree.research[i]),
            "production": _plain(agree.production[i]),
            "difference": _plain(d),
        }
        for k, i, d in zip(keys, picked, differences, strict=True)
    ]


def largest(values: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the `limit` largest values, largest first, ties by position (no full sort)."""
    if limit <= 0 or len(values) == 0:
        return np.empty(0, dtype=np.int64)
    if len(values) > limit:
        cut = np.partition(values, len(values) - limit)[len(values) - limit]
        above, at = np.flatnonzero(values > cut), np.flatnonzero(values == cut)
        chosen = np.concatenate([above, at[: limit - len(above)]])
    else:
        chosen = np.arange(len(values))
    return chosen[np.lexsort((chosen, -values[chosen]))]


def _plain(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


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
    join = ctx.engine.join(RESEARCH, PRODUCTION)
    labels, research, production = _decisions(ctx, join)
    flips = np.flatnonzero((research >= 0) & (production >= 0) & (research != production))
    agree = np.asarray(
        ~matched_agreement(ctx).mismatch.any(axis=1), dtype=bool
    )  # per key: all agree
    matched, n = len(research), len(flips)
    rate = n / matched if matched else 0.0
    rule = n > 0 and 2 * int(agree[flips].sum()) >= n  # most flips keep their score
    over = rate > ctx.config.max_flip_rate
    yield Finding(
        Status.FAIL if over else Status.PASS,
        f"{n} of {matched} decisions flip ({rate:.2%})" + (_RULE_TEXT if rule else ""),
        source=PRODUCTION,
        column=ctx.columns.prediction or ctx.columns.score_columns[0],
        observed=rate,
        threshold=ctx.config.max_flip_rate,
        hint=_flip_hint(ctx, rule) if over else None,
        details={
            "matched": matched,
            "flips": n,
            "rate": rate,
            "flips_with_agreeing_scores": int(agree[flips].sum()),
            "missing_on_one_side": int(((research >= 0) != (production >= 0)).sum()),
            "directions": _directions(labels, research[flips], production[flips]),
            "examples": _flip_examples(ctx, flips, join, labels, research, production),
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


def _decisions(ctx: StageContext, join: KeyJoin) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Decision labels and each side's decision code per matched key (-1 = no decision)."""
    if ctx.columns.prediction:
        name = ctx.columns.prediction
        codes = shared_codes(
            *_same_kind(ctx.engine.column(RESEARCH, name), ctx.engine.column(PRODUCTION, name))
        )
        return codes.labels, *on_matched_keys(join, codes.research, codes.production)
    every = matched_agreement(ctx)  # the matched scores, gathered once
    research, production = every.research, every.production
    if research.shape[1] > 1:
        return list(ctx.columns.score_columns), _argmax(research), _argmax(production)
    return (
        ["0", "1"],
        _at_threshold(research[:, 0], ctx.config.threshold),
        _at_threshold(production[:, 0], ctx.config.threshold),
    )


def _same_kind(
    left: pa.ChunkedArray, right: pa.ChunkedArray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Decisions typed int64 vs bool vs float compare by value, not as text ("1" vs "true")."""
    kinds = [
        (pa.types.is_integer(t) or pa.types.is_boolean(t), pa.types.is_floating(t))
        for t in (left.type, right.type)
    ]
    if left.type == right.type or not all(whole or real for whole, real in kinds):
        return left, right
    target = pa.int64() if all(whole for whole, _ in kinds) else pa.float64()
    return left.cast(target), right.cast(target)


def _argmax(values: np.ndarray) -> np.ndarray:
    valid = np.isfinite(values).all(axis=1)
    return np.where(valid, np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=1), -1)


def _at_threshold(values: np.ndarray, threshold: float) -> np.ndarray:
    return np.where(np.isfinite(values), (values >= threshold).astype(np.int64), -1)


def _directions(labels: list[str], research: np.ndarray, production: np.ndarray) -> dict[str, int]:
    width = len(labels)
    cells, counts = distinct_counts(research * width + production)
    return {
        f"{labels[c // width]}->{labels[c % width]}": int(n)
        for c, n in zip(cells.tolist(), counts.tolist(), strict=True)
    }


def _flip_examples(
    ctx: StageContext,
    flips: np.ndarray,
    join: KeyJoin,
    labels: list[str],
    research: np.ndarray,
    production: np.ndarray,
) -> list[dict[str, Any]]:
    left, right = join.left_rows, join.right_rows
    picked = flips[first_by_key(ctx, RESEARCH, left[flips], ctx.config.examples)]
    r_scores, p_scores = scores(ctx, RESEARCH).values, scores(ctx, PRODUCTION).values
    return [
        {
            "key": k,
            "research": labels[research[i]],
            "production": labels[production[i]],
            "research_score": _decision_score(r_scores[left[i]]),
            "production_score": _decision_score(p_scores[right[i]]),
        }
        for k, i in zip(key_values(ctx, RESEARCH, left[picked]), picked, strict=True)
    ]


def _decision_score(values: np.ndarray) -> float | None:
    """A flip example's score: the score (binary), or the most probable class's probability
    (multiclass): one short number, so a report never cuts a probability vector mid-way."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else None


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
    for name in names:
        values = ctx.engine.column(RESEARCH, name)
        research, production = values.type, ctx.engine.column(PRODUCTION, name).type
        status, what = classify_type_change(values, production)
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


def classify_type_change(research: pa.ChunkedArray, production: pa.DataType) -> tuple[Status, str]:
    """PRD006's verdict on research's output column against production's type, from stage 1's
    classification (`compare.classify_dtype_change`)."""
    if pa.types.is_null(research.type) != pa.types.is_null(production):
        return Status.WARN, "no values on one side"  # an all-null column has no type to compare
    change = classify_dtype_change("", research, production)
    if change is None:
        return Status.PASS, "same type"
    status = Status.FAIL if change.kind == "incompatible" else Status.WARN
    return status, _CHANGE_TEXT[change.kind]


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


@dataclass(frozen=True)
class ArgmaxCheck:
    """Rows of one side whose prediction was checked, and those that contradict the arg-max."""

    checked: np.ndarray
    contradicting: np.ndarray
    predicted: np.ndarray  # class positions per row (NaN without a prediction)
    top: np.ndarray  # arg-max class position per row


def argmax_check(ctx: StageContext, slot: str, classes: ClassMap) -> ArgmaxCheck:
    values = scores(ctx, slot).values
    predicted = classes.index(ctx.engine.column(slot, ctx.columns.prediction or ""))
    finite = np.isfinite(values).all(axis=1)
    checked = np.flatnonzero(finite & ~np.isnan(predicted))
    rows = values[checked]
    chosen = rows[np.arange(len(checked)), predicted[checked].astype(np.int64)]
    top = np.full(len(values), -1, dtype=np.int64)
    top[checked] = np.argmax(rows, axis=1)
    below = chosen < rows.max(axis=1, initial=-np.inf) - ctx.config.atol
    return ArgmaxCheck(checked, checked[below], predicted, top)


def _argmax_finding(ctx: StageContext, slot: str, classes: ClassMap) -> Finding:
    found = argmax_check(ctx, slot, classes)
    n, checked = len(found.contradicting), len(found.checked)
    pairs = _class_pairs(classes, found)
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
            "examples": _argmax_examples(ctx, slot, classes, found),
        },
    )


_ARGMAX_HINT = (
    "The prediction column disagrees with the probability columns as tied to classes "
    "({mapping}). If details.pairs shows one class consistently read as another, the columns "
    "are tied to the wrong classes: give `score: {{class: column}}` or fix the column names. "
    "Otherwise the decision comes from another rule (per-class thresholds, costs) or other code."
)


def _class_pairs(classes: ClassMap, found: ArgmaxCheck) -> dict[str, int]:
    """(most probable -> predicted) class pairs of the contradicting rows, most frequent first
    (ties by pair), at most PAIRS of them."""
    k = len(classes.labels)
    rows = found.contradicting
    cells, counts = distinct_counts(found.top[rows] * k + found.predicted[rows].astype(np.int64))
    order = np.lexsort((cells, -counts))[:PAIRS]
    return {
        f"{classes.labels[cells[i] // k]}->{classes.labels[cells[i] % k]}": int(counts[i])
        for i in order  # at most PAIRS class pairs, not rows
    }


# Class pairs listed in PRD007's details (k classes have k(k-1) kinds of contradiction).
PAIRS = 20


def _argmax_examples(
    ctx: StageContext, slot: str, classes: ClassMap, found: ArgmaxCheck
) -> list[dict[str, Any]]:
    bad = found.contradicting
    picked = bad[first_by_key(ctx, slot, bad, ctx.config.examples)]
    values = scores(ctx, slot).values
    return [
        {
            "key": key,
            "prediction": classes.labels[int(found.predicted[row])],
            "most_probable": classes.labels[found.top[row]],
            "probabilities": dict(zip(classes.labels, values[row].tolist(), strict=True)),
        }
        for key, row in zip(key_values(ctx, slot, picked), picked, strict=True)
    ]
