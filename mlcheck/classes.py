"""Which score column holds which class's probability (multiclass): tied by name, never by position.

`columns.score` for a multiclass model is either

- a mapping `{setosa: p_setosa, versicolor: p_versicolor, ...}`: class label -> column, said
  outright; or
- a list of columns, each of whose names ends with exactly one class label
  (`y_pred_proba_upmarket_card` -> `upmarket_card`), in any order. When labels are suffixes of
  each other (`card`, `upmarket_card`) a column takes the longest label it ends with; two columns
  ending with the same label, a column ending with none, or a label no column ends with is an
  error that asks for the mapping.

Class labels are compared as text (`0`, `1.0` -> `1`, `true`). They are the distinct values of
the target column on each side (research, live: the labels table, else predictions, else
features: the first that has it) and of the prediction column in every predictions table: the
same columns for every stage, so stage 4 and stage 5 tie columns to classes the same way. `mlcheck validate` reads those
columns alone (`validate.score_mapping_problems`), so a list that cannot be tied fails before a run.
Every consumer (stage 4's argmax check, stage 5's metrics and estimation) goes through
`class_map`; its columns are in `columns.score` order, so a row of probabilities read in that
order has class `labels[j]` in column j.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.errors import InputError

if TYPE_CHECKING:
    from mlcheck.checklist import Checklist
    from mlcheck.context import StageContext

# Where class labels are read. The target: on each side, the first declared slot of its group
# that has the column (as stage 5 reads it: a features table only when no labels or predictions
# table has the target). The prediction column: every declared predictions slot.
TARGET_GROUPS = (
    ("research.labels", "research.predictions", "research.features"),
    ("production.live.labels", "production.live.predictions", "production.live.features"),
)
PREDICTION_SLOTS = ("research.predictions", "production.predictions", "production.live.predictions")
# Labels shown in a message before "...".
SHOWN = 12


class ClassMappingError(InputError):
    """Score columns cannot be tied to class labels: the checklist must give the mapping."""


@dataclass(frozen=True)
class ClassMap:
    """Score column j holds the probability of class `labels[j]` (columns in `columns.score`
    order); `by` says how the tie was made: "mapping" (the checklist's) or "suffix"."""

    columns: tuple[str, ...]
    labels: tuple[str, ...]
    by: str

    def index(self, values: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Each value's class position as float64; NaN where null (or not a known class)."""
        position = pc.index_in(label_text(values), value_set=pa.array(self.labels, pa.string()))
        return np.asarray(position.cast(pa.float64()).to_numpy(zero_copy_only=False))

    def as_mapping(self) -> dict[str, str]:
        return dict(zip(self.labels, self.columns, strict=True))


def label_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Labels as text: dictionary-decoded; integral floats written as integers (`1.0` -> `1`),
    so a label read as float from CSV on one side and as integer on the other is one class."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
    if pa.types.is_floating(values.type):
        finite = pc.drop_null(pc.filter(values, pc.is_finite(values)))
        if len(finite) and pc.all(pc.equal(pc.floor(finite), finite)).as_py():
            values = values.cast(pa.int64(), safe=False)
    try:
        return values.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ClassMappingError(f"class labels must be text or numbers, not {kind}") from None


def distinct_labels(columns: Iterable[pa.ChunkedArray | pa.Array]) -> list[str]:
    """The distinct non-null labels (as text) of some label columns, sorted."""
    found: set[str] = set()
    for values in columns:  # a few label columns, not rows
        found.update(pc.unique(label_text(values)).drop_null().to_pylist())
    return sorted(found)


def resolve(score: str | Sequence[str] | Mapping[str, str], labels: Sequence[str]) -> ClassMap:
    """Tie score columns to class labels (see the module docstring); ClassMappingError if the
    columns cannot be tied by name or a label seen in the data has no column."""
    if isinstance(score, Mapping):
        return _from_mapping(dict(score), labels)
    columns = [score] if isinstance(score, str) else list(score)
    matched, problems = match_suffixes(columns, labels)
    unmatched = _unmatched(labels, matched)
    if unmatched:
        problems.append(f"{_noun('class', unmatched)} {_names(unmatched)} without a column")
    if problems:
        raise ClassMappingError(_problem_text(columns, labels, problems))
    return ClassMap(tuple(columns), tuple(matched[c] for c in columns), "suffix")


def match_suffixes(
    columns: Sequence[str], labels: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Each column's class: the longest label its name ends with. Returns the columns that got
    exactly one class no other column took, and a line per problem."""
    longest: dict[str, str] = {}
    for column in columns:  # score columns and labels: a handful, not rows
        ends = [label for label in labels if label and column.endswith(label)]
        if ends:
            longest[column] = max(ends, key=len)
    taken: dict[str, list[str]] = {}
    for column, label in longest.items():
        taken.setdefault(label, []).append(column)
    problems = [
        f"columns {_names(c)} all end with class {lab!r}" for lab, c in taken.items() if len(c) > 1
    ]
    unlabelled = [c for c in columns if c not in longest]
    if unlabelled:
        verb = "ends" if len(unlabelled) == 1 else "end"
        problems.insert(
            0, f"{_noun('column', unlabelled)} {_names(unlabelled)} {verb} with no label"
        )
    return {c: lab for c, lab in longest.items() if len(taken[lab]) == 1}, problems


def _noun(word: str, items: Sequence[str]) -> str:
    return word if len(items) == 1 else {"class": "classes"}.get(word, word + "s")


def _from_mapping(mapping: dict[str, str], labels: Sequence[str]) -> ClassMap:
    unknown = [label for label in labels if label not in mapping]
    if unknown:
        raise ClassMappingError(
            f"the mapping has {len(mapping)} classes ({_names(list(mapping))}) but the data "
            f"also has class{'es' if len(unknown) > 1 else ''} {_names(unknown)}: add "
            f"{'them' if len(unknown) > 1 else 'it'} to the mapping with its probability column"
        )
    return ClassMap(tuple(mapping.values()), tuple(mapping), "mapping")


def _unmatched(labels: Sequence[str], matched: dict[str, str]) -> list[str]:
    taken = set(matched.values())
    return [label for label in labels if label not in taken]


def _problem_text(columns: Sequence[str], labels: Sequence[str], problems: list[str]) -> str:
    seen = _names(list(labels)) if labels else "none (no target or prediction values)"
    return (
        f"cannot tie score columns {_names(list(columns))} to classes by name "
        f"({'; '.join(problems)}); class labels in the data: {seen}. Name each column after its "
        f"class, or give the mapping: `score: {_skeleton(columns, labels)}`"
    )


def _skeleton(columns: Sequence[str], labels: Sequence[str]) -> str:
    """A mapping to fill in: labels with a placeholder column each (never a guessed pairing)."""
    names = list(labels[:SHOWN]) if labels else ["<class>"]
    return "{" + ", ".join(f"{label}: <column>" for label in names) + "}"


def _names(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:SHOWN])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN else "")


# --------------------------------------------------------------------------- from a run


def class_map(ctx: StageContext) -> ClassMap:
    """The run's class map, resolved once (every stage and check shares it)."""
    found: ClassMap = ctx.engine.memo(("classes",), lambda: _resolve_for_run(ctx))
    return found


def _resolve_for_run(ctx: StageContext) -> ClassMap:
    try:
        return resolve(score_spec(ctx.checklist), distinct_labels(_label_columns(ctx)))
    except ClassMappingError as exc:
        raise ClassMappingError(f"{where_score(ctx.checklist)}: {exc.message}") from None


def where_score(checklist: Checklist) -> str:
    """`columns.score (file:line)`, to start a message about the score columns."""
    return f"columns.score ({checklist.where('columns.score')})"


def score_spec(checklist: Checklist) -> str | list[str] | dict[str, str]:
    score = checklist.columns.score
    if score is None:
        raise ClassMappingError("columns.score is not declared")
    return score if isinstance(score, str | dict) else list(score)


def _label_columns(ctx: StageContext) -> list[pa.ChunkedArray]:
    def has(slot: str, column: str) -> bool:
        return ctx.declared(slot) and column in ctx.engine.schema(slot).names

    return [ctx.engine.column(slot, c) for slot, c in label_sources(ctx.checklist, has)]


def label_sources(checklist: Checklist, has: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    """(slot, column) pairs that name the classes (see TARGET_GROUPS); `has(slot, column)` says
    whether a declared slot holds a column, so a run asks its tables and `validate` metadata."""
    cols = checklist.columns
    found = []
    if cols.target:
        for group in TARGET_GROUPS:  # two sides, three slots each
            first = next((slot for slot in group if has(slot, cols.target)), None)
            found += [(first, cols.target)] if first else []
    if cols.prediction:
        found += [
            (slot, cols.prediction) for slot in PREDICTION_SLOTS if has(slot, cols.prediction)
        ]
    return found
