"""Stage 6, variable availability: do the model's inputs still arrive in live traffic?

Research features (what the model was built on) against `production.live.features` (what
production sees now): expected columns missing (and their likely replacement), all-null columns
and null-rate rises, columns turned constant, research categories that stopped arriving, unseen
and rare categories, and, with a timestamp, features that have been silent for too long.

Nulls and float NaN both count as "missing" here: a model input does not care which one arrived.
Rates of category checks are shares of all live rows.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.engine import as_text, value_counts
from mlcheck.errors import InputError
from mlcheck.registry import check
from mlcheck.results import Finding, Status
from mlcheck.stage_config import duration_seconds

STAGE = "variable_availability"
RESEARCH = "research.features"
LIVE = "production.live.features"
# Live times are int64 microseconds: nanoseconds would put valid sentinel dates (1900-01-01,
# 9999-12-31) out of range, and staleness is measured in days.
_TICKS_PER_S = 1_000_000


def skip_reason(checklist: Checklist) -> str | None:
    if checklist.research.features is None:
        return "research.features is not declared"
    live = checklist.production.live
    if live is None or live.features is None:
        return "production.live.features is not declared"
    return None


# --------------------------------------------------------------------------- column helpers


def expected_features(ctx: StageContext) -> list[str]:
    """`columns.features`, else every research features column without a role, not ignored."""
    if ctx.columns.features:
        return list(ctx.columns.features)
    excluded = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(RESEARCH) or [])
    )
    return [c for c in ctx.engine.schema(RESEARCH).names if c not in excluded]


def shared_features(ctx: StageContext) -> list[str]:
    """Expected features present in both research and live tables."""
    research, live = set(ctx.engine.schema(RESEARCH).names), set(ctx.engine.schema(LIVE).names)
    return [c for c in expected_features(ctx) if c in research and c in live]


def plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary-encoded columns decoded to their values, so both sides compare alike."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def missing_count(ctx: StageContext, slot: str, name: str) -> int:
    """Nulls plus float NaNs of one column (memoised)."""

    def count() -> int:
        return int(pc.sum(pc.is_null(ctx.engine.column(slot, name), nan_is_null=True)).as_py() or 0)

    return int(ctx.engine.memo((STAGE, "missing", slot, name), count))


def present_values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The non-null, non-NaN values of a column."""
    values = plain(column)
    return values.filter(pc.invert(pc.is_null(values, nan_is_null=True)))


def null_rate(ctx: StageContext, slot: str, name: str) -> float:
    rows = ctx.engine.num_rows(slot)
    return missing_count(ctx, slot, name) / rows if rows else 0.0


def is_text(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        return True
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def categorical_features(ctx: StageContext) -> list[str]:
    """Shared features declared categorical, or stored as strings/dictionaries on either side.

    Lists and records are left out: their values cannot be counted as categories.
    """
    declared = set(ctx.columns.categorical)
    research, live = ctx.engine.schema(RESEARCH), ctx.engine.schema(LIVE)
    types = {c: (research.field(c).type, live.field(c).type) for c in shared_features(ctx)}
    return [
        c
        for c, pair in types.items()
        if not any(pa.types.is_nested(t) for t in pair)
        and (c in declared or any(is_text(t) for t in pair))
    ]


def absence_chance(rate: np.ndarray | float, draws: int) -> np.ndarray:
    """P(none of `draws` independent values has a value of frequency `rate`) = (1 - rate)**draws."""
    rate = np.clip(np.asarray(rate, dtype=float), 0.0, 1.0)
    if draws == 0:
        return np.ones_like(rate)
    with np.errstate(divide="ignore"):  # rate 1 -> log 0 = -inf -> chance 0
        return np.exp(draws * np.log1p(-rate))


# --------------------------------------------------------------------------- category counts


@dataclass(frozen=True)
class Categories:
    """Category counts of one column on both sides; values as text so types need not match."""

    research_values: pa.Array  # string
    research_counts: np.ndarray
    live_values: pa.Array
    live_counts: np.ndarray
    research_in_live: np.ndarray  # bool per research category
    live_in_research: np.ndarray  # bool per live category

    @property
    def research_total(self) -> int:
        return int(self.research_counts.sum())

    @property
    def live_total(self) -> int:
        return int(self.live_counts.sum())


def categories(ctx: StageContext, name: str) -> Categories:
    return ctx.engine.memo((STAGE, "categories", name), lambda: _count_categories(ctx, name))


def _count_categories(ctx: StageContext, name: str) -> Categories:
    r_values, r_counts = ctx.engine.value_counts(RESEARCH, name)
    l_values, l_counts = ctx.engine.value_counts(LIVE, name)
    r_text, l_text = as_text(r_values), as_text(l_values)
    return Categories(
        research_values=r_text,
        research_counts=np.asarray(r_counts, dtype=np.int64),
        live_values=l_text,
        live_counts=np.asarray(l_counts, dtype=np.int64),
        research_in_live=_member(r_text, l_text),
        live_in_research=_member(l_text, r_text),
    )


def _member(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    return np.asarray(
        pc.is_in(values, value_set=value_set).to_numpy(zero_copy_only=False), dtype=bool
    )


def top_rows(
    values: pa.Array, mask: np.ndarray, limit: int, **columns: np.ndarray
) -> list[dict[str, Any]]:
    """The masked categories as rows, by the first column descending then by value, at most `limit`."""
    chosen = np.flatnonzero(mask)
    table = pa.table(
        {"value": values.take(pa.array(chosen)), **{k: v[chosen] for k, v in columns.items()}}
    )
    first = next(iter(columns))
    order = pc.sort_indices(table, sort_keys=[(first, "descending"), ("value", "ascending")])
    return list(table.take(order.slice(0, limit)).to_pylist())


def quoted(rows: list[dict[str, Any]], limit: int = 3) -> str:
    return ", ".join(repr(r["value"]) for r in rows[:limit]) + (", …" if len(rows) > limit else "")


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --------------------------------------------------------------------------- replacements


QUANTILES = 1024
PROFILE_ROWS = 100_000
_GRID = (np.arange(QUANTILES) + 0.5) / QUANTILES


@dataclass(frozen=True)
class Profile:
    """A column's distribution, summarised once per run so replacement matching stays cheap.

    Numeric: the sorted values when there are at most QUANTILES of them (distances are then exact),
    else the empirical quantile function at QUANTILES midpoints (of an even stride of at most
    about PROFILE_ROWS values). Text: categories and counts.
    """

    kind: str  # "numeric" | "text"
    values: np.ndarray | None = None
    exact: bool = True
    std: float = 0.0
    categories: pa.Array | None = None
    counts: np.ndarray | None = None


def profile(ctx: StageContext, slot: str, name: str) -> Profile | None:
    return ctx.engine.memo(
        (STAGE, "profile", slot, name), lambda: column_profile(ctx.engine.column(slot, name))
    )


def column_profile(column: pa.ChunkedArray) -> Profile | None:
    """The distribution summary of a numeric or text column; None for other types or no values."""
    present = present_values(column)
    if len(present) == 0:
        return None
    if _is_number(present.type):
        values = present.to_numpy().astype(float)
        # An even stride over the file keeps every period represented; its error (~1/sqrt(n) of a
        # std) is far below `rename_distance`, and sorting stays cheap on huge columns.
        values = np.sort(values[:: -(-len(values) // PROFILE_ROWS)])
        exact = len(values) <= QUANTILES
        summary = values if exact else _sorted_quantiles(values)
        return Profile("numeric", summary, exact, float(np.std(values)))
    if is_text(present.type):
        categories, counts = value_counts(present)
        return Profile("text", categories=as_text(categories), counts=np.asarray(counts))
    return None


def distribution_distance(research: Profile | None, live: Profile | None) -> float | None:
    """Normalised Wasserstein (numeric) or Jensen-Shannon distance (text); None if not comparable.

    Wasserstein (the area between the two quantile functions) is divided by the research standard
    deviation so the number is unit-free; Jensen-Shannon uses base 2, so it lies in [0, 1].
    """
    if research is None or live is None or research.kind != live.kind:
        return None
    if research.kind == "text":
        return _jensen_shannon(research, live)
    assert research.values is not None and live.values is not None
    if research.exact and live.exact:
        from scipy.stats import wasserstein_distance  # scipy only when a column is compared

        distance = float(wasserstein_distance(research.values, live.values))
    else:
        distance = float(np.mean(np.abs(_quantile_function(research) - _quantile_function(live))))
    return distance / (research.std or 1.0)


def _quantile_function(summary: Profile) -> np.ndarray:
    assert summary.values is not None
    return _sorted_quantiles(summary.values) if summary.exact else summary.values


def _sorted_quantiles(values: np.ndarray) -> np.ndarray:
    """The empirical quantile function of sorted values at the grid: the ceil(n * u)-th value."""
    return values[np.ceil(len(values) * _GRID).astype(np.int64) - 1]


def _is_number(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def _jensen_shannon(research: Profile, live: Profile) -> float:
    assert research.categories is not None and live.categories is not None
    both = pa.concat_arrays([research.categories, live.categories])
    codes = pc.dictionary_encode(both).indices.to_numpy(zero_copy_only=False)
    size, split = int(codes.max()) + 1, len(research.categories)
    p = np.bincount(codes[:split], weights=research.counts, minlength=size)
    q = np.bincount(codes[split:], weights=live.counts, minlength=size)
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q, base=2))


@dataclass(frozen=True)
class Replacement:
    column: str
    name_similarity: float
    distance: float | None


def likely_replacement(
    ctx: StageContext, missing: str, candidates: list[str]
) -> Replacement | None:
    """The new live column most likely standing in for `missing`, by name and by distribution."""
    cfg = ctx.config
    research_names = set(ctx.engine.schema(RESEARCH).names)
    scored = []
    for name in candidates:
        similarity = difflib.SequenceMatcher(None, missing.lower(), name.lower()).ratio()
        distance = _candidate_distance(ctx, missing, name) if missing in research_names else None
        by_name = similarity >= cfg.rename_similarity
        by_values = distance is not None and distance <= cfg.rename_distance
        if by_name or by_values:
            scored.append(
                (
                    -(by_name + by_values),
                    -similarity,
                    math.inf if distance is None else distance,
                    name,
                    Replacement(name, similarity, distance),
                )
            )
    return min(scored)[-1] if scored else None


def _candidate_distance(ctx: StageContext, missing: str, candidate: str) -> float | None:
    research, live = ctx.engine.column(RESEARCH, missing), ctx.engine.column(LIVE, candidate)
    # Distribution evidence alone needs the same storage type; "same values" across types is chance.
    if plain(research).type != plain(live).type:
        return None
    return distribution_distance(profile(ctx, RESEARCH, missing), profile(ctx, LIVE, candidate))


def new_live_columns(ctx: StageContext) -> list[str]:
    """Live columns unknown to research that have no role: candidates for a renamed feature."""
    known = set(ctx.engine.schema(RESEARCH).names) | set(expected_features(ctx))
    excluded = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(LIVE) or [])
    )
    return [c for c in ctx.engine.schema(LIVE).names if c not in known and c not in excluded]


# --------------------------------------------------------------------------- timestamps


def live_times(ctx: StageContext, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The live timestamp column as int64 us since the epoch, a validity mask, and its zone.

    Zone-aware timestamps and strings with offsets become UTC; naive ones stay wall time (a
    string column mixing both reads the naive strings as UTC).
    """
    return ctx.engine.memo(
        (STAGE, "times", name), lambda: _parse_times(name, plain(ctx.engine.column(LIVE, name)))
    )


def _parse_times(name: str, column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, str]:
    if is_text(column.type):
        column = _text_to_times(name, column)
    dtype = column.type
    if not (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
        raise InputError(
            f"{LIVE}: timestamp column {name!r} has type {dtype}; give a timestamp, a date or ISO-8601 text"
        )
    tz = getattr(dtype, "tz", None)
    try:
        # Nanoseconds truncate to microseconds; a date beyond their range is still refused.
        as_us = column.cast(
            options=pc.CastOptions(pa.timestamp("us", tz), allow_time_truncate=True)
        )
    except pa.ArrowInvalid as exc:
        raise InputError(
            f"{LIVE}: timestamp column {name!r} cannot be read as times: {exc}"
        ) from None
    valid = np.asarray(pc.is_valid(as_us).to_numpy(zero_copy_only=False), dtype=bool)
    # Zone-aware timestamps are stored as UTC instants, so their integers compare across zones.
    return as_us.cast(pa.int64()).fill_null(0).to_numpy(), valid, "UTC" if tz else "naive"


def _text_to_times(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO-8601 text as timestamps: all naive, all with offsets (-> UTC), or mixed (naive = UTC)."""
    for target in (pa.timestamp("us"), pa.timestamp("us", "UTC")):
        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    # Only text that starts like an ISO date: pandas would read "now"/"today" as the clock time.
    iso_like = pc.match_substring_regex(column, r"^\s*\d{4}-\d{2}-\d{2}")
    text = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    text[~np.asarray(iso_like.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)] = None
    import pandas as pd  # only to parse ISO-8601 text timestamps

    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce"))
    except (ValueError, OverflowError):  # pandas refuses dates beyond its nanosecond range
        parsed = pd.DatetimeIndex([pd.NaT] * len(text))
    if column.null_count < len(column) and not np.asarray(parsed.notna()).any():
        example = column.drop_null()[0].as_py()
        raise InputError(
            f"{LIVE}: timestamp column {name!r} is not ISO-8601 text (e.g. {example!r})"
        )
    return pa.chunked_array([pa.array(parsed.as_unit("us"))])


def iso(us: int) -> str:
    return str(np.datetime_as_string(np.datetime64(int(us), "us"), unit="s"))


# --------------------------------------------------------------------------- checks


@check("VAR001", STAGE)
def missing_columns(ctx: StageContext) -> Iterator[Finding]:
    """Expected features missing from live data

    Measures: every model feature (`columns.features`, else every research features column with no
    role and not ignored) must be a column of `production.live.features`. When a new live column
    has a similar name (difflib ratio >= `rename_similarity`) or, with the same dtype, nearly the
    same distribution (normalised Wasserstein or Jensen-Shannon distance <= `rename_distance`),
    it is named as the likely replacement.
    Why it matters: a model fed a missing column sees nulls or crashes; a silent rename means the
    feature service imputes every row.
    Usual causes: an upstream rename (n_open_accounts -> num_open_accounts), a dropped field in an
    API or a feature-store view, a schema migration that was not rolled out everywhere.
    How to fix: map the new name back in the production feature pipeline (or add the column
    again upstream); retrain only if the feature really changed meaning.
    """
    live_names = set(ctx.engine.schema(LIVE).names)
    expected = expected_features(ctx)
    missing = [c for c in expected if c not in live_names]
    candidates = new_live_columns(ctx)
    for name in missing:
        replacement = likely_replacement(ctx, name, candidates)
        yield _missing_finding(ctx, name, replacement, candidates)
    if not missing:
        yield Finding(
            Status.PASS,
            f"all {len(expected)} expected features arrive in live data",
            source=LIVE,
            observed=0,
            threshold=0,
        )


def _missing_finding(
    ctx: StageContext, name: str, replacement: Replacement | None, candidates: list[str]
) -> Finding:
    details: dict[str, Any] = {"new_live_columns": sorted(candidates)[: ctx.config.examples]}
    if replacement is None:
        hint = (
            "The column was dropped or renamed upstream; restore it in the live feature pipeline."
        )
        message = f"{name} is missing from live features and no new column looks like it"
    else:
        distance = "n/a" if replacement.distance is None else f"{replacement.distance:.3g}"
        message = (
            f"{name} is missing from live features; likely replaced by {replacement.column} "
            f"(name similarity {replacement.name_similarity:.2f}, distribution distance {distance})"
        )
        hint = (
            f"Probably an upstream rename to `{replacement.column}`: map it back to `{name}` in the "
            "production feature pipeline, or fix the producer."
        )
        details["likely_replacement"] = {
            "column": replacement.column,
            "name_similarity": round(replacement.name_similarity, 4),
            "distribution_distance": replacement.distance,
        }
    return Finding(
        Status.FAIL,
        message,
        source=LIVE,
        column=name,
        observed="missing",
        expected="present",
        hint=hint,
        details=details,
    )


@check("VAR002", STAGE, thresholds=("max_null_rate_increase",))
def null_rates(ctx: StageContext) -> Iterator[Finding]:
    """Live features all-null, or whose null rate rose

    Measures: per shared feature, the share of null or NaN values in research and in live data;
    fails when a live column is entirely null, or when its null rate rose by more than
    `max_null_rate_increase` (an absolute difference of rates).
    Why it matters: the model imputes what does not arrive, so its inputs silently turn into
    constants; its scores drift without any change in the world.
    Usual causes: a broken upstream feed or API, a join whose key changed type, a new null marker
    ("", "N/A", -1) written by a producer, a timeout that fills defaults.
    How to fix: find when the nulls started (VAR007 shows the last non-null time), repair the feed
    or the join, and backfill; if the nulls are legitimate, retrain with them.
    """
    limit = ctx.config.max_null_rate_increase
    live_rows = ctx.engine.num_rows(LIVE)
    if live_rows == 0:
        yield Finding(
            Status.FAIL,
            "the live features table has no rows",
            source=LIVE,
            observed=0,
            hint="The live feed is empty: check the export that writes it.",
        )
        return
    problems = [
        f for name in shared_features(ctx) if (f := _null_finding(ctx, name, limit)) is not None
    ]
    yield from problems
    if not problems:
        yield Finding(
            Status.PASS,
            f"null rates of {len(shared_features(ctx))} features within +{limit:g} of research",
            source=LIVE,
            threshold=limit,
        )


def _null_finding(ctx: StageContext, name: str, limit: float) -> Finding | None:
    before, after = null_rate(ctx, RESEARCH, name), null_rate(ctx, LIVE, name)
    details = {
        "research_null_rate": before,
        "live_null_rate": after,
        "live_nulls": missing_count(ctx, LIVE, name),
        "live_rows": ctx.engine.num_rows(LIVE),
    }
    if after == 1.0:
        status = Status.WARN if before == 1.0 else Status.FAIL
        hint = "A broken feed or a join that no longer matches: the column arrives empty. Repair it upstream."
        return Finding(
            status,
            f"{name} is entirely null in live data (research {before:.1%})",
            source=LIVE,
            column=name,
            observed=after,
            expected=before,
            hint=hint,
            details=details,
        )
    if after - before > limit:
        hint = "A feed failing part of the time, a changed join key or a new null marker upstream; see VAR007 for when it started."
        return Finding(
            Status.FAIL,
            f"{name} null rate rose from {before:.2%} to {after:.2%}",
            source=LIVE,
            column=name,
            observed=after - before,
            threshold=limit,
            hint=hint,
            details=details,
        )
    return None


@check("VAR003", STAGE, thresholds=("absence_alpha",))
def constant_columns(ctx: StageContext) -> Iterator[Finding]:
    """Live features that became constant

    Measures: per shared feature, whether every non-null live value is the same while research
    had several. With research frequency p of that value and n live values, sampling luck alone
    makes the column constant with probability p**n; it fails when that is below `absence_alpha`
    (so a 99.9%-majority flag over a handful of live rows does not fail).
    Why it matters: a constant input carries no information, and the model scores every row as if
    that value were true.
    Usual causes: a failed lookup returning its default, a frozen cache or feed, a hard-coded fill
    value, a filter that now lets through a single segment.
    How to fix: find the value (details.value) and where it is written; repair the lookup or feed.
    """
    problems = []
    for name in shared_features(ctx):
        finding = _constant_finding(ctx, name)
        if finding is not None:
            problems.append(finding)
    yield from problems
    if not problems:
        yield Finding(
            Status.PASS,
            "no feature became constant in live data",
            source=LIVE,
            threshold=ctx.config.absence_alpha,
        )


def _constant_finding(ctx: StageContext, name: str) -> Finding | None:
    if _surely_varied(ctx, LIVE, name):  # most features: no range needed to know
        return None
    live = value_range(ctx.engine.column(LIVE, name))
    if live is None or live[0] != live[1]:
        return None
    research = value_range(ctx.engine.column(RESEARCH, name))
    if research is None or research[0] == research[1]:
        return None
    value = live[0]
    n_live = ctx.engine.num_rows(LIVE) - missing_count(ctx, LIVE, name)
    share = _share_equal(ctx, name, value)
    chance = share**n_live  # every live value equal to one research value of share p: p**n
    if chance >= ctx.config.absence_alpha:
        return None
    details = {
        "value": value.as_py(),
        "live_values": n_live,
        "research_share_of_value": share,
        "research_min": research[0].as_py(),
        "research_max": research[1].as_py(),
        "chance": chance,
    }
    hint = "A default or fill value replacing real values (a failed lookup, a frozen feed): find where it is written."
    return Finding(
        Status.FAIL,
        f"{name} is constant in live data ({value.as_py()!r}) but varied in research",
        source=LIVE,
        column=name,
        observed=value.as_py(),
        expected=f"values from {research[0].as_py()!r} to {research[1].as_py()!r}",
        hint=hint,
        details=details,
    )


def _surely_varied(ctx: StageContext, slot: str, name: str) -> bool:
    """Whether a column holds two different present values, decided cheaply for floats and
    text; False when unsure (value_range then decides). Floats: numpy's NaN-skipping fmin/fmax
    per chunk (nulls read as NaN), an order of magnitude faster than Arrow's min_max. Text: two
    distinct values in the category counts VAR004-006 share, instead of decoding every row."""
    column = ctx.engine.column(slot, name)
    kind = plain_type(column.type)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return len(ctx.engine.value_counts(slot, name)[0]) > 1
    if not (pa.types.is_float32(column.type) or pa.types.is_float64(column.type)):
        return False
    chunks = [c.to_numpy(zero_copy_only=False) for c in column.chunks if len(c)]
    if not chunks:
        return False
    low = np.fmin.reduce([np.fmin.reduce(c) for c in chunks])  # NaN only when all are NaN
    high = np.fmax.reduce([np.fmax.reduce(c) for c in chunks])
    return bool(low < high)


def plain_type(dtype: pa.DataType) -> pa.DataType:
    """The value type of a dictionary type; any other type unchanged."""
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def value_range(column: pa.ChunkedArray) -> tuple[pa.Scalar, pa.Scalar] | None:
    """(min, max) of the non-null, non-NaN values; None when there are none or no order exists.

    A column is constant exactly when min == max, which is far cheaper than counting distinct
    values (Arrow's min_max skips NaN unless every value is NaN).
    """
    try:
        bounds = pc.min_max(plain(column))
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    low, high = bounds["min"], bounds["max"]
    if not low.is_valid or (isinstance(low.as_py(), float) and math.isnan(low.as_py())):
        return None
    return low, high


def _share_equal(ctx: StageContext, name: str, value: pa.Scalar) -> float:
    """Share of research's present values equal to `value`; 0 when the types cannot be compared."""
    research = plain(ctx.engine.column(RESEARCH, name))
    present = ctx.engine.num_rows(RESEARCH) - missing_count(ctx, RESEARCH, name)
    try:
        hits = pc.sum(pc.equal(research, value.cast(research.type))).as_py() or 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return 0.0
    return int(hits) / present if present else 0.0


@check("VAR004", STAGE, thresholds=("min_count", "absence_alpha"))
def vanished_categories(ctx: StageContext) -> Iterator[Finding]:
    """Research categories that no longer arrive

    Measures: per categorical feature (`columns.categorical`, plus string and dictionary columns),
    research categories seen at least `min_count` times that never occur in live data. With
    research frequency p and n live values, the category would be absent by sampling luck with
    probability (1 - p)**n; it fails when that is below `absence_alpha`. Absences plausible by
    chance are counted in details but do not fail.
    Why it matters: a segment the model learned is no longer served, or is now coded differently
    and scored as another category or as unknown.
    Usual causes: a retired or renamed category upstream ("North" merged into "N"), a recoding or
    case change, a filter in the live export, a market or product switched off.
    How to fix: check the producer's category mapping; map a renamed category back; if it was
    retired on purpose, confirm the model copes with its absence and retrain when convenient.
    """
    features = categorical_features(ctx)
    problems = [f for name in features if (f := _vanished_finding(ctx, name)) is not None]
    yield from problems
    if not problems:
        message = f"every frequent research category of {plural(len(features), 'categorical feature', 'categorical features')} arrives"
        yield Finding(
            Status.PASS, message, source=LIVE, observed=0, threshold=ctx.config.absence_alpha
        )


def _vanished_finding(ctx: StageContext, name: str) -> Finding | None:
    cfg, cats = ctx.config, categories(ctx, name)
    if cats.live_total == 0 or cats.research_total == 0:
        return None  # an all-null column is VAR002's finding
    rate = cats.research_counts / cats.research_total
    chance = absence_chance(rate, cats.live_total)
    vanished = ~cats.research_in_live & (cats.research_counts >= cfg.min_count)
    significant = vanished & (chance < cfg.absence_alpha)
    n = int(significant.sum())
    if n == 0:
        return None
    rows = top_rows(
        cats.research_values,
        significant,
        cfg.examples,
        research_count=cats.research_counts,
        research_rate=rate,
        chance=chance,
    )
    share = float(rate[significant].sum())
    details = {
        "vanished": rows,
        "n_vanished": n,
        "research_share": share,
        "plausible_by_chance": int((vanished & ~significant).sum()),
        "live_values": cats.live_total,
    }
    hint = "A retired or renamed category upstream, or a filter in the live export: check the producer's category mapping."
    message = f"{name}: {plural(n, 'research category no longer arrives', 'research categories no longer arrive')} ({quoted(rows)}; {share:.1%} of research rows)"
    return Finding(
        Status.FAIL,
        message,
        source=LIVE,
        column=name,
        observed=n,
        threshold=0,
        hint=hint,
        details=details,
    )


@check("VAR005", STAGE, thresholds=("max_unseen_rate",))
def unseen_categories(ctx: StageContext) -> Iterator[Finding]:
    """Live categories never seen in research

    Measures: per categorical feature, live values absent from the research features, with their
    count and their share of all live rows; warns when any arrive, fails when the share exceeds
    `max_unseen_rate`.
    Why it matters: the model never learned these values; encoders map them to "unknown", to
    zeros or to an error, and the scores of those rows are guesses.
    Usual causes: a new product or market launched upstream, a recoding or spelling change
    ("north" vs "North"), a test or placeholder value leaking into production.
    How to fix: if the value is a rename, map it back; if it is genuinely new, decide how the
    model should treat it (fallback rule, manual review) and retrain once it has labels.
    """
    features = categorical_features(ctx)
    problems = [f for name in features if (f := _unseen_finding(ctx, name)) is not None]
    yield from problems
    if not problems:
        message = f"no unseen categories in {plural(len(features), 'categorical feature', 'categorical features')}"
        yield Finding(
            Status.PASS, message, source=LIVE, observed=0.0, threshold=ctx.config.max_unseen_rate
        )


def _unseen_finding(ctx: StageContext, name: str) -> Finding | None:
    cats, limit, live_rows = (
        categories(ctx, name),
        ctx.config.max_unseen_rate,
        ctx.engine.num_rows(LIVE),
    )
    unseen = ~cats.live_in_research
    rows = int(cats.live_counts[unseen].sum())
    if rows == 0:
        return None
    rate = rows / live_rows
    examples = top_rows(
        cats.live_values,
        unseen,
        ctx.config.examples,
        count=cats.live_counts,
        rate=cats.live_counts / live_rows,
    )
    details = {
        "unseen": examples,
        "n_unseen": int(unseen.sum()),
        "rows": rows,
        "live_rows": live_rows,
    }
    hint = "A new category launched upstream, or a recoding/spelling change: map it back, or decide a fallback and retrain once labelled."
    message = f"{name}: {plural(int(unseen.sum()), 'unseen category', 'unseen categories')} ({quoted(examples)}) in {rate:.2%} of live rows"
    status = Status.FAIL if rate > limit else Status.WARN
    return Finding(
        status,
        message,
        source=LIVE,
        column=name,
        observed=rate,
        threshold=limit,
        hint=hint,
        details=details,
    )


@check("VAR006", STAGE, thresholds=("min_count", "max_rare_rate"))
def rare_categories(ctx: StageContext) -> Iterator[Finding]:
    """Live rows carrying categories rare in research

    Measures: per categorical feature, research categories seen fewer than `min_count` times, and
    the share of live rows that carry them; fails when that share exceeds `max_rare_rate`.
    Why it matters: what the model does with a category it saw a handful of times is mostly
    noise; when live traffic moves there its scores are unreliable, though nothing is "missing".
    Usual causes: a niche product or region that grew after training, a category that was rare in
    the research period (seasonality), an upstream recoding that merged rows into a rare code.
    How to fix: confirm the shift is real, group rare categories into an "other" bucket the model
    learned, or retrain on data that covers them.
    """
    features = categorical_features(ctx)
    problems = [f for name in features if (f := _rare_finding(ctx, name)) is not None]
    yield from problems
    if not problems:
        message = (
            f"categories rare in research carry at most {ctx.config.max_rare_rate:.0%} of live rows"
        )
        yield Finding(Status.PASS, message, source=LIVE, threshold=ctx.config.max_rare_rate)


def _rare_finding(ctx: StageContext, name: str) -> Finding | None:
    cfg, cats, live_rows = ctx.config, categories(ctx, name), ctx.engine.num_rows(LIVE)
    rare_values = cats.research_values.filter(pa.array(cats.research_counts < cfg.min_count))
    carrying = _member(cats.live_values, rare_values)
    rows = int(cats.live_counts[carrying].sum())
    rate = rows / live_rows if live_rows else 0.0
    if rate <= cfg.max_rare_rate:
        return None
    # Research counts of the carried categories, aligned by value.
    position = pc.index_in(cats.live_values, value_set=cats.research_values).to_numpy(
        zero_copy_only=False
    )
    research_count = cats.research_counts[np.where(carrying, position, 0).astype(np.int64)]
    examples = top_rows(
        cats.live_values,
        carrying,
        cfg.examples,
        live_count=cats.live_counts,
        research_count=research_count,
    )
    details = {
        "rare": examples,
        "n_rare_in_live": int(carrying.sum()),
        "rows": rows,
        "live_rows": live_rows,
    }
    hint = "Traffic moved to categories the model barely saw: bucket them into a learned 'other' or retrain on data that covers them."
    message = f"{name}: {rate:.2%} of live rows carry categories seen fewer than {cfg.min_count} times in research ({quoted(examples)})"
    return Finding(
        Status.FAIL,
        message,
        source=LIVE,
        column=name,
        observed=rate,
        threshold=cfg.max_rare_rate,
        hint=hint,
        details=details,
    )


@check("VAR007", STAGE, thresholds=("max_staleness",))
def stale_features(ctx: StageContext) -> Iterator[Finding]:
    """Features silent for longer than max_staleness

    Measures: with `columns.timestamp` in the live features, each feature's last non-null time and
    its silence before the end of the live window (the latest timestamp); fails when the silence
    exceeds `max_staleness`. A column that stopped arriving in the last weeks fails here even when
    its overall null rate (VAR002) still looks moderate. Zone-aware times are compared in UTC.
    Why it matters: the model scores recent traffic with an imputed value in place of the feature,
    and the damage grows every day the feed stays down.
    Usual causes: a broken feed or expired credentials upstream, a batch job that stopped, a
    source table that is no longer refreshed, a schema change that silently nulls the column.
    How to fix: look at details.last_seen, find what changed upstream at that time, repair the feed
    and backfill the missing period.
    """
    time_column, limit = ctx.columns.timestamp, ctx.config.max_staleness
    if time_column is None or limit is None:
        return
    unusable = _unusable_time_column(ctx, time_column)
    if unusable is not None:
        yield unusable
        return
    times, valid, zone = live_times(ctx, time_column)
    end = int(times[valid].max())
    last_seen = {name: _last_seen(ctx, name, times, valid, end) for name in shared_features(ctx)}
    problems = [
        f for name, seen in last_seen.items() if (f := _stale_finding(ctx, name, seen, end, zone))
    ]
    yield from problems
    if not problems:
        seen_iso = {name: None if t is None else iso(t) for name, t in sorted(last_seen.items())}
        details = {"window_end": iso(end), "timezone": zone, "last_seen": seen_iso}
        message = f"every feature arrived within {limit} of the live window's end ({iso(end)})"
        yield Finding(Status.PASS, message, source=LIVE, threshold=limit, details=details)


def _unusable_time_column(ctx: StageContext, name: str) -> Finding | None:
    """Why staleness cannot be measured with this timestamp column, or None when it can."""
    if name not in ctx.engine.schema(LIVE).names:
        message = f"staleness not checked: the live features have no {name} column"
        hint = (
            f"Add `{name}` to the live features export, or skip the staleness check: set "
            "stages.variable_availability.max_staleness to null."
        )
        return Finding(Status.WARN, message, source=LIVE, column=name, hint=hint)
    _, valid, _ = live_times(ctx, name)
    if not valid.any():
        hint = "The live export writes no event times; repair it."
        return Finding(
            Status.FAIL,
            f"every {name} in the live features is null",
            source=LIVE,
            column=name,
            hint=hint,
        )
    return None


def _last_seen(
    ctx: StageContext, name: str, times: np.ndarray, valid: np.ndarray, end: int
) -> int | None:
    if missing_count(ctx, LIVE, name) == 0:  # present on every row (VAR002 counted): the end
        return end
    present = valid & ~np.asarray(
        pc.is_null(ctx.engine.column(LIVE, name), nan_is_null=True).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    return int(times[present].max()) if present.any() else None


def _stale_finding(
    ctx: StageContext, name: str, seen: int | None, end: int, zone: str
) -> Finding | None:
    limit = ctx.config.max_staleness
    silence_s = (end - seen) / _TICKS_PER_S if seen is not None else math.inf
    if silence_s <= duration_seconds(limit):
        return None
    details = {
        "last_seen": iso(seen) if seen is not None else None,
        "window_end": iso(end),
        "silence_days": round(silence_s / 86400, 3),
        "timezone": zone,
    }
    since = f"since {iso(seen)}" if seen is not None else "at all in the live window"
    hint = f"A broken feed: {name} has not arrived {since}. Find what changed upstream at that time, repair it and backfill."
    observed = f"{silence_s / 86400:.1f}d" if seen is not None else "never"
    return Finding(
        Status.FAIL,
        f"{name} has not arrived {since} ({observed} before the window's end)",
        source=LIVE,
        column=name,
        observed=observed,
        threshold=limit,
        hint=hint,
        details=details,
    )
