"""Stage 3, split_reproducibility: research.splits vs production.splits (SPEC 3.3).

Every check asks the run's aggregate engine (SPEC 7.1) and reads small answers: value counts of
the split (fold, target) column per side, the key comparison of both sides, crosstabs of research
x production assignments over matched keys, how keys and groups spread over splits, and rows
older than the newest training row. Answers name values; each column's values of both sides are
named by one sorted list of labels (numbers sort as numbers; as text when the sides type the
column differently), and `-1` stands for a null label. A split is held out when its name is in
the stage's `holdout` list and training when it is in `train` (both case-insensitive); a split
in neither (`calibration`, ...) is neither: it never counts as leakage nor as training time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.checklist import Checklist, SourceSpec
from mlcheck.compare import RowDifference, logical_type
from mlcheck.context import StageContext
from mlcheck.engine import (
    SPLIT_COLUMN_DEFAULT,
    KeyJoin,
    _preview,
    as_text,
    decoded,
    dictionary_encoded,
    key_table,
)
from mlcheck.engines.base import (
    ColumnDifference,
    Cutoff,
    CutoffGroup,
    KeyComparison,
    KeyCounts,
    Tolerance,
    Unsupported,
)
from mlcheck.errors import InputError
from mlcheck.findings import key_absence_findings
from mlcheck.registry import check
from mlcheck.results import Finding, Status

STAGE = "split_reproducibility"
SIDES = ("research", "production")
RESEARCH = "research.splits"
PRODUCTION = "production.splits"
NULL_LABEL = "(null)"
# Combinations of splits are named by a bit per label (bit 0: null) while they fit an int64.
MASK_BITS = 62


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


# --------------------------------------------------------------------------- asking the engine


def split_column(ctx: StageContext) -> str:
    return ctx.columns.split or SPLIT_COLUMN_DEFAULT


def slot_of(side: str) -> str:
    return f"{side}.splits"


def key_of(ctx: StageContext, slot: str) -> list[str]:
    key = ctx.engine.key(slot)
    if not key:
        # Only a splits mapping whose files declare different keys gets here (see skip_reason).
        raise InputError(f"{slot}: no key to match rows on (its files declare different keys)")
    return key


def column_type(ctx: StageContext, relation: str, column: str) -> pa.DataType | None:
    """The type of `column` in a registered relation, None when it has no such column."""
    schema = ctx.engine.aggregate.schema(relation)
    index = schema.get_field_index(column)
    return None if index < 0 else schema.field(index).type


def known(kind: pa.DataType | None) -> pa.DataType:
    """A column's type, the null type for a column the relation lacks."""
    return pa.null() if kind is None else kind


def required(ctx: StageContext, slot: str, column: str) -> str:
    """The relation of `slot`, which must hold `column` (an input error otherwise, as reading
    the column would be)."""
    relation = ctx.engine.relation(slot)
    if column_type(ctx, relation, column) is None:
        names = ctx.engine.aggregate.schema(relation).names
        raise InputError(
            f"{slot} ({ctx.checklist.where(slot)}): declared column {column!r} is absent; "
            f"columns are: {_preview(list(names))}"
        )
    return relation


@dataclass(frozen=True)
class Counts:
    """A column of one relation: its non-null values with their rows, and the null rows."""

    values: tuple[tuple[Any, int], ...]
    nulls: int


def counts(ctx: StageContext, slot: str, column: str) -> Counts:
    """Value counts of `column` in `slot` (cached for the run)."""

    def compute() -> Counts:
        agg, relation = ctx.engine.aggregate, required(ctx, slot, column)
        found = agg.value_counts(relation, column).get(None, ())
        rows = agg.num_rows(relation)
        return Counts(tuple(found), rows - sum(n for _, n in found))

    result: Counts = ctx.engine.memo((STAGE, "counts", slot, column), compute)
    return result


def joined(ctx: StageContext, slot: str, other: str, column: str) -> str:
    """A relation of `slot`'s rows matched on its key with `other`'s, for `other`'s `column`
    (registered once per run). The side whose columns win a name clash is the one the column
    is read from, unless that would also take the split column from `other`."""
    agg, left, right = ctx.engine.aggregate, ctx.engine.relation(slot), ctx.engine.relation(other)
    other_first = column in agg.schema(left).names and split_column(ctx) not in (
        agg.schema(right).names
    )
    name = f"{slot}+{other}" + ("~" if other_first else "")

    def register() -> str:
        pair = (right, left) if other_first else (left, right)
        agg.register_join(name, *pair, key_of(ctx, slot))
        return name

    result: str = ctx.engine.memo((STAGE, "joined", name, slot, other), register)
    return result


def holds(ctx: StageContext, slot: str, column: str) -> bool:
    """Whether `slot` is declared and has `column`."""
    return ctx.declared(slot) and column_type(ctx, ctx.engine.relation(slot), column) is not None


def side_relation(ctx: StageContext, side: str, column: str, others: Sequence[str]) -> str | None:
    """The relation holding `column` per row of a side's splits: the splits themselves, else
    the first of `others` (slots) joined by key; None when none has it."""
    slot = slot_of(side)
    relation = ctx.engine.relation(slot)
    if column_type(ctx, relation, column) is not None:
        return relation
    for other in others:
        if holds(ctx, other, column):
            return joined(ctx, slot, other, column)
    return None


def key_comparison_of(
    ctx: StageContext, left: str, right: str, columns: tuple[str, ...] = ()
) -> KeyComparison:
    """The key comparison of two slots, `columns` compared as text (cached for the run)."""

    def compute() -> KeyComparison:
        agg = ctx.engine.aggregate
        try:
            return agg.key_comparison(
                ctx.engine.relation(left),
                ctx.engine.relation(right),
                key_of(ctx, left),
                dict.fromkeys(columns, "text"),
                Tolerance(0.0, 0.0),
                ctx.config.examples,
            )
        except Unsupported:  # a key typed differently per side (an all-null column, int32)
            return _compared_in_memory(ctx, left, right, columns)

    result: KeyComparison = ctx.engine.memo((STAGE, "compare", left, right, columns), compute)
    return result


def assigned_columns(ctx: StageContext) -> tuple[str, ...]:
    """The split column, and the fold column when declared and on both sides: their research x
    production assignments are counted in one question (SPL002, SPL003)."""
    split, fold = split_column(ctx), ctx.columns.fold
    relations = [ctx.engine.relation(slot) for slot in (RESEARCH, PRODUCTION)]
    both = fold and all(column_type(ctx, r, fold) is not None for r in relations)
    return (split, fold) if fold and both else (split,)


def sort_key(value: Any) -> Any:
    """Orders examples as the engines order keys: a composite key by its parts in turn."""
    return tuple(value.values()) if isinstance(value, dict) else value


def first_examples(found: Iterable[Any], limit: int, key: Any = sort_key) -> list[Any]:
    """The first `limit` of examples merged from several capped, sorted lists."""
    return sorted(found, key=key)[: max(limit, 0)]


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Labels:
    """A column's values on both sides named by one sorted list of labels (code -1: null).
    `types` are research's and production's; `text` when they differ: values are then
    compared as text, as they would be once cast."""

    labels: list[str]
    types: tuple[pa.DataType, pa.DataType]
    text: bool

    def name(self, code: int) -> str:
        return NULL_LABEL if code < 0 else self.labels[code]

    @property
    def width(self) -> int:
        """Codes + 1: index 0 stands for null."""
        return len(self.labels) + 1

    def names(self, values: Sequence[Any], side: str) -> list[str]:
        """The label of each value of `side` (None -> the null label)."""
        plain = _plain_values(values, self.types[SIDES.index(side)], self.text)
        return [NULL_LABEL if v is None else _label(v) for v in plain]

    def codes(self, values: Sequence[Any], side: str) -> list[int]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [
            -1 if v is None else index[n]
            for v, n in zip(values, self.names(values, side), strict=True)
        ]


def _plain_values(values: Sequence[Any], kind: pa.DataType, text: bool) -> list[Any]:
    """Values as Arrow gives them for `kind` (as text when `text`): engines may answer with
    other Python types of the same values."""
    try:
        array = pa.array(list(values), type=logical_type(kind))
    except (pa.ArrowException, TypeError, ValueError):
        return [None if v is None else str(v) if text else v for v in values]
    return (as_text(array) if text else array).to_pylist()


def _label(value: Any) -> str:
    return str(value)


def _sorted_distinct(values: list[Any]) -> list[Any]:
    """Distinct values in Arrow's order: numbers as numbers, NaN after them."""

    def order(v: Any) -> tuple[bool, Any]:
        nan = isinstance(v, float) and math.isnan(v)
        return nan, 0.0 if nan else v

    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(_label(v), v)
    return sorted(seen.values(), key=order)


def labels_of(ctx: StageContext, column: str) -> Labels:
    """Labels of `column` of both splits tables (cached for the run)."""

    def compute() -> Labels:
        found = {side: [v for v, _ in counts(ctx, slot_of(side), column).values] for side in SIDES}
        research, production = (
            column_type(ctx, ctx.engine.relation(slot_of(side)), column) for side in SIDES
        )
        return _labels(found, (known(research), known(production)))

    result: Labels = ctx.engine.memo((STAGE, "labels", column, RESEARCH, PRODUCTION), compute)
    return result


def _labels(values: Mapping[str, Sequence[Any]], types: tuple[pa.DataType, pa.DataType]) -> Labels:
    text = not logical_type(types[0]).equals(logical_type(types[1]))
    plain = [
        v
        for i, side in enumerate(SIDES)
        for v in _plain_values(values[side], types[i], text)
        if v is not None
    ]
    return Labels([_label(v) for v in _sorted_distinct(plain)], types, text)


def held_out(ctx: StageContext, labels: Labels) -> np.ndarray:
    """Per code + 1 (index 0 = null): whether the split is held out (named in `holdout`)."""
    return _named_in(labels.labels, ctx.config.holdout)


def training(ctx: StageContext, labels: Labels) -> np.ndarray:
    """Per code + 1 (index 0 = null): whether the split is a training split (named in `train`)."""
    return _named_in(labels.labels, ctx.config.train)


def _named_in(labels: list[str], names: list[str]) -> np.ndarray:
    wanted = {name.lower() for name in names}
    return np.array([False] + [label.lower() in wanted for label in labels], dtype=bool)


def mask_labels(mask: int, labels: Labels) -> list[str]:
    return [labels.name(bit - 1) for bit in range(labels.width) if mask >> bit & 1]


def combination_mask(codes: Iterable[int], labels: Labels) -> int:
    """Bit (code + 1) set per value; 0 when the labels are too many to name combinations."""
    if labels.width > MASK_BITS:
        return 0
    return sum(1 << (code + 1) for code in set(codes))


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
    found = key_comparison_of(ctx, RESEARCH, PRODUCTION)
    limit, examples = ctx.config.max_missing_keys, ctx.config.examples
    yield from key_absence_findings(found, RESEARCH, PRODUCTION, limit, hint, examples)


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
    cells = [(r[0], p[0], n) for r, p, n in _cells(ctx)]
    yield _reassignment(ctx, split_column(ctx), "split", cells)


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
    fold = ctx.columns.fold
    if fold:
        for slot in (RESEARCH, PRODUCTION):
            required(ctx, slot, fold)
        cells = _cells(ctx)  # (split, fold) codes
        finding = _reassignment(ctx, fold, "fold", [(r[1], p[1], n) for r, p, n in cells])
        same_split = sum(n for (rs, rf), (ps, pf), n in cells if rf != pf and rs == ps)
        yield replace(finding, details={**finding.details, "same_split": same_split})


def _cells(ctx: StageContext) -> list[tuple[tuple[int, ...], tuple[int, ...], int]]:
    """Matched keys per (research codes, production codes) of `assigned_columns` (cached)."""
    columns = assigned_columns(ctx)

    def compute() -> list[tuple[tuple[int, ...], tuple[int, ...], int]]:
        relations = [required(ctx, slot, c) for slot in (RESEARCH, PRODUCTION) for c in columns]
        keys = key_comparison_of(ctx, RESEARCH, PRODUCTION)
        unique = not any(k.null_rows or k.duplicate_rows for k in (keys.left, keys.right))
        found = ctx.engine.aggregate.joint_crosstab(
            relations[0], relations[-1], key_of(ctx, RESEARCH), columns, columns, unique
        )
        pairs = list(found.items())
        coded = []
        for i, column in enumerate(columns):
            labels = labels_of(ctx, column)
            coded.append(
                (
                    labels.codes([r[i] for (r, _), _ in pairs], "research"),
                    labels.codes([p[i] for (_, p), _ in pairs], "production"),
                )
            )
        return [
            (
                tuple(coded[i][0][j] for i in range(len(columns))),
                tuple(coded[i][1][j] for i in range(len(columns))),
                n,
            )
            for j, (_, n) in enumerate(pairs)
        ]

    result = ctx.engine.memo((STAGE, "cells", columns, RESEARCH, PRODUCTION), compute)
    return list(result)


def _reassignment(
    ctx: StageContext, column: str, what: str, pairs: list[tuple[int, int, int]]
) -> Finding:
    """Keys whose `column` changed between the sides, from (research code, production code,
    keys) cells."""
    labels = labels_of(ctx, column)
    matched = sum(n for _, _, n in pairs)
    n = sum(count for r, p, count in pairs if r != p)
    cause = _cause(ctx, column, labels, pairs) if n else None
    share = n / matched if matched else 0.0
    message = (
        f"{n} of {matched} matched keys ({share:.2%}) changed {what}"
        if n
        else f"all {matched} matched keys keep their {what}"
    )
    return Finding(
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
            "matrix": assignment_matrix(labels, pairs),
            "examples": _moved_examples(ctx, column, labels) if n else [],
        },
    )


def _moved_examples(ctx: StageContext, column: str, labels: Labels) -> list[dict[str, Any]]:
    """The reassigned keys with the smallest keys, with their label on each side."""
    found = key_comparison_of(ctx, RESEARCH, PRODUCTION, (column,))  # only when keys moved
    shown = found.columns[column].examples
    research = labels.names([e["research"] for e in shown], "research")
    production = labels.names([e["production"] for e in shown], "production")
    moved = [
        {"key": e["key"], "research": r, "production": p}
        for e, r, p in zip(shown, research, production, strict=True)
        if r != p
    ]
    return moved[: ctx.config.examples]


def assignment_matrix(
    labels: Labels, pairs: list[tuple[int, int, int]]
) -> dict[str, dict[str, int]]:
    """research label -> production label -> number of keys (non-zero cells only, null first,
    then labels in order)."""
    cells: dict[tuple[int, int], int] = {}
    for r, p, n in pairs:
        cells[(r, p)] = cells.get((r, p), 0) + n
    matrix: dict[str, dict[str, int]] = {}
    for (r, p), n in sorted(cells.items()):
        if n:
            matrix.setdefault(labels.name(r), {})[labels.name(p)] = n
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


def _cause(
    ctx: StageContext, column: str, labels: Labels, pairs: list[tuple[int, int, int]]
) -> str:
    """Name the mechanism behind reassigned keys."""
    if _order_dependent(ctx, column):
        return "order_dependent"
    shares = np.zeros((2, labels.width))
    for r, p, n in pairs:
        shares[0, r + 1] += n
        shares[1, p + 1] += n
    shares /= max(sum(n for _, _, n in pairs), 1)
    similar = float(np.abs(shares[0] - shares[1]).max()) <= ctx.config.max_proportion_diff
    return "unseeded" if similar else "different_split"


def _order_dependent(ctx: StageContext, column: str) -> bool:
    """One side's assignment sequence equals the other's in file order or in key order.

    Row order is no aggregate question: this reads both sides' `column` in file order, and
    only when keys were reassigned (a failing run) and both sides have as many rows.
    Not inferred when a side's splits is a mapping of files: its rows are grouped by split
    (every train row, then every test row), so its file order says nothing about the order the
    splitter saw, and any shuffle would look order-dependent.
    """
    if any(isinstance(getattr(ctx.checklist, side).splits, dict) for side in SIDES):
        return False
    agg = ctx.engine.aggregate
    sizes = [agg.num_rows(ctx.engine.relation(slot)) for slot in (RESEARCH, PRODUCTION)]
    if sizes[0] != sizes[1]:
        return False
    codes = shared_codes(ctx.engine.column(RESEARCH, column), ctx.engine.column(PRODUCTION, column))
    research, production = codes.research, codes.production
    research_sorted = research[_key_order(ctx, RESEARCH)]
    production_sorted = production[_key_order(ctx, PRODUCTION)]
    return bool(
        np.array_equal(research, production)
        or np.array_equal(research_sorted, production)
        or np.array_equal(research, production_sorted)
    )


def _key_order(ctx: StageContext, slot: str) -> np.ndarray:
    cols = key_of(ctx, slot)
    order = pc.sort_indices(
        key_table(ctx.engine.table(slot), cols), sort_keys=[(c, "ascending") for c in cols]
    )
    return np.asarray(order.to_numpy(), dtype=np.int64)


# --------------------------------------------------------------------------- SPL004 / SPL005


@dataclass(frozen=True)
class Spanning:
    """Entities (keys or groups) of one side in more than one split, by split combination."""

    combinations: dict[str, int]  # 'test+train' -> entities in exactly those splits
    entities: int
    rows: int
    examples: list[tuple[Any, int, list[str]]]  # (entity, rows, split names), first by entity


def spanning(
    ctx: StageContext, side: str, relation: str, entity: list[str], holdout_only: bool
) -> tuple[Spanning, int]:
    """Entities of `relation` spread over more than one split (with `holdout_only`, over a
    held-out split and another one); and how many entities there are."""
    labels = labels_of(ctx, split_column(ctx))
    is_holdout = held_out(ctx, labels)
    found = ctx.engine.memo(
        (STAGE, "spread", relation, tuple(entity), split_column(ctx), slot_of(side)),
        lambda: ctx.engine.aggregate.spread(
            relation, entity, split_column(ctx), ctx.config.examples
        ),
    )
    by_mask: dict[int, int] = {}
    total = rows = 0
    shown: list[tuple[Any, int, list[str]]] = []
    for combination in found.combinations:
        codes = labels.codes(combination.values, side)
        if holdout_only and not any(is_holdout[c + 1] for c in codes):
            continue
        mask = combination_mask(codes, labels)
        by_mask[mask] = by_mask.get(mask, 0) + combination.entities
        total, rows = total + combination.entities, rows + combination.rows
        names = mask_labels(mask, labels)
        shown += [(e["key"], int(e["rows"]), names) for e in combination.examples]
    spread = Spanning(
        combinations={"+".join(mask_labels(m, labels)): n for m, n in sorted(by_mask.items()) if m},
        entities=total,
        rows=rows,
        examples=first_examples(shown, ctx.config.examples, key=lambda e: sort_key(e[0])),
    )
    return spread, found.entities


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
    limit = ctx.config.max_leaked_keys
    compared = key_comparison_of(ctx, RESEARCH, PRODUCTION)
    compared_key = key_of(ctx, RESEARCH)  # the key both sides were compared on
    for side in SIDES:
        slot = slot_of(side)
        relation = required(ctx, slot, split_column(ctx))
        # A key on one row is in one split: with no repeated key there is nothing to ask.
        repeated = (compared.left if side == "research" else compared.right).duplicate_rows
        repeated = repeated or key_of(ctx, slot) != compared_key
        spread = (
            spanning(ctx, side, relation, key_of(ctx, slot), holdout_only=True)[0]
            if repeated
            else Spanning({}, 0, 0, [])
        )
        n = spread.entities
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
                "combinations": spread.combinations,
                "examples": [{"key": k, "splits": names} for k, _, names in spread.examples],
            },
        )


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
    for side in SIDES:
        required(ctx, slot_of(side), split_column(ctx))
        relation = side_relation(ctx, side, group, (f"{side}.features", f"{side}.labels"))
        if relation is None:
            yield _not_found(side, group, "group leakage")
            continue
        yield _group_finding(ctx, side, relation, group)


def _group_finding(ctx: StageContext, side: str, relation: str, group: str) -> Finding:
    spread, groups = spanning(ctx, side, relation, [group], holdout_only=False)
    examples = [{"group": g, "rows": r, "splits": names} for g, r, names in spread.examples]
    n, limit, slot = spread.entities, ctx.config.max_leaked_groups, slot_of(side)
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
            "rows_in_leaked_groups": spread.rows,
            "groups": groups,
            "combinations": spread.combinations,
            "examples": examples,
        },
    )


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
    for side in SIDES:
        required(ctx, slot_of(side), split_column(ctx))
        relation = side_relation(ctx, side, name, (f"{side}.features", f"{side}.labels"))
        if relation is None:
            yield _not_found(side, name, "temporal leakage")
            continue
        yield _temporal_finding(ctx, side, relation, name)


def _temporal_finding(ctx: StageContext, side: str, relation: str, name: str) -> Finding:
    slot, kind = slot_of(side), column_type(ctx, relation, name)
    if kind is None or not _orderable(kind):
        return _unchecked(ctx, slot, f"timestamp {kind} cannot be read as time")
    labels = labels_of(ctx, split_column(ctx))
    train, holdout = training(ctx, labels), held_out(ctx, labels)
    found, by_code = _times_by_split(ctx, side, relation, name, kind, labels)
    if any(group.unreadable for group in found.groups.values()):
        return _unchecked(ctx, slot, f"timestamp {kind} cannot be read as time")
    if not any(group.values for c, group in by_code.items() if train[c + 1]):
        return _unchecked(ctx, slot, "no training row has a timestamp")
    early = {c: group for c, group in sorted(by_code.items()) if holdout[c + 1] and group.below}
    n = sum(group.below for group in early.values())
    rows = _holdout_rows(ctx, side, labels, holdout)
    timed = sum(group.values for c, group in by_code.items() if holdout[c + 1])
    return Finding(
        Status.FAIL if n else Status.PASS,
        f"{n} of {rows} held-out rows of {slot} are older than the newest training row",
        source=slot,
        column=name,
        observed=n,
        threshold=0,
        hint="The split is not temporal: choose a cutoff time and put every training row before it and every held-out row after it."
        if n
        else None,
        details={
            "newest_training": _as_column_value(found.cutoff, kind),
            "early_holdout_rows": n,
            "holdout_rows_without_time": rows - timed,
            "by_split": {labels.name(c): group.below for c, group in early.items()},
            "examples": first_examples(
                (k for group in early.values() for k in group.examples), ctx.config.examples
            ),
        },
    )


def _times_by_split(
    ctx: StageContext, side: str, relation: str, name: str, kind: pa.DataType, labels: Labels
) -> tuple[Cutoff, dict[int, CutoffGroup]]:
    """Rows earlier than the newest training time, per split, and the same groups by code."""
    slot, train = slot_of(side), training(ctx, labels)
    split_values = [v for v, _ in counts(ctx, slot, split_column(ctx)).values]
    codes = dict(zip(split_values, labels.codes(split_values, side), strict=True))
    found = ctx.engine.aggregate.before_cutoff(
        relation,
        name,
        split_column(ctx),
        [v for v in split_values if train[codes[v] + 1]],
        key_of(ctx, slot),
        ctx.config.examples,
        as_time=_is_text(kind),
    )
    by_code = {(-1 if g is None else codes[g]): group for g, group in found.groups.items()}
    return found, by_code


def _holdout_rows(ctx: StageContext, side: str, labels: Labels, holdout: np.ndarray) -> int:
    """Rows of a side's splits in held-out splits (all of them, with a time or not)."""
    found = counts(ctx, slot_of(side), split_column(ctx)).values
    codes = labels.codes([v for v, _ in found], side)
    return sum(n for (_, n), c in zip(found, codes, strict=True) if holdout[c + 1])


def _is_text(kind: pa.DataType) -> bool:
    kind = logical_type(kind)
    return bool(pa.types.is_string(kind))


def _orderable(kind: pa.DataType) -> bool:
    """Whether a column's values are times or numbers (text is read as ISO 8601 times)."""
    kind = logical_type(kind)
    tests = (
        pa.types.is_temporal,
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_decimal,
        pa.types.is_boolean,
    )
    return _is_text(kind) or any(test(kind) for test in tests)


def _as_column_value(value: Any, kind: pa.DataType) -> Any:
    """A value as Arrow gives it for the column's type (a zoned time in the column's zone)."""
    if value is None:
        return None
    try:
        return pa.array([value], type=logical_type(kind))[0].as_py()
    except (pa.ArrowException, TypeError, ValueError):
        return value


def _unchecked(ctx: StageContext, slot: str, why: str) -> Finding:
    message = f"{slot}: {why}: temporal leakage not checked"
    return Finding(Status.WARN, message, source=slot, column=ctx.columns.timestamp)


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
    labels = labels_of(ctx, split_column(ctx))
    found = {side: split_counts(ctx, side, labels) for side in SIDES}
    shares = {side: c / max(int(c.sum()), 1) for side, c in found.items()}
    diff = np.abs(shares["research"] - shares["production"])
    largest, limit = float(diff.max(initial=0.0)), ctx.config.max_proportion_diff
    over = largest > limit
    where = labels.name(int(np.argmax(diff)) - 1)
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
        details={side: _shares(found[side], shares[side], labels) for side in SIDES},
    )


def split_counts(ctx: StageContext, side: str, labels: Labels) -> np.ndarray:
    """Rows per split code + 1 (index 0: a null split) of a side."""
    found = counts(ctx, slot_of(side), split_column(ctx))
    out = np.zeros(labels.width, dtype=np.int64)
    out[0] = found.nulls
    for (_, n), code in zip(
        found.values, labels.codes([v for v, _ in found.values], side), strict=True
    ):
        out[code + 1] += n
    return out


def _shares(counts: np.ndarray, shares: np.ndarray, labels: Labels) -> dict[str, dict[str, float]]:
    return {
        labels.name(int(i) - 1): {"rows": int(counts[i]), "share": float(shares[i])}
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
    sought = {side: _target_slot(ctx, side, target) for side in SIDES}
    found = {side: slot for side, slot in sought.items() if slot is not None}
    if len(found) < len(SIDES):
        return
    answers = {side: _classes_by_split(ctx, side, found[side], target) for side in SIDES}
    kinds = [known(column_type(ctx, ctx.engine.relation(found[s]), target)) for s in SIDES]
    classes = _labels(
        {side: [v for per in answers[side].values() for v, _ in per] for side in SIDES},
        (kinds[0], kinds[1]),
    )
    splits = labels_of(ctx, split_column(ctx))
    table = {side: _balance(answers[side], side, splits, classes) for side in SIDES}
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


def _target_slot(ctx: StageContext, side: str, target: str) -> str | None:
    """The first slot holding the target for a side's splits: the side's own labels, else
    research's (labels describe keys, not environments), then features."""
    required(ctx, slot_of(side), split_column(ctx))
    for other in (f"{side}.labels", "research.labels", f"{side}.features", "research.features"):
        if holds(ctx, other, target):
            return other
    return None


def _classes_by_split(
    ctx: StageContext, side: str, other: str, target: str
) -> dict[Any, list[tuple[Any, int]]]:
    """Per split value of a side, the labelled rows per class: a crosstab of the splits' split
    column and `other`'s target over keys matched on both (unlabelled rows left out)."""
    slot = slot_of(side)
    found = ctx.engine.aggregate.joint_crosstab(
        ctx.engine.relation(slot),
        ctx.engine.relation(other),
        key_of(ctx, slot),
        [split_column(ctx)],
        [target],
    )
    out: dict[Any, list[tuple[Any, int]]] = {}
    for ((split,), (label,)), n in found.items():
        if label is not None:
            out.setdefault(split, []).append((label, n))
    return out


def _balance(
    answer: Mapping[Any, Sequence[tuple[Any, int]]], side: str, splits: Labels, classes: Labels
) -> dict[str, Any]:
    """Per split (null first, then in label order) its labelled rows and each class's share."""
    grid = np.zeros((splits.width, len(classes.labels)), dtype=np.int64)
    groups = list(answer)
    for group, code in zip(groups, splits.codes(groups, side), strict=True):
        values = [v for v, _ in answer[group]]
        for (_, n), c in zip(answer[group], classes.codes(values, side), strict=True):
            grid[code + 1, c] += n
    out: dict[str, Any] = {}
    for row in np.flatnonzero(grid.sum(axis=1)):
        total = int(grid[row].sum())
        out[splits.name(int(row) - 1)] = {
            "labelled": total,
            "shares": {
                label: float(grid[row, c] / total) for c, label in enumerate(classes.labels)
            },
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


# --------------------------------------------------------------------------- in-memory helpers
# Whole columns: stage 4 (prediction_mismatch) reads these until it asks the seam; stage 3 only
# for the order-dependence diagnosis above (row order is no aggregate question).


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


def on_matched_keys(
    join: KeyJoin, research: np.ndarray, production: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per matched key, research's and production's value of per-row arrays. A side whose rows
    all match serves as it is, no gather of a million rows: `left_rows` is sorted and unique, so
    it is then every row in order; an aligned join pairs row i with row i on both sides."""
    left = research if len(join.left_rows) == len(research) else research[join.left_rows]
    return left, production if join.aligned else production[join.right_rows]


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct integers and their counts. Sort-based: numpy's hash-based np.unique is
    orders of magnitude slower on a million distinct keys."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _compared_in_memory(
    ctx: StageContext, left: str, right: str, columns: tuple[str, ...]
) -> KeyComparison:
    """The parts of `key_comparison` stage 3 reads, from the in-memory join: for keys the
    engine does not match because the sides type them differently (cast to a common type
    here, as the join does)."""
    join, limit = ctx.engine.join(left, right), ctx.config.examples

    def shown(slot: str, rows: np.ndarray) -> tuple[dict[str, Any], ...]:
        picked = rows[first_by_key(ctx, slot, rows, limit)]
        return tuple({"key": k, "rows": 1} for k in key_values(ctx, slot, picked))

    def keys(dups: np.ndarray, nulls: np.ndarray) -> KeyCounts:
        return KeyCounts(len(nulls), len(dups), 0, ())

    rows = RowDifference(
        "key", len(join.left_only), len(join.right_only), 0, 0,
        shown(left, join.left_only), shown(right, join.right_only),
    )  # fmt: skip
    return KeyComparison(
        key=join.key,
        left_rows=ctx.engine.num_rows(left),
        right_rows=ctx.engine.num_rows(right),
        matched=join.matched,
        left=keys(join.left_duplicate_rows, join.left_null_rows),
        right=keys(join.right_duplicate_rows, join.right_null_rows),
        rows=rows,
        columns={c: _moved_in_memory(ctx, join, left, right, c) for c in columns},
    )


def _moved_in_memory(
    ctx: StageContext, join: KeyJoin, left: str, right: str, column: str
) -> ColumnDifference:
    """The first moved keys of `column` by key, with both sides' values (examples only)."""
    values = [ctx.engine.column(slot, column) for slot in (left, right)]
    codes = shared_codes(*values)
    research, production = on_matched_keys(join, codes.research, codes.production)
    moved = np.flatnonzero(research != production)
    picked = moved[first_by_key(ctx, left, join.left_rows[moved], ctx.config.examples)]
    rows = [pa.array(r[picked], type=pa.int64()) for r in (join.left_rows, join.right_rows)]
    shown = zip(
        key_values(ctx, left, join.left_rows[picked]),
        values[0].take(rows[0]).to_pylist(),
        values[1].take(rows[1]).to_pylist(),
        strict=True,
    )
    examples = tuple({"key": k, "research": a, "production": b} for k, a, b in shown)
    return ColumnDifference(column, "text", join.matched, len(moved), 0, 0, 0, None, None, examples)
