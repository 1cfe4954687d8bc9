"""Stage 3, split_reproducibility: research.splits vs production.splits (SPEC 3.3).

Both sides' splits tables are matched on the key. A split (or fold) column is turned into integer
codes over one sorted list of labels shared by both sides, so every comparison below is a numpy
operation on codes; `-1` stands for a null label. A split is held out when its name is in the
stage's `holdout` list and training when it is in `train` (both case-insensitive); a split in
neither (`calibration`, ...) is neither: it never counts as leakage nor as training time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.checklist import Checklist, SourceSpec
from mlcheck.context import StageContext
from mlcheck.engine import (
    SPLIT_COLUMN_DEFAULT,
    KeyJoin,
    as_text,
    decoded,
    dictionary_encoded,
    key_table,
)
from mlcheck.registry import check
from mlcheck.results import Finding, Status

STAGE = "split_reproducibility"
SIDES = ("research", "production")
RESEARCH = "research.splits"
PRODUCTION = "production.splits"
NULL_LABEL = "(null)"


def skip_reason(checklist: Checklist) -> str | None:
    missing = [side for side in SIDES if getattr(checklist, side).splits is None]
    if missing:
        return f"no splits declared for {' and '.join(missing)}"
    if not checklist.key_columns and not all(
        _has_own_key(getattr(checklist, s).splits) for s in SIDES
    ):
        return "no key declared: splits are matched on the key"
    return None


def _has_own_key(splits: SourceSpec | dict[str, SourceSpec]) -> bool:
    specs = splits.values() if isinstance(splits, dict) else [splits]
    return all(spec.key_columns for spec in specs)


# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class Codes:
    """A label column of both sides as codes into one sorted list of labels (-1 = null)."""

    labels: list[str]
    research: np.ndarray
    production: np.ndarray

    def name(self, code: int) -> str:
        return NULL_LABEL if code < 0 else self.labels[code]

    def side(self, side: str) -> np.ndarray:
        return self.research if side == "research" else self.production


def shared_codes(left: pa.ChunkedArray, right: pa.ChunkedArray) -> Codes:
    """Codes of two columns over their sorted distinct values (numbers sort as numbers)."""
    if left.type != right.type:
        left, right = as_text(left), as_text(right)
    # Each side is hashed once into its own few distinct values; only those are looked up in
    # the sorted labels (no second hash pass over every row, no concatenation of both sides).
    encoded = [dictionary_encoded(decoded(side)) for side in (left, right)]
    distinct = pc.unique(pa.concat_arrays([e.dictionary for e in encoded]))
    distinct = distinct.take(pc.sort_indices(distinct))
    labels = [str(value) for value in distinct.to_pylist()]
    return Codes(labels, *(_recoded(e, distinct) for e in encoded))


def _recoded(encoded: pa.DictionaryArray, distinct: pa.Array) -> np.ndarray:
    """Row codes into `distinct` from a dictionary array's indices (a null index -> -1)."""
    position = pc.index_in(encoded.dictionary, value_set=distinct).to_numpy(zero_copy_only=False)
    # -1 (a null row) picks the appended last entry, itself -1.
    remap = np.append(np.asarray(position, dtype=np.int64), -1)
    return remap[np.asarray(encoded.indices.fill_null(-1).to_numpy(), dtype=np.int64)]


def label_codes(ctx: StageContext, column: str) -> Codes:
    """`column` of both splits tables as shared codes (cached for the run)."""

    def compute() -> Codes:
        return shared_codes(
            ctx.engine.column(RESEARCH, column), ctx.engine.column(PRODUCTION, column)
        )

    # Keyed by both slots too, so the codes are released with production's splits after stage 3.
    result: Codes = ctx.engine.memo((STAGE, "codes", column, RESEARCH, PRODUCTION), compute)
    return result


def matched_codes(ctx: StageContext, column: str) -> tuple[np.ndarray, np.ndarray]:
    """`label_codes` of `column` per matched key, research's then production's (cached: SPL003
    compares the splits SPL002 compared, and folds again)."""

    def compute() -> tuple[np.ndarray, np.ndarray]:
        codes, join = label_codes(ctx, column), ctx.engine.join(RESEARCH, PRODUCTION)
        return on_matched_keys(join, codes.research, codes.production)

    key = (STAGE, "matched_codes", column, RESEARCH, PRODUCTION)
    result: tuple[np.ndarray, np.ndarray] = ctx.engine.memo(key, compute)
    return result


def split_column(ctx: StageContext) -> str:
    return ctx.columns.split or SPLIT_COLUMN_DEFAULT


def held_out(ctx: StageContext, labels: list[str]) -> np.ndarray:
    """Per code + 1 (index 0 = null): whether the split is held out (named in `holdout`)."""
    return _named_in(labels, ctx.config.holdout)


def training(ctx: StageContext, labels: list[str]) -> np.ndarray:
    """Per code + 1 (index 0 = null): whether the split is a training split (named in `train`)."""
    return _named_in(labels, ctx.config.train)


def _named_in(labels: list[str], names: list[str]) -> np.ndarray:
    wanted = {name.lower() for name in names}
    return np.array([False] + [label.lower() in wanted for label in labels], dtype=bool)


def first_by_key(ctx: StageContext, slot: str, rows: np.ndarray, limit: int) -> np.ndarray:
    """Positions into `rows` of the `limit` rows with the smallest keys, for deterministic examples."""
    if limit <= 0 or len(rows) == 0:
        return np.empty(0, dtype=np.int64)
    cols = ctx.engine.key(slot) or []
    keys = key_table(ctx.engine.table(slot), cols, rows)
    # A partial selection (n log k), not a full sort: examples come from up to millions of rows.
    order = pc.select_k_unstable(
        keys, k=min(limit, len(rows)), sort_keys=[(c, "ascending") for c in cols]
    )
    return np.asarray(order.to_numpy(), dtype=np.int64)


def key_values(ctx: StageContext, slot: str, rows: np.ndarray) -> list[Any]:
    """Plain key values of `rows` (a dict per row for a composite key)."""
    cols = ctx.engine.key(slot) or []
    keys = key_table(ctx.engine.table(slot), cols, rows)
    return keys.column(0).to_pylist() if len(cols) == 1 else keys.to_pylist()


def aligned(ctx: StageContext, slot: str, other: str, column: str) -> pa.ChunkedArray:
    """`column` of `other` for each row of `slot`, matched on the key (null where unmatched)."""
    join = ctx.engine.join(slot, other)
    if join.aligned:  # same keys in the same order: nothing to rearrange
        return ctx.engine.column(other, column)
    index = np.full(ctx.engine.num_rows(slot), -1, dtype=np.int64)
    index[join.left_rows] = join.right_rows
    return ctx.engine.column(other, column).take(pa.array(index, mask=index < 0))


def side_column(ctx: StageContext, side: str, column: str) -> pa.ChunkedArray | None:
    """`column` per row of a side's splits: from the splits table, else joined from its features."""
    slot = f"{side}.splits"
    if column in ctx.engine.table(slot).column_names:
        return ctx.engine.column(slot, column)
    for other in (f"{side}.features", f"{side}.labels"):
        if ctx.declared(other) and column in ctx.engine.table(other).column_names:
            return aligned(ctx, slot, other, column)
    return None


def row_codes(array: pa.ChunkedArray) -> np.ndarray:
    """Dense int64 codes of a column's values (equal values, equal codes); -1 for null."""
    ranked = _ranked_integers(array)
    if ranked is not None:
        return ranked
    encoded = dictionary_encoded(array)
    return np.asarray(encoded.indices.fill_null(-1).to_numpy(), dtype=np.int64)


def _countable(span: int, rows: int) -> bool:
    """Whether one counting pass over `span` integer values beats sorting or hashing `rows`
    rows: the range is not much wider than the rows."""
    return span <= 4 * rows + 1024


def _ranked_integers(array: pa.ChunkedArray) -> np.ndarray | None:
    """Integers without nulls spanning a range not much wider than the rows (ids, group
    numbers) as the rank of their value among the present ones: one counting pass over the
    range instead of hashing every row. None for any other column."""
    kind = array.type
    if not pa.types.is_integer(kind) or pa.types.is_uint64(kind) or array.null_count:
        return None
    values = np.asarray(array.to_numpy(), dtype=np.int64)
    if len(values) == 0:
        return None
    low, high = int(values.min()), int(values.max())
    if not _countable(high - low, len(values)):  # sparse values: the range outgrows the rows
        return None
    offset = values - low
    rank = np.cumsum(np.bincount(offset) > 0) - 1
    return rank[offset]


# --------------------------------------------------------------------------- SPL001


@check("SPL001", STAGE, thresholds=("max_missing_keys",))
def keys_on_one_side(ctx: StageContext) -> Iterator[Finding]:
    """Keys in one side's splits but not the other's.

    Measures the keys of research.splits absent from production.splits and the reverse.
    Why it matters: the two runs split different row sets, so their train/test sets cannot match
    and models trained on them are not the same experiment.
    Usual causes: rows lost or added before splitting (see stages 1 and 2), a filter applied on
    one side only, splits written from a sample.
    Fix: split the same, complete set of keys in both environments.
    """
    hint = (
        "The two splits cover different rows: look for rows lost or added before splitting, or "
        "a filter that ran in one environment only ({other} lacks them)."
    )
    yield from keys_on_one_side_findings(
        ctx, RESEARCH, PRODUCTION, ctx.config.max_missing_keys, hint
    )


def keys_on_one_side_findings(
    ctx: StageContext, left: str, right: str, limit: int, hint: str
) -> Iterator[Finding]:
    """One finding per slot: its rows whose key the other slot lacks, failing beyond `limit`,
    with duplicate and null key rows counted and the smallest keys as examples. `hint` may
    name the other slot as `{other}`. Shared by SPL001 and PRD003."""
    join = ctx.engine.join(left, right)
    for slot, other, rows, dups, nulls in (
        (left, right, join.left_only, join.left_duplicate_rows, join.left_null_rows),
        (right, left, join.right_only, join.right_duplicate_rows, join.right_null_rows),
    ):
        n, total = len(rows), ctx.engine.num_rows(slot)
        picked = rows[first_by_key(ctx, slot, rows, ctx.config.examples)]
        yield Finding(
            Status.FAIL if n > limit else Status.PASS,
            f"{n} of {total} rows of {slot} have a key absent from {other}",
            source=slot,
            observed=n,
            threshold=limit,
            hint=hint.format(other=other) if n > limit else None,
            details={
                "rows": total,
                "missing": n,
                "duplicate_key_rows": len(dups),
                "null_key_rows": len(nulls),
                "examples": key_values(ctx, slot, picked),
            },
        )


# --------------------------------------------------------------------------- SPL002 / SPL003


@check("SPL002", STAGE, thresholds=("max_reassigned",))
def reassigned_splits(ctx: StageContext) -> Iterator[Finding]:
    """Keys whose split differs between research and production.

    Measures, on keys present once on both sides, the research x production assignment matrix
    (details.matrix: research split -> production split -> keys), and the count and share of keys
    whose split changed. details.cause names the likely mechanism.
    Why it matters: a model trained on a different train set is a different model; evaluation on
    a different test set is not comparable, and metrics cannot be reproduced.
    Usual causes: an unseeded shuffle (same proportions, different members); an order-dependent
    split, e.g. first 80% of rows read from a database without ORDER BY (membership matches once
    rows are sorted by key); different split fractions or logic (proportions differ).
    Fix: seed the split, or better derive it from a hash of the key so it never depends on order.
    """
    yield from _reassignment(ctx, split_column(ctx), "split")


@check("SPL003", STAGE, thresholds=("max_reassigned",))
def reassigned_folds(ctx: StageContext) -> Iterator[Finding]:
    """Keys whose cross-validation fold differs between research and production.

    Runs when `columns.fold` is declared. Measures the research x production fold matrix
    (details.matrix) and the count and share of matched keys whose fold changed (a null fold, e.g.
    outside the training split, counts as its own value); details.same_split counts those whose
    split did not change, i.e. the fold assignment itself differs.
    Why it matters: different folds give different out-of-fold predictions, early-stopping rounds
    and tuned hyper-parameters, so the chosen model cannot be reproduced.
    Usual causes: KFold(shuffle=True) without random_state, folds assigned in row order.
    Fix: seed the fold assignment or derive it from a hash of the key (or group).
    """
    if ctx.columns.fold:
        (finding,) = _reassignment(ctx, ctx.columns.fold, "fold")
        moved = np.flatnonzero(np.not_equal(*matched_codes(ctx, ctx.columns.fold)))
        split_research, split_production = matched_codes(ctx, split_column(ctx))
        same_split = np.count_nonzero(split_research[moved] == split_production[moved])
        yield replace(finding, details={**finding.details, "same_split": int(same_split)})


def on_matched_keys(
    join: KeyJoin, research: np.ndarray, production: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per matched key, research's and production's value of per-row arrays. A side whose rows
    all match serves as it is, no gather of a million rows: `left_rows` is sorted and unique, so
    it is then every row in order; an aligned join pairs row i with row i on both sides."""
    left = research if len(join.left_rows) == len(research) else research[join.left_rows]
    return left, production if join.aligned else production[join.right_rows]


def _reassignment(ctx: StageContext, column: str, what: str) -> Iterator[Finding]:
    codes = label_codes(ctx, column)
    join = ctx.engine.join(RESEARCH, PRODUCTION)
    research, production = matched_codes(ctx, column)
    moved = np.flatnonzero(research != production)
    matched, n = len(research), len(moved)
    cause = _cause(ctx, codes, research, production) if n else None
    share = n / matched if matched else 0.0
    message = (
        f"{n} of {matched} matched keys ({share:.2%}) changed {what}"
        if n
        else f"all {matched} matched keys keep their {what}"
    )
    yield Finding(
        Status.FAIL if n > ctx.config.max_reassigned else Status.PASS,
        message + (f"; likely {_CAUSE_TEXT[cause]}" if cause else ""),
        source=RESEARCH,
        column=column,
        observed=n,
        threshold=ctx.config.max_reassigned,
        hint=_CAUSE_HINT[cause] if cause and n > ctx.config.max_reassigned else None,
        details={
            "matched": matched,
            "reassigned": n,
            "share": share,
            "cause": cause,
            "matrix": assignment_matrix(codes, research, production),
            "examples": _moved_examples(ctx, codes, join, moved),
        },
    )


def _moved_examples(
    ctx: StageContext, codes: Codes, join: KeyJoin, moved: np.ndarray
) -> list[dict[str, Any]]:
    """The reassigned keys with the smallest keys, with their label on each side."""
    picked = moved[first_by_key(ctx, RESEARCH, join.left_rows[moved], ctx.config.examples)]
    research, production = (
        codes.research[join.left_rows[picked]],
        codes.production[join.right_rows[picked]],
    )
    keys = key_values(ctx, RESEARCH, join.left_rows[picked])
    return [
        {"key": k, "research": codes.name(int(r)), "production": codes.name(int(p))}
        for k, r, p in zip(keys, research, production, strict=True)
    ]


def assignment_matrix(
    codes: Codes, research: np.ndarray, production: np.ndarray
) -> dict[str, dict[str, int]]:
    """research label -> production label -> number of keys (non-zero cells only)."""
    width = len(codes.labels) + 1
    cells, counts = cell_counts((research + 1) * width + (production + 1), width * width)
    matrix: dict[str, dict[str, int]] = {}
    for cell, count in zip(cells.tolist(), counts.tolist(), strict=True):
        row, col = divmod(cell, width)
        matrix.setdefault(codes.name(row - 1), {})[codes.name(col - 1)] = count
    return matrix


_CAUSE_TEXT = {
    "order_dependent": "an order-dependent assignment (it matches once rows are re-ordered by key)",
    "unseeded": "an unseeded shuffle (same proportions, different members)",
    "different_split": "a different split (the proportions differ too)",
}
_CAUSE_HINT = {
    "order_dependent": "The assignment follows row order, and the rows arrive in a different order in production (e.g. a query without ORDER BY, a parallel read). Sort by key before splitting, or derive the split from a hash of the key.",
    "unseeded": "Same proportions with different members is the signature of an unseeded random split. Pass a fixed seed (random_state) or derive the split from a hash of the key.",
    "different_split": "The split sizes differ as well: the split fractions, the splitting code or its inputs differ between environments. Compare the splitting code and config.",
}


def _cause(ctx: StageContext, codes: Codes, research: np.ndarray, production: np.ndarray) -> str:
    """Name the mechanism behind reassigned keys."""
    if _order_dependent(ctx, codes):
        return "order_dependent"
    width = len(codes.labels) + 1
    shares = [
        np.bincount(side + 1, minlength=width) / max(len(side), 1)
        for side in (research, production)
    ]
    similar = float(np.abs(shares[0] - shares[1]).max()) <= ctx.config.max_proportion_diff
    return "unseeded" if similar else "different_split"


def _order_dependent(ctx: StageContext, codes: Codes) -> bool:
    """One side's assignment sequence equals the other's in file order or in key order.

    Not inferred when a side's splits is a mapping of files: its rows are grouped by split
    (every train row, then every test row), so its file order says nothing about the order the
    splitter saw, and any shuffle would look order-dependent.
    """
    if any(isinstance(getattr(ctx.checklist, side).splits, dict) for side in SIDES):
        return False
    research, production = codes.research, codes.production
    if len(research) != len(production):
        return False
    research_sorted = research[_key_order(ctx, RESEARCH)]
    production_sorted = production[_key_order(ctx, PRODUCTION)]
    return bool(
        np.array_equal(research, production)
        or np.array_equal(research_sorted, production)
        or np.array_equal(research, production_sorted)
    )


def _key_order(ctx: StageContext, slot: str) -> np.ndarray:
    result: np.ndarray = ctx.engine.memo(
        (STAGE, "key_order", slot), lambda: _sorted_by_key(ctx, slot)
    )
    return result


def _sorted_by_key(ctx: StageContext, slot: str) -> np.ndarray:
    cols = ctx.engine.key(slot) or []
    order = pc.sort_indices(
        key_table(ctx.engine.table(slot), cols), sort_keys=[(c, "ascending") for c in cols]
    )
    return np.asarray(order.to_numpy(), dtype=np.int64)


# --------------------------------------------------------------------------- SPL004 / SPL005


@dataclass(frozen=True)
class Spread:
    """How the rows of each entity (a key or a group) spread over splits."""

    splits: np.ndarray  # distinct splits per entity code
    holdout: np.ndarray  # distinct held-out splits per entity code
    rows: np.ndarray  # rows per entity code
    mask: np.ndarray  # bit (code + 1) set for each split the entity is in
    first_row: np.ndarray  # a row of each entity (its first)


def split_spread(entity: np.ndarray, split: np.ndarray, is_holdout: np.ndarray) -> Spread:
    """Distinct splits per entity from row codes (entity -1 = null, ignored), vectorised."""
    valid = np.flatnonzero(entity >= 0)
    size = int(entity.max(initial=-1)) + 1
    if _one_row_per_code(entity[valid], size):  # unique keys: no counting needed
        return _one_row_each(entity, split, is_holdout, valid, size)
    width = len(is_holdout)
    pairs, _ = cell_counts(entity[valid] * width + (split[valid] + 1), size * width)
    owner, bit = pairs // width, pairs % width
    mask = np.zeros(size, dtype=np.int64)
    if width <= 62:  # one bit per label fits an int64: name the split combinations
        np.add.at(mask, owner, np.left_shift(1, bit))
    first = np.full(size, len(entity), dtype=np.int64)
    np.minimum.at(first, entity[valid], valid)
    return Spread(
        splits=np.bincount(owner, minlength=size),
        holdout=np.bincount(owner, weights=is_holdout[bit], minlength=size).astype(np.int64),
        rows=np.bincount(entity[valid], minlength=size),
        mask=mask,
        first_row=first,
    )


def _one_row_per_code(codes: np.ndarray, size: int) -> bool:
    """Whether every code in 0..size-1 is on exactly one row. Counting codes is not enough:
    codes may leave gaps (a composite key with a null part takes a number but no row), and
    then a code can repeat although there are as many rows as numbers."""
    return len(codes) == size and bool(np.bincount(codes, minlength=size).max(initial=0) <= 1)


def _one_row_each(
    entity: np.ndarray, split: np.ndarray, is_holdout: np.ndarray, valid: np.ndarray, size: int
) -> Spread:
    """`split_spread` when no two rows share an entity: each entity is in its row's split."""
    own = split[valid] + 1  # bit 0 stands for a null split, as in split_spread
    by_entity = np.empty(size, dtype=np.int64)
    by_entity[entity[valid]] = own
    first = np.empty(size, dtype=np.int64)
    first[entity[valid]] = valid
    mask = np.left_shift(1, by_entity) if len(is_holdout) <= 62 else np.zeros(size, np.int64)
    one = np.broadcast_to(np.int64(1), (size,))  # read-only, allocates nothing
    return Spread(
        splits=one,
        holdout=is_holdout[by_entity].astype(np.int64),
        rows=one,
        mask=mask,
        first_row=first,
    )


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct integers and their counts. Sort-based: numpy's hash-based np.unique is
    orders of magnitude slower on a million distinct keys."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def cell_counts(cells: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`distinct_counts` of integers in [0, size): one counting pass instead of a sort when the
    grid is small next to the rows (split x split cells, a few labels)."""
    if not _countable(size, len(cells)):
        return distinct_counts(cells)
    counts = np.bincount(cells, minlength=size)
    found = np.flatnonzero(counts)
    return found, counts[found]


def mask_labels(mask: int, codes: Codes) -> list[str]:
    return [codes.name(bit - 1) for bit in range(len(codes.labels) + 1) if mask >> bit & 1]


def combinations(spread: Spread, leaked: np.ndarray, codes: Codes) -> dict[str, int]:
    """'test+train' -> number of leaked entities in exactly those splits."""
    masks, counts = distinct_counts(spread.mask[leaked])
    return {
        "+".join(mask_labels(int(m), codes)): int(c)
        for m, c in zip(masks, counts, strict=True)
        if m
    }


@check("SPL004", STAGE, thresholds=("max_leaked_keys", "holdout"))
def keys_in_several_splits(ctx: StageContext) -> Iterator[Finding]:
    """Keys that appear in a held-out split and in another split on the same side.

    Measures, within each side, keys whose rows sit in more than one split where at least one is
    held out (train and test, validation and test, ...). details.combinations counts them by
    the set of splits. Held-out splits are those named in `holdout` (default test, validation,
    valid, val, holdout); a split named in neither `holdout` nor `train` (calibration, ...) is
    not held out.
    Why it matters: a row seen in training and scored as held out inflates every metric: the
    evaluation leaks.
    Usual causes: duplicated rows before splitting, splitting rows instead of entities, a union of
    split files that overlap, appending new data to both train and test.
    Fix: deduplicate by key before splitting; make the split a function of the key.
    """
    codes = label_codes(ctx, split_column(ctx))
    is_holdout = held_out(ctx, codes.labels)
    limit = ctx.config.max_leaked_keys
    for side in SIDES:
        slot = f"{side}.splits"
        spread = _key_spread(ctx.engine.entity_codes(slot), codes.side(side), is_holdout)
        leaked = np.flatnonzero((spread.splits > 1) & (spread.holdout > 0))
        n = len(leaked)
        yield Finding(
            Status.FAIL if n > limit else Status.PASS,
            f"{n} key(s) of {slot} are in a held-out split and another split"
            if n
            else f"no key of {slot} is in more than one split with a held-out one",
            source=slot,
            observed=n,
            threshold=limit,
            hint="The same key is trained on and evaluated: deduplicate by key before splitting and assign the split per key, not per row."
            if n > limit
            else None,
            details={
                "leaked_keys": n,
                "combinations": combinations(spread, leaked, codes),
                "examples": _leaked_key_examples(ctx, slot, spread, leaked, codes),
            },
        )


def _key_spread(entity: np.ndarray, split: np.ndarray, is_holdout: np.ndarray) -> Spread:
    """`split_spread` of keys. When no key is on two rows none can be in two splits: the spread
    of no row says so without a per-key array of a million unique keys."""
    if _one_row_per_code(entity[entity >= 0], int(entity.max(initial=-1)) + 1):
        return split_spread(entity[:0], split[:0], is_holdout)
    return split_spread(entity, split, is_holdout)


def _leaked_key_examples(
    ctx: StageContext, slot: str, spread: Spread, leaked: np.ndarray, codes: Codes
) -> list[dict[str, Any]]:
    rows = spread.first_row[leaked]
    picked = first_by_key(ctx, slot, rows, ctx.config.examples)
    keys = key_values(ctx, slot, rows[picked])
    return [
        {"key": k, "splits": mask_labels(int(spread.mask[leaked[i]]), codes)}
        for k, i in zip(keys, picked, strict=True)
    ]


@check("SPL005", STAGE, thresholds=("max_leaked_groups",))
def groups_across_splits(ctx: StageContext) -> Iterator[Finding]:
    """Groups (columns.group) whose rows span more than one split.

    Runs when `columns.group` is declared (looked up in the splits table, else joined by key from
    the side's features). Measures, within each side, groups present in more than one split, the
    rows they hold, and the split combinations (details.combinations), with the smallest group
    values as examples.
    Why it matters: rows of one customer/patient/device in train and test let the model recognise
    the entity instead of generalising; held-out metrics are optimistic.
    Usual causes: a row-level random split instead of a group split; new rows of an existing
    group appended to a later split.
    Fix: split by group (GroupShuffleSplit / GroupKFold, or a hash of the group id).
    """
    group = ctx.columns.group
    if not group:
        return
    codes = label_codes(ctx, split_column(ctx))
    is_holdout = held_out(ctx, codes.labels)
    for side in SIDES:
        values = side_column(ctx, side, group)
        if values is None:
            yield _not_found(side, group, "group leakage")
            continue
        yield _group_finding(ctx, side, values, codes, is_holdout)


def _group_finding(
    ctx: StageContext, side: str, values: pa.ChunkedArray, codes: Codes, is_holdout: np.ndarray
) -> Finding:
    spread = split_spread(row_codes(values), codes.side(side), is_holdout)
    leaked = np.flatnonzero(spread.splits > 1)
    examples = _group_examples(values, spread, leaked, codes, ctx.config.examples)
    n, limit, slot = len(leaked), ctx.config.max_leaked_groups, f"{side}.splits"
    names = ", ".join(str(e["group"]) for e in examples[:3])
    return Finding(
        Status.FAIL if n > limit else Status.PASS,
        f"{n} group(s) of {ctx.columns.group} span more than one split in {slot}"
        + (f" (e.g. {names})" if n else ""),
        source=slot,
        column=ctx.columns.group,
        observed=n,
        threshold=limit,
        hint="Rows of one group are in several splits: split by group (GroupShuffleSplit/GroupKFold or a hash of the group id) so each group lands in one split."
        if n > limit
        else None,
        details={
            "leaked_groups": n,
            "rows_in_leaked_groups": int(spread.rows[leaked].sum()),
            "groups": len(spread.rows),
            "combinations": combinations(spread, leaked, codes),
            "examples": examples,
        },
    )


def _group_examples(
    values: pa.ChunkedArray, spread: Spread, leaked: np.ndarray, codes: Codes, limit: int
) -> list[dict[str, Any]]:
    """The smallest spanning group values, each with its rows and splits."""
    taken = values.take(pa.array(spread.first_row[leaked], type=pa.int64()))
    picked = np.asarray(pc.sort_indices(taken).slice(0, limit).to_numpy(), dtype=np.int64)
    groups = taken.take(pa.array(picked)).to_pylist()
    return [
        {
            "group": g,
            "rows": int(spread.rows[leaked[i]]),
            "splits": mask_labels(int(spread.mask[leaked[i]]), codes),
        }
        for g, i in zip(groups, picked, strict=True)
    ]


def _not_found(side: str, column: str, what: str) -> Finding:
    return Finding(
        Status.WARN,
        f"column {column!r} not found in {side}.splits or {side}.features: {what} not checked",
        source=f"{side}.splits",
        column=column,
        hint=f"Add {column!r} to the splits table (or the features table joined by key) to check {what}.",
    )


# --------------------------------------------------------------------------- SPL006


@check("SPL006", STAGE, thresholds=("temporal",))
def temporal_leakage(ctx: StageContext) -> Iterator[Finding]:
    """Held-out rows older than the newest training row, for a temporal split.

    Runs when the stage sets `temporal: true`. Uses `columns.timestamp` from the splits table,
    else joined by key from the side's features. Measures held-out rows whose time is earlier
    than the newest training row.
    Why it matters: a time-based evaluation must predict the future from the past; test rows
    older than training rows let the model learn from the future and overstate live performance.
    Usual causes: a random split where a time split was intended, a cutoff applied to one table
    only, timezone or parsing differences in the timestamp.
    Fix: split at a cutoff time: train strictly before, validation/test at or after.
    """
    if not ctx.config.temporal:
        return
    name = ctx.columns.timestamp
    if not name:
        yield Finding(
            Status.WARN,
            "temporal: true but columns.timestamp is not declared: temporal leakage not checked",
            hint="Declare columns.timestamp so test rows can be compared with training rows.",
        )
        return
    codes = label_codes(ctx, split_column(ctx))
    for side in SIDES:
        values = side_column(ctx, side, name)
        if values is None:
            yield _not_found(side, name, "temporal leakage")
            continue
        yield _temporal_finding(ctx, side, values, codes)


def _temporal_finding(
    ctx: StageContext, side: str, values: pa.ChunkedArray, codes: Codes
) -> Finding:
    slot, split = f"{side}.splits", codes.side(side) + 1
    times, known = _time_numbers(values)
    if times is None:
        return _unchecked(ctx, slot, f"timestamp {values.type} cannot be read as time")
    train = training(ctx, codes.labels)[split] & known
    holdout = held_out(ctx, codes.labels)[split]
    if not train.any():
        return _unchecked(ctx, slot, "no training row has a timestamp")
    newest = int(np.flatnonzero(train)[np.argmax(times[train])])
    early = np.flatnonzero(holdout & known & (times < times[newest]))
    picked = early[first_by_key(ctx, slot, early, ctx.config.examples)]
    n = len(early)
    return Finding(
        Status.FAIL if n else Status.PASS,
        f"{n} of {int(holdout.sum())} held-out rows of {slot} are older than the newest training row",
        source=slot,
        column=ctx.columns.timestamp,
        observed=n,
        threshold=0,
        hint="The split is not temporal: choose a cutoff time and put every training row before it and every held-out row after it."
        if n
        else None,
        details={
            "newest_training": values[newest].as_py(),
            "early_holdout_rows": n,
            "holdout_rows_without_time": int((holdout & ~known).sum()),
            "by_split": _by_label(split[early] - 1, codes),
            "examples": key_values(ctx, slot, picked),
        },
    )


def _unchecked(ctx: StageContext, slot: str, why: str) -> Finding:
    message = f"{slot}: {why}: temporal leakage not checked"
    return Finding(Status.WARN, message, source=slot, column=ctx.columns.timestamp)


def _time_numbers(values: pa.ChunkedArray) -> tuple[np.ndarray | None, np.ndarray]:
    """Times as comparable numbers (null -> known False); None when the column is not a time.

    Timestamps and dates compare as their int64 ticks: a float64 cast would refuse (or round)
    nanosecond ticks beyond 2**53, which every current timestamp[ns] is. Numeric columns (epoch
    numbers) keep their own kind: int64, or float64 for floats.
    """
    kind = values.type
    try:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = values.cast(pa.timestamp("us"))
        if pa.types.is_date32(values.type):
            values = values.cast(pa.int32())
        fractional = pa.types.is_floating(values.type) or pa.types.is_decimal(values.type)
        numbers = values.cast(pa.float64() if fractional else pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, np.zeros(len(values), dtype=bool)
    known = np.asarray(pc.is_valid(numbers).to_numpy(), dtype=bool)
    return np.asarray(numbers.fill_null(0).to_numpy()), known


def _by_label(codes_of_rows: np.ndarray, codes: Codes) -> dict[str, int]:
    found, counts = distinct_counts(codes_of_rows)
    return {codes.name(int(c)): int(n) for c, n in zip(found, counts, strict=True)}


# --------------------------------------------------------------------------- SPL007 / SPL008


@check("SPL007", STAGE, thresholds=("max_proportion_diff",))
def split_proportions(ctx: StageContext) -> Iterator[Finding]:
    """Split proportions compared between research and production (context).

    Measures each split's share of rows on both sides and the largest absolute difference; warns
    beyond `max_proportion_diff`. It never fails: membership (SPL002) is what must match, this
    tells why it does not. Equal proportions with different membership point to an unseeded or
    order-dependent split; different proportions point to different split fractions or inputs.
    Usual causes of a difference: split fractions configured differently, a split computed on a
    different (filtered, deduplicated) row set, a different splitting function.
    Fix: share one split configuration between environments, or ship the split as data.
    """
    codes = label_codes(ctx, split_column(ctx))
    width = len(codes.labels) + 1
    counts = {side: np.bincount(codes.side(side) + 1, minlength=width) for side in SIDES}
    shares = {side: c / max(int(c.sum()), 1) for side, c in counts.items()}
    diff = np.abs(shares["research"] - shares["production"])
    largest, limit = float(diff.max(initial=0.0)), ctx.config.max_proportion_diff
    over = largest > limit
    where = codes.name(int(np.argmax(diff)) - 1)
    yield Finding(
        Status.WARN if over else Status.PASS,
        f"split shares differ by up to {largest:.2%} ({where})"
        if largest
        else "split shares are identical",
        source=RESEARCH,
        column=split_column(ctx),
        observed=largest,
        threshold=limit,
        hint="The split fractions differ: compare the split sizes configured in each environment."
        if over
        else None,
        details={side: _shares(counts[side], shares[side], codes) for side in SIDES},
    )


def _shares(counts: np.ndarray, shares: np.ndarray, codes: Codes) -> dict[str, dict[str, float]]:
    return {
        codes.name(int(i) - 1): {"rows": int(counts[i]), "share": float(shares[i])}
        for i in np.flatnonzero(counts)
    }


@check("SPL008", STAGE, thresholds=("max_balance_diff",))
def class_balance(ctx: StageContext) -> Iterator[Finding]:
    """Class balance in each split compared between research and production (context).

    Runs for classification when `columns.target` is found in labels (or features) joined by
    key: the side's own labels, else research's (labels describe keys, not environments).
    Measures per split the share of each class among labelled rows and the largest difference
    between sides; warns beyond `max_balance_diff`. A shifted balance with reassigned keys tells
    how much the evaluation population changed.
    Usual causes: stratification applied in one environment only, an unseeded split (SPL002),
    labels joined differently. Fix: stratify the same way on both sides (or hash-split by key) and
    compare the label join.
    """
    target = ctx.columns.target
    if not target or ctx.task == "regression":
        return
    found = {side: _side_target(ctx, side, target) for side in SIDES}
    if found["research"] is None or found["production"] is None:
        return
    classes = shared_codes(found["research"], found["production"])
    splits = label_codes(ctx, split_column(ctx))
    table = {
        side: _balance(splits.side(side), classes.side(side), splits, classes) for side in SIDES
    }
    worst_split, diff = _largest_balance_gap(table)
    limit = ctx.config.max_balance_diff
    yield Finding(
        Status.WARN if diff > limit else Status.PASS,
        f"class shares per split differ by up to {diff:.2%}"
        + (f" ({worst_split})" if worst_split else ""),
        source=RESEARCH,
        column=target,
        observed=diff,
        threshold=limit,
        hint="The class balance of a split changed: the split is not reproduced (see SPL002) or stratification is applied in one environment only."
        if diff > limit
        else None,
        details=table,
    )


def _side_target(ctx: StageContext, side: str, target: str) -> pa.ChunkedArray | None:
    for other in (f"{side}.labels", "research.labels", f"{side}.features", "research.features"):
        if ctx.declared(other) and target in ctx.engine.table(other).column_names:
            return aligned(ctx, f"{side}.splits", other, target)
    return None


def _balance(
    split: np.ndarray, target: np.ndarray, splits: Codes, classes: Codes
) -> dict[str, Any]:
    width = len(classes.labels)
    # Column 0 counts the unlabelled rows (target -1) and is dropped: one pass, no row filter.
    grid = np.bincount(
        (split + 1) * (width + 1) + (target + 1), minlength=(len(splits.labels) + 1) * (width + 1)
    )
    grid = grid.reshape(len(splits.labels) + 1, width + 1)[:, 1:]
    out: dict[str, Any] = {}
    for row in np.flatnonzero(grid.sum(axis=1)):
        total = int(grid[row].sum())
        out[splits.name(int(row) - 1)] = {
            "labelled": total,
            "shares": {classes.labels[c]: float(grid[row, c] / total) for c in range(width)},
        }
    return out


def _largest_balance_gap(table: dict[str, dict[str, Any]]) -> tuple[str | None, float]:
    worst_split, worst = None, 0.0
    for split in sorted(set(table["research"]) & set(table["production"])):
        research, production = (
            table["research"][split]["shares"],
            table["production"][split]["shares"],
        )
        gap = max(abs(research[c] - production[c]) for c in research)
        if gap > worst:
            worst_split, worst = split, gap
    return worst_split, worst
