"""Stage 5, performance_drop: is the model as good on live traffic as it was in research?

Research (predictions, labels, features) against `production.live`:

- PERF001 live performance against the research baseline: realized on labelled live rows and
  estimated without labels (CBPE; DLE for regression) on the rest, each with its confidence
  interval, for the whole window and per chunk;
- PERF002 covariate drift of each model feature (research training rows vs live);
- PERF003 prediction (score) drift; PERF004 label drift;
- PERF005 / PERF006 concept drift: calibration per score bin, and the target rate per feature bin
  of features whose inputs did not drift.

The statistics live in `mlcheck.metrics`, `mlcheck.estimation` and `mlcheck.drift`; this module
gathers the data through the engine, cuts live rows into chunks and turns numbers into findings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck import drift
from mlcheck.checklist import Checklist
from mlcheck.classes import class_map
from mlcheck.context import StageContext
from mlcheck.engine import parallel_map
from mlcheck.engines import sorting
from mlcheck.engines.base import SortedValues
from mlcheck.errors import ChecklistError, InputError
from mlcheck.estimation import (
    Calibrator,
    ClassCalibrators,
    estimate,
    fit_calibrator,
    fit_class_calibrators,
)
from mlcheck.loss_estimation import ESTIMABLE_REGRESSION, LossModel, fit_loss_model
from mlcheck.metrics import Estimate, Metric, Outcomes, interval, metric_info, z_value
from mlcheck.registry import check
from mlcheck.results import Finding, Status, worst
from mlcheck.stage_config import chunk_seconds

STAGE = "performance_drop"
RESEARCH_PREDICTIONS = "research.predictions"
RESEARCH_FEATURES = "research.features"
LIVE_PREDICTIONS = "production.live.predictions"
LIVE_FEATURES = "production.live.features"
LIVE_LABELS = "production.live.labels"
# A bin needs this many rows on each side before its rate is tested (normal approximation).
MIN_BIN_ROWS = 30
# Research baseline rows a loss model (regression DLE) needs before it is fitted.
MIN_LOSS_ROWS = 100
# 1970-01-05 was a Monday: weekly chunks start on Mondays, daily ones at midnight (UTC).
WEEK_ORIGIN_S = 4 * 86400
WEEK_S = 7 * 86400


def skip_reason(checklist: Checklist) -> str | None:
    live = checklist.production.live
    if live is None or live.predictions is None:
        return "needs production.live.predictions"
    if not checklist.columns.score_columns:
        return "needs columns.score (the model's output column)"
    has_baseline = checklist.stages.performance_drop.baseline is not None
    has_research = checklist.research.predictions is not None and bool(checklist.columns.target)
    if not (has_baseline or has_research):
        return "needs research.predictions with labels (columns.target) or a `baseline:` value"
    return None


# --------------------------------------------------------------------------- reading columns


def _lookup(
    ctx: StageContext, base: str, column: str, candidates: tuple[str, ...]
) -> pa.ChunkedArray | None:
    """`column` aligned with the rows of slot `base`, taken from the first declared candidate
    slot that has it; another slot is matched on the key and its unmatched rows become null."""
    for slot in candidates:
        if not ctx.declared(slot) or column not in ctx.engine.schema(slot).names:
            continue
        values = ctx.engine.column(slot, column)
        if slot == base:
            return values
        join = ctx.engine.join(base, slot)
        if join.aligned:  # same keys in the same order: nothing to rearrange
            return values
        index = np.full(ctx.engine.num_rows(base), -1, dtype=np.int64)
        index[join.left_rows] = join.right_rows
        return values.take(pa.array(index, mask=index < 0))
    return None


def _floats(values: pa.ChunkedArray, what: str) -> np.ndarray:
    """A numeric column as float64, nulls as NaN."""
    kind = values.type
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    ):
        raise InputError(f"{what} must be numeric, but its type is {kind}")
    # Unsafe: an integer beyond 2**53 rounds to the nearest float instead of failing the cast.
    return np.asarray(values.cast(pa.float64(), safe=False).to_numpy(), dtype=np.float64)


def _binary(values: pa.ChunkedArray, what: str) -> np.ndarray:
    """0/1 (or boolean) truth or decisions as float, NaN where null."""
    x = _floats(values, what)
    bad = ~np.isnan(x) & (x != 0) & (x != 1)
    if bad.any():
        raise InputError(f"{what} must be 0/1 or boolean for a binary task; found {x[bad][0]:g}")
    return x


def _bool_equal(values: pa.ChunkedArray | None, name: str) -> np.ndarray | None:
    if values is None:
        return None
    equal = pc.equal(values.cast(pa.string()), name)
    return np.asarray(pc.fill_null(equal, False).to_numpy(), dtype=bool)


# --------------------------------------------------------------------------- scored rows


@dataclass(frozen=True)
class Scored:
    """A predictions table's rows in file order: score, decision, truth (NaN = unlabelled)."""

    score: np.ndarray
    pred: np.ndarray | None
    target: np.ndarray
    valid: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        return self.valid & ~np.isnan(self.target)

    def outcomes(self, rows: np.ndarray) -> Outcomes:
        y = self.target[rows]
        pred = None if self.pred is None else self.pred[rows].astype(np.int64)
        return Outcomes(y if pred is None else y.astype(np.int64), self.score[rows], pred)


def _scored(ctx: StageContext, base: str, target_slots: tuple[str, ...]) -> Scored:
    cols = ctx.columns
    scores = [
        _floats(ctx.engine.column(base, c), f"{base}: column {c!r}") for c in cols.score_columns
    ]
    score = np.column_stack(scores) if ctx.task == "multiclass" else scores[0]
    raw_target = _lookup(ctx, base, cols.target, target_slots) if cols.target else None
    raw_pred = ctx.engine.column(base, cols.prediction) if cols.prediction else None
    if ctx.task == "multiclass":
        target, pred = _multiclass(ctx, raw_target, raw_pred, score)
    elif ctx.task == "binary":
        target = _targets(raw_target, len(score), base, _binary)
        pred = _binary_decisions(ctx, raw_pred, score, base)
    else:
        target, pred = _targets(raw_target, len(score), base, _floats), None
    finite = np.isfinite(score) if score.ndim == 1 else np.isfinite(score).all(axis=1)
    valid = finite & (np.isfinite(pred) if pred is not None else True)
    return Scored(score, pred, target, valid)


def _binary_decisions(
    ctx: StageContext, raw_pred: pa.ChunkedArray | None, score: np.ndarray, base: str
) -> np.ndarray:
    """The prediction column when declared, else score >= threshold."""
    if raw_pred is not None:
        return _binary(raw_pred, f"{base}: {ctx.columns.prediction!r}")
    return (score >= ctx.config.threshold).astype(np.float64)


def _targets(
    raw: pa.ChunkedArray | None,
    n: int,
    base: str,
    convert: Callable[[pa.ChunkedArray, str], np.ndarray],
) -> np.ndarray:
    if raw is None:
        return np.full(n, np.nan)
    return convert(raw, f"the target matched to {base}")


def _multiclass(
    ctx: StageContext,
    raw_target: pa.ChunkedArray | None,
    raw_pred: pa.ChunkedArray | None,
    score: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Truth and decisions as positions of `classes.class_map` (score columns tied to classes
    by name); without a prediction column, the arg-max class."""
    classes = class_map(ctx)
    target = np.full(len(score), np.nan) if raw_target is None else classes.index(raw_target)
    if raw_pred is not None:
        return target, classes.index(raw_pred)
    finite = np.isfinite(score).all(axis=1)
    return target, np.where(finite, np.argmax(np.nan_to_num(score, nan=-1), axis=1), np.nan)


def _research_target_slots() -> tuple[str, ...]:
    return ("research.labels", RESEARCH_PREDICTIONS, RESEARCH_FEATURES)


def _live_target_slots() -> tuple[str, ...]:
    return (LIVE_LABELS, LIVE_PREDICTIONS, LIVE_FEATURES)


# --------------------------------------------------------------------------- research and live


@dataclass(frozen=True)
class Research:
    scored: Scored
    baseline_rows: np.ndarray  # labelled rows of the baseline split (or all labelled rows)
    baseline_from: str


def _research(ctx: StageContext) -> Research | None:
    def compute() -> Research | None:
        if not ctx.declared(RESEARCH_PREDICTIONS) or not ctx.columns.target:
            return None
        scored = _scored(ctx, RESEARCH_PREDICTIONS, _research_target_slots())
        if np.isnan(scored.target).all():
            if ctx.config.baseline is not None:
                return None  # the checklist's baseline stands in for research labels
            raise InputError(
                f"columns.target {ctx.columns.target!r} has no values for research.predictions "
                "rows in research.labels, research.predictions or research.features"
            )
        split = _split_mask(ctx, RESEARCH_PREDICTIONS, ctx.config.baseline_split)
        labelled = scored.labelled
        if split is not None and (labelled & split).any():
            rows = np.flatnonzero(labelled & split)
            return Research(scored, rows, f"research split {ctx.config.baseline_split!r}")
        return Research(scored, np.flatnonzero(labelled), "all labelled research rows")

    return ctx.engine.memo((STAGE, "research"), compute)


def _split_mask(ctx: StageContext, base: str, name: str) -> np.ndarray | None:
    column = ctx.columns.split or "split"
    values = _lookup(ctx, base, column, ("research.splits", base, RESEARCH_FEATURES))
    return _bool_equal(values, name)


@dataclass(frozen=True)
class Chunk:
    start: int | str
    end: int | str
    rows: np.ndarray


def _live(ctx: StageContext) -> tuple[Scored, list[Chunk]]:
    def compute() -> tuple[Scored, list[Chunk]]:
        scored = _scored(ctx, LIVE_PREDICTIONS, _live_target_slots())
        return scored, _chunks(
            ctx, LIVE_PREDICTIONS, (LIVE_PREDICTIONS, LIVE_FEATURES, LIVE_LABELS)
        )

    return ctx.engine.memo((STAGE, "live"), compute)


def _chunks(ctx: StageContext, base: str, timestamp_slots: tuple[str, ...]) -> list[Chunk]:
    """Live rows cut by `chunk:`: `size` rows in file order, or calendar periods (`every`)."""
    config = ctx.config.chunk
    n = ctx.engine.num_rows(base)
    if config is None:
        return []
    if config.size is not None:
        return size_chunks(n, config.size)
    column = ctx.columns.timestamp
    stamps = _lookup(ctx, base, column, timestamp_slots) if column else None
    if stamps is None:
        raise InputError(
            f"`chunk: {{every: {config.every}}}` needs columns.timestamp in {base} or a table "
            "matched to it on the key"
        )
    return time_chunks(epoch_ticks(stamps, f"{base}: {column!r}"), chunk_seconds(config.every))


def size_chunks(n: int, size: int) -> list[Chunk]:
    """Consecutive chunks of `size` rows; start/end are row indices, end exclusive."""
    return [Chunk(s, min(s + size, n), np.arange(s, min(s + size, n))) for s in range(0, n, size)]


@dataclass(frozen=True)
class Ticks:
    """Instants as int64 ticks since the epoch (UTC) in the column's own unit. Never floats: a
    float64 holds integers exactly only up to 2**53, which every current nanosecond is beyond."""

    ticks: np.ndarray  # int64; 0 where the time is unknown
    known: np.ndarray  # bool
    per_second: int


def time_chunks(times: Ticks, width_s: int) -> list[Chunk]:
    """Calendar chunks of `width_s` seconds (weeks start on Monday); rows without a time are left
    out. start/end are ISO timestamps (UTC), end exclusive; empty periods are not listed."""
    origin_s = WEEK_ORIGIN_S if width_s % WEEK_S == 0 else 0
    known = np.flatnonzero(times.known)
    period = _periods(times.ticks[known], width_s * times.per_second, origin_s * times.per_second)
    order = _stable_order(period)  # stable: rows keep file order within a chunk
    ordered = period[order]
    first = np.flatnonzero(np.diff(ordered, prepend=ordered[:1] - 1))  # where a period starts
    periods = ordered[first]
    bounds = [*first.tolist(), len(order)]
    return [
        Chunk(_iso(origin_s + p * width_s), _iso(origin_s + (p + 1) * width_s), known[order[a:b]])
        for p, a, b in zip(periods.tolist(), bounds[:-1], bounds[1:], strict=True)
    ]


def _periods(ticks: np.ndarray, width: int, origin: int) -> np.ndarray:
    """floor((ticks - origin) / width) in int64 without overflow at the ends of the int64 range:
    ticks = q·width + r with 0 <= r < width, and origin < width, so r - origin cannot overflow."""
    q, r = np.divmod(ticks, np.int64(width))
    return q + (r - np.int64(origin)) // np.int64(width)


def _stable_order(period: np.ndarray) -> np.ndarray:
    """A stable argsort of period numbers. Numbered from the first period they span a few
    thousand values at most (weeks of decades), which numpy sorts by radix in linear time."""
    if len(period) == 0:
        return np.arange(0)
    offset = period - period.min()
    if offset.max() < np.iinfo(np.int16).max:
        offset = offset.astype(np.int16)
    return np.argsort(offset, kind="stable")


def _iso(seconds: int) -> str:
    return str(np.datetime64(seconds, "s"))  # Python int: no overflow for any period bound


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def epoch_ticks(values: pa.ChunkedArray, what: str) -> Ticks:
    """A timestamp, date or ISO-8601 text column as integer ticks since the epoch (UTC)."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = _parse_times(values, what)
    elif pa.types.is_date32(kind):
        values = values.cast(pa.timestamp("s"))  # days of +-5.8 million years fit in seconds
    elif pa.types.is_date64(kind):
        values = values.cast(pa.timestamp("ms"))
    elif not pa.types.is_timestamp(values.type):
        raise InputError(f"{what} must be a timestamp, a date or ISO-8601 text, not {kind}")
    ticks = values.cast(pa.int64())  # zone-aware timestamps are stored as UTC instants
    known = np.asarray(pc.is_valid(ticks).to_numpy(zero_copy_only=False), dtype=bool)
    as_int = np.asarray(ticks.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return Ticks(as_int, known, _PER_SECOND[values.type.unit])


def _parse_times(values: pa.ChunkedArray, what: str) -> pa.ChunkedArray:
    # Naive text first; text with offsets ("Z", "+01:00") parses as UTC.
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            return values.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    sample = values.drop_null()[0].as_py() if values.null_count < len(values) else ""
    raise InputError(f"{what}: cannot read {sample!r} as an ISO-8601 timestamp")


# --------------------------------------------------------------------------- baseline


def _metric(ctx: StageContext) -> Metric:
    try:
        return metric_info(ctx.task, ctx.config.metric)
    except ValueError as exc:
        where = ctx.checklist.lines.get("stages.performance_drop.metric")
        raise ChecklistError(
            [f"line {where}: {exc}" if where else str(exc)], path=ctx.checklist.source_file
        ) from None


@dataclass(frozen=True)
class Baseline:
    value: float
    estimate: Estimate | None
    source: str


def _baseline(ctx: StageContext, metric: Metric) -> Baseline:
    research = _perf_data(ctx, metric).research
    if ctx.config.baseline is not None:
        return Baseline(float(ctx.config.baseline), None, "checklist `baseline:`")
    assert research is not None  # skip_reason guarantees research labels or a baseline
    outcomes = research.scored.outcomes(research.baseline_rows)
    found = _interval(ctx, metric, outcomes, "baseline")
    return Baseline(found.value, found, f"{research.baseline_from} ({len(outcomes)} rows)")


def _interval(ctx: StageContext, metric: Metric, outcomes: Outcomes, tag: str) -> Estimate:
    config = ctx.config
    seed = ctx.rng_seed("PERF001", tag)
    return interval(metric, outcomes, config.confidence, resamples=config.bootstrap, seed=seed)


def _calibrator(ctx: StageContext) -> Calibrator | ClassCalibrators | None:
    """Isotonic calibration of research scores on the baseline rows: binary, or one-vs-rest per
    class column for multiclass (regression has none)."""

    def compute() -> Calibrator | ClassCalibrators | None:
        research = _research(ctx)
        if ctx.task == "regression" or research is None or len(research.baseline_rows) == 0:
            return None
        rows = research.baseline_rows
        score, target = research.scored.score[rows], research.scored.target[rows]
        if ctx.task == "multiclass":
            return fit_class_calibrators(score, target)
        return fit_calibrator(score, target)

    return ctx.engine.memo((STAGE, "calibrator"), compute)


def _live_probabilities(ctx: StageContext) -> np.ndarray | None:
    """Calibrated probabilities of every live row, computed once for the window and chunks."""

    def compute() -> np.ndarray | None:
        calibrator = _calibrator(ctx)
        return None if calibrator is None else calibrator(_live(ctx)[0].score)

    return ctx.engine.memo((STAGE, "live_probabilities"), compute)


# --------------------------------------------------------------------------- counted rows
#
# PERF001 and PERF005 ask the aggregate engine how many live (and research) rows carry each
# (chunk, score, decision, label) instead of reading whole columns (SPEC 7.1): one grouped
# count per side, the label and time looked up on the key where they live in another table.
# Everything those checks report for a binary model is a function of the multiset of these
# values per chunk (ranks and DeLong, confusion counts and Wilson, f1's multinomial bootstrap,
# the isotonic calibration and every CBPE estimate), so the groups are expanded back to one
# entry per row, in group order instead of file order, and handed to the same functions. Not
# counted (columns are still read): regression (the loss model learns from feature rows),
# multiclass (class ties read the label columns) and the metrics whose interval is a row
# bootstrap (its draws follow file order). Unsupported questions fall back the same way.

# Binary metrics whose value and interval do not depend on the order of rows.
COUNTED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class PerfData:
    """What PERF001 and PERF005 measure on: research (None: the checklist's baseline stands
    in), live rows and their chunks; `counted`: built from grouped counts."""

    research: Research | None
    live: Scored
    chunks: list[Chunk]
    counted: bool


def _perf_data(ctx: StageContext, metric: Metric | None) -> PerfData:
    """PERF001's data (`metric` given) or PERF005's (None: any binary metric may be counted)."""
    countable = ctx.task == "binary" and (metric is None or metric.name in COUNTED_METRICS)
    counted = _counted(ctx) if countable else None
    if counted is not None:
        return counted
    research = _research(ctx)  # research first: its input errors are named first, as before
    live, chunks = _live(ctx)
    return PerfData(research, live, chunks, counted=False)


def _counted(ctx: StageContext) -> PerfData | None:
    """Binary research and live rows from grouped counts; None where the engine cannot ask."""

    def compute() -> PerfData | None:
        from mlcheck.engines import Unsupported

        try:
            research = _counted_research(ctx)
            live = _counted_live(ctx) if research is not None else None
        except Unsupported:
            return None
        if research is None or live is None:
            return None
        return PerfData(research[0], live[0], live[1], counted=True)

    return ctx.engine.memo((STAGE, "counted"), compute)


def _source_of(ctx: StageContext, column: str | None, slots: tuple[str, ...]) -> str | None:
    """The first declared slot whose table has `column` (as `_lookup` reads it)."""
    if not column:
        return None
    agg = ctx.engine.aggregate
    for slot in slots:
        if ctx.declared(slot) and column in agg.schema(ctx.engine.relation(slot)).names:
            return slot
    return None


def _grouped(
    ctx: StageContext,
    base: str,
    columns: list[tuple[str, str]],
    chunk: Any = None,
    shape: Any = None,
) -> pa.Table | None:
    """Grouped counts of `base`'s rows; None (read rows instead) where a column lives in
    another slot but the key is missing or typed differently there."""
    slots = [*columns, *([chunk.time] if chunk is not None and chunk.time is not None else [])]
    names = _lookup_names(ctx, base, slots)
    if names is None:
        return None
    if chunk is not None and chunk.time is not None:
        chunk = replace(chunk, time=(names[chunk.time[0]], chunk.time[1]))
    asked = [(names[slot], column) for slot, column in columns]
    key = ctx.engine.key(base) or []
    return ctx.engine.aggregate.grouped_counts(names[base], key, asked, chunk, shape)


def _counted_scored(
    ctx: StageContext, base: str, table: pa.Table, named: dict[str, int]
) -> tuple[Scored, np.ndarray]:
    """The Scored rows of a grouped answer (groups expanded by their counts) and each group's
    first row; `named` says which answer column holds score, prediction, target."""
    counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)

    def column(role: str) -> pa.ChunkedArray | None:
        return table.column(f"c{named[role]}") if role in named else None

    score_name = ctx.columns.score_columns[0]
    score = _floats(column("score"), f"{base}: column {score_name!r}")[group]
    raw_target, raw_pred = column("target"), column("pred")
    target = _targets(raw_target, len(counts), base, _binary)[group]
    if raw_pred is not None:
        pred = _binary(raw_pred, f"{base}: {ctx.columns.prediction!r}")[group]
    else:
        pred = (score >= ctx.config.threshold).astype(np.float64)
    valid = np.isfinite(score) & np.isfinite(pred)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return Scored(score, pred, target, valid), starts


def _roles(
    ctx: StageContext, base: str, target_slots: tuple[str, ...]
) -> tuple[list[tuple[str, str]], dict[str, int]] | None:
    """The (slot, column) pairs to count and where each role lands; None when the score
    column is not in `base` (the row path names the problem)."""
    cols = ctx.columns
    if _source_of(ctx, cols.score_columns[0], (base,)) is None:
        return None
    asked, named = [(base, cols.score_columns[0])], {"score": 0}
    prediction = cols.prediction or ""
    if prediction:
        if _source_of(ctx, prediction, (base,)) is None:
            return None
        named["pred"] = len(asked)
        asked.append((base, prediction))
    target = cols.target or ""
    target_slot = _source_of(ctx, target, target_slots)
    if target_slot is not None:
        named["target"] = len(asked)
        asked.append((target_slot, target))
    return asked, named


def _counted_live(ctx: StageContext) -> tuple[Scored, list[Chunk]] | None:
    roles = _roles(ctx, LIVE_PREDICTIONS, _live_target_slots())
    chunking = _chunking(ctx)
    if roles is None or chunking is False:
        return None
    asked, named = roles
    table = _grouped(ctx, LIVE_PREDICTIONS, asked, chunking)
    if table is None:
        return None
    scored, starts = _counted_scored(ctx, LIVE_PREDICTIONS, table, named)
    if chunking is None:
        return scored, []
    return scored, _counted_chunks(ctx, table.column("chunk"), starts, chunking)


def _chunking(ctx: StageContext) -> Any:
    """The engine's chunking of live predictions; None without chunks, False where the row
    path must cut them (no timestamp column, or one that is not a timestamp or date)."""
    from mlcheck.engines.base import Chunking

    config = ctx.config.chunk
    if config is None:
        return None
    if config.size is not None:
        return Chunking(size=config.size)
    column = ctx.columns.timestamp
    slot = _source_of(ctx, column, (LIVE_PREDICTIONS, LIVE_FEATURES, LIVE_LABELS))
    if slot is None or column is None:
        return False
    kind = ctx.engine.aggregate.schema(ctx.engine.relation(slot)).field(column).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return False
    width = chunk_seconds(config.every)
    origin = WEEK_ORIGIN_S if width % WEEK_S == 0 else 0
    return Chunking(time=(slot, column), width_s=width, origin_s=origin)


def _counted_chunks(
    ctx: StageContext, chunk_ids: pa.ChunkedArray, starts: np.ndarray, chunking: Any
) -> list[Chunk]:
    """Chunks of the expanded rows: groups are sorted by chunk, so a chunk's rows are one
    range (rows without a time, last, belong to none)."""
    known = np.asarray(chunk_ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    ids = np.asarray(chunk_ids.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    first = np.flatnonzero(known & np.diff(ids, prepend=ids[:1] - 1).astype(bool))
    last = np.append(first[1:], np.count_nonzero(known))[: len(first)]  # no rows: no chunk
    out = []
    for g0, g1 in zip(first.tolist(), last.tolist(), strict=True):  # chunks, not rows
        c, rows = int(ids[g0]), np.arange(starts[g0], starts[g1])
        if chunking.size is not None:
            size, n = chunking.size, int(starts[-1])
            out.append(Chunk(c * size, min((c + 1) * size, n), rows))
        else:
            width, origin = chunking.width_s, chunking.origin_s
            out.append(Chunk(_iso(origin + c * width), _iso(origin + (c + 1) * width), rows))
    return out


def _counted_research(ctx: StageContext) -> tuple[Research | None] | None:
    """Research rows as `_research` defines them, from a grouped count of (score, decision,
    target, split); a 1-tuple (its Research may be None), or None to read rows instead."""
    if not ctx.declared(RESEARCH_PREDICTIONS) or not ctx.columns.target:
        return (None,)
    roles = _roles(ctx, RESEARCH_PREDICTIONS, _research_target_slots())
    if roles is None:
        return None
    asked, named = roles
    split_column = ctx.columns.split or "split"
    split_slot = _source_of(
        ctx, split_column, ("research.splits", RESEARCH_PREDICTIONS, RESEARCH_FEATURES)
    )
    if split_slot is not None:
        named["split"] = len(asked)
        asked.append((split_slot, split_column))
    table = _grouped(ctx, RESEARCH_PREDICTIONS, asked)
    if table is None:
        return None
    scored, starts = _counted_scored(ctx, RESEARCH_PREDICTIONS, table, named)
    if np.isnan(scored.target).all():
        if ctx.config.baseline is not None:
            return (None,)
        raise InputError(
            f"columns.target {ctx.columns.target!r} has no values for research.predictions "
            "rows in research.labels, research.predictions or research.features"
        )
    labelled = scored.labelled
    if split_slot is not None:
        in_split = _bool_equal(table.column(f"c{named['split']}"), ctx.config.baseline_split)
        assert in_split is not None
        split = np.repeat(in_split, np.diff(starts))
        if (labelled & split).any():
            rows = np.flatnonzero(labelled & split)
            return (Research(scored, rows, f"research split {ctx.config.baseline_split!r}"),)
    return (Research(scored, np.flatnonzero(labelled), "all labelled research rows"),)


def _perf_calibrator(ctx: StageContext, data: PerfData) -> Calibrator | ClassCalibrators | None:
    """`_calibrator`, fitted on the counted research rows when the data is counted."""
    if not data.counted:
        return _calibrator(ctx)

    def compute() -> Calibrator | None:
        research = data.research
        if research is None or len(research.baseline_rows) == 0:
            return None
        rows = research.baseline_rows
        return fit_calibrator(research.scored.score[rows], research.scored.target[rows])

    return ctx.engine.memo((STAGE, "counted_calibrator"), compute)


def _perf_probabilities(ctx: StageContext, data: PerfData) -> np.ndarray | None:
    """`_live_probabilities` of the data's live rows."""
    if not data.counted:
        return _live_probabilities(ctx)

    def compute() -> np.ndarray | None:
        calibrator = _perf_calibrator(ctx, data)
        return None if calibrator is None else calibrator(data.live.score)

    return ctx.engine.memo((STAGE, "counted_probabilities"), compute)


# --------------------------------------------------------------------------- performance


@dataclass(frozen=True)
class Bar:
    """The line a live metric must not cross: baseline - max_drop (or + for lower-is-better)."""

    value: float
    higher_is_better: bool

    def beyond(self, x: float) -> bool:
        """Whether `x` is on the wrong side of the bar."""
        return x < self.value if self.higher_is_better else x > self.value

    def gap(self, x: float) -> float:
        return abs(self.value - x)


@dataclass(frozen=True)
class Judgement:
    status: str  # "pass" | "warn" | "fail" | "n/a"
    labels_needed: int | None = None


def judge(
    found: Estimate | None, bar: Bar, *, few_labels: bool, sole: bool, min_labels: int
) -> Judgement:
    """Fail when the whole interval is past the bar; warn when the point is past it but the
    interval is too wide to tell.

    `few_labels`: a realized metric on fewer than min_labels labels, which never fails (its
    interval is not trusted) and, when it is the `sole` evidence, also warns when its interval
    merely reaches past the bar: too few labels to tell either way.
    """
    if found is None or not math.isfinite(found.value):
        return Judgement("n/a")
    near_bound = found.upper if bar.higher_is_better else found.lower
    far_bound = found.lower if bar.higher_is_better else found.upper
    if math.isfinite(near_bound) and bar.beyond(near_bound):
        return Judgement("warn", min_labels) if few_labels else Judgement("fail")
    if bar.beyond(found.value):
        return Judgement("warn", _labels_to_tell(found, bar.gap(found.value)))
    if few_labels and sole and (not math.isfinite(far_bound) or bar.beyond(far_bound)):
        return Judgement("warn", max(min_labels, _labels_to_tell(found, bar.gap(found.value)) or 0))
    return Judgement("pass")


def _labels_to_tell(found: Estimate, gap: float) -> int | None:
    """Labels for an interval narrower than `gap`: half-widths shrink as 1/sqrt(n)."""
    half = found.half_width
    if not (math.isfinite(half) and half > 0 and gap > 0):
        return None
    return max(1, math.ceil(found.n * (half / gap) ** 2))


@dataclass(frozen=True)
class Assessment:
    """Realized and estimated metric on one set of live rows, and the verdict."""

    n: int
    n_labelled: int
    n_valid: int  # rows with a finite score (and decision)
    realized: Estimate | None
    estimated: Estimate | None
    basis: Estimate | None
    judgement: Judgement
    few_labels: bool = False  # the verdict rests on fewer than min_labels labels: never fails


def _assess(ctx: StageContext, metric: Metric, rows: np.ndarray, bar: Bar, tag: str) -> Assessment:
    scored = _perf_data(ctx, metric).live
    labelled = rows[scored.labelled[rows]]
    unlabelled = rows[scored.valid[rows] & ~scored.labelled[rows]]
    realized = _interval(ctx, metric, scored.outcomes(labelled), tag) if len(labelled) else None
    estimated = _estimate(ctx, metric, unlabelled, tag)
    min_labels = ctx.config.min_labels
    basis = _basis(realized, estimated, min_labels)
    few = basis is realized and len(labelled) < min_labels
    verdict = judge(basis, bar, few_labels=few, sole=True, min_labels=min_labels)
    valid = int(np.count_nonzero(scored.valid[rows]))
    return Assessment(len(rows), len(labelled), valid, realized, estimated, basis, verdict, few)


def _estimate(ctx: StageContext, metric: Metric, rows: np.ndarray, tag: str) -> Estimate | None:
    if ctx.task == "regression":
        return _estimate_loss(ctx, metric, rows)
    data = _perf_data(ctx, metric)
    probabilities = _perf_probabilities(ctx, data)
    if probabilities is None or len(rows) == 0:
        return None
    scored = data.live
    assert scored.pred is not None
    config = ctx.config
    return estimate(
        metric,
        scored.score[rows],
        scored.pred[rows],
        probabilities[rows],
        config.confidence,
        resamples=config.bootstrap,
        seed=ctx.rng_seed("PERF001", tag, "cbpe"),
    )


# --------------------------------------------------------------------------- regression (DLE)


def _estimate_loss(ctx: StageContext, metric: Metric, rows: np.ndarray) -> Estimate | None:
    """Direct loss estimation of MAE or RMSE on unlabelled live rows (regression only)."""
    model = _loss_model(ctx) if metric.name in ESTIMABLE_REGRESSION else None
    if model is None or len(rows) == 0:
        return None
    absolute, squared = _live_losses(ctx)
    return model.summarise(metric.name, absolute[rows], squared[rows], ctx.config.confidence)


def _live_losses(ctx: StageContext) -> tuple[np.ndarray, np.ndarray]:
    """Every live row's predicted |error| and error², once for the window and all chunks."""

    def compute() -> tuple[np.ndarray, np.ndarray]:
        model = _loss_model(ctx)
        assert model is not None
        return model.predict(_loss_inputs(ctx, 1))

    return ctx.engine.memo((STAGE, "live_losses"), compute)


def _loss_model(ctx: StageContext) -> LossModel | None:
    """Boosted trees of |error| and error² on the research baseline rows (held out from
    training, so their errors are honest), from the model features and the prediction."""

    def compute() -> LossModel | None:
        research = _research(ctx)
        if research is None or len(research.baseline_rows) < MIN_LOSS_ROWS:
            return None
        rows = research.baseline_rows
        inputs = _loss_inputs(ctx, 0)[rows]
        seed = ctx.rng_seed("PERF001", "dle")
        return fit_loss_model(inputs, research.scored.target[rows], seed=seed)

    return ctx.engine.memo((STAGE, "loss_model"), compute)


def _loss_inputs(ctx: StageContext, side: int) -> np.ndarray:
    """Inputs of the loss model on the rows of one side's predictions (0 research, 1 live):
    the model features (categories as codes shared by both sides, null as NaN) and, last, the
    prediction. Not kept: each side is needed once (fit, predict)."""
    names = _model_features(ctx) if ctx.declared(RESEARCH_FEATURES) else []
    columns = []
    for name in names if ctx.declared(LIVE_FEATURES) else []:  # columns, not rows
        pair = _loss_feature(ctx, name)
        if pair is not None:
            columns.append(pair[side])
    research = _research(ctx)
    assert research is not None
    columns.append(research.scored.score if side == 0 else _live(ctx)[0].score)
    return np.column_stack(columns)


def _loss_feature(ctx: StageContext, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    reference = _lookup(ctx, RESEARCH_PREDICTIONS, name, (RESEARCH_FEATURES,))
    live = _lookup(ctx, LIVE_PREDICTIONS, name, (LIVE_FEATURES,))
    if reference is None or live is None:
        return None
    kind = _kind(ctx, name, reference.type)
    if kind == "numeric":
        return _floats(reference, name), _floats(live, name)
    if kind != "categorical":
        return None
    _, ref_codes, live_codes = drift.shared_codes(reference, live)
    as_float = lambda codes: np.where(codes < 0, np.nan, codes).astype(np.float64)  # noqa: E731
    return as_float(ref_codes), as_float(live_codes)


def _basis(
    realized: Estimate | None, estimated: Estimate | None, min_labels: int
) -> Estimate | None:
    """What a verdict rests on: enough labels, else the estimate, else the few labels there are."""
    if realized is not None and math.isfinite(realized.value) and realized.n >= min_labels:
        return realized
    if estimated is not None and math.isfinite(estimated.value):
        return estimated
    return realized if realized is not None and math.isfinite(realized.value) else None


def _window(ctx: StageContext, metric: Metric, bar: Bar) -> tuple[Assessment, Judgement, Judgement]:
    """The whole live window: realized and estimated are judged separately (different rows)."""
    scored = _perf_data(ctx, metric).live
    whole = _assess(ctx, metric, np.arange(len(scored.valid)), bar, "window")
    min_labels = ctx.config.min_labels
    few = whole.n_labelled < min_labels
    sole = whole.estimated is None or not math.isfinite(whole.estimated.value)
    realized = judge(whole.realized, bar, few_labels=few, sole=sole, min_labels=min_labels)
    estimated = judge(whole.estimated, bar, few_labels=False, sole=True, min_labels=min_labels)
    return whole, realized, estimated


def drop_p_value(found: Estimate, bar: Bar) -> float:
    """One-sided p-value of "the metric is beyond the bar" (a drop larger than max_drop) against
    "it is not", normal approximation: the test whose rejection at (1 - confidence) / 2 is the
    interval lying wholly beyond the bar. Proportions (Wilson) use the score test at the bar,
    the test the Wilson interval inverts; other metrics their standard error. NaN: untestable."""
    from scipy.special import ndtr  # normal cdf

    if not math.isfinite(found.value):
        return math.nan
    se = found.se
    if found.method == "wilson":
        if not 0 < bar.value < 1:  # a bar outside (0, 1) cannot be crossed by a proportion
            return 1.0
        se = math.sqrt(bar.value * (1 - bar.value) / found.n)
    if not math.isfinite(se):
        return math.nan
    margin = found.value - bar.value if bar.higher_is_better else bar.value - found.value
    if se == 0:
        return 0.0 if margin < 0 else 1.0
    return float(ndtr(margin / se))


@dataclass(frozen=True)
class ChunkTests:
    """One-sided drop tests of the chunks and pooled recent windows as one family:
    Benjamini-Hochberg across those that can fail (a verdict resting on fewer than min_labels
    labels never fails and is not counted), at alpha = (1 - confidence) / 2, the one-sided level
    of a single chunk's interval."""

    p_values: np.ndarray
    adjusted: np.ndarray
    alpha: float

    @property
    def tested(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.p_values)))

    def describe(self) -> str:
        return (
            f"Benjamini-Hochberg across {self.tested} tests of chunks and recent chunks pooled: "
            f"each fails when its adjusted one-sided p < {self.alpha:g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"method": "benjamini-hochberg", "tested": self.tested, "alpha": self.alpha}


def chunk_tests(assessed: list[Assessment], bar: Bar, confidence: float) -> ChunkTests:
    """Each chunk's drop test, adjusted for the number of chunks tested."""
    p = np.array(
        [
            math.nan if a.basis is None or a.few_labels else drop_p_value(a.basis, bar)
            for a in assessed  # chunks, not rows
        ],
        dtype=np.float64,
    )
    return ChunkTests(p, drift.benjamini_hochberg(p), (1 - confidence) / 2)


def settle(a: Assessment, p_adjusted: float, tests: ChunkTests, bar: Bar) -> Assessment:
    """A chunk's interval beyond the bar fails only when significant across chunks; otherwise
    its point is still beyond the bar: too few labels to tell (warn)."""
    if a.judgement.status != "fail" or (p_adjusted < tests.alpha):
        return a
    assert a.basis is not None  # a failing chunk has a basis
    needed = _labels_to_tell(a.basis, bar.gap(a.basis.value))
    return replace(a, judgement=Judgement("warn", needed))


def trailing_sizes(chunks: int) -> list[int]:
    """How many of the last chunks are pooled into a recent window: 2, 4, 8, ... up to half of
    them (recent means recent; each window costs a pass over its rows), fewer than all."""
    largest = max(2, chunks // 2)
    return [2**j for j in range(1, largest.bit_length())] if largest < chunks else []


@dataclass(frozen=True)
class ChunkVerdicts:
    """Every chunk and every recent window (the last 2, 4, 8, ... chunks pooled), judged as
    one family of drop tests: pooling recent chunks finds a drop confined to the last weeks
    that no single small week can show, and the adjustment keeps a hundred weeks from failing
    by chance."""

    rows: list[dict[str, Any]]
    recent: list[dict[str, Any]]
    judgements: list[Judgement]
    tests: ChunkTests

    def summary(self) -> str:
        failing = sum(r["status"] == "fail" for r in self.rows)
        pooled = [r["chunks"] for r in self.recent if r["status"] == "fail"]
        late = f" and the last {min(pooled)} chunks together" if pooled else ""
        return (
            f"{failing} of {len(self.rows)} chunks{late} significantly below the bar "
            f"({self.tests.describe()})"
        )


def _chunk_verdicts(ctx: StageContext, metric: Metric, bar: Bar) -> ChunkVerdicts:
    chunks = _perf_data(ctx, metric).chunks
    assessed = [_assess(ctx, metric, c.rows, bar, f"chunk{i}") for i, c in enumerate(chunks)]
    sizes = trailing_sizes(len(chunks))
    pooled = [
        _assess(ctx, metric, np.concatenate([c.rows for c in chunks[-k:]]), bar, f"last{k}")
        for k in sizes  # a few windows, not rows
    ]
    tests = chunk_tests([*assessed, *pooled], bar, ctx.config.confidence)
    p, m = tests.adjusted, len(chunks)
    settled = [settle(a, q, tests, bar) for a, q in zip([*assessed, *pooled], p, strict=True)]
    rows = [_chunk_row(*row) for row in zip(chunks, settled[:m], p[:m], strict=True)]
    recent = [
        {"chunks": k, **_chunk_row(replace(chunks[-k], end=chunks[-1].end), a, q)}
        for k, a, q in zip(sizes, settled[m:], p[m:], strict=True)
    ]
    return ChunkVerdicts(rows, recent, [a.judgement for a in settled], tests)


def _chunk_row(chunk: Chunk, a: Assessment, p_adjusted: float) -> dict[str, Any]:
    basis = a.basis
    return {
        "start": chunk.start,
        "end": chunk.end,
        "n": a.n,
        "n_labelled": a.n_labelled,
        "realized": _value(a.realized),
        "estimated": _value(a.estimated),
        "lower": None if basis is None else _finite(basis.lower),
        "upper": None if basis is None else _finite(basis.upper),
        "p_adjusted": _finite(p_adjusted),
        "status": a.judgement.status,
    }


def _value(found: Estimate | None) -> float | None:
    return None if found is None else _finite(found.value)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL}


@check("PERF001", STAGE, thresholds=("max_drop", "confidence", "min_labels"))
def live_performance(ctx: StageContext) -> Iterator[Finding]:
    """Live performance against the research baseline (realized and estimated, per chunk).

    Measures: the metric (`metric:`, default roc_auc / accuracy / rmse by task) on the research
    baseline split, then on live traffic: *realized* on live rows that have labels, with a
    confidence interval (DeLong for ROC AUC, Wilson for accuracy/precision/recall, a seeded
    bootstrap otherwise); *estimated* on live rows without labels by confidence-based
    performance estimation for binary and multiclass models: research scores are calibrated on
    research labels with isotonic regression (multiclass: one-vs-rest per class column, rows
    renormalised) and the expected metric is computed from the calibrated probabilities, with
    its sampling error; regression MAE/RMSE by direct loss estimation (boosted trees of the
    research errors, from features and prediction). Both for the whole window and for each
    chunk, and for the last 2, 4, 8, ... chunks pooled.
    Fails when a metric's whole interval lies beyond baseline - max_drop (+ for error
    metrics): a drop larger than tolerated that sampling error cannot explain. Chunks and pooled
    recent chunks are one family: each one-sided p-value of such a drop is adjusted by
    Benjamini-Hochberg, so a hundred weekly chunks do not fail by chance. Warns when the point
    is beyond the bar but the evidence is too thin, and says how many labels would settle it.
    Why: a model is only ready if it still performs on the traffic it serves; a drop confined
    to recent weeks hides in an overall average, hence chunks.
    Usual causes: concept drift (the input-outcome relation changed: PERF005/PERF006),
    covariate drift into regions the model handles badly (PERF002), a broken live feature.
    Estimates assume no concept drift: labels are the only proof against it.
    Fix: find when it started (details.chunks), check the drift checks for why, then retrain
    on recent labelled data or recalibrate; collect labels if the verdict is "too few".
    """
    metric = _metric(ctx)
    baseline = _baseline(ctx, metric)
    if not math.isfinite(baseline.value):
        yield _undefined_baseline(metric, baseline)
        return
    limit = ctx.config.max_drop
    bar = Bar(
        baseline.value - limit if metric.higher_is_better else baseline.value + limit,
        metric.higher_is_better,
    )
    whole, realized, estimated = _window(ctx, metric, bar)
    found = _chunk_verdicts(ctx, metric, bar)
    judgements = [realized, estimated, *found.judgements]
    status = worst([_STATUS[j.status] for j in judgements if j.status in _STATUS])
    if whole.basis is None:  # nothing measured or estimated: the gate cannot tell
        status = Status.WARN
    rows = found.rows
    unestimable = regression_labels_needed(ctx, baseline, whole)
    if unestimable is not None:
        judgements.append(Judgement("warn", unestimable))
    yield Finding(
        status,
        _performance_message(metric, baseline, bar, whole, found)
        # the regression note already names the labels needed; otherwise the general one
        + (_unestimable_note(metric, ctx.config.max_drop, unestimable) or _labels_note(judgements)),
        source=LIVE_PREDICTIONS,
        observed=_value(whole.basis),
        expected=baseline.value,
        threshold=bar.value,
        hint=_performance_hint(status, whole),
        details={
            **_performance_details(metric, baseline, whole, judgements, rows),
            "recent": found.recent,
            "chunk_tests": found.tests.to_dict() if rows else None,
        },
    )


def _performance_details(
    metric: Metric,
    baseline: Baseline,
    whole: Assessment,
    judgements: list[Judgement],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    needed = [j.labels_needed for j in judgements if j.labels_needed is not None]
    return {
        "metric": metric.name,
        "higher_is_better": metric.higher_is_better,
        "baseline": _baseline_details(baseline),
        "realized": whole.realized.to_dict() if whole.realized else None,
        "estimated": whole.estimated.to_dict() if whole.estimated else None,
        "realized_status": judgements[0].status,
        "estimated_status": judgements[1].status,
        # Labels that would settle the least certain warning (window or chunk).
        "labels_needed": max(needed) if needed else None,
        "n": whole.n,
        "n_labelled": whole.n_labelled,
        "chunks": rows,
    }


def _undefined_baseline(metric: Metric, baseline: Baseline) -> Finding:
    return Finding(
        Status.WARN,
        f"the baseline {metric.name} cannot be computed on the {baseline.source}",
        source=RESEARCH_PREDICTIONS,
        hint="The baseline rows need both classes (and finite scores); give `baseline:` in the "
        "checklist or declare research labels that cover the baseline split.",
        details={"baseline": _baseline_details(baseline)},
    )


def _baseline_details(baseline: Baseline) -> dict[str, Any]:
    found = baseline.estimate.to_dict() if baseline.estimate else {"value": baseline.value}
    return {**found, "source": baseline.source}


def _describe(name: str, found: Estimate | None, rows: str) -> str:
    if found is None or not math.isfinite(found.value):
        return f"{name} n/a"
    ci = f" [{found.lower:.3f}, {found.upper:.3f}]" if math.isfinite(found.half_width) else ""
    return f"{name} {found.value:.3f}{ci} on {found.n} {rows}"


def _performance_message(
    metric: Metric,
    baseline: Baseline,
    bar: Bar,
    whole: Assessment,
    found: ChunkVerdicts,
) -> str:
    realized = _describe("realized", whole.realized, "labelled rows")
    estimated = _describe("estimated", whole.estimated, "unlabelled rows")
    chunks = f"; {found.summary()}" if found.rows else ""
    side = "min" if bar.higher_is_better else "max"
    return (
        f"{metric.name}: {realized}, {estimated}; baseline {baseline.value:.3f} "
        f"({side} {bar.value:.3f}){chunks}"
    )


def _performance_hint(status: Status, whole: Assessment) -> str | None:
    if status is Status.PASS:
        return None
    if whole.basis is None:
        return _no_metric_hint(whole)
    if status is Status.WARN:
        return (
            "Too few labels to tell whether the drop is real: collect as many labelled live rows "
            "as the message names (in the window or chunk that warned) and run again."
        )
    return (
        "Live performance is significantly below the baseline: the per-chunk table shows when "
        "it started and the drift checks (PERF002-PERF006) why; retrain or recalibrate on "
        "recent labelled data."
    )


def _labels_note(judgements: list[Judgement]) -> str:
    """How many labelled rows would settle the least certain warning (window or chunk)."""
    needed = [j.labels_needed for j in judgements if j.labels_needed is not None]
    return f"; about {max(needed):,} labelled live rows would settle it" if needed else ""


def regression_labels_needed(
    ctx: StageContext, baseline: Baseline, whole: Assessment
) -> int | None:
    """For a regression model short of min_labels live labels (nothing estimates its error
    without them): the labelled rows whose interval would be no wider than max_drop, sized from
    the baseline's own spread, n_b · (z · se_b / max_drop)²; None when not applicable."""
    found = baseline.estimate
    if ctx.task != "regression" or whole.n_labelled >= ctx.config.min_labels:
        return None
    if whole.estimated is not None and math.isfinite(whole.estimated.value):
        return None  # estimated without labels (DLE)
    if found is None or not (math.isfinite(found.se) and found.se > 0):
        return None
    z, limit = z_value(ctx.config.confidence), ctx.config.max_drop
    if limit <= 0:
        return None
    return max(ctx.config.min_labels, math.ceil(found.n * (z * found.se / limit) ** 2))


def _unestimable_note(metric: Metric, max_drop: float, needed: int | None) -> str:
    if needed is None:
        return ""
    return (
        f"; a regression model's {metric.name} cannot be estimated without labels: about "
        f"{needed:,} labelled live rows would tell a change of {max_drop:g}"
    )


def _no_metric_hint(whole: Assessment) -> str:
    if whole.n_valid == 0:
        return (
            "production.live.predictions has no row with a finite score: check the live "
            "predictions file (stage prediction_mismatch names invalid outputs)."
        )
    if whole.realized is None and whole.estimated is None:
        return (
            "No live labels, and this task's performance cannot be estimated without them: "
            "label a sample of live traffic (`mlcheck labels-needed` sizes it)."
        )
    return (
        "The live rows do not define the metric (for ROC AUC, the labelled rows hold one class "
        "only, or too few rows to estimate): collect more labelled live rows."
    )


# --------------------------------------------------------------------------- drift machinery


DriftResult = drift.NumericDrift | drift.CategoricalDrift | None


@dataclass(frozen=True)
class Comparison:
    """Research reference against subsets of live rows, for one numeric or categorical column.

    `windows(list of row arrays)` measures the whole window and every chunk in one go, so the
    data is prepared once per column and only while that column is measured.
    """

    kind: str  # "numeric" | "categorical"
    windows: Callable[[list[np.ndarray]], list[DriftResult]]
    changes: Callable[[np.ndarray, int], list[dict[str, Any]]] | None = None
    # Whether an effect is large enough to matter; default: the drift_* thresholds.
    material: Callable[[Any, Any], bool] | None = None
    # Numeric only: research vs live counts on shared bins of the given live rows (for plots).
    histogram: Callable[[np.ndarray], dict[str, Any]] | None = None
    # Numeric drift measured on a rank grid (a side past drift.DRIFT_GRID values): its bounds.
    approximation: dict[str, Any] | None = None

    def measure(self, rows: np.ndarray) -> DriftResult:
        return self.windows([rows])[0]


# A column's values, or a function giving them: large inputs are fetched when measured, so the
# columns of a wide table are never all converted at once.
Values = Any


def _fetch(values: Values) -> Any:
    return values() if callable(values) else values


def _numeric_comparison(reference: Values, live: Values) -> Comparison:
    def windows(rows: list[np.ndarray]) -> list[DriftResult]:
        prepared = drift.NumericReference(drift.finite_sorted(_fetch(reference)))
        return list(drift.measure_windows(prepared, _fetch(live), rows))

    def histogram(rows: np.ndarray) -> dict[str, Any]:
        return plot_histogram(_fetch(reference), np.asarray(_fetch(live))[rows])

    return Comparison("numeric", windows, histogram=histogram)


PLOT_BINS = 20


def plot_histogram(reference: np.ndarray, live: np.ndarray) -> dict[str, Any]:
    """Research and live counts of finite values on shared bins, for the HTML report's plots.

    Equal-width bins over the 1st-99th percentiles of both samples (integers with a range of at
    most PLOT_BINS get one bin per value); the end bins also hold the tails beyond them.
    """
    ref, cur = (np.asarray(v, dtype=np.float64) for v in (reference, live))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return {"edges": [], "research": [], "live": []}
    with np.errstate(over="ignore", invalid="ignore"):  # spans of extreme values overflow
        # Order statistics (no interpolation), so values near the float limits stay finite.
        ref_q, cur_q = (np.quantile(v, [0.01, 0.99], method="inverted_cdf") for v in (ref, cur))
        low, high = min(ref_q[0], cur_q[0]), max(ref_q[1], cur_q[1])
        whole = all(np.array_equal(v, np.round(v)) for v in (ref, cur))
        if whole and high - low <= PLOT_BINS:
            edges = np.arange(np.floor(low) - 0.5, np.ceil(high) + 1.0)
        elif high > low:
            t = np.linspace(0.0, 1.0, PLOT_BINS + 1)
            edges = np.clip(low * (1.0 - t) + high * t, low, high)
        else:
            edges = np.array([low, low + 1.0])
    # A bin per value by searching the inner edges: the tails land in the end bins.
    size = len(edges) - 1
    counts = [
        np.bincount(np.searchsorted(edges[1:-1], v, "right"), minlength=size) for v in (ref, cur)
    ]
    return {"edges": edges, "research": counts[0], "live": counts[1]}


def _categorical_comparison(reference: Values, live: Values) -> Comparison:
    coded: list[tuple[pa.Array, np.ndarray, np.ndarray]] = []  # computed once, on first use

    def codes() -> tuple[pa.Array, np.ndarray, np.ndarray]:
        if not coded:
            dictionary, ref_codes, live_codes = drift.shared_codes(_fetch(reference), _fetch(live))
            ref_counts = drift.category_counts(ref_codes, len(dictionary))
            coded.append((dictionary, ref_counts, live_codes.astype(np.int32)))
        return coded[0]

    def windows(rows: list[np.ndarray]) -> list[DriftResult]:
        dictionary, ref_counts, live_codes = codes()
        size = len(dictionary)
        return [
            drift.categorical_drift(ref_counts, drift.category_counts(live_codes[r], size))
            for r in rows
        ]

    def changes(rows: np.ndarray, limit: int) -> list[dict[str, Any]]:
        dictionary, ref_counts, live_codes = codes()
        live_counts = drift.category_counts(live_codes[rows], len(dictionary))
        return _share_changes(dictionary, ref_counts, live_counts, limit)

    return Comparison("categorical", windows, changes)


def _share_changes(
    dictionary: pa.Array, reference: np.ndarray, live: np.ndarray, limit: int
) -> list[dict[str, Any]]:
    """The categories whose share moved most (ties by category), research vs live."""
    if reference.sum() == 0 or live.sum() == 0:
        return []
    ref_share, live_share = reference / reference.sum(), live / live.sum()
    # Rank names in Arrow, so a million categories never become Python strings.
    name_rank = np.empty(len(dictionary), dtype=np.int64)
    name_rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    order = np.lexsort((name_rank, -np.abs(live_share - ref_share)))[:limit]
    names = dictionary.take(pa.array(order)).to_pylist()
    return [
        {"category": name, "research_share": ref_share[i], "live_share": live_share[i]}
        for name, i in zip(names, order, strict=True)  # at most `limit` categories, not rows
    ]


def _effect(result: drift.NumericDrift | drift.CategoricalDrift) -> float:
    return result.wasserstein if isinstance(result, drift.NumericDrift) else result.jensen_shannon


def _material(result: drift.NumericDrift | drift.CategoricalDrift, config: Any) -> bool:
    return drift.material(
        result,
        wasserstein=config.drift_wasserstein,
        jensen_shannon=config.drift_jensen_shannon,
        psi=config.drift_psi,
    )


@dataclass(frozen=True)
class DriftOutcome:
    comparison: Comparison
    result: drift.NumericDrift | drift.CategoricalDrift | None
    p_adjusted: float
    drifted: bool
    chunks: list[dict[str, Any]]
    severity: Status


def _drift_family(
    ctx: StageContext,
    comparisons: dict[str, Comparison],
    eligible: np.ndarray,
    chunks: list[Chunk],
    severity: dict[str, Status],
) -> dict[str, DriftOutcome]:
    """Window and per-chunk drift of several columns; BH over the columns' window tests, and
    separately over all (column, chunk) tests. Drift = material effect AND adjusted p < alpha."""
    rows = np.flatnonzero(eligible)
    parts = [chunk.rows[eligible[chunk.rows]] for chunk in chunks]
    # A column per thread: the window and its chunks measured together, the data prepared once.
    measured = parallel_map(lambda comp: comp.windows([rows, *parts]), list(comparisons.values()))
    return _judge(ctx, comparisons, measured, chunks, [len(p) for p in parts], severity)


def _judge(
    ctx: StageContext,
    comparisons: dict[str, Comparison],
    measured: list[list[DriftResult]],
    chunks: list[Chunk],
    sizes: list[int],
    severity: dict[str, Status],
) -> dict[str, DriftOutcome]:
    """Verdicts on measured columns (each: the window, then every chunk): BH over the columns'
    window tests, and separately over all (column, chunk) tests."""
    config = ctx.config
    window = {name: found[0] for name, found in zip(comparisons, measured, strict=True)}
    adjusted = dict(
        zip(window, drift.benjamini_hochberg([_p(r) for r in window.values()]), strict=True)
    )
    per_chunk = {name: found[1:] for name, found in zip(comparisons, measured, strict=True)}
    flat = drift.benjamini_hochberg([_p(r) for results in per_chunk.values() for r in results])
    out = {}
    for i, (name, comp) in enumerate(comparisons.items()):  # columns, not rows
        chunk_p = flat[i * len(chunks) : (i + 1) * len(chunks)]
        listed = [
            _drift_chunk(comp, c, n, r, q, config, severity[name])
            for c, n, r, q in zip(chunks, sizes, per_chunk[name], chunk_p, strict=True)
        ]
        result = window[name]
        drifted = _drifts(comp, result, adjusted[name], config)
        out[name] = DriftOutcome(comp, result, adjusted[name], drifted, listed, severity[name])
    return out


def _p(result: drift.NumericDrift | drift.CategoricalDrift | None) -> float:
    return math.nan if result is None else result.p_value


def _drifts(comparison: Comparison, result: Any, p_adjusted: float, config: Any) -> bool:
    material = comparison.material or _material
    return result is not None and p_adjusted < config.drift_alpha and material(result, config)


def _drift_chunk(
    comparison: Comparison,
    chunk: Chunk,
    n: int,
    result: Any,
    p_adjusted: float,
    config: Any,
    severity: Status,
) -> dict[str, Any]:
    drifted = _drifts(comparison, result, p_adjusted, config)
    status = "n/a" if result is None else (severity.value if drifted else "pass")
    return {
        "start": chunk.start,
        "end": chunk.end,
        "n": n,
        "statistic": None if result is None else _effect(result),
        "p_value": None if result is None else _finite(p_adjusted),
        "status": status,
    }


def _outcome_status(outcome: DriftOutcome) -> Status:
    chunk_drift = any(c["status"] == outcome.severity.value for c in outcome.chunks)
    return outcome.severity if outcome.drifted or chunk_drift else Status.PASS


def _drift_details(outcome: DriftOutcome, extra: dict[str, Any], examples: int) -> dict[str, Any]:
    result = outcome.result
    details: dict[str, Any] = {"kind": outcome.comparison.kind, **extra}
    if isinstance(result, drift.NumericDrift):
        details.update(wasserstein_sd=result.wasserstein, ks=result.ks)
    elif isinstance(result, drift.CategoricalDrift):
        details.update(
            jensen_shannon=result.jensen_shannon,
            psi=result.psi,
            max_share_change=result.max_share_change,
            chi_square=result.chi_square,
            dof=result.dof,
        )
    if result is not None:
        details.update(
            p_value=result.p_value,
            p_adjusted=_finite(outcome.p_adjusted),
            n_reference=result.n_reference,
            n_live=result.n_live,
        )
    return {**details, "chunks": outcome.chunks}


def _drift_message(name: str, outcome: DriftOutcome) -> str:
    result = outcome.result
    if result is None:
        return f"{name}: no values to compare"
    if isinstance(result, drift.NumericDrift):
        effect = f"Wasserstein {result.wasserstein:.3g} research sd, KS {result.ks:.3g}"
    else:
        effect = f"Jensen-Shannon {result.jensen_shannon:.3g}, PSI {result.psi:.3g}"
    moved = sum(c["status"] == outcome.severity.value for c in outcome.chunks)
    verdict = "drifted" if outcome.drifted else ("drifted in some chunks" if moved else "no drift")
    chunks = f" ({moved} of {len(outcome.chunks)} chunks)" if outcome.chunks else ""
    return f"{name}: {verdict}{chunks}; {effect}, adjusted p {outcome.p_adjusted:.2g}"


# --------------------------------------------------------------------------- covariate drift


def _model_features(ctx: StageContext) -> list[str]:
    research = ctx.engine.schema(RESEARCH_FEATURES).names
    live = set(ctx.engine.schema(LIVE_FEATURES).names)
    cols = ctx.columns
    if cols.features:
        names = list(cols.features)
    else:
        excluded = (
            cols.role_columns() | set(cols.ignore) | set(ctx.engine.key(RESEARCH_FEATURES) or [])
        )
        names = [c for c in research if c not in excluded]
    # A feature missing on either side is variable_availability's finding, not drift.
    return [c for c in names if c in research and c in live]


def _kind(ctx: StageContext, name: str, kind: pa.DataType) -> str | None:
    if pa.types.is_nested(kind):
        return None  # lists and records, even declared categorical: no distribution to compare
    if (
        name in ctx.columns.categorical
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_dictionary(kind)
        or pa.types.is_boolean(kind)
    ):
        return "categorical"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    return None  # timestamps, nested types: not compared as distributions


def _require_live_kind(name: str, kind: str, live: pa.DataType) -> None:
    """Live must hold the kind research's type gives the feature (the engines' counts would
    fail to cast a list or text as a number): a clear input error, not a crashed check."""
    numeric = (
        pa.types.is_integer(live)
        or pa.types.is_floating(live)
        or pa.types.is_decimal(live)
        or pa.types.is_boolean(live)
    )
    if kind == "numeric" and not numeric:
        raise InputError(
            f"{LIVE_FEATURES}: feature '{name}' must be numeric, but its type is {live}"
        )
    if kind == "categorical" and pa.types.is_nested(live):
        raise InputError(
            f"{LIVE_FEATURES}: feature '{name}' must be a category, but its type is {live}"
        )


def importance_shares(importance: dict[str, float] | None) -> dict[str, float]:
    """Each feature's share of the total absolute importance."""
    if not importance:
        return {}
    total = sum(abs(v) for v in importance.values())
    return {k: (abs(v) / total if total > 0 else 0.0) for k, v in importance.items()}


def _feature_drift(ctx: StageContext) -> dict[str, tuple[DriftOutcome, float | None]]:
    def compute() -> dict[str, tuple[DriftOutcome, float | None]]:
        if not (ctx.declared(RESEARCH_FEATURES) and ctx.declared(LIVE_FEATURES)):
            return {}
        agg = ctx.engine.aggregate
        research, live = ctx.engine.relation(RESEARCH_FEATURES), ctx.engine.relation(LIVE_FEATURES)
        research_schema, live_schema = agg.schema(research), agg.schema(live)
        kinds = {
            name: kind
            for name in _feature_names(ctx, research_schema, live_schema)  # columns, not rows
            if (kind := _kind(ctx, name, research_schema.field(name).type)) is not None
        }
        for name, kind in kinds.items():  # columns, not rows
            _require_live_kind(name, kind, live_schema.field(name).type)
        training = _training_rows(ctx)
        chunked = _live_chunks(ctx, LIVE_FEATURES, (LIVE_FEATURES, LIVE_PREDICTIONS, LIVE_LABELS))
        rows = max(agg.num_rows(training.relation), agg.num_rows(live))
        numeric = [n for n, k in kinds.items() if k == "numeric"]
        jobs = [*sorting.batches(numeric, rows, drift.DRIFT_GRID)]
        jobs += [[n] for n, k in kinds.items() if k != "numeric"]
        found: dict[str, Comparison] = {}
        for part in parallel_map(
            lambda names: _compared(ctx, kinds, training, names, chunked), jobs
        ):
            found |= part  # a batch per thread: its values asked, statistics computed, dropped
        comparisons = {n: found[n] for n in kinds}
        shares = importance_shares(ctx.columns.importance)
        severity = {n: _importance_severity(ctx, shares, n) for n in kinds}
        family = _judged_family(ctx, comparisons, chunked, severity)
        return {n: (o, shares.get(n) if shares else None) for n, o in family.items()}

    return ctx.engine.memo((STAGE, "feature_drift"), compute)


def _feature_names(ctx: StageContext, research: pa.Schema, live: pa.Schema) -> list[str]:
    """Model features present on both sides (a missing one is variable_availability's)."""
    cols = ctx.columns
    if cols.features:
        names = list(cols.features)
    else:
        key = set(ctx.engine.key(RESEARCH_FEATURES) or [])
        excluded = cols.role_columns() | set(cols.ignore) | key
        names = [c for c in research.names if c not in excluded]
    return [c for c in names if c in research.names and c in live.names]


# A feature's values with their counts: `values` sorted (an Arrow array), `counts` int64.
Counted = tuple[pa.Array, np.ndarray]


@dataclass(frozen=True)
class TrainingRows:
    """Where research training rows are: the rows of `relation` whose `by` is in `groups`
    (every row when `by` is None)."""

    relation: str
    by: str | None
    groups: list[Any]

    def counts(self, ctx: StageContext, name: str, as_double: bool) -> Counted:
        found = ctx.engine.aggregate.counts(self.relation, [name], self.by, as_double)[name]
        return _merged(_in_groups(found, self.groups))

    def sorted(
        self, ctx: StageContext, names: list[str], grid: int | None = None
    ) -> dict[str, SortedValues]:
        """The features' finite training values in order (a rank grid past `grid`)."""
        grid = drift.DRIFT_GRID if grid is None else grid
        groups = None if self.by is None else self.groups
        found = ctx.engine.aggregate.sorted_values_many(self.relation, names, self.by, grid, groups)
        return {n: self._pooled(ctx, n, list(found[n].values())) for n in names}

    def _pooled(self, ctx: StageContext, name: str, parts: list[SortedValues]) -> SortedValues:
        """The training groups' values as one: grids of several groups do not add up (every
        value is asked again)."""
        if len(parts) <= 1:
            return parts[0] if parts else _NO_VALUES
        n = sum(p.n for p in parts)
        if not all(p.exact for p in parts):
            return self.sorted(ctx, [name], n)[name]
        return SortedValues(n, np.sort(np.concatenate([p.values for p in parts]), kind="stable"))


def _training_rows(ctx: StageContext) -> TrainingRows:
    """Research training rows (split == train_split, the split read from research.splits
    matched on the key, or from research.features), or every research row when no row is in
    that split."""
    agg = ctx.engine.aggregate
    research = ctx.engine.relation(RESEARCH_FEATURES)
    relation, split = _split_relation(ctx, research)
    if split is not None:
        present = agg.value_counts(relation, split).get(None, ())
        train = [v for v, _ in present if _as_split_name(v) == ctx.config.train_split]
        if train:
            return TrainingRows(relation, split, train)
    return TrainingRows(research, None, [None])


def _split_relation(ctx: StageContext, research: str) -> tuple[str, str | None]:
    """The relation holding research features and their split column, and that column."""
    column = ctx.columns.split or "split"
    agg = ctx.engine.aggregate
    splits = "research.splits"
    if ctx.declared(splits) and column in agg.schema(ctx.engine.relation(splits)).names:
        key = ctx.engine.key(RESEARCH_FEATURES) or ctx.engine.key(splits)
        if key is None:
            return research, None
        name = f"{STAGE}:research.features+splits"
        register = partial(agg.register_join, name, research, ctx.engine.relation(splits), key)
        ctx.engine.memo((STAGE, "relation", name), register)
        return name, column
    return research, (column if column in agg.schema(research).names else None)


def _as_split_name(value: Any) -> str | None:
    """A split value as the text it is compared with (as Arrow casts it)."""
    if value is None or isinstance(value, str):
        return value
    return pa.array([value]).cast(pa.string())[0].as_py()


def _in_groups(table: pa.Table, groups: list[Any]) -> pa.Table:
    if groups == [None]:
        return table
    return table.filter(pc.is_in(table.column("g"), pa.array(groups, table.column("g").type)))


def _merged(table: pa.Table) -> Counted:
    """(values, counts) of a (g, v, n) answer, equal values of several groups added up."""
    values = _decoded(table.column("v").combine_chunks())
    counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
    if (
        table.column("g").null_count == len(table)
        or pc.count_distinct(table.column("g")).as_py() <= 1
    ):
        return values, counts
    encoded = pc.dictionary_encode(values)
    order = pc.sort_indices(encoded.dictionary)
    total = np.bincount(
        encoded.indices.to_numpy(), weights=counts, minlength=len(encoded.dictionary)
    )
    return encoded.dictionary.take(order), total[order.to_numpy()].astype(np.int64)


def _decoded(values: pa.Array) -> pa.Array:
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


@dataclass(frozen=True)
class LiveChunks:
    """Live rows as the engine groups them: `relation` with a chunk number in `column` (None
    without `chunk:`), and each chunk's number, bounds and row count."""

    relation: str | None
    column: str
    numbers: list[int]
    chunks: list[Chunk]
    sizes: list[int]
    complete: bool = False  # every row is in a chunk: the window is the chunks together


_NO_ROWS = np.empty(0, dtype=np.int64)


def _live_chunks(ctx: StageContext, base: str, timestamp_slots: tuple[str, ...]) -> LiveChunks:
    """Rows of `base` cut by `chunk:` (`size` rows in file order, or calendar periods `every`
    of columns.timestamp), the chunk number computed by the engine."""

    def compute() -> LiveChunks:
        config = ctx.config.chunk
        column = "__mlcheck_chunk"
        if config is None:
            return LiveChunks(None, column, [], [], [])
        agg = ctx.engine.aggregate
        relation = ctx.engine.relation(base)
        name = f"{STAGE}:{base}:chunks"
        if config.size is not None:
            agg.register_chunks(name, relation, column, size=config.size)
            n = agg.num_rows(relation)
            starts = range(0, n, config.size)
            chunks = [Chunk(s, min(s + config.size, n), _NO_ROWS) for s in starts]
            sizes = [int(c.end) - int(c.start) for c in chunks]
            return LiveChunks(name, column, list(range(len(chunks))), chunks, sizes, True)
        _register_time_chunks(ctx, name, base, timestamp_slots, column)
        counted = agg.value_counts(name, column).get(None, ())
        numbers = sorted(int(p) for p, _ in counted)
        per_period = dict(counted)
        width = chunk_seconds(config.every)
        origin = WEEK_ORIGIN_S if width % WEEK_S == 0 else 0
        chunks = [
            Chunk(_iso(origin + p * width), _iso(origin + (p + 1) * width), _NO_ROWS)
            for p in numbers
        ]
        listed = [int(per_period[p]) for p in numbers]
        complete = sum(listed) == agg.num_rows(relation)
        return LiveChunks(name, column, numbers, chunks, listed, complete)

    return ctx.engine.memo((STAGE, "live chunks", base), compute)


def _register_time_chunks(
    ctx: StageContext, name: str, base: str, timestamp_slots: tuple[str, ...], column: str
) -> None:
    """Register `name`: rows of `base` (matched on the key to the slot holding the timestamp,
    when that is another one) with their calendar period in `column`."""
    agg = ctx.engine.aggregate
    stamp = ctx.columns.timestamp
    every = ctx.config.chunk.every
    slot = next(
        (s for s in timestamp_slots if stamp and ctx.declared(s)
         and stamp in agg.schema(ctx.engine.relation(s)).names),
        None,
    )  # fmt: skip
    key = ctx.engine.key(base) or (ctx.engine.key(slot) if slot else None)
    if slot is None or (slot != base and key is None):
        raise InputError(
            f"`chunk: {{every: {every}}}` needs columns.timestamp in {base} or a table "
            "matched to it on the key"
        )
    source = ctx.engine.relation(base)
    if slot != base and key is not None:
        source = f"{STAGE}:{base}+{slot}"
        agg.register_join(source, ctx.engine.relation(base), ctx.engine.relation(slot), key)
    what = f"{base}: {stamp!r}"
    kind = agg.schema(source).field(stamp).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)):  # fmt: skip
        raise InputError(f"{what} must be a timestamp, a date or ISO-8601 text, not {kind}")
    width = chunk_seconds(every)
    origin = WEEK_ORIGIN_S if width % WEEK_S == 0 else 0
    try:
        agg.register_chunks(name, source, column, timestamp=stamp, every_s=width, origin_s=origin)
    except ValueError as exc:
        raise InputError(f"{what}: cannot read every value as an ISO-8601 timestamp") from exc


def _compared(
    ctx: StageContext,
    kinds: dict[str, str],
    training: TrainingRows,
    names: list[str],
    chunked: LiveChunks,
) -> dict[str, Comparison]:
    """A batch of numeric features (their values asked together), or one categorical one."""
    if kinds[names[0]] == "numeric":
        return _sorted_comparisons(ctx, training, names, chunked)
    return {n: _counted_comparison(ctx, training, n, chunked) for n in names}


def _counted_comparison(
    ctx: StageContext, training: TrainingRows, name: str, chunked: LiveChunks
) -> Comparison:
    """A categorical feature's research counts against live (the window, then every chunk),
    measured now; the answers are dropped after."""
    reference = training.counts(ctx, name, False)
    by_chunk = None
    if chunked.relation is not None:
        by_chunk = ctx.engine.aggregate.counts(chunked.relation, [name], chunked.column, False)
    parts = [] if by_chunk is None else _per_chunk(by_chunk[name], chunked.numbers)
    if by_chunk is not None and chunked.complete and parts:  # the window: every chunk together
        window = _merged(by_chunk[name])
    else:
        window = _live_window_counts(ctx, name, False)
    return _categorical_counted(reference, [window, *parts])


def _sorted_comparisons(
    ctx: StageContext, training: TrainingRows, names: list[str], chunked: LiveChunks
) -> dict[str, Comparison]:
    """KS and normalised Wasserstein of numeric features from values the engine sorted: every
    value up to drift.DRIFT_GRID a side (exact), a rank grid past it (bounds in details); the
    values are dropped after (plots ask again for the few that drift)."""
    references = training.sorted(ctx, names)
    lives = _live_sorted(ctx, names, chunked)
    return {n: _sorted_comparison(ctx, training, n, references[n], lives[n]) for n in names}


def _sorted_comparison(
    ctx: StageContext,
    training: TrainingRows,
    name: str,
    reference: SortedValues,
    live: list[SortedValues],
) -> Comparison:
    prepared = drift.NumericReference(reference.sample)
    found: list[DriftResult] = [drift.compare_sorted(prepared, reference, part) for part in live]
    note = _grid_note(prepared, reference, live, found)

    def histogram(_rows: Any) -> dict[str, Any]:
        return _sorted_histogram(
            training.sorted(ctx, [name])[name], _live_window_sorted(ctx, [name])[name]
        )

    return Comparison("numeric", lambda _rows: found, histogram=histogram, approximation=note)


_NO_VALUES = SortedValues(0, np.empty(0))


def _live_sorted(
    ctx: StageContext, names: list[str], chunked: LiveChunks
) -> dict[str, list[SortedValues]]:
    """Per feature, the live window's sorted values, then each chunk's (as the engine numbered
    them); the window asked on its own only when the chunks do not make it up exactly."""
    parts: dict[str, list[SortedValues]] = {n: [] for n in names}
    if chunked.relation is not None:
        found = ctx.engine.aggregate.sorted_values_many(
            chunked.relation, names, chunked.column, drift.DRIFT_GRID
        )
        parts = {n: [found[n].get(k, _NO_VALUES) for k in chunked.numbers] for n in names}
    together = {n: w for n in names if (w := _chunks_together(chunked, parts[n])) is not None}
    missing = [n for n in names if n not in together]
    windows = together | (_live_window_sorted(ctx, missing) if missing else {})
    return {n: [windows[n], *parts[n]] for n in names}


def _chunks_together(chunked: LiveChunks, parts: list[SortedValues]) -> SortedValues | None:
    """The window as every chunk's values together, when the chunks hold all of it exactly."""
    total = sum(p.n for p in parts)
    if chunked.complete and parts and all(p.exact for p in parts) and total <= drift.DRIFT_GRID:
        # Sorted runs: numpy's stable sort (timsort) merges them, half the CPU of a quicksort.
        together = np.sort(np.concatenate([p.values for p in parts]), kind="stable")
        return SortedValues(total, together)
    return None


def _live_window_sorted(ctx: StageContext, names: list[str]) -> dict[str, SortedValues]:
    live = ctx.engine.relation(LIVE_FEATURES)
    found = ctx.engine.aggregate.sorted_values_many(live, names, None, drift.DRIFT_GRID)
    return {n: found[n].get(None, _NO_VALUES) for n in names}


def _grid_note(
    prepared: drift.NumericReference,
    reference: SortedValues,
    live: list[SortedValues],
    found: list[DriftResult],
) -> dict[str, Any] | None:
    """How far a rank grid's KS and normalised Wasserstein may be from the exact ones (the
    largest bound over the window and chunks); None when every side was compared exactly."""
    if reference.exact and all(part.exact for part in live):
        return None
    errors = [
        drift.grid_errors(prepared, reference, part, result)
        for part, result in zip(live, found, strict=True)
        if isinstance(result, drift.NumericDrift)
    ]
    return {
        "method": "rank grid",
        "grid": drift.DRIFT_GRID,
        "ks_error": max((e[0] for e in errors), default=0.0),
        "wasserstein_sd_error": max((e[1] for e in errors), default=0.0),
    }


def _sorted_histogram(research: SortedValues, live: SortedValues) -> dict[str, Any]:
    """`plot_histogram` of two sorted answers; a grid's counts scaled to its rows (rounded)."""
    plot = plot_histogram(research.sample, live.sample)
    for side, found in (("research", research), ("live", live)):
        if not found.exact and len(plot[side]):
            scaled = np.asarray(plot[side]) * (found.n / len(found.sample))
            plot[side] = np.round(scaled).astype(np.int64)
    return plot


def _live_window_counts(ctx: StageContext, name: str, as_double: bool) -> Counted:
    live = ctx.engine.relation(LIVE_FEATURES)
    return _merged(ctx.engine.aggregate.counts(live, [name], None, as_double)[name])


def _per_chunk(table: pa.Table, numbers: list[int]) -> list[Counted]:
    """A (g, v, n) answer ordered by g cut into each chunk's (values, counts)."""
    groups = np.asarray(
        table.column("g").fill_null(np.iinfo(np.int64).max).to_numpy(), dtype=np.int64
    )
    values = _decoded(table.column("v").combine_chunks())
    counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
    wanted = np.asarray(numbers, dtype=np.int64)
    starts = np.searchsorted(groups, wanted, side="left")
    ends = np.searchsorted(groups, wanted, side="right")
    return [
        (values.slice(a, b - a), counts[a:b])
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _categorical_counted(reference: Counted, parts: list[Counted]) -> Comparison:
    """Jensen-Shannon, PSI and chi-square of each live part's category counts against research."""
    dictionary = _shared_dictionary(reference[0], parts[0][0])
    ref_counts = _on_dictionary(dictionary, reference)
    live_counts = [_on_dictionary(dictionary, p) for p in parts]
    results: list[DriftResult] = [drift.categorical_drift(ref_counts, c) for c in live_counts]

    def changes(_rows: Any, limit: int) -> list[dict[str, Any]]:
        return _share_changes(dictionary, ref_counts, live_counts[0], limit)

    return Comparison("categorical", lambda _rows: results, changes)


def _shared_dictionary(reference: pa.Array, live: pa.Array) -> pa.Array:
    """The categories of both sides, research's first; as text when the types differ."""
    if reference.type != live.type:
        reference, live = reference.cast(pa.string()), live.cast(pa.string())
    return pc.unique(pa.concat_arrays([reference, live]))


def _on_dictionary(dictionary: pa.Array, counted: Counted) -> np.ndarray:
    values, counts = counted
    if values.type != dictionary.type:
        values = values.cast(dictionary.type)
    index = np.asarray(
        pc.index_in(values, dictionary).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return np.bincount(index, weights=counts, minlength=len(dictionary)).astype(np.float64)


def _judged_family(
    ctx: StageContext,
    comparisons: dict[str, Comparison],
    chunked: LiveChunks,
    severity: dict[str, Status],
) -> dict[str, DriftOutcome]:
    """`_drift_family`'s verdicts on comparisons measured from counts (window, then chunks)."""
    measured = [comp.windows([]) for comp in comparisons.values()]
    return _judge(ctx, comparisons, measured, chunked.chunks, chunked.sizes, severity)


def _importance_severity(ctx: StageContext, shares: dict[str, float], name: str) -> Status:
    # Without importances nothing is known to matter: drift warns, and PERF001 is the gate.
    if not shares:
        return Status.WARN
    return Status.FAIL if shares.get(name, 0.0) >= ctx.config.important_share else Status.WARN


@check(
    "PERF002",
    STAGE,
    thresholds=(
        "drift_wasserstein",
        "drift_jensen_shannon",
        "drift_psi",
        "drift_alpha",
        "important_share",
    ),
)
def feature_drift(ctx: StageContext) -> Iterator[Finding]:
    """Covariate drift of each model feature (research training rows vs live).

    Measures, per feature, research training rows (split == train_split, else all research
    features) against live features: numeric -- the Wasserstein distance in research standard
    deviations (effect) and the Kolmogorov-Smirnov test; categorical -- the Jensen-Shannon
    distance and PSI (effects) and a two-sample chi-square test (rare categories pooled).
    A feature drifts when its effect reaches the threshold AND its Benjamini-Hochberg-adjusted
    p-value (across features) is below drift_alpha: a million rows cannot make a negligible
    move count, a hundred rows cannot make noise count. Chunks are tested the same way (BH across
    all feature x chunk tests). With columns.importance, drift of a feature holding at least
    important_share of the total importance fails; other drift warns.
    Why: a model is only validated on the inputs it was trained on; drift of an important input
    moves predictions into territory research never measured.
    Usual causes: an upstream source or unit change, a new population (market, channel,
    campaign), seasonality, a pipeline bug (compare with stage 6 and details.changes).
    Fix: find when it started (details.chunks); fix the pipeline if it is a bug; if the world
    changed, check PERF001's estimate and retrain or recalibrate on recent data.
    """
    examples = ctx.config.examples
    for name, (outcome, share) in _feature_drift(ctx).items():
        extra: dict[str, Any] = {"importance_share": share}
        if outcome.comparison.changes is not None:  # the whole live window's shares
            extra["changes"] = outcome.comparison.changes(_NO_ROWS, examples)
        status = _outcome_status(outcome)
        if status is not Status.PASS and outcome.comparison.histogram is not None:
            extra["histogram"] = outcome.comparison.histogram(_NO_ROWS)
        message = _drift_message(name, outcome)
        if (grid := outcome.comparison.approximation) is not None:
            extra["approximation"] = grid
            message += f" (on a rank grid: KS within {grid['ks_error']:.1g})"
        yield Finding(
            status,
            message,
            source=LIVE_FEATURES,
            column=name,
            observed=None if outcome.result is None else _effect(outcome.result),
            threshold=_effect_threshold(outcome.comparison.kind, ctx.config),
            hint=None if status is Status.PASS else _FEATURE_HINT,
            details=_drift_details(outcome, extra, examples),
        )


def _effect_threshold(kind: str, config: Any) -> float:
    return config.drift_wasserstein if kind == "numeric" else config.drift_jensen_shannon


_FEATURE_HINT = (
    "The live inputs of this feature moved away from the training data: the per-chunk table "
    "shows when it started (and, for a category, whose share moved most). An upstream source, "
    "unit or encoding change is a bug to fix in the pipeline, a new population or season means "
    "retraining or recalibrating on recent data."
)


# --------------------------------------------------------------------------- score and label drift


@check("PERF003", STAGE, thresholds=("drift_wasserstein", "drift_alpha"))
def score_drift(ctx: StageContext) -> Iterator[Finding]:
    """Prediction drift: live scores vs research scores on the baseline split.

    Measures the distribution of the model's output on live rows against the research baseline
    split (numeric score: Wasserstein in research sds + KS; multiclass: the predicted class,
    Jensen-Shannon + chi-square), for the window and per chunk, with the same effect-AND-
    significance rule as PERF002. Warns: score drift follows from input drift and changes decision
    rates, but only PERF001 says whether performance suffered.
    Usual causes: covariate drift (see PERF002), a different model or preprocessing in serving,
    a changed population. Fix: explain it by PERF002; if inputs did not drift, compare the
    serving model and pipeline with research (stage 4).
    """
    research = _research(ctx)
    if research is None:
        return
    scored, chunks = _live(ctx)
    reference, live = research.scored, scored
    rows = research.baseline_rows
    if ctx.task == "multiclass":
        assert reference.pred is not None and live.pred is not None
        comparison = _categorical_comparison(
            _as_labels(reference.pred[rows]), _as_labels(live.pred)
        )
    else:
        comparison = _numeric_comparison(reference.score[rows], live.score)
    outcome = _drift_family(ctx, {"score": comparison}, live.valid, chunks, {"score": Status.WARN})[
        "score"
    ]
    finding = _single_drift_finding(ctx, outcome, "score", LIVE_PREDICTIONS, _SCORE_HINT)
    yield _with_histogram(finding, comparison, np.flatnonzero(live.valid))


def _with_histogram(finding: Finding, comparison: Comparison, rows: np.ndarray) -> Finding:
    """The finding with plot data of a numeric comparison's rows added to its details."""
    if comparison.histogram is None:
        return finding
    return replace(finding, details={**finding.details, "histogram": comparison.histogram(rows)})


def _as_labels(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values)).cast(pa.int64())


def _single_drift_finding(
    ctx: StageContext, outcome: DriftOutcome, what: str, source: str, hint: str
) -> Finding:
    status = _outcome_status(outcome)
    column = ctx.columns.target if what == "label" else ",".join(ctx.columns.score_columns)
    return Finding(
        status,
        _drift_message(what, outcome),
        source=source,
        column=column,
        observed=None if outcome.result is None else _effect(outcome.result),
        threshold=_effect_threshold(outcome.comparison.kind, ctx.config),
        hint=None if status is Status.PASS else hint,
        details=_drift_details(outcome, {}, ctx.config.examples),
    )


_SCORE_HINT = (
    "The model's outputs moved: expect decision rates to change. If PERF002 shows input drift that "
    "explains it, see PERF001 for the effect on performance; if not, compare the serving model and "
    "preprocessing with research (prediction_mismatch)."
)


@check(
    "PERF004",
    STAGE,
    thresholds=("drift_jensen_shannon", "drift_psi", "concept_rate_change", "drift_alpha"),
)
def label_drift(ctx: StageContext) -> Iterator[Finding]:
    """Label drift: the outcome distribution of labelled live rows vs research.

    Measures the class shares (binary/multiclass: Jensen-Shannon, PSI, chi-square) or the
    outcome distribution (regression: Wasserstein + KS) of labelled live rows against all
    labelled research rows, for the window and per chunk (labelled rows of each chunk). A class
    share moving by at least concept_rate_change also counts as material. Warns.
    Why: a changed base rate (prior shift) miscalibrates probabilities and thresholds even when
    the ranking is intact. Usual causes: a changed population or policy, seasonality, a change
    in how or when labels are recorded (delayed labels fill in unevenly). Fix: recalibrate or
    adjust thresholds if it persists; check the labelling pipeline if it is sudden.
    """
    research = _research(ctx)
    scored, chunks = _live(ctx)
    if research is None or not scored.labelled.any():
        return
    # The outcome distribution does not depend on the model: every labelled research row counts.
    reference = research.scored.target[research.scored.labelled]
    if ctx.task == "regression":
        comparison = _numeric_comparison(reference, scored.target)
    else:
        comparison = _categorical_comparison(_as_labels(reference), _as_labels(scored.target))
        comparison = replace(comparison, material=_label_share_moved)
    eligible = scored.labelled
    outcome = _drift_family(ctx, {"label": comparison}, eligible, chunks, {"label": Status.WARN})[
        "label"
    ]
    yield _single_drift_finding(ctx, outcome, "label", LIVE_LABELS, _LABEL_HINT)


def _label_share_moved(result: drift.CategoricalDrift, config: Any) -> bool:
    # Class shares are few and interpretable: a base rate moving by concept_rate_change
    # (5 points by default) matters even when JS/PSI, built for many categories, stay small.
    return result.max_share_change >= config.concept_rate_change or _material(result, config)


_LABEL_HINT = (
    "The live outcome rate differs from research (prior shift): probabilities and thresholds tuned "
    "on research are off even if the ranking holds. Recalibrate if it persists; if it is sudden, "
    "check how labels are collected (delayed labels arrive unevenly)."
)


# --------------------------------------------------------------------------- concept drift


@dataclass(frozen=True)
class Residuals:
    """Per bin: live observed vs expected positive rate, relative to research's own residual."""

    n_research: np.ndarray
    n_live: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    p_value: np.ndarray


def residual_shift(
    research_bins: np.ndarray,
    research_y: np.ndarray,
    research_p: np.ndarray,
    live_bins: np.ndarray,
    live_y: np.ndarray,
    live_p: np.ndarray,
    size: int,
) -> Residuals:
    """Per bin, compare live outcomes with what the research calibration predicts for them.

    Residual rate r = (positives - sum p) / n on each side; under no concept drift the live and
    research residuals agree. z = (r_live - r_research) / sqrt(sum p(1-p)/n² on both sides)
    (binomial variance of independent labels); two-sided normal p-value. A bin with fewer than
    MIN_BIN_ROWS rows on a side is not tested (p = NaN).
    """

    def sums(bins: np.ndarray, y: np.ndarray, p: np.ndarray) -> BinSums:
        def add(weights: np.ndarray | None) -> np.ndarray:
            return np.bincount(bins, weights=weights, minlength=size).astype(np.float64)

        return BinSums(add(None), add(y), add(p), add(p * (1 - p)))

    research = sums(research_bins, research_y, research_p)
    return residual_sums(research, sums(live_bins, live_y, live_p))


@dataclass(frozen=True)
class BinSums:
    """One side's rows per bin: how many, positives, sum of p and of p(1 - p)."""

    n: np.ndarray
    y: np.ndarray
    p: np.ndarray
    var: np.ndarray


def residual_sums(research: BinSums, live: BinSums) -> Residuals:
    """`residual_shift` from each side's per-bin sums."""
    n_r, n_l, y_l, p_l = research.n, live.n, live.y, live.p
    with np.errstate(invalid="ignore", divide="ignore"):
        r_r = (research.y - research.p) / n_r
        r_l = (y_l - p_l) / n_l
        var = research.var / n_r**2 + live.var / n_l**2
        z = (r_l - r_r) / np.sqrt(var)
    from scipy.special import ndtr  # normal cdf; ndtr(-|z|) is scipy.stats.norm.sf(|z|)

    p = np.where(
        (n_r >= MIN_BIN_ROWS) & (n_l >= MIN_BIN_ROWS) & (var > 0),
        2 * ndtr(-np.abs(z)),
        np.nan,
    )
    observed = y_l / np.maximum(n_l, 1)
    expected = p_l / np.maximum(n_l, 1) + np.nan_to_num(r_r)
    return Residuals(n_r, n_l, observed, expected, p)


@dataclass(frozen=True)
class ConceptData:
    """Labelled research baseline rows and labelled live rows with calibrated probabilities."""

    research_rows: np.ndarray
    research_y: np.ndarray
    research_p: np.ndarray
    live_rows: np.ndarray
    live_y: np.ndarray
    live_p: np.ndarray


def _concept_data(ctx: StageContext) -> ConceptData | None:
    if ctx.task != "binary":  # concept drift is measured on one positive-class probability
        return None
    research = _research(ctx)
    calibrator = _calibrator(ctx)
    probabilities = _live_probabilities(ctx)
    scored, _ = _live(ctx)
    return _concept_from(research, scored, calibrator, probabilities)


def _calibration_data(ctx: StageContext) -> ConceptData | None:
    """`_concept_data` for PERF005, from the counted rows when they could be counted."""
    perf = _perf_data(ctx, None) if ctx.task == "binary" else None
    if perf is None or not perf.counted:
        return _concept_data(ctx)
    research, scored = perf.research, perf.live
    calibrator = _perf_calibrator(ctx, perf)
    probabilities = _perf_probabilities(ctx, perf)
    return _concept_from(research, scored, calibrator, probabilities)


def _concept_from(
    research: Any, scored: Any, calibrator: Any, probabilities: Any
) -> ConceptData | None:
    """Research baseline rows and labelled live rows with their calibrated probabilities (None
    when any part is missing or no live row is labelled); shared by the row and counted paths."""
    if research is None or calibrator is None or probabilities is None:
        return None
    if not scored.labelled.any():
        return None
    rows, live_rows = research.baseline_rows, np.flatnonzero(scored.labelled)
    return ConceptData(
        rows,
        research.scored.target[rows],
        calibrator(research.scored.score[rows]),
        live_rows,
        scored.target[live_rows],
        probabilities[live_rows],
    )


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the quantiles of `values` (duplicates merged)."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return np.array([])
    # Interpolating between +-1e308 overflows: such an edge is infinite and dropped, quietly.
    with np.errstate(over="ignore", invalid="ignore"):
        edges = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(edges[np.isfinite(edges)])


def _flagged(residuals: Residuals, adjusted: np.ndarray, config: Any) -> np.ndarray:
    change = np.abs(residuals.observed - residuals.expected)
    return (adjusted < config.drift_alpha) & (change >= config.concept_rate_change)


@check("PERF005", STAGE, thresholds=("concept_rate_change", "drift_alpha", "bins"))
def calibration_drift(ctx: StageContext) -> Iterator[Finding]:
    """Concept drift: calibration per score bin (live outcomes vs research calibration).

    Measures, in `bins` score bins (research quantiles), the positive rate of labelled live rows
    against the rate the research calibration (isotonic, fitted on the baseline split) predicts
    for those same rows, each side's residual compared with a binomial z-test, Benjamini-Hochberg
    across bins. Warns when a bin's rate moved by at least concept_rate_change significantly.
    Binary models with live labels only.
    Why: when the same score no longer means the same risk, the relation between inputs and
    outcome changed (concept drift): estimated performance (CBPE) is then unreliable and
    decisions at a fixed threshold are off. Usual causes: changed behaviour or policy, a new
    product, a label definition change. Fix: recalibrate on recent labels; retrain if the ranking
    suffered too (PERF001 realized).
    """
    data = _calibration_data(ctx)
    if data is None:
        return
    perf = _perf_data(ctx, None)
    research, scored = perf.research, perf.live
    assert research is not None
    research_score = research.scored.score[data.research_rows]
    edges = quantile_edges(research_score, ctx.config.bins)
    residuals = _concept_residuals(
        data,
        np.searchsorted(edges, research_score, side="right"),
        np.searchsorted(edges, scored.score[data.live_rows], side="right"),
        len(edges) + 1,
    )
    adjusted = drift.benjamini_hochberg(residuals.p_value)
    flagged = _flagged(residuals, adjusted, ctx.config)
    labels = _interval_labels(edges)
    rows = _bin_rows(labels, residuals, adjusted, flagged, np.arange(len(labels)))
    yield _calibration_finding(ctx, data, residuals, flagged, rows)


def _concept_residuals(
    data: ConceptData, research_bins: np.ndarray, live_bins: np.ndarray, size: int
) -> Residuals:
    return residual_shift(
        research_bins, data.research_y, data.research_p, live_bins, data.live_y, data.live_p, size
    )


def _calibration_finding(
    ctx: StageContext,
    data: ConceptData,
    residuals: Residuals,
    flagged: np.ndarray,
    rows: list[dict[str, Any]],
) -> Finding:
    status = Status.WARN if flagged.any() else Status.PASS
    tested = ~np.isnan(residuals.p_value)
    change = np.abs(residuals.observed - residuals.expected)
    largest = float(change[tested].max()) if tested.any() else None
    message = (
        f"{int(flagged.sum())} of {int(tested.sum())} tested score bins changed their positive "
        f"rate significantly by >= {ctx.config.concept_rate_change:g}"
        + (f" (largest change {largest:.3f})" if largest is not None else "")
    )
    return Finding(
        status,
        message,
        source=LIVE_LABELS,
        column=ctx.columns.target,
        observed=largest,
        threshold=ctx.config.concept_rate_change,
        hint=None if status is Status.PASS else _CONCEPT_HINT,
        details={
            "n_research": len(data.research_rows),
            "n_live": len(data.live_rows),
            "bins": rows,
        },
    )


def _interval_labels(edges: np.ndarray) -> list[str]:
    bounds = [-math.inf, *edges.tolist(), math.inf]
    return [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(bounds)]


def _bin_rows(
    labels: list[str], r: Residuals, adjusted: np.ndarray, flagged: np.ndarray, order: np.ndarray
) -> list[dict[str, Any]]:
    return [
        {
            "bin": labels[i],
            "n_research": int(r.n_research[i]),
            "n_live": int(r.n_live[i]),
            "observed_rate": float(r.observed[i]),
            "expected_rate": float(r.expected[i]),
            "p_adjusted": _finite(adjusted[i]),
            "status": "warn" if flagged[i] else ("n/a" if np.isnan(adjusted[i]) else "pass"),
        }
        for i in order  # bins, not rows
    ]


_CONCEPT_HINT = (
    "Labelled live rows have a different outcome rate than the research calibration predicts for "
    "the same scores/inputs: the input-outcome relation changed. CBPE estimates (PERF001) assume it "
    "did not; trust realized metrics, recalibrate on recent labels, retrain if ranking suffered."
)


@dataclass(frozen=True)
class FeatureBins:
    labels: list[str]
    research: np.ndarray
    live: np.ndarray


def _feature_bins(ctx: StageContext, name: str, data: ConceptData) -> FeatureBins | None:
    """Bins of a feature on the labelled research and live prediction rows (matched by key)."""
    reference = _lookup(ctx, RESEARCH_PREDICTIONS, name, (RESEARCH_FEATURES, RESEARCH_PREDICTIONS))
    live = _lookup(ctx, LIVE_PREDICTIONS, name, (LIVE_FEATURES, LIVE_PREDICTIONS))
    if reference is None or live is None:
        return None
    reference, live = (
        reference.take(pa.array(data.research_rows)),
        live.take(pa.array(data.live_rows)),
    )
    if _kind(ctx, name, reference.type) == "categorical":
        dictionary, ref_codes, live_codes = drift.shared_codes(reference, live)
        names = [str(v) for v in dictionary.to_pylist()] + ["(null)"]
        null = len(dictionary)
        return FeatureBins(
            names,
            np.where(ref_codes < 0, null, ref_codes),
            np.where(live_codes < 0, null, live_codes),
        )
    ref_values, live_values = _floats(reference, name), _floats(live, name)
    edges = quantile_edges(ref_values, ctx.config.bins)
    labels = [*_interval_labels(edges), "(null)"]
    null = len(edges) + 1
    return FeatureBins(
        labels, _numeric_bins(ref_values, edges, null), _numeric_bins(live_values, edges, null)
    )


def _numeric_bins(values: np.ndarray, edges: np.ndarray, null: int) -> np.ndarray:
    """searchsorted(edges, values, side="right"), NaN in bin `null`. Against a few edges (the
    `bins` quantiles) counting the edges each value reaches, one comparison pass per edge, is
    about three times faster than a binary search per value."""
    if len(edges) > 64:
        found = np.searchsorted(edges, values, side="right")
    else:
        found = np.zeros(len(values), dtype=np.intp)
        for edge in edges:  # edges, not rows
            found += values >= edge
    found[np.isnan(values)] = null
    return found


@check("PERF006", STAGE, thresholds=("concept_rate_change", "drift_alpha", "bins"))
def target_rate_drift(ctx: StageContext) -> Iterator[Finding]:
    """Concept drift: target rate per feature bin changed while the inputs did not.

    Measures, for each model feature whose inputs did not drift (PERF002), the positive rate of
    labelled live rows in each feature bin (research quantile bins; categories) against what the
    research calibration predicts for those rows, relative to the same residual on the research
    baseline split; binomial z-tests, Benjamini-Hochberg across all bins of all features. Warns
    per feature with a bin that moved by at least concept_rate_change significantly. Binary
    models with live labels only.
    Why: it names WHERE the input-outcome relation changed; because the expected rate comes from
    the model's own calibrated scores, drift in other features does not trigger it.
    Usual causes: a changed effect of that variable (behaviour, policy, a new product), a
    changed meaning of the variable upstream. Fix: investigate that feature's relation with the
    outcome on recent labels; retrain with recent data.
    """
    ready = _calibration_data(ctx) is not None  # its rows are not held while the engine asks
    if not ready or not (ctx.declared(RESEARCH_FEATURES) and ctx.declared(LIVE_FEATURES)):
        return
    found = _binned_steady_residuals(ctx)
    if found is None:  # the engine cannot ask: the rows are read
        rows = _concept_data(ctx)
        if rows is None:
            return
        found = _steady_feature_residuals(ctx, rows)
    tested, results, adjusted = found
    flagged_any = False
    for name, residuals in results.items():  # features, not rows
        flagged = _flagged(residuals, adjusted[name], ctx.config)
        if flagged.any():
            flagged_any = True
            yield _target_rate_finding(ctx, name, tested[name], residuals, adjusted[name], flagged)
    if not flagged_any:
        yield Finding(
            Status.PASS,
            f"no target-rate change in the bins of {len(results)} features whose inputs did not drift",
            source=LIVE_LABELS,
            column=ctx.columns.target,
            observed=0,
            threshold=ctx.config.concept_rate_change,
            details={"features": sorted(results)},
        )


SteadyResiduals = tuple[dict[str, list[str]], dict[str, Residuals], dict[str, np.ndarray]]


def _steady_features(ctx: StageContext) -> list[str]:
    return [n for n, (o, _) in _feature_drift(ctx).items() if _outcome_status(o) is Status.PASS]


def _steady_feature_residuals(ctx: StageContext, data: ConceptData) -> SteadyResiduals:
    """Residual shifts per bin of every feature PERF002 found steady, BH across all bins."""
    steady = _steady_features(ctx)

    def measure(name: str) -> tuple[list[str], Residuals] | None:
        bins = _feature_bins(ctx, name, data)
        if bins is None:
            return None
        return bins.labels, _concept_residuals(data, bins.research, bins.live, len(bins.labels))

    found = dict(zip(steady, parallel_map(measure, steady), strict=True))  # a feature per thread
    return _adjusted(found)


def _adjusted(found: dict[str, tuple[list[str], Residuals] | None]) -> SteadyResiduals:
    """Bin labels and residuals per feature measured, BH across all bins of all features."""
    tested = {n: f[0] for n, f in found.items() if f is not None}
    results = {n: f[1] for n, f in found.items() if f is not None}
    flat = [r.p_value for r in results.values()]
    adjusted = drift.benjamini_hochberg(np.concatenate(flat) if flat else np.array([]))
    return tested, results, _split_like(adjusted, results)


def _split_like(flat: np.ndarray, results: dict[str, Residuals]) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, r in results.items():
        out[name] = flat[start : start + len(r.p_value)]
        start += len(r.p_value)
    return out


# PERF006 from binned sums (SPEC 7.1): per side, one grouped question over the labelled rows,
# grouped by (score finite?, decision, label, split) and one feature's bin at a time (grouping
# sets), each group carrying the exact sums of the calibrated probability p and of p**2 (the
# isotonic calibrator is piecewise linear in the score: the engine evaluates it). Numeric
# features are binned at the quantiles of the baseline rows' values, asked once sorted from a
# registered lookup of those rows; categories are grouped by value and ordered by first row.
# Answers hold bins x groups, never rows.


def _binned_steady_residuals(ctx: StageContext) -> SteadyResiduals | None:
    """`_steady_feature_residuals` from binned sums; None where the engine cannot ask."""
    from mlcheck.engines import Unsupported

    perf = _perf_data(ctx, None)
    calibrator = _perf_calibrator(ctx, perf) if perf.counted else None
    if perf.research is None or not isinstance(calibrator, Calibrator):
        return None
    try:
        features = _binned_features(ctx, _steady_features(ctx))
        if features is None:
            return None
        edges = _baseline_edges(ctx, perf.research, features)
        if edges is None:
            return None
        curve = _curve(calibrator)
        research = _binned_sums(ctx, True, perf.research, features, edges, curve)
        live = _binned_sums(ctx, False, None, features, edges, curve)
    except Unsupported:
        return None
    if research is None or live is None:
        return None
    found: dict[str, tuple[list[str], Residuals] | None] = {}
    for name in features:  # features, not rows
        labels, sides = _feature_sums(name, features[name], edges.get(name), research, live)
        found[name] = (labels, residual_sums(*sides))
    return _adjusted({n: found.get(n) for n in _steady_features(ctx)})


@dataclass(frozen=True)
class BinnedFeature:
    research_slot: str
    live_slot: str
    categorical: bool


def _binned_features(ctx: StageContext, names: list[str]) -> dict[str, BinnedFeature] | None:
    """Where each steady feature is read on both sides and whether it is binned by value
    (categories); a feature missing on a side is left out, as the row path leaves it."""
    out = {}
    for name in names:  # features, not rows
        research = _source_of(ctx, name, (RESEARCH_FEATURES, RESEARCH_PREDICTIONS))
        live = _source_of(ctx, name, (LIVE_FEATURES, LIVE_PREDICTIONS))
        if research is None or live is None:
            continue
        kind = ctx.engine.aggregate.schema(ctx.engine.relation(research)).field(name).type
        found = _kind(ctx, name, kind)
        if found is None:
            return None  # the row path names what it cannot read
        out[name] = BinnedFeature(research, live, found == "categorical")
    return out


def _curve(calibrator: Calibrator) -> Any:
    """The calibrator's points where its slope changes (isotonic fits are flat in blocks)."""
    from mlcheck.engines.base import Curve

    x, p = calibrator.scores, calibrator.probabilities
    keep = np.ones(len(p), dtype=bool)
    keep[1:-1] = (p[1:-1] != p[:-2]) | (p[1:-1] != p[2:])
    return Curve(tuple(x[keep].tolist()), tuple(p[keep].tolist()))


@dataclass(frozen=True)
class SideAsk:
    """A side's grouped question: its columns and where each role's values land."""

    base: str
    asked: list[tuple[str, str]]
    named: dict[str, int]


def _side_ask(ctx: StageContext, research: bool, baseline: Research | None) -> SideAsk | None:
    """Score (twice: finite or not, and the calibrated curve), decision, label, and for
    research the split when the baseline is a split."""
    base = RESEARCH_PREDICTIONS if research else LIVE_PREDICTIONS
    roles = _roles(ctx, base, _research_target_slots() if research else _live_target_slots())
    if roles is None or "target" not in roles[1]:
        return None
    asked, named = list(roles[0]), dict(roles[1])
    named["curve"] = len(asked)
    asked.append(asked[named["score"]])
    if baseline is not None and baseline.baseline_from.startswith("research split"):
        column = ctx.columns.split or "split"
        slot = _source_of(ctx, column, ("research.splits", RESEARCH_PREDICTIONS, RESEARCH_FEATURES))
        if slot is None:
            return None
        named["split"] = len(asked)
        asked.append((slot, column))
    return SideAsk(base, asked, named)


def _baseline_edges(
    ctx: StageContext, baseline: Research, features: dict[str, BinnedFeature]
) -> dict[str, np.ndarray] | None:
    """Quantile edges of each numeric feature over the baseline rows' finite values: the rows
    registered once (looked up, filtered in the engine), their values asked sorted."""
    numeric = [n for n, f in features.items() if not f.categorical]
    side = _side_ask(ctx, True, baseline)
    if side is None:
        return None
    if not numeric:
        return {}
    asked = [*side.asked, *((features[n].research_slot, n) for n in numeric)]
    names = _lookup_names(ctx, side.base, asked)
    if names is None:
        return None
    agg, named = ctx.engine.aggregate, side.named
    finite, equal = _kept(ctx, named)
    relation = f"{STAGE}:baseline rows"
    key = ctx.engine.key(side.base) or []
    register = partial(
        agg.register_lookup,
        relation,
        names[side.base],
        key,
        [(names[s], c) for s, c in asked],
        finite,
        equal,
    )
    ctx.engine.memo((STAGE, "relation", relation), register)
    columns = {n: f"c{len(side.asked) + i}" for i, n in enumerate(numeric)}
    rows = max(agg.num_rows(relation), 1)
    found = agg.sorted_values_many(relation, list(columns.values()), grid=rows)
    bins = ctx.config.bins
    return {
        n: quantile_edges(found[c][None].values, bins) if found[c] else np.array([])
        for n, c in columns.items()
    }


def _kept(ctx: StageContext, named: dict[str, int]) -> tuple[list[int], dict[int, str]]:
    """The measured rows as the engine keeps them: finite score, decision and label (of the
    baseline split): `_measured`'s test, asked before the engine bins and groups."""
    finite = [named[r] for r in ("score", "pred", "target") if r in named]
    return finite, ({named["split"]: ctx.config.baseline_split} if "split" in named else {})


def _lookup_names(
    ctx: StageContext, base: str, columns: list[tuple[str, str]]
) -> dict[str, str] | None:
    """The registered relation of every slot asked; None where a column lives in another
    slot but the key is missing or typed differently there (the rows are read instead)."""
    from mlcheck.compare import logical_type

    agg, key = ctx.engine.aggregate, ctx.engine.key(base) or []
    names = {slot: ctx.engine.relation(slot) for slot in {base, *(s for s, _ in columns)}}
    for slot in names:  # slots, not rows
        if slot == base:
            continue
        schemas = [agg.schema(names[s]) for s in (base, slot)]
        if not key or any(k not in sc.names for k in key for sc in schemas):
            return None
        for k in key:  # key columns, not rows
            kinds = [logical_type(sc.field(k).type) for sc in schemas]
            if not kinds[0].equals(kinds[1]):
                return None
    return names


@dataclass(frozen=True)
class SideSums:
    """A side's answer, filtered to the measured rows: per group, its part (feature), the
    feature's bin or value, rows, positives, sum p, sum p**2 and first row."""

    table: pa.Table
    offset: int  # the answer column of the first feature
    names: list[str]
    target: str  # the answer column of the label
    curve: int  # the answer's f{curve} and ff{curve} hold sum p and sum p**2


def _binned_sums(
    ctx: StageContext,
    research: bool,
    baseline: Research | None,
    features: dict[str, BinnedFeature],
    edges: dict[str, np.ndarray],
    curve: Any,
) -> SideSums | None:
    from mlcheck.engines.base import GroupShape

    side = _side_ask(ctx, research, baseline)
    if side is None:
        return None
    names = list(features)
    slots = [features[n].research_slot if research else features[n].live_slot for n in names]
    asked = [*side.asked, *zip(slots, names, strict=True)]
    offset, named = len(side.asked), side.named
    shape = GroupShape(
        bins={
            named["score"]: [],
            **{offset + i: edges[n].tolist() for i, n in enumerate(names) if n in edges},
        },
        curves={named["curve"]: curve},
        alone=[offset + i for i in range(len(names))],
        first=any(features[n].categorical for n in names),
        finite=_kept(ctx, named)[0],
        equal=_kept(ctx, named)[1],
    )
    table = _grouped(ctx, side.base, asked, None, shape) if names else None
    if table is None:
        return None
    target = f"c{named['target']}"
    return SideSums(_measured(ctx, table, named), offset, names, target, named["curve"])


def _measured(ctx: StageContext, table: pa.Table, named: dict[str, int]) -> pa.Table:
    """The groups of labelled rows with a finite score and decision (of the baseline split)."""
    score = table.column(f"c{named['score']}")
    keep = np.asarray(pc.fill_null(pc.equal(score, 0), False).to_numpy(zero_copy_only=False))
    for role in ("pred", "target"):
        if role in named:
            values = _floats(table.column(f"c{named[role]}"), role)
            keep &= np.isfinite(values)
    if "split" in named:
        in_split = _bool_equal(table.column(f"c{named['split']}"), ctx.config.baseline_split)
        assert in_split is not None
        keep &= in_split
    return table.filter(pa.array(keep))


def _feature_sums(
    name: str,
    feature: BinnedFeature,
    edges: np.ndarray | None,
    research: SideSums,
    live: SideSums,
) -> tuple[list[str], tuple[BinSums, BinSums]]:
    """A feature's bin labels and each side's sums per bin."""
    part = research.names.index(name)
    sides = [_part(t, part) for t in (research, live)]
    values = [s.column(f"c{t.offset + part}") for s, t in zip(sides, (research, live), strict=True)]
    if feature.categorical:
        dictionary = _first_seen_values(values, [s.column("first") for s in sides])
        labels = [str(v) for v in dictionary.to_pylist()] + ["(null)"]
        codes = [_category_codes(v, dictionary) for v in values]
    else:
        assert edges is not None
        labels = [*_interval_labels(edges), "(null)"]
        codes = [_edge_bins(v, len(edges)) for v in values]
    sums = [
        _bin_sums(t, s, c, len(labels))
        for t, s, c in zip((research, live), sides, codes, strict=True)
    ]
    return labels, (sums[0], sums[1])


def _part(side: SideSums, part: int) -> pa.Table:
    return side.table.filter(pc.equal(side.table.column("part"), part))


def _edge_bins(bins: pa.ChunkedArray, edges: int) -> np.ndarray:
    """The engine's bins as the row path numbers them: -inf with the least values, +inf with
    the largest, null and NaN in the last bin."""
    known = np.asarray(bins.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    found = np.asarray(bins.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(known, np.clip(found, 0, edges), edges + 1)


def _first_seen_values(values: list[pa.ChunkedArray], first: list[pa.ChunkedArray]) -> pa.Array:
    """The non-null categories of both sides in first-row order, research first (as
    `drift.shared_codes` orders the rows' values); sides typed differently compare as text."""
    if values[0].type != values[1].type:
        values = [v.cast(pa.string()) for v in values]
    out: list[pa.Array] = []
    for v, f in zip(values, first, strict=True):
        table = pa.table({"v": v, "f": f}).filter(pc.is_valid(v))
        least = table.group_by("v").aggregate([("f", "min")]).sort_by("f_min")
        out.append(least.column("v").combine_chunks())
    research = out[0]
    seen = pc.is_in(out[1], value_set=research)
    return pa.concat_arrays([research, out[1].filter(pc.invert(seen))])


def _category_codes(values: pa.ChunkedArray, dictionary: pa.Array) -> np.ndarray:
    if values.type != dictionary.type:
        values = values.cast(pa.string())
    codes = pc.index_in(values, value_set=dictionary)
    return np.asarray(pc.fill_null(codes, len(dictionary)).to_numpy(zero_copy_only=False))


def _bin_sums(side: SideSums, table: pa.Table, codes: np.ndarray, size: int) -> BinSums:
    """Rows, positives, sum p and sum p(1 - p) = sum p - sum p**2 per bin, added in the
    answer's (deterministic) order."""
    n = np.asarray(table.column("n").to_numpy(), dtype=np.float64)
    y = _floats(table.column(side.target), "the target")
    p = np.asarray(table.column(f"f{side.curve}").to_numpy(), dtype=np.float64)
    pp = np.asarray(table.column(f"ff{side.curve}").to_numpy(), dtype=np.float64)

    def add(weights: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=size).astype(np.float64)

    return BinSums(add(n), add(n * y), add(p), add(p) - add(pp))


def _target_rate_finding(
    ctx: StageContext,
    name: str,
    labels: list[str],
    r: Residuals,
    adjusted: np.ndarray,
    flagged: np.ndarray,
) -> Finding:
    worst_bins = np.lexsort((np.arange(len(adjusted)), np.nan_to_num(adjusted, nan=2.0)))
    shown = worst_bins[: ctx.config.examples]
    moved = np.abs(r.observed - r.expected)[flagged]
    return Finding(
        Status.WARN,
        f"{name}: the target rate moved by up to {moved.max():.3f} in {int(flagged.sum())} "
        f"bin{'s' if flagged.sum() != 1 else ''} while the feature's inputs did not drift",
        source=LIVE_LABELS,
        column=name,
        observed=float(moved.max()),
        threshold=ctx.config.concept_rate_change,
        hint=_CONCEPT_HINT,
        details={"bins": _bin_rows(labels, r, adjusted, flagged, shown)},
    )
