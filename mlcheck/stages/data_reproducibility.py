"""Stage 1, data reproducibility: each named raw source, research against production.

Every check here reads one shared `RelationComparison` per source
(`mlcheck.relation_compare`): the engine is asked once per run however many checks look at it,
and answers with counts, statistics and examples, never whole columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlcheck.checklist import Checklist
from mlcheck.compare import DtypeChange
from mlcheck.context import StageContext
from mlcheck.engines.base import ColumnDifference, Unsupported
from mlcheck.registry import check
from mlcheck.relation_compare import RelationComparison, compare_relations
from mlcheck.results import Finding, Status
from mlcheck.stage_config import admitting

STAGE = "data_reproducibility"

_CHANGE_STATUS = {
    "widening": Status.WARN,
    "narrowing": Status.WARN,
    "precision_loss": Status.FAIL,
    "incompatible": Status.FAIL,
}


def skip_reason(checklist: Checklist) -> str | None:
    if checklist.research.raw or checklist.production.raw:
        return None
    return "no raw sources declared (research.raw / production.raw)"


# --------------------------------------------------------------------------- helpers


def _names(checklist: Checklist) -> list[str]:
    """Raw source names declared on either side: research's order, then production-only ones."""
    research, production = checklist.research.raw or {}, checklist.production.raw or {}
    return list(research) + [n for n in production if n not in research]


def _paired(ctx: StageContext) -> Iterator[tuple[str, RelationComparison]]:
    """Each raw source declared on both sides with its (memoised) comparison."""
    research, production = ctx.checklist.research.raw or {}, ctx.checklist.production.raw or {}
    for name in _names(ctx.checklist):
        if name in research and name in production:
            yield (
                name,
                compare_relations(
                    ctx.engine,
                    f"research.raw.{name}",
                    f"production.raw.{name}",
                    ctx.config,
                    ignore=ctx.columns.ignore,
                ),
            )


def _num_rows(ctx: StageContext, slot: str) -> int:
    """Rows of a slot, counted by the reader's table where the engine cannot register it
    (columns DuckDB cannot tell apart), as the comparison then falls back to it too."""
    try:
        return ctx.engine.aggregate.num_rows(ctx.engine.relation(slot))
    except Unsupported:
        return ctx.engine.num_rows(slot)


def _listing(names: tuple[str, ...] | list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _integrity_status(research: int, production: int) -> Status:
    """Key defects: none pass; the same count on both sides is a shared defect (warn); a
    count that changed means production's pipeline changed the key (fail)."""
    if research == production:
        return Status.PASS if research == 0 else Status.WARN
    return Status.FAIL


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# --------------------------------------------------------------------------- checks


@check("RAW001", STAGE)
def source_present(ctx: StageContext) -> Iterator[Finding]:
    """Raw source declared and readable on both sides.

    Measures: every source named under `research.raw` is also named under `production.raw`
    and the other way round, and both files can be read.
    Why: a source the production pipeline no longer receives (or one it reads in addition) is
    the coarsest way raw data stops being reproducible.
    Usual causes: a source renamed in one checklist section, a feed retired or added upstream.
    Fix: declare the source on both sides under the same name, or remove it from both.
    """
    research, production = ctx.checklist.research.raw or {}, ctx.checklist.production.raw or {}
    for name in _names(ctx.checklist):
        if name in research and name in production:
            rows = [_num_rows(ctx, f"{side}.raw.{name}") for side in ("research", "production")]
            yield Finding(
                Status.PASS, f"declared on both sides ({rows[0]} and {rows[1]} rows)", source=name
            )
            continue
        have, lack = ("research", "production") if name in research else ("production", "research")
        yield Finding(
            Status.FAIL,
            f"declared in {have}.raw only",
            source=name,
            observed=f"{have} only",
            hint=f"Declare `{lack}.raw.{name}` with the matching file (a feed missing on one side "
            "or a source renamed in one section), or drop it from both sides.",
        )


@check("RAW002", STAGE)
def same_columns(ctx: StageContext) -> Iterator[Finding]:
    """Same columns on both sides.

    Measures: columns research has and production lacks (missing, fails) and columns only
    production has (extra, warns). A missing column whose values equal an extra column's is
    named as a probable rename.
    Why: a pipeline that reads a column production no longer delivers fails or, worse, fills
    it silently with defaults.
    Usual causes: a column renamed or dropped in an ETL select list, a schema migration.
    Fix: restore or rename the column in production's export; list columns that may differ
    in `columns.ignore`.
    """
    for name, cmp in _paired(ctx):
        missing, extra = cmp.missing_columns, cmp.extra_columns
        if not missing and not extra:
            yield Finding(Status.PASS, f"same {len(cmp.left_columns)} columns", source=name)
            continue
        parts = [f"missing in production: {_listing(missing)}"] if missing else []
        parts += [f"extra in production: {_listing(extra)}"] if extra else []
        yield Finding(
            Status.FAIL if missing else Status.WARN,
            "; ".join(parts),
            source=name,
            observed=len(missing),
            threshold=0,
            hint=_columns_hint(cmp),
            details={"missing": list(missing), "extra": list(extra), "renamed": dict(cmp.renamed)},
        )


def _columns_hint(cmp: RelationComparison) -> str:
    if cmp.renamed:
        pairs = ", ".join(f"{a} -> {b}" for a, b in cmp.renamed.items())
        return (
            f"Probably renamed in production ({pairs}: same values); rename it back in the export."
        )
    if cmp.missing_columns:
        return "An ETL select list or schema change dropped or renamed these columns; restore them."
    return "Production delivers columns research never saw; harmless unless used, else add to columns.ignore."


@check("RAW003", STAGE)
def column_types(ctx: StageContext) -> Iterator[Finding]:
    """Column types unchanged (changes classified).

    Measures: each common column's Arrow type on both sides. A change is `widening` (int32 ->
    int64, float32 -> float64, int -> float when every value is exact: warns), `narrowing` (a
    smaller type that still holds every research value: warns), `precision_loss` (float64 ->
    float32 rounding, a decimal scale reduced, a timestamp unit coarsened, overflow: fails) or
    `incompatible` (int -> string, timezone added or removed: fails). String layouts and
    dictionary encoding are not changes.
    Why: a re-typed column changes arithmetic, joins and category matching downstream.
    Usual causes: type inference in a CSV export/import, a float32 cast to save memory, a
    database column re-declared.
    Fix: pin the column types in production's reader or writer (an explicit schema).
    """
    for name, cmp in _paired(ctx):
        if not cmp.dtype_changes:
            common = len(cmp.left_columns) - len(cmp.missing_columns)
            yield Finding(Status.PASS, f"types unchanged in {common} common columns", source=name)
        for change in cmp.dtype_changes:
            yield _dtype_finding(name, cmp, change)


def _dtype_finding(name: str, cmp: RelationComparison, change: DtypeChange) -> Finding:
    hint = {
        "widening": "A wider type holds the same values; pin the type if downstream code depends on it.",
        "narrowing": "Production's type is smaller; values fit today but may overflow or round later. Pin the type.",
        "precision_loss": "Production rounds or truncates values (a float32 cast, coarser timestamps, "
        "fewer decimals); keep research's type in the export.",
        "incompatible": "The column changed meaning or representation (often type inference in a CSV "
        "export); give production's reader an explicit schema.",
    }[change.kind]
    if change.column in cmp.key:
        hint += " This is a key column: rows are matched on its text form."
    return Finding(
        _CHANGE_STATUS[change.kind],
        f"{change.research} -> {change.production}: {change.kind} ({change.reason})",
        source=name,
        column=change.column,
        observed=change.production,
        expected=change.research,
        hint=hint,
        details={"kind": change.kind, "key_column": change.column in cmp.key},
    )


@check("RAW004", STAGE, thresholds=("max_lost_rows", "max_extra_rows"))
def row_counts(ctx: StageContext) -> Iterator[Finding]:
    """Row counts agree.

    Measures: rows on each side; fails when production has more than `max_lost_rows` fewer or
    `max_extra_rows` more rows. Details carry each side's order-independent content
    fingerprint: equal fingerprints mean identical content whatever the row order.
    Why: a changed row count is the first sign that the pipeline saw different data.
    Usual causes: an ETL filter or inner join, deduplication, a duplicated load, extracts taken
    at different times (a source out of step).
    Fix: see RAW007/RAW008 for the rows themselves and align production's extract with research's.
    """
    cfg = ctx.config
    for name, cmp in _paired(ctx):
        delta = cmp.right_rows - cmp.left_rows
        bad = delta < -cfg.max_lost_rows or delta > cfg.max_extra_rows
        hint = None
        if bad:
            hint = (
                "Production lost rows: an ETL filter, inner join or dedup, or an older extract; see RAW007."
                if delta < 0
                else "Production gained rows: a join fan-out, duplicated load or newer extract; see RAW008."
            )
        yield Finding(
            Status.FAIL if bad else Status.PASS,
            f"research {cmp.left_rows} rows, production {cmp.right_rows} ({delta:+d})"
            + ("; identical content" if cmp.identical else ""),
            source=name,
            observed=cmp.right_rows,
            expected=cmp.left_rows,
            hint=hint,
            details={
                "identical": cmp.identical,
                "research_fingerprint": cmp.left_fingerprint,
                "production_fingerprint": cmp.right_fingerprint,
            },
        )


@check("RAW005", STAGE)
def key_present_not_null(ctx: StageContext) -> Iterator[Finding]:
    """Key columns present and non-null on both sides.

    Measures: that the declared key columns exist on both sides, and rows whose key is null on
    each side. Rows with a null key cannot be matched and are left out of the cell comparison.
    Passes when no side has null keys, warns when both have the same number, fails when the
    number changed or a side lacks a key column. A source without the key columns on either
    side is compared as a row multiset.
    Why: a null or missing key hides rows from every row-level comparison.
    Usual causes: a renamed id column, an outer join that produced unmatched rows, ids parsed
    as null (bad null markers in a CSV).
    Fix: restore the key column; drop or repair rows with null keys on both sides alike.
    """
    for name, cmp in _paired(ctx):
        declared = ctx.engine.key(f"research.raw.{name}") or []
        absent = {
            side: [c for c in declared if c not in cols]
            for side, cols in (("research", cmp.left_columns), ("production", cmp.right_columns))
        }
        if not declared or (absent["research"] and absent["production"]):
            yield Finding(
                Status.PASS,
                "no key columns in this source: rows compared as a multiset",
                source=name,
            )
        elif absent["research"] or absent["production"]:
            side = "research" if absent["research"] else "production"
            yield Finding(
                Status.FAIL,
                f"key column(s) {', '.join(absent[side])} absent in {side}",
                source=name,
                observed=absent[side],
                details={"key_problem": cmp.key_problem, "declared_key": declared},
                hint="The key column was renamed or dropped; rows are compared as a multiset only.",
            )
        elif cmp.keys is not None:
            yield _null_key_finding(name, cmp)


def _null_key_finding(name: str, cmp: RelationComparison) -> Finding:
    assert cmp.keys is not None
    left, right = cmp.keys.left_null_rows, cmp.keys.right_null_rows
    status = _integrity_status(left, right)
    return Finding(
        status,
        f"null keys: research {left} rows, production {right}",
        source=name,
        observed=right,
        expected=left,
        hint=None
        if status is Status.PASS
        else "Rows with a null key cannot be matched; an outer join "
        "or a null marker in the export produced them. Repair the ids on both sides alike.",
        details={
            "research": left,
            "production": right,
            "key": list(cmp.key),
            "key_columns_typed_differently": list(cmp.keys.compared_as_text),  # joined as text
        },
    )


@check("RAW006", STAGE)
def key_unique(ctx: StageContext) -> Iterator[Finding]:
    """Key unique on both sides.

    Measures: rows whose key occurs more than once, per side, with example keys and their row
    counts. Such rows are reported and left out of the cell comparison: they are never paired
    by guesswork. Passes with no duplicates, warns when both sides have the same number, fails
    when the number changed.
    Why: duplicated keys mean a row can no longer be traced between environments.
    Usual causes: a join fan-out (one-to-many where one-to-one was meant), a load appended
    twice, a key that is not really unique (add columns to `key:`).
    Fix: deduplicate at the source or declare the full composite key.
    """
    for name, cmp in _paired(ctx):
        if cmp.keys is None:
            continue
        keys = cmp.keys
        status = _integrity_status(keys.left_duplicate_rows, keys.right_duplicate_rows)
        yield Finding(
            status,
            f"rows with a duplicated key: research {keys.left_duplicate_rows} "
            f"({keys.left_duplicate_keys} keys), production {keys.right_duplicate_rows} ({keys.right_duplicate_keys} keys)",
            source=name,
            observed=keys.right_duplicate_rows,
            expected=keys.left_duplicate_rows,
            hint=None
            if status is Status.PASS
            else "A join fan-out or a duplicated load repeats keys; "
            "deduplicate, or declare the full composite key.",
            details={
                "research_examples": list(keys.left_duplicate_examples),
                "production_examples": list(keys.right_duplicate_examples),
            },
        )


@check("RAW007", STAGE, thresholds=("max_lost_rows",))
def lost_rows(ctx: StageContext) -> Iterator[Finding]:
    """Research rows missing from production.

    Measures: rows whose key is in research but not in production (without a key: research
    rows, compared whole, that production lacks, as a multiset), with the first keys (or rows)
    in sorted order; fails above `max_lost_rows`.
    Why: rows lost in transfer change every statistic and prediction downstream.
    Usual causes: an ETL filter (date window, WHERE clause), an inner join against a table
    missing some ids, deduplication, an older production extract (a source out of step).
    Fix: run production's extraction for the example keys and see which step drops them.
    """
    for name, cmp in _paired(ctx):
        yield _row_finding(name, cmp, lost=True, limit=ctx.config.max_lost_rows)


@check("RAW008", STAGE, thresholds=("max_extra_rows",))
def extra_rows(ctx: StageContext) -> Iterator[Finding]:
    """Production rows absent from research.

    Measures: rows whose key is only in production (without a key: production rows, compared
    whole, that research lacks), with sorted examples; fails above `max_extra_rows`.
    Why: rows research never saw mean the model is judged on different data.
    Usual causes: a newer production extract (a source out of step), a filter research applied
    and production did not, a join fan-out with new keys.
    Fix: align the extraction windows and filters; check the example keys' origin.
    """
    for name, cmp in _paired(ctx):
        yield _row_finding(name, cmp, lost=False, limit=ctx.config.max_extra_rows)


def _row_finding(name: str, cmp: RelationComparison, *, lost: bool, limit: int) -> Finding:
    rows = cmp.rows
    count, keys, examples = (
        (rows.lost, rows.lost_keys, rows.lost_examples)
        if lost
        else (rows.extra, rows.extra_keys, rows.extra_examples)
    )
    where = "missing from production" if lost else "only in production"
    unit = "keys" if rows.by == "key" else "distinct rows (no key: whole rows compared)"
    hint = _rows_hint(lost, rows.by) if count > limit else None
    return Finding(
        Status.FAIL if count > limit else Status.PASS,
        f"{count} rows {where} ({keys} {unit})",
        source=name,
        observed=count,
        threshold=limit,
        hint=hint,
        details={
            "rows": count,
            "keys" if rows.by == "key" else "distinct_rows": keys,
            "by": rows.by,
            "examples": list(examples),
        },
    )


def _rows_hint(lost: bool, by: str) -> str:
    hint = (
        "An ETL filter, inner join or dedup dropped these rows, or production's extract is older; "
        "trace the example keys through production's extraction."
        if lost
        else "Production's extract is newer or lacks research's filter, or a join added rows; "
        "check where the example keys come from."
    )
    if by == "row":
        hint += (
            " Without a key rows compare exactly, so float noise also counts; declare `key:`"
            " to compare cells within tolerance."
        )
    return hint


@check("RAW009", STAGE, thresholds=("rtol", "atol"))
def column_statistics(ctx: StageContext) -> Iterator[Finding]:
    """Column statistics agree within tolerance.

    Measures: per common column, nulls, NaNs, min, max, mean, std, sum, distinct count and
    top values on each side. Counts, top values and non-float statistics must be equal; float
    statistics may differ by what the cell tolerance implies for them. Without a key this is
    the main evidence and any difference fails. With a key, differences explained by the
    row-level findings (lost, extra or unmatched rows, cells beyond tolerance, a type change)
    pass with the differences in the details; only unexplained ones fail.
    Why: statistics summarise a column when rows cannot be matched one by one.
    Usual causes: the causes of RAW007/RAW008/RAW010; unit changes; an aggregation computed at
    a different precision.
    Fix: follow the row-level findings; without a key, compare the two extracts' queries.
    """
    for name, cmp in _paired(ctx):
        if cmp.identical:
            yield Finding(Status.PASS, "identical content: statistics equal", source=name)
            continue
        differing = {c: s for c, s in cmp.stats.items() if s.differences}
        unexplained = [c for c in differing if not _explained(cmp, c)]
        for column in unexplained:
            yield _stats_finding(name, cmp, column)
        explained = [c for c in differing if c not in unexplained]
        if explained or not unexplained:
            message = (
                f"{len(explained)} column(s) differ, explained by row/cell/type differences"
                if explained
                else f"statistics of {len(cmp.stats)} columns agree"
            )
            yield Finding(
                Status.PASS,
                message,
                source=name,
                details={"explained": {c: _stat_details(cmp, c, full=False) for c in explained}},
            )


def _explained(cmp: RelationComparison, column: str) -> bool:
    """Whether the row-level comparison accounts for a column's statistics differing."""
    if not cmp.keyed:
        return False
    cells = cmp.cells.get(column)
    retyped = any(change.column == column for change in cmp.dtype_changes)
    return cmp.row_set_differs() or retyped or (cells is not None and cells.beyond > 0)


def _stat_details(cmp: RelationComparison, column: str, *, full: bool = True) -> dict[str, Any]:
    """The differing statistics; with `full`, also every statistic of both sides."""
    stats = cmp.stats[column]
    differences = [
        {
            "stat": d.stat,
            "research": d.research,
            "production": d.production,
            "tolerance": d.tolerance,
        }
        for d in stats.differences
    ]
    if not full:
        return {"differences": differences}
    return {
        "differences": differences,
        "research": stats.left.as_dict() if stats.left else None,
        "production": stats.right.as_dict() if stats.right else None,
    }


def _stats_finding(name: str, cmp: RelationComparison, column: str) -> Finding:
    diffs = cmp.stats[column].differences
    first = diffs[0]
    return Finding(
        Status.FAIL,
        f"{len(diffs)} statistic(s) differ: {', '.join(d.stat for d in diffs)}",
        source=name,
        column=column,
        observed=first.production,
        expected=first.research,
        threshold=first.tolerance,
        hint="The column's values changed as a whole: a filter, a unit or scale change, or an "
        "aggregation at another precision. Compare both extracts' queries for this column.",
        details=_stat_details(cmp, column),
    )


@check("RAW010", STAGE, thresholds=("rtol", "atol", "max_mismatched_cells"))
def cell_values(ctx: StageContext) -> Iterator[Finding]:
    """Cell values agree within tolerance on matched keys.

    Measures: per column, over rows matched by key, cells beyond `|a - b| <= atol + rtol *
    max(|a|, |b|)` (a null against a value counts; null equals null, NaN equals NaN; integers,
    text and timestamps compare exactly), their max absolute and relative difference and the
    first examples by key; separately the cells that differ only within tolerance (float
    noise, which passes). Fails when a column has more than `max_mismatched_cells` cells beyond
    tolerance. Identical fingerprints pass at once; sources without a key are compared as row
    multisets by RAW007/RAW008 instead. Rows left out of the key match (null or duplicated key)
    in the same numbers on both sides are compared whole, as a multiset (exactly, no
    tolerance): rows there without an identical copy on the other side count against the same
    `max_mismatched_cells`.
    Why: the same key with different values means the pipeline transformed the data differently.
    Usual causes: precision lost in an aggregation or a float32 cast, a unit change, null
    markers read differently, a transformation applied on one side only.
    Fix: inspect the examples; align the transformation, or loosen rtol/atol for acceptable noise.
    """
    for name, cmp in _paired(ctx):
        if cmp.identical:
            yield Finding(
                Status.PASS,
                "identical content (order-independent fingerprint match)",
                source=name,
                details={"fingerprint": cmp.left_fingerprint},
            )
        elif not cmp.keyed:
            yield Finding(
                Status.PASS, "no usable key: rows compared whole by RAW007/RAW008", source=name
            )
        else:
            yield from _cell_findings(name, cmp, ctx.config.max_mismatched_cells)


def _cell_findings(name: str, cmp: RelationComparison, limit: int) -> Iterator[Finding]:
    for column, reason in cmp.uncomparable.items():
        yield Finding(
            Status.WARN,
            f"not compared: {reason}",
            source=name,
            column=column,
            hint="Nested values are not compared cell by cell; flatten the column to compare it.",
        )
    quiet = True
    for cells in cmp.cells.values():
        if cells.beyond or cells.within:
            quiet = False
            yield _cells_finding(name, cmp, cells, limit)
    excluded_finding = _excluded_rows_finding(name, cmp, limit)
    if excluded_finding is not None:
        quiet = False
        yield excluded_finding
    if quiet:
        keys = cmp.keys
        excluded = (keys.left_duplicate_rows + keys.left_null_rows) if keys else 0
        yield Finding(
            Status.PASS,
            f"all {len(cmp.cells)} columns agree on {cmp.matched} matched rows",
            source=name,
            details={"research_rows_not_matched_by_key": excluded},
        )


def _excluded_rows_finding(name: str, cmp: RelationComparison, limit: int) -> Finding | None:
    """Rows set aside by the key match whose content differs, when both sides set aside the same
    number (a changed number already fails RAW005/RAW006)."""
    keys, rows = cmp.keys, cmp.excluded_rows
    if keys is None or rows is None or not (rows.lost or rows.extra):
        return None
    if (keys.left_null_rows, keys.left_duplicate_rows) != (
        keys.right_null_rows,
        keys.right_duplicate_rows,
    ):
        return None
    differing = max(rows.lost, rows.extra)
    return Finding(
        Status.FAIL if differing > limit else Status.WARN,
        f"{rows.lost} research rows with a null or duplicated key have no identical production "
        f"row ({rows.extra} the other way)",
        source=name,
        observed=differing,
        threshold=limit,
        hint="Rows that cannot be matched by key changed content: compare the example rows; "
        "repairing the duplicated or null keys lets the cells be compared one by one.",
        details={
            "research_rows": rows.lost,
            "production_rows": rows.extra,
            "research_examples": list(rows.lost_examples),
            "production_examples": list(rows.extra_examples),
        },
    )


def _cells_finding(
    name: str, cmp: RelationComparison, cells: ColumnDifference, limit: int
) -> Finding:
    diffs = f"max abs {_fmt(cells.max_abs_diff)}, max rel {_fmt(cells.max_rel_diff)}"
    if not cells.beyond:
        status, message, hint = (
            Status.PASS,
            f"{cells.within} cells differ only within tolerance ({diffs})",
            None,
        )
    else:
        status = Status.FAIL if cells.beyond > limit else Status.WARN
        message = f"{cells.beyond} of {cells.compared} cells beyond tolerance ({diffs})"
        if cells.within:
            message += f"; {cells.within} more within tolerance"
        hint = _cells_hint(cells)
    return Finding(
        status,
        message,
        source=name,
        column=cells.column,
        observed=cells.beyond,
        threshold=limit,
        hint=hint,
        details={
            "beyond_tolerance": cells.beyond,
            "within_tolerance": cells.within,
            "compared": cells.compared,
            "null_in_research_only": cells.null_left_only,
            "null_in_production_only": cells.null_right_only,
            "max_abs_diff": cells.max_abs_diff,
            "max_rel_diff": cells.max_rel_diff,
            "examples": list(cells.examples),
        },
    )


def _cells_hint(cells: ColumnDifference) -> str:
    nulls = cells.null_left_only + cells.null_right_only
    if nulls == cells.beyond:
        return (
            "Nulls on one side only: a null marker read differently (CSV export), a default fill, "
            "or a lookup join that lost matches on one side."
        )
    if cells.max_rel_diff is not None and cells.max_rel_diff < 1e-4:
        return (
            "Small relative differences: precision lost in an aggregation or a float32 cast; align the "
            "arithmetic, or, if the noise is acceptable, set stages.data_reproducibility.rtol to "
            f"{admitting(cells.max_rel_diff)}."
        )
    return (
        "The same keys carry different values: a transformation or unit change on one side, or the "
        "two sides read different snapshots; compare the examples."
    )
