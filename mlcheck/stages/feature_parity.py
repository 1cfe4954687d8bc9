"""Stage 2, feature_parity: the same raw data must give the same features in both environments.

Two independent halves, each run when both sides declare it:

- features (FEAT checks): research.features vs production.features matched on the key, asked
  of the aggregate engine (`mlcheck.feature_compare`: the stage-1 comparison rules plus named
  causes: imputation, clipping, infinities, float precision, unseeded sampling);
- environments (ENV checks): Python and package versions from each side's environment file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from packaging.utils import canonicalize_name

from mlcheck.checklist import Checklist
from mlcheck.compare import DtypeChange, KeyDiagnostics, StatsComparison
from mlcheck.context import StageContext
from mlcheck.environment import Environment, version_change
from mlcheck.feature_compare import (
    PRODUCTION,
    RESEARCH,
    Clip,
    Diagnosis,
    FeatureComparison,
    compare_features,
)
from mlcheck.registry import check
from mlcheck.results import Finding, Status
from mlcheck.stage_config import admitting

STAGE = "feature_parity"

_SIDES = ("research", "production")


def skip_reason(checklist: Checklist) -> str | None:
    """Runs when both sides declare `features`, or both declare `environment`."""
    if _both_features(checklist) or _both_environments(checklist):
        return None
    return (
        "needs `features` on both research and production, or `environment` on both "
        "(neither pair is declared)"
    )


def _both_features(checklist: Checklist) -> bool:
    return checklist.research.features is not None and checklist.production.features is not None


def _both_environments(checklist: Checklist) -> bool:
    return all(getattr(checklist, side).environment is not None for side in _SIDES)


# =========================================================================== features

_NUMERIC_KINDS = ("integer", "float")


def _comparison(ctx: StageContext) -> FeatureComparison | None:
    """The comparison of the two feature tables (memoised by `compare_features`)."""
    return compare_features(ctx)


# --------------------------------------------------------------------------- shared helpers


def _fmt(value: Any) -> str:
    """A value for a message: floats with up to 10 significant digits and thousands separators."""
    if isinstance(value, float) and math.isfinite(value):
        text = f"{value:,.10g}"
        return text if any(c in text for c in ".e") else text + ".0"
    return str(value)


def _value_summary(
    found: tuple[int, tuple[tuple[Any, int], ...]], role: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A short text for the values a set of cells held, and the top three with counts."""
    distinct, counts = found
    top = [{"value": v, "count": int(c)} for v, c in counts[:3]]
    if not top:
        return "null", top
    if distinct == 1:
        return _fmt(top[0]["value"]) + (f" (the {role} of the other rows)" if role else ""), top
    return (
        f"{distinct} different values (most often {_fmt(top[0]['value'])}, {top[0]['count']}x)",
        top,
    )


# --------------------------------------------------------------------------- schema, keys, rows


@check("FEAT001", STAGE)
def feature_columns(ctx: StageContext) -> Iterator[Finding]:
    """Feature tables have the same columns.

    Compares the column names of research.features and production.features (columns in
    `columns.ignore` are left out). A column missing from production fails; an extra column in
    production warns; a missing column whose values reappear under another name is named as a
    likely rename; a column of a nested type that cannot be compared warns.

    Why it matters: a feature the model expects but production does not build is filled with a
    default (or crashes scoring); a renamed one is silently ignored.

    Usual causes: a feature renamed or dropped in the production code, a `select` list kept by
    hand, a step of the research notebook not ported to production.

    How to fix: make the production pipeline emit the research feature names (check renames in
    the feature code and in any schema/contract file between the two).
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    if cmp.missing_columns:
        yield _missing_columns_finding(cmp)
    if cmp.extra_columns:
        yield Finding(
            Status.WARN,
            f"{len(cmp.extra_columns)} column(s) only in production: {', '.join(cmp.extra_columns)}",
            source=PRODUCTION,
            observed=list(cmp.extra_columns),
            hint="The model ignores columns it was not trained on; check they are not renamed features.",
            details={"extra": list(cmp.extra_columns)},
        )
    for column, why in sorted(cmp.uncomparable.items()):
        yield Finding(
            Status.WARN, f"`{column}` not compared: {why}", source=RESEARCH, column=column
        )
    if not cmp.missing_columns and not cmp.extra_columns:
        yield Finding(
            Status.PASS, f"same {len(cmp.left_columns)} columns on both sides", source=RESEARCH
        )


def _missing_columns_finding(cmp: FeatureComparison) -> Finding:
    missing = list(cmp.missing_columns)
    renamed = {c: cmp.renamed[c] for c in missing if c in cmp.renamed}
    guess = ", ".join(f"{a} -> {b}" for a, b in renamed.items())
    return Finding(
        Status.FAIL,
        f"{len(missing)} feature column(s) missing from production: {', '.join(missing)}"
        + (f" (renamed? {guess})" if renamed else ""),
        source=PRODUCTION,
        observed=missing,
        hint="Production does not build these features; emit them under the research names.",
        details={"missing": missing, "renamed": renamed},
    )


@check("FEAT002", STAGE)
def feature_types(ctx: StageContext) -> Iterator[Finding]:
    """Feature columns keep their type.

    For each common column whose logical type differs: `incompatible` (different families, such
    as number -> string, or a timezone added) fails; `precision_loss` that is not float-to-float
    (decimal scale, timestamp unit, integer overflow) warns; a widening or lossless narrowing
    passes with the change in details. Float64 -> float32 is reported by FEAT012 (precision).

    Why it matters: a re-typed feature is encoded differently by the model (a number read as a
    category, a date as text) even when the values print the same.

    Usual causes: CSV/JSON round trips that re-infer types, a pandas version with another
    inference default, a schema declared by hand in production.

    How to fix: cast explicitly to the research type at the end of the production pipeline, or
    declare the schema when writing the feature table.
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    status = {"incompatible": Status.FAIL, "precision_loss": Status.WARN}
    shown = 0
    for change in cmp.dtype_changes:
        if _is_float_change(change):
            continue
        shown += 1
        yield Finding(
            status.get(change.kind, Status.PASS),
            f"`{change.column}` is {change.research} in research, {change.production} in production ({change.kind})",
            source=PRODUCTION,
            column=change.column,
            observed=change.production,
            expected=change.research,
            hint=None if change.kind in ("widening", "narrowing") else _TYPE_HINT,
            details={"kind": change.kind, "reason": change.reason},
        )
    if not shown:
        yield Finding(Status.PASS, "every common column keeps its type", source=PRODUCTION)


_TYPE_HINT = (
    "Cast the column to the research type in the production pipeline (or declare the schema)."
)


def _is_float_change(change: DtypeChange) -> bool:
    return all(
        t.startswith(("double", "float", "halffloat")) for t in (change.research, change.production)
    )


@check("FEAT003", STAGE)
def feature_keys(ctx: StageContext) -> Iterator[Finding]:
    """Feature rows can be matched on the key.

    Counts null and duplicated keys in each feature table. Such rows cannot be paired, so they
    are left out of the cell comparison and the check fails. Without a usable key (none declared,
    or absent from a table) it warns: rows are then compared as multisets and cells are not.

    Usual causes: a one-to-many join in the feature pipeline (duplicates), an outer join or a
    key column that lost values (nulls).

    How to fix: deduplicate or fix the join; declare `key:` (or the source's own `key:`).
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    if not cmp.keyed or cmp.keys is None:
        why = cmp.key_problem or "no key declared"
        yield Finding(
            Status.WARN,
            f"feature tables compared without a key ({why}): rows as multisets, cells not compared",
            source=RESEARCH,
            hint="Declare `key:` in the checklist so cells can be compared row by row.",
        )
        return
    yield _key_finding(cmp.keys)


def _key_finding(keys: KeyDiagnostics) -> Finding:
    bad = {
        "research_null": keys.left_null_rows,
        "production_null": keys.right_null_rows,
        "research_duplicate_rows": keys.left_duplicate_rows,
        "production_duplicate_rows": keys.right_duplicate_rows,
    }
    total = sum(bad.values())
    if not total:
        return Finding(
            Status.PASS,
            f"key {', '.join(keys.key)} is unique and non-null on both sides",
            source=RESEARCH,
            observed=0,
            threshold=0,
        )
    production_side = bad["production_null"] or bad["production_duplicate_rows"]
    return Finding(
        Status.FAIL,
        f"{total} feature rows have a null or duplicated key",
        source=PRODUCTION if production_side else RESEARCH,
        observed=total,
        threshold=0,
        hint="Deduplicate or fix the join that fans out; rows without a unique key are not compared.",
        details={
            **bad,
            "research_duplicates": list(keys.left_duplicate_examples),
            "production_duplicates": list(keys.right_duplicate_examples),
        },
    )


@check("FEAT004", STAGE, thresholds=("max_lost_rows",))
def lost_feature_rows(ctx: StageContext) -> Iterator[Finding]:
    """Feature rows in research that production lost.

    Keys present in research.features but absent from production.features (without a key: rows
    of research with no identical row in production), with examples. Fails beyond
    `max_lost_rows`.

    Usual causes: a filter or `dropna` in the production feature code, an inner join against a
    table with missing keys, a different time window.

    How to fix: compare the production filters and joins with research; look up the example keys.
    """
    cmp = _comparison(ctx)
    if cmp is not None:
        rows = cmp.rows
        yield _row_finding(
            rows.lost,
            rows.lost_examples,
            ctx.config.max_lost_rows,
            "research",
            "production",
            rows.by,
        )


@check("FEAT005", STAGE, thresholds=("max_extra_rows",))
def extra_feature_rows(ctx: StageContext) -> Iterator[Finding]:
    """Feature rows in production that research does not have.

    Keys present in production.features but absent from research.features (without a key: rows
    with no identical research row), with examples. Fails beyond `max_extra_rows`.

    Usual causes: production reads a wider time window or another source, a missing filter,
    or a join that fans out.

    How to fix: align the production filters and sources with research; look up the example keys.
    """
    cmp = _comparison(ctx)
    if cmp is not None:
        rows = cmp.rows
        yield _row_finding(
            rows.extra,
            rows.extra_examples,
            ctx.config.max_extra_rows,
            "production",
            "research",
            rows.by,
        )


def _row_finding(
    n: int,
    examples: tuple[dict[str, Any], ...],
    limit: int,
    only_in: str,
    absent_from: str,
    by: str,
) -> Finding:
    unit = "keys" if by == "key" else "rows"
    return Finding(
        Status.FAIL if n > limit else Status.PASS,
        f"{n} feature rows only in {only_in}"
        + (f" ({unit} absent from {absent_from})" if n else ""),
        source=f"{only_in}.features",
        observed=n,
        threshold=limit,
        hint=f"Compare the {absent_from} pipeline's filters, joins and time window; look up the example {unit}."
        if n > limit
        else None,
        details={"count": n, "by": by, "examples": list(examples)},
    )


@check("FEAT006", STAGE)
def unseeded_sampling(ctx: StageContext) -> Iterator[Finding]:
    """Same row count, different rows: unseeded sampling.

    Fires when both feature tables have the same number of rows but not the same keys: each side
    kept a sample of the same size, drawn differently.

    Usual causes: `df.sample(n)` / `np.random.choice` without a fixed seed, `TABLESAMPLE`,
    a `LIMIT` without `ORDER BY`.

    How to fix: seed the sampler (and pass the seed to every random call), or select rows by a
    deterministic rule such as a hash of the key.
    """
    cmp = _comparison(ctx)
    if cmp is None or not cmp.keyed:
        return
    rows = cmp.rows
    sampled = cmp.left_rows == cmp.right_rows and rows.lost > 0 and rows.extra > 0
    yield Finding(
        Status.FAIL if sampled else Status.PASS,
        (
            f"both sides have {cmp.left_rows} rows but {rows.lost} keys only in research and "
            f"{rows.extra} only in production: rows were sampled differently"
            if sampled
            else "row sets do not look independently sampled"
        ),
        source=PRODUCTION,
        observed=rows.lost + rows.extra if sampled else 0,
        hint="Seed the sampler (or sample by a hash of the key) in both pipelines."
        if sampled
        else None,
        details={"rows": cmp.left_rows, "only_research": rows.lost, "only_production": rows.extra},
    )


# --------------------------------------------------------------------------- values


@check("FEAT007", STAGE)
def feature_statistics(ctx: StageContext) -> Iterator[Finding]:
    """Per-column statistics agree.

    Compares each column's count, nulls, NaNs, distinct values, min, max, mean, std, sum and top
    values within tolerance (mean/std/sum with the bound the cell tolerance implies). With a key
    a difference warns (FEAT008 judges the cells; columns whose cells differ only at float32
    scale are left to FEAT012); without a key, statistics are the evidence, and a difference fails.

    Usual causes: the same as the cell-level checks (imputation, clipping, infinities, logic
    changes) or rows lost or added.

    How to fix: follow the cell-level checks for the same column; without a key, declare one.
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    differing = 0
    for name, stats in cmp.stats.items():
        diag = cmp.diagnoses.get(name)
        if not stats.differences or (
            diag is not None and not diag.logic and not cmp.row_set_differs()
        ):
            continue
        differing += 1
        yield Finding(
            Status.WARN if cmp.keyed else Status.FAIL,
            f"`{name}`: {', '.join(d.stat for d in stats.differences)} differ",
            source=PRODUCTION,
            column=name,
            hint="See the cell checks of this column for which rows differ and why.",
            details=_stats_details(stats),
        )
    if not differing:
        yield Finding(
            Status.PASS,
            f"statistics agree for {len(cmp.compared_columns)} columns",
            source=PRODUCTION,
        )


def _stats_details(stats: StatsComparison) -> dict[str, Any]:
    return {
        "differences": {
            d.stat: {"research": d.research, "production": d.production, "tolerance": d.tolerance}
            for d in stats.differences
        },
        "research": stats.left.as_dict() if stats.left else None,
        "production": stats.right.as_dict() if stats.right else None,
    }


@check("FEAT008", STAGE, thresholds=("rtol", "atol", "max_mismatched_cells"))
def feature_cells(ctx: StageContext) -> Iterator[Finding]:
    """Feature cells agree on matched keys.

    For each column, the cells of matched keys that differ beyond `|a - b| <= atol + rtol *
    max(|a|, |b|)` (null equals null, NaN equals NaN), with examples and the count of cells that
    differ only within tolerance. Differences at float32 scale are not counted here (FEAT012
    reports them as precision); the causes of the rest are broken down (imputation, infinity,
    clipping, unexplained) and named by FEAT009-FEAT011. Fails beyond `max_mismatched_cells`.

    How to fix: look up the example keys in both pipelines; follow the named-cause checks.
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    if cmp.identical:
        yield Finding(
            Status.PASS,
            "feature tables have identical content (order-independent fingerprint)",
            source=PRODUCTION,
            details={"fingerprint": cmp.fingerprint},
        )
        return
    clean = 0
    for diag in cmp.diagnoses.values():
        if not diag.logic:
            clean += 1
            continue
        yield _cells_finding(ctx, diag)
    if clean:
        yield Finding(
            Status.PASS,
            f"{clean} column(s) agree on {cmp.matched if cmp.keyed else 0} matched rows",
            source=PRODUCTION,
        )


def _cells_finding(ctx: StageContext, diag: Diagnosis) -> Finding:
    limit, logic = ctx.config.max_mismatched_cells, diag.logic
    causes = {k: v for k, v in diag.causes().items() if v}
    found = diag.causes_found
    return Finding(
        Status.FAIL if logic > limit else Status.PASS,
        f"{logic} of {diag.compared} cells of `{diag.column}` differ beyond tolerance ("
        + ", ".join(f"{k} {v}" for k, v in causes.items())
        + ")",
        source=PRODUCTION,
        column=diag.column,
        observed=logic,
        threshold=limit,
        hint=_CELLS_HINT if logic > limit else None,
        details={
            "beyond": logic,
            "causes": causes,
            "precision": diag.precision,
            "within_tolerance": diag.noise,
            "max_abs_diff": found.max_abs_diff,
            "max_rel_diff": found.max_rel_diff,
            "examples": diag.examples(None, ctx.config.examples),
        },
    )


_CELLS_HINT = "Same key, different value: compare the feature code for the example keys; FEAT009-FEAT011 name known causes."


# --------------------------------------------------------------------------- named causes


@check("FEAT009", STAGE, thresholds=("fill_share", "min_fill_cells"))
def imputation_mismatch(ctx: StageContext) -> Iterator[Finding]:
    """Missing values filled differently (imputation mismatch).

    Per column, on matched keys: cells null (or NaN) in research but filled in production, with
    the value(s) production filled in; cells with a value in research but null in production; and
    cells where one side holds the same value over and over (at least `min_fill_cells` cells and
    `fill_share` of the column's unexplained differences) while the other side differs - two
    pipelines filling the same gaps with different values (e.g. research's median vs 0.0).
    When a fill value equals the median or mean of that side's other rows, it is named so.

    Usual causes: `fillna(0)` in one pipeline and a fitted imputer in the other, an imputer
    re-fitted on production data, a default changed between library versions.

    How to fix: fit the imputer once on research data, persist its fill values with the model and
    apply them unchanged in production.
    """
    cmp = _comparison(ctx)
    if cmp is None or not cmp.keyed:
        return
    found = 0
    for diag in cmp.diagnoses.values():
        if diag.filled or diag.emptied or diag.refilled:
            found += 1
            yield _imputation_finding(ctx, diag)
    if not found:
        yield Finding(
            Status.PASS,
            "no cell is null on one side only, and no fill value differs",
            source=PRODUCTION,
        )


_IMPUTATION = ("filled", "emptied", "refilled")


def _imputation_finding(ctx: StageContext, diag: Diagnosis) -> Finding:
    parts = list(_imputation_parts(diag))
    details = {key: part for _, key, part in parts}
    return Finding(
        Status.FAIL,
        "; ".join(text for text, _, _ in parts),
        source=PRODUCTION,
        column=diag.column,
        observed=diag.count(*_IMPUTATION),
        threshold=0,
        hint=_IMPUTATION_HINT,
        details={**details, "examples": diag.examples(_IMPUTATION, ctx.config.examples)},
    )


_IMPUTATION_HINT = (
    "The pipelines fill missing values differently: persist research's fitted fill values with "
    "the model and apply them unchanged in production."
)


def _imputation_parts(diag: Diagnosis) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(message part, details key, details) for each kind of imputation difference found."""
    name = f"`{diag.column}`"
    if diag.filled:
        text, top = _side_values(diag, "filled", "production")
        n = diag.filled
        yield (
            f"{n} nulls in {name} became {text} in production",
            "null_in_research",
            {"count": n, "production_values": top},
        )
    if diag.emptied:
        text, top = _side_values(diag, "emptied", "research")
        n = diag.emptied
        yield (
            f"{n} cells of {name} holding {text} in research are null in production",
            "null_in_production",
            {"count": n, "research_values": top},
        )
    if diag.refilled:
        research, r_top = _side_values(diag, "refilled", "research")
        production, p_top = _side_values(diag, "refilled", "production")
        n = diag.refilled
        text = f"{n} cells of {name} are {research} in research but {production} in production"
        yield (
            text,
            "fill_differs",
            {"count": n, "research_values": r_top, "production_values": p_top},
        )


def _side_values(diag: Diagnosis, cause: str, side: str) -> tuple[str, list[dict[str, Any]]]:
    """What one side held in these cells, naming a fill value that is the side's median/mean."""
    return _value_summary(diag.values(cause, side), diag.roles.get((cause, side)))


@check("FEAT010", STAGE, thresholds=("clip_quantile",))
def clipping_mismatch(ctx: StageContext) -> Iterator[Finding]:
    """Extremes clipped differently.

    Per numeric column: the middle of the distribution agrees (quantiles from `clip_quantile` to
    1 - `clip_quantile` equal within tolerance on both sides) while cells in the tails differ,
    each with one side at its extreme (its clip point) and the other side beyond it. Reports both
    sides' clip points (finite min and max, with how many rows sit on each) and the differing
    cells in each tail.

    Usual causes: winsorising at other percentiles, percentiles recomputed on production data
    instead of reusing research's bounds, `clip` applied in one pipeline only.

    How to fix: persist research's clip bounds (the values, not the percentile levels) and apply
    them unchanged in production.
    """
    cmp = _comparison(ctx)
    if cmp is None or not cmp.keyed:
        return
    found = 0
    for diag in cmp.diagnoses.values():
        if diag.clip is not None:
            found += 1
            yield _clipping_finding(ctx, diag, diag.clip)
    if not found:
        yield Finding(
            Status.PASS, "no column's tails differ while its middle agrees", source=PRODUCTION
        )


def _clipping_finding(ctx: StageContext, diag: Diagnosis, clip: Clip) -> Finding:
    r, p = clip.research, clip.production
    low, high = diag.clipped_low, diag.clipped_high
    middle = f"{clip.levels[0]:.0%}-{clip.levels[-1]:.0%}"
    return Finding(
        Status.FAIL,
        f"`{diag.column}` clipped differently: research at [{_fmt(r.min)}, {_fmt(r.max)}], "
        f"production at [{_fmt(p.min)}, {_fmt(p.max)}]; {low} low and {high} high cells differ, "
        f"quantiles {middle} agree",
        source=PRODUCTION,
        column=diag.column,
        observed=[p.min, p.max],
        expected=[r.min, r.max],
        hint="Persist research's clip bounds (values, not percentiles) and apply them unchanged in production.",
        details={
            "research": asdict(r),
            "production": asdict(p),
            "low_cells": low,
            "high_cells": high,
            "quantiles": {
                "levels": list(clip.levels),
                "research": list(clip.research_quantiles),
                "production": list(clip.production_quantiles),
            },
            "examples": diag.examples(("clipped_low", "clipped_high"), ctx.config.examples),
        },
    )


_INFINITY = ("inf_introduced", "inf_removed", "inf_flipped")


@check("FEAT011", STAGE)
def infinities(ctx: StageContext) -> Iterator[Finding]:
    """Infinities introduced or removed.

    Per float column: the number of +inf and -inf values on each side and, on matched keys, the
    cells that are infinite on one side only (or of the other sign). Fails on any difference -
    including cells the tolerance rule would call equal (|finite - inf| is not "noise").

    Usual causes: a division by zero or log(0) that only one pipeline guards, often downstream of
    a 0.0 fill of the denominator (see FEAT009); an inf replaced by a cap or null in one pipeline.

    How to fix: guard the operation the same way in both pipelines and decide what an infinite
    ratio becomes (a cap or null) before the model sees it.
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    found = 0
    for name in cmp.float_columns():
        research, production = cmp.infinities.get(name) or (_NO_INF, _NO_INF)
        counts = {"research": research, "production": production}
        diag = cmp.diagnoses.get(name)
        if (diag is not None and diag.infinity) or research != production:
            found += 1
            yield _infinity_finding(ctx, name, counts, diag)
    if not found:
        yield Finding(Status.PASS, "no infinity introduced or removed", source=PRODUCTION)


_NO_INF = {"+inf": 0, "-inf": 0}


def _infinity_finding(
    ctx: StageContext,
    name: str,
    counts: dict[str, dict[str, int]],
    diag: Diagnosis | None,
) -> Finding:
    details: dict[str, Any] = {"research": counts["research"], "production": counts["production"]}
    message = f"`{name}` has {_inf_text(counts['research'])} in research, {_inf_text(counts['production'])} in production"
    if diag is not None and diag.infinity:
        introduced, removed = diag.count("inf_introduced"), diag.count("inf_removed")
        message += (
            f"; {introduced} matched cells became infinite in production, {removed} became finite"
        )
        details.update(
            introduced=introduced,
            removed=removed,
            examples=diag.examples(_INFINITY, ctx.config.examples),
        )
    return Finding(
        Status.FAIL,
        message,
        source=PRODUCTION,
        column=name,
        observed=counts["production"],
        expected=counts["research"],
        hint="A division by zero or log(0) guarded in one pipeline only (often after a 0.0 fill): guard it identically on both sides.",
        details=details,
    )


def _float_name(arrow_type: str) -> str:
    return {"double": "float64", "float": "float32", "halffloat": "float16"}.get(
        arrow_type, arrow_type
    )


def _inf_text(counts: dict[str, int]) -> str:
    total = counts["+inf"] + counts["-inf"]
    return (
        "no infinity"
        if not total
        else " and ".join(f"{n} {sign}" for sign, n in counts.items() if n)
    )


@check("FEAT012", STAGE, thresholds=("float32_rtol",))
def float_precision(ctx: StageContext) -> Iterator[Finding]:
    """Float precision differences (float64 vs float32), named as precision, not logic.

    Per float column: a float64 -> float32 (or other float narrowing) type change, and cells that
    differ beyond rtol but within `float32_rtol` relative difference - what a float32 round trip
    or float32 arithmetic explains. Such cells warn here and are not counted by FEAT008.

    Usual causes: a cast to float32 to save memory, a float32 Parquet/Arrow schema, a GPU or
    ONNX path computing in single precision.

    How to fix: keep float64 end to end; or, if float32 is intended, accept it: an `accept:`
    entry for FEAT012 for a type change (no tolerance makes a float32 column float64), or
    `stages.feature_parity.rtol` at float32 scale (the hint names the value) for float32 noise
    in float64 columns.
    """
    cmp = _comparison(ctx)
    if cmp is None:
        return
    narrowed = {
        c.column: c for c in cmp.dtype_changes if _is_float_change(c) and c.kind == "precision_loss"
    }
    found = 0
    for name in cmp.float_columns():
        diag = cmp.diagnoses.get(name) if cmp.keyed else None
        if name in narrowed or (diag is not None and diag.precision):
            found += 1
            yield _precision_finding(name, narrowed.get(name), diag)
    if not found:
        yield Finding(Status.PASS, "no float column lost precision", source=PRODUCTION)


def _precision_hint(change: DtypeChange | None, diag: Diagnosis | None) -> str:
    """What silences this finding: a type change only by an `accept:` entry (no tolerance makes
    float32 storage float64), float32-scale noise also by the rtol that admits it."""
    if change is not None or diag is None:
        return (
            "Keep float64 end to end; if float32 is intended, accept it: add "
            "`{check: FEAT012, reason: ...}` to the checklist's `accept:` list."
        )
    largest = diag.max_relative("precision")
    return (
        "Keep the arithmetic in float64; if float32-scale noise is acceptable, set "
        f"stages.feature_parity.rtol to {admitting(largest)}."
    )


def _precision_finding(name: str, change: DtypeChange | None, diag: Diagnosis | None) -> Finding:
    parts = (
        [
            f"`{name}` is {_float_name(change.research)} in research, {_float_name(change.production)} in production"
        ]
        if change
        else []
    )
    details: dict[str, Any] = {
        "research_type": change.research if change else None,
        "production_type": change.production if change else None,
    }
    if diag is not None:
        noise = diag.noise
        scale = diag.precision + noise
        largest = diag.max_relative("precision", "within")
        parts.append(
            f"{scale} cells differ at float32 scale (max relative difference {largest:.2g}; "
            f"{diag.precision} of them beyond rtol)"
        )
        details.update(precision=diag.precision, within_tolerance=noise, max_rel_diff=largest)
    return Finding(
        Status.WARN,
        "; ".join(parts) + ": precision, not logic",
        source=PRODUCTION,
        column=name,
        observed=change.production if change else diag.precision if diag else None,
        expected=change.research if change else None,
        hint=_precision_hint(change, diag),
        details=details,
    )


# =========================================================================== environments


def _environments(ctx: StageContext) -> tuple[Environment, Environment] | None:
    if not _both_environments(ctx.checklist):
        return None
    return ctx.engine.environment("research"), ctx.engine.environment("production")


_CHANGE_STATUS = {"same": Status.PASS, "patch": Status.WARN, "unknown": Status.WARN}


@check("ENV001", STAGE)
def python_version(ctx: StageContext) -> Iterator[Finding]:
    """Python version is the same on both sides.

    Compares the Python version recorded in each side's environment file (`mlcheck env capture`
    JSON, or `python=` in a conda environment.yml; pip freeze and requirements files do not
    record it). A different minor version (3.10 -> 3.11) fails, a different patch (3.11.4 ->
    3.11.7) warns. A version recorded on one side only is reported, not failed.

    Why it matters: a Python minor release changes the standard library (hashing, float
    formatting, datetime parsing) and which wheels of numpy/pandas/scikit-learn get installed,
    so the same code can build different features.

    Usual causes: a base image upgraded independently of research, a CI runner on another
    Python, a conda env solved again without a pin.

    How to fix: build the production image from the research Python minor version (pin it in
    the Dockerfile / conda env), or re-run research on the new version and re-validate.
    """
    declared = [side for side in _SIDES if getattr(ctx.checklist, side).environment is not None]
    if len(declared) == 1:
        yield _one_environment_declared(declared[0])
        return
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    platforms = {"research_platform": research.platform, "production_platform": production.platform}
    if research.python is None or production.python is None:
        unknown = " and ".join(e.label for e in pair if e.python is None)
        yield Finding(
            Status.PASS,
            f"Python version not recorded in {unknown}: not compared",
            source="environment",
            observed=production.python,
            expected=research.python,
            hint="Record it with `mlcheck env capture -o environment.json` on each side.",
            details=platforms,
        )
        return
    change = version_change(research.python, production.python)
    yield Finding(
        _CHANGE_STATUS.get(change, Status.FAIL),
        f"Python {research.python} in research, {production.python} in production ({change})",
        source="environment",
        observed=production.python,
        expected=research.python,
        hint=None if change == "same" else _PYTHON_HINT,
        details={"change": change, **platforms},
    )


_PYTHON_HINT = (
    "A different Python changes the standard library and the wheels installed for it; "
    "run production on the research Python version (pin it in the image) or re-validate."
)


def _one_environment_declared(side: str) -> Finding:
    other = "production" if side == "research" else "research"
    return Finding(
        Status.WARN,
        f"only {side} declares an environment file: nothing to compare it with",
        source="environment",
        hint=f"Add `{other}: environment: {{path: ...}}` (e.g. `mlcheck env capture -o env.json` there).",
    )


@check("ENV002", STAGE, thresholds=("packages",))
def listed_package_versions(ctx: StageContext) -> Iterator[Finding]:
    """Listed packages have the same major.minor version on both sides.

    For each package in `packages` (default: numpy, pandas, scipy, scikit-learn, pyarrow,
    xgboost, lightgbm, catboost, torch, tensorflow, statsmodels), compares the versions pinned
    in the two environment files. Names are canonicalised (scikit_learn == scikit-learn).
    A major or minor change fails, a patch change warns, a package present on one side only
    fails, a package present but not pinned (`>=`, `-e`, a URL without a version) warns because
    it cannot be compared. Listed packages absent from both files are ignored.

    Why it matters: these libraries change defaults and numerical results between minor
    versions (a scikit-learn estimator's default solver, pandas' dtype inference, numpy's
    random streams), so the same feature code gives different features or predictions.

    Usual causes: requirements with ranges (`>=`) solved at different times, a production image
    rebuilt later than research, a transitive upgrade pulled in by another package.

    How to fix: install production from the research lock file (`pip freeze` /
    `mlcheck env capture` output), or upgrade research too and re-validate the model.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    same: dict[str, str] = {}
    for name in sorted({_canonical(p) for p in ctx.config.packages}):
        finding = _compare_package(name, research, production)
        if finding is not None:
            yield finding
        elif name in research.packages:
            same[name] = research.packages[name]
    if not same:
        return
    yield Finding(
        Status.PASS,
        f"{len(same)} listed package(s) at the same version: "
        + ", ".join(f"{n} {v}" for n, v in same.items()),
        source="environment",
        details={"same": same},
    )


def _compare_package(name: str, research: Environment, production: Environment) -> Finding | None:
    """A finding for one listed package when it differs; None when equal or absent on both."""
    known = [name in e.packages or name in e.unversioned for e in (research, production)]
    if not any(known):
        return None
    if not all(known):
        where, missing = ("research", "production") if known[0] else ("production", "research")
        version = (research if known[0] else production).packages.get(name, "unpinned")
        return Finding(
            Status.FAIL,
            f"{name} {version} is in {where} but missing from the {missing} environment",
            source=name,
            observed=production.packages.get(name),
            expected=research.packages.get(name),
            hint=f"Install {name} {version} in {missing} too, or remove the dependency from {where}.",
        )
    if name not in research.packages or name not in production.packages:
        why = {
            s: e.unversioned[name]
            for s, e in zip(_SIDES, (research, production), strict=True)
            if name in e.unversioned
        }
        return Finding(
            Status.WARN,
            f"{name} is not pinned in {' and '.join(why)}: versions cannot be compared",
            source=name,
            observed=production.packages.get(name),
            expected=research.packages.get(name),
            hint=f"Pin {name}==<version> in both environment files (e.g. from `pip freeze`).",
            details={"unversioned": why},
        )
    return _version_finding(name, research.packages[name], production.packages[name])


def _version_finding(name: str, old: str, new: str) -> Finding | None:
    change = version_change(old, new)
    if change == "same":
        return None
    return Finding(
        _CHANGE_STATUS.get(change, Status.FAIL),
        f"{name} {old} in research, {new} in production ({change} version change)",
        source=name,
        observed=new,
        expected=old,
        hint=(
            f"{name} {change} versions can change defaults and numerical results; install "
            f"{name}=={old} in production (from the research lock file) or re-validate on {new}."
        ),
        details={"change": change},
    )


@check("ENV003", STAGE)
def other_package_versions(ctx: StageContext) -> Iterator[Finding]:
    """Other packages: version differences, for information.

    Lists the packages outside `packages` whose version differs between the two environment
    files, or that are installed on one side only. It never fails: most of these cannot change
    features, but when a feature check above fails, a changed dependency here is often why.

    Usual causes: unpinned transitive dependencies, images built at different times.

    How to fix: when a feature check fails, read this list next to it; promote a package that
    matters to your pipeline into `stages.feature_parity.packages` so its changes gate the release.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    listed = {_canonical(p) for p in ctx.config.packages}
    old = {k: v for k, v in research.packages.items() if k not in listed}
    new = {k: v for k, v in production.packages.items() if k not in listed}
    changed = {
        k: [old[k], new[k]]
        for k in sorted(old.keys() & new.keys())
        if version_change(old[k], new[k]) != "same"
    }
    only_research = sorted(old.keys() - new.keys())
    only_production = sorted(new.keys() - old.keys())
    limit = ctx.config.examples
    yield Finding(
        Status.PASS,
        f"{len(old.keys() | new.keys())} other packages: {len(changed)} at another version, "
        f"{len(only_research)} only in research, {len(only_production)} only in production",
        source="environment",
        observed=len(changed) + len(only_research) + len(only_production),
        details={
            "n_changed": len(changed),
            "changed": dict(list(changed.items())[:limit]),
            "n_only_research": len(only_research),
            "only_research": only_research[:limit],
            "n_only_production": len(only_production),
            "only_production": only_production[:limit],
        },
    )


@check("ENV004", STAGE)
def environment_files_read(ctx: StageContext) -> Iterator[Finding]:
    """Every line of both environment files was understood.

    Reports lines of an environment file that could not be read as a package version (a typo,
    an unsupported syntax, a `-r other.txt` include that is not followed, a package pinned twice).
    It warns rather than fails: the rest of the file was compared, but a version on such a line
    was not. Pip options (`--index-url`, `--hash`) and comments are skipped silently.

    Usual causes: a hand-edited requirements file, syntax of another tool (Poetry, pip-tools
    annotations outside comments), an include of another file.

    How to fix: correct the line, or regenerate the file with `pip freeze` or
    `mlcheck env capture`.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    for side, env in zip(_SIDES, pair, strict=True):
        n = len(env.problems)
        yield Finding(
            Status.WARN if n else Status.PASS,
            f"{n} line(s) of {env.label} could not be read"
            if n
            else f"{env.label}: {len(env.packages)} pinned packages read",
            source=f"{side}.environment",
            observed=n,
            hint="Fix these lines or regenerate the file with `pip freeze` / `mlcheck env capture`."
            if n
            else None,
            details={
                "n_problems": n,
                "problems": list(env.problems[: ctx.config.examples]),
                "kind": env.kind,
            },
        )


def _canonical(name: str) -> str:
    return str(canonicalize_name(name))
