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
from mlcheck.compare import Kind, type_family
from mlcheck.context import StageContext
from mlcheck.engine import as_text
from mlcheck.engines.base import Presence, TimeAxis, time_class
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


def schema(ctx: StageContext, slot: str) -> pa.Schema:
    """A slot's columns as the aggregate engine holds them."""
    return ctx.engine.aggregate.schema(ctx.engine.relation(slot))


def expected_features(ctx: StageContext) -> list[str]:
    """`columns.features`, else every research features column without a role, not ignored."""
    if ctx.columns.features:
        return list(ctx.columns.features)
    excluded = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(RESEARCH) or [])
    )
    return [c for c in schema(ctx, RESEARCH).names if c not in excluded]


def shared_features(ctx: StageContext) -> list[str]:
    """Expected features present in both research and live tables."""
    research, live = set(schema(ctx, RESEARCH).names), set(schema(ctx, LIVE).names)
    return [c for c in expected_features(ctx) if c in research and c in live]


def presence(ctx: StageContext, slot: str) -> Presence:
    """What of every shared feature arrived on one side, in one pass (memoised); live data
    also gives each feature's latest time when staleness is checked."""
    time = _time_column(ctx) if slot == LIVE else None
    return ctx.engine.memo(
        (STAGE, "presence", slot),
        lambda: ctx.engine.aggregate.presence(
            ctx.engine.relation(slot), shared_features(ctx), time=time
        ),
    )


def _time_column(ctx: StageContext) -> str | None:
    """The live timestamp column when staleness is checked and it holds times, else None."""
    name = ctx.columns.timestamp
    if name is None or ctx.config.max_staleness is None:
        return None
    live = schema(ctx, LIVE)
    if live.get_field_index(name) < 0 or time_class(live.field(name).type) is None:
        return None
    return name


def missing_count(ctx: StageContext, slot: str, name: str) -> int:
    """Nulls plus float NaNs of one shared feature."""
    found = presence(ctx, slot).columns[name]
    return found.nulls + found.nans


def null_rate(ctx: StageContext, slot: str, name: str) -> float:
    rows = presence(ctx, slot).rows
    return missing_count(ctx, slot, name) / rows if rows else 0.0


def is_text(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        return True
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def plain_type(dtype: pa.DataType) -> pa.DataType:
    """The value type of a dictionary type; any other type unchanged."""
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def categorical_features(ctx: StageContext) -> list[str]:
    """Shared features declared categorical, or stored as strings/dictionaries on either side.

    Lists and records are left out: their values cannot be counted as categories.
    """
    declared = set(ctx.columns.categorical)
    research, live = schema(ctx, RESEARCH), schema(ctx, LIVE)
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
    r_text, r_counts = category_counts(ctx, RESEARCH, name)
    l_text, l_counts = category_counts(ctx, LIVE, name)
    return Categories(
        research_values=r_text,
        research_counts=r_counts,
        live_values=l_text,
        live_counts=l_counts,
        research_in_live=_member(r_text, l_text),
        live_in_research=_member(l_text, r_text),
    )


def _all_category_counts(ctx: StageContext, slot: str) -> dict[str, tuple[tuple[Any, int], ...]]:
    """Value counts of every categorical feature of one side, asked at once (memoised)."""
    return ctx.engine.memo(
        (STAGE, "category counts", slot),
        lambda: ctx.engine.aggregate.value_counts_of(
            ctx.engine.relation(slot), categorical_features(ctx)
        ),
    )


def category_counts(ctx: StageContext, slot: str, name: str) -> tuple[pa.Array, np.ndarray]:
    """A column's distinct non-null values as text (typed as the column first, so they read
    as Arrow writes that type) and their counts."""
    counted = _all_category_counts(ctx, slot).get(name)
    if counted is None:  # not a shared categorical feature: a rename candidate (VAR001)
        counted = ctx.engine.aggregate.value_counts(ctx.engine.relation(slot), name).get(None, ())
    values = [v for v, _ in counted]
    try:
        typed = pa.array(values, type=plain_type(schema(ctx, slot).field(name).type))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        typed = pa.array(values)
    return as_text(typed), np.array([n for _, n in counted], dtype=np.int64)


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
_GRID = (np.arange(QUANTILES) + 0.5) / QUANTILES


@dataclass(frozen=True)
class Profile:
    """A column's distribution, summarised once per run so replacement matching stays cheap.

    Numeric: the sorted values when there are at most QUANTILES of them (distances are then exact),
    else the empirical quantile function at QUANTILES midpoints (exact quantiles of every
    value). Text: categories and counts.
    """

    kind: str  # "numeric" | "text"
    values: np.ndarray | None = None
    exact: bool = True
    std: float = 0.0
    categories: pa.Array | None = None
    counts: np.ndarray | None = None


def profile(ctx: StageContext, slot: str, name: str) -> Profile | None:
    return ctx.engine.memo((STAGE, "profile", slot, name), lambda: column_profile(ctx, slot, name))


def column_profile(ctx: StageContext, slot: str, name: str) -> Profile | None:
    """The distribution summary of a numeric or text column; None for other types or no values."""
    dtype = plain_type(schema(ctx, slot).field(name).type)
    if _is_number(dtype):
        return _numeric_profile(
            ctx, slot, name, "float" if pa.types.is_floating(dtype) else "integer"
        )
    if is_text(dtype):
        categories, counts = category_counts(ctx, slot, name)
        return Profile("text", categories=categories, counts=counts) if len(counts) else None
    return None


def _numeric_profile(ctx: StageContext, slot: str, name: str, kind: Kind) -> Profile | None:
    """At most QUANTILES values: all of them, sorted (the quantiles at (k + 1/2) / n are the
    k-th values); more: the quantile function at the grid, with the population std."""
    agg, relation = ctx.engine.aggregate, ctx.engine.relation(slot)
    stats = agg.profiles(relation, {name: kind}, top=0, float_distinct=False)[name]
    n = stats.count - stats.nans
    if n == 0:
        return None
    if n <= QUANTILES:
        grid = (np.arange(n) + 0.5) / n
        values = np.asarray(agg.quantiles(relation, name, list(grid))[None], dtype=float)
        return Profile("numeric", values, True, float(np.std(values)))
    values = np.asarray(agg.quantiles(relation, name, list(_GRID))[None], dtype=float)
    std = (stats.std or 0.0) * math.sqrt((n - 1) / n)  # ddof=1 -> the population std
    return Profile("numeric", values, False, std)


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
    research_names = set(schema(ctx, RESEARCH).names)
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
    research = schema(ctx, RESEARCH).field(missing).type
    live = schema(ctx, LIVE).field(candidate).type
    # Distribution evidence alone needs the same storage type; "same values" across types is chance.
    if plain_type(research) != plain_type(live):
        return None
    return distribution_distance(profile(ctx, RESEARCH, missing), profile(ctx, LIVE, candidate))


def new_live_columns(ctx: StageContext) -> list[str]:
    """Live columns unknown to research that have no role: candidates for a renamed feature."""
    known = set(schema(ctx, RESEARCH).names) | set(expected_features(ctx))
    excluded = (
        ctx.columns.role_columns() | set(ctx.columns.ignore) | set(ctx.engine.key(LIVE) or [])
    )
    return [c for c in schema(ctx, LIVE).names if c not in known and c not in excluded]


# --------------------------------------------------------------------------- timestamps


def time_axis(ctx: StageContext, name: str) -> tuple[TimeAxis, str]:
    """The live time axis (microseconds since the epoch, see TimeAxis) and its zone: "UTC" for
    zone-aware timestamps and for text that is not all naive (a string column mixing both
    reads the naive strings as UTC), else "naive". Input errors for columns holding no times."""
    dtype = schema(ctx, LIVE).field(name).type
    kind = time_class(dtype)
    if kind is None:
        raise InputError(
            f"{LIVE}: timestamp column {name!r} has type {plain_type(dtype)}; give a timestamp, a date or ISO-8601 text"
        )
    axis = presence(ctx, LIVE).time
    assert axis is not None  # asked with the time column: it holds times
    if axis.times == 0 and axis.unreadable:
        raise InputError(
            f"{LIVE}: timestamp column {name!r} is not ISO-8601 text (e.g. {axis.example!r})"
        )
    zoned = getattr(plain_type(dtype), "tz", None) is not None
    text_utc = kind == "text" and bool(axis.offsets or axis.unreadable)
    return axis, "UTC" if zoned or text_utc else "naive"


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
    live_names = set(schema(ctx, LIVE).names)
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
    live_rows = presence(ctx, LIVE).rows
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
        "live_rows": presence(ctx, LIVE).rows,
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
    turned = _turned_constant(ctx)
    shares = _research_shares(ctx, turned)
    problems = [
        f for name in turned if (f := _constant_finding(ctx, name, shares[name])) is not None
    ]
    yield from problems
    if not problems:
        yield Finding(
            Status.PASS,
            "no feature became constant in live data",
            source=LIVE,
            threshold=ctx.config.absence_alpha,
        )


def _turned_constant(ctx: StageContext) -> list[str]:
    """Shared features whose present live values are all one value while research's are not
    (the least and greatest present value tell: -0.0 and 0.0 are one value)."""
    live, research = presence(ctx, LIVE).columns, presence(ctx, RESEARCH).columns
    return [
        name
        for name in shared_features(ctx)
        if live[name].low is not None
        and live[name].low == live[name].high
        and research[name].low is not None
        and research[name].low != research[name].high
    ]


def _research_shares(ctx: StageContext, names: list[str]) -> dict[str, float]:
    """Per feature, the share of research's present values equal to the live value (one
    question for all); 0 when the two sides' types cannot hold the same value."""
    research, live = schema(ctx, RESEARCH), schema(ctx, LIVE)
    found = presence(ctx, RESEARCH)
    comparable = [n for n in names if _comparable(research.field(n).type, live.field(n).type)]
    values = {n: presence(ctx, LIVE).columns[n].low for n in comparable}
    counts = ctx.engine.aggregate.count_equal(ctx.engine.relation(RESEARCH), values)
    shares = dict.fromkeys(names, 0.0)
    for name, hits in counts.items():
        present = found.rows - missing_count(ctx, RESEARCH, name)
        shares[name] = hits / present if present else 0.0
    return shares


def _comparable(research: pa.DataType, live: pa.DataType) -> bool:
    """Whether a live value can equal a research value: same type family, or both numbers."""
    families = {type_family(plain_type(research)), type_family(plain_type(live))}
    return len(families) == 1 or families <= {"integer", "floating", "decimal"}


def _constant_finding(ctx: StageContext, name: str, share: float) -> Finding | None:
    live, research = presence(ctx, LIVE).columns[name], presence(ctx, RESEARCH).columns[name]
    value = live.low
    n_live = presence(ctx, LIVE).rows - missing_count(ctx, LIVE, name)
    chance = share**n_live  # every live value equal to one research value of share p: p**n
    if chance >= ctx.config.absence_alpha:
        return None
    details = {
        "value": value,
        "live_values": n_live,
        "research_share_of_value": share,
        "research_min": research.low,
        "research_max": research.high,
        "chance": chance,
    }
    hint = "A default or fill value replacing real values (a failed lookup, a frozen feed): find where it is written."
    return Finding(
        Status.FAIL,
        f"{name} is constant in live data ({value!r}) but varied in research",
        source=LIVE,
        column=name,
        observed=value,
        expected=f"values from {research.low!r} to {research.high!r}",
        hint=hint,
        details=details,
    )


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
        presence(ctx, LIVE).rows,
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
    cfg, cats, live_rows = ctx.config, categories(ctx, name), presence(ctx, LIVE).rows
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
    axis, zone = time_axis(ctx, time_column)
    assert axis.last is not None  # some time is readable (_unusable_time_column)
    end = axis.last
    found = presence(ctx, LIVE).columns
    last_seen = {name: found[name].last for name in shared_features(ctx)}
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
    if name not in schema(ctx, LIVE).names:
        message = f"staleness not checked: the live features have no {name} column"
        hint = (
            f"Add `{name}` to the live features export, or skip the staleness check: set "
            "stages.variable_availability.max_staleness to null."
        )
        return Finding(Status.WARN, message, source=LIVE, column=name, hint=hint)
    axis, _ = time_axis(ctx, name)
    if axis.times == 0:
        hint = "The live export writes no event times; repair it."
        return Finding(
            Status.FAIL,
            f"every {name} in the live features is null",
            source=LIVE,
            column=name,
            hint=hint,
        )
    return None


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
