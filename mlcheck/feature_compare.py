"""Stage 2's comparison of research.features with production.features, asked of the aggregate
engine (SPEC 7.1): schemas, key counts, row sets, statistics and the differing cells sorted
into causes, all as small answers (counts, extremes, a few quantiles, capped examples).

`compare_features(ctx)` returns a frozen `FeatureComparison`, memoised per run, that every
feature check of the stage reads. The rules are those of `mlcheck.compare` (tolerance, kinds,
dtype classification, statistics) and of the stage's diagnosis: each differing cell gets the
first cause that fits (see `mlcheck.engines.causes.CauseRule`), and the clip points and fill
values that two causes need are found from the first answer, then asked again for the few
columns that have them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlcheck.compare import (
    ChangeKind,
    ColumnStats,
    DtypeChange,
    KeyDiagnostics,
    Kind,
    RowDifference,
    StatsComparison,
    _can_hold,
    _fingerprint,
    _related,
    _salt,
    _same_zone,
    _schema_signature,
    add_hashes,
    logical_type,
    pair_kind,
    stat_differences,
    type_family,
    type_name,
    within_tolerance,
)
from mlcheck.context import StageContext
from mlcheck.engine import _common_key, pooled_empty
from mlcheck.engines.base import AggregateEngine, KeyCounts, Tolerance
from mlcheck.engines.causes import CauseRule, CellCauses, FiniteRange
from mlcheck.engines.causes import Clip as ClipRule

RESEARCH = "research.features"
PRODUCTION = "production.features"
NUMERIC_KINDS = ("integer", "float")
_INFINITY = ("inf_introduced", "inf_removed", "inf_flipped")
_NOT_LOGIC = ("within", "precision")
_TOP = 3  # values shown per side for a cause


@dataclass(frozen=True)
class Extremes:
    """One side's finite range: the clip points when the side clips."""

    min: float
    max: float
    at_min: int
    at_max: int


@dataclass(frozen=True)
class Clip:
    """The middle quantiles (which agree) and each side's extremes, for a clipping diagnosis."""

    levels: tuple[float, ...]
    research_quantiles: tuple[float, ...]
    production_quantiles: tuple[float, ...]
    research: Extremes
    production: Extremes

    def rule(self) -> ClipRule:
        return ClipRule(
            low_tail=min(self.research_quantiles[0], self.production_quantiles[0]),
            high_tail=max(self.research_quantiles[-1], self.production_quantiles[-1]),
            research_min=self.research.min,
            research_max=self.research.max,
            production_min=self.production.min,
            production_max=self.production.max,
        )


@dataclass(frozen=True)
class Role:
    """A fill value's role among the other rows of its side: 'median', 'mean' or None."""

    research: Mapping[str, str | None] = field(default_factory=dict)
    production: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnosis:
    """Why the cells of one column differ: counts per cause (see `CauseRule`), the first
    examples by key of each cause, each side's values per cause, and the clip when cells were
    clipped. `roles[(cause, side)]` names a single fill value that is that side's median/mean."""

    column: str
    kind: Kind
    compared: int
    causes_found: CellCauses
    clip: Clip | None = None
    roles: Mapping[tuple[str, str], str | None] = field(default_factory=dict)

    def count(self, *causes: str) -> int:
        return sum(self.causes_found.counts.get(c, 0) for c in causes)

    @property
    def filled(self) -> int:
        return self.count("filled")

    @property
    def emptied(self) -> int:
        return self.count("emptied")

    @property
    def refilled(self) -> int:
        return self.count("refilled")

    @property
    def infinity(self) -> int:
        return self.count(*_INFINITY)

    @property
    def precision(self) -> int:
        return self.count("precision")

    @property
    def noise(self) -> int:
        """Cells that differ within tolerance (an infinity against a finite value is not noise)."""
        return self.count("within")

    @property
    def clipped_low(self) -> int:
        return self.count("clipped_low")

    @property
    def clipped_high(self) -> int:
        return self.count("clipped_high")

    @property
    def logic(self) -> int:
        return sum(n for c, n in self.causes_found.counts.items() if c not in _NOT_LOGIC)

    def causes(self) -> dict[str, int]:
        """Counts of cells beyond tolerance by cause (precision excluded: it is not logic)."""
        return {
            "imputation": self.count("filled", "emptied", "refilled"),
            "infinity": self.infinity,
            "clipping": self.count("clipped_low", "clipped_high"),
            "unexplained": self.count("other", "nulls"),
        }

    def examples(self, causes: Sequence[str] | None, limit: int) -> list[dict[str, Any]]:
        """The first `limit` cells by key among these causes (None: every logic cause)."""
        chosen = [
            e
            for e in self.causes_found.examples
            if (e["cause"] not in _NOT_LOGIC if causes is None else e["cause"] in causes)
        ]
        return [
            {"key": e["key"], "research": e["research"], "production": e["production"]}
            for e in chosen[:limit]
        ]

    def values(self, cause: str, side: str) -> tuple[int, tuple[tuple[Any, int], ...]]:
        return self.causes_found.values.get(cause, {}).get(side, (0, ()))

    def max_relative(self, *causes: str) -> float:
        found = [self.causes_found.max_rel[c] for c in causes if c in self.causes_found.max_rel]
        return max(found) if found else 0.0


@dataclass(frozen=True, eq=False)
class FeatureComparison:
    """What the feature checks read; the fields mean what `mlcheck.compare.TableComparison`'s do."""

    key: tuple[str, ...]
    key_problem: str | None
    left_rows: int
    right_rows: int
    left_columns: tuple[str, ...]
    right_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    renamed: Mapping[str, str]
    dtype_changes: tuple[DtypeChange, ...]
    uncomparable: Mapping[str, str]
    compared_columns: tuple[str, ...]
    kinds: Mapping[str, Kind]
    identical: bool
    fingerprint: str | None
    keys: KeyDiagnostics | None
    rows: RowDifference
    matched: int
    set_differs: bool
    stats: Mapping[str, StatsComparison] = field(default_factory=dict)
    diagnoses: Mapping[str, Diagnosis] = field(default_factory=dict)
    infinities: Mapping[str, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)

    @property
    def keyed(self) -> bool:
        return bool(self.key)

    def row_set_differs(self) -> bool:
        return self.set_differs

    def float_columns(self) -> list[str]:
        if self.identical:
            return []
        return [c for c in self.compared_columns if self.kinds.get(c) == "float"]


def compare_features(ctx: StageContext) -> FeatureComparison | None:
    """The comparison of the two feature tables, once per run (None unless both declare them)."""
    if ctx.checklist.research.features is None or ctx.checklist.production.features is None:
        return None
    cfg = ctx.config
    knobs = (
        *tuple(
            getattr(cfg, k)
            for k in ("rtol", "atol", "examples", "top_values", "float32_rtol", "clip_quantile")
        ),
        cfg.fill_share,
        cfg.min_fill_cells,
        tuple(sorted(set(ctx.columns.ignore))),
    )
    return ctx.engine.memo(
        ("feature_compare", RESEARCH, PRODUCTION, knobs), lambda: _Builder(ctx).run()
    )


class _Builder:
    def __init__(self, ctx: StageContext) -> None:
        self.ctx, self.cfg = ctx, ctx.config
        self.agg: AggregateEngine = ctx.engine.aggregate
        self.left, self.right = ctx.engine.relation(RESEARCH), ctx.engine.relation(PRODUCTION)
        self.ignore = set(ctx.columns.ignore)
        self.tol = Tolerance(float(self.cfg.rtol), float(self.cfg.atol))
        self.ls, self.rs = self.agg.schema(self.left), self.agg.schema(self.right)
        if self._key_types_differ():
            self._with_common_key()

    def _key_types_differ(self) -> bool:
        key = [k for k in self.ctx.engine.key(RESEARCH) or () if k not in self.ignore]
        present = [k for k in key if k in self.ls.names and k in self.rs.names]
        return any(
            not logical_type(self.ls.field(k).type).equals(logical_type(self.rs.field(k).type))
            for k in present
        )

    def _with_common_key(self) -> None:
        """A key typed differently per side joins in a common type (`mlcheck.engine`'s rule:
        int64, uint64, float64, the finer temporal unit, else text). The engines pair keys of
        one type, so both tables are registered again with the key cast (the one case that
        reads them whole here). The schemas stay the sides' own: the type change is reported."""
        key = [
            k
            for k in self.ctx.engine.key(RESEARCH) or ()
            if k in self.ls.names and k in self.rs.names
        ]
        left, right = self.ctx.engine.table(RESEARCH), self.ctx.engine.table(PRODUCTION)
        for k in key:
            lk, rk = _common_key(left.column(k), right.column(k))
            left = left.set_column(left.column_names.index(k), k, lk)
            right = right.set_column(right.column_names.index(k), k, rk)

        def register(slot: str, table: pa.Table) -> str:
            name = f"{slot}~common-key"
            self.agg.register(name, table)
            return name

        self.left = self.ctx.engine.memo(("common-key", RESEARCH), lambda: register(RESEARCH, left))
        self.right = self.ctx.engine.memo(
            ("common-key", PRODUCTION), lambda: register(PRODUCTION, right)
        )

    def run(self) -> FeatureComparison:
        left_cols = [n for n in self.ls.names if n not in self.ignore]
        right_cols = [n for n in self.rs.names if n not in self.ignore]
        left_set, right_set = set(left_cols), set(right_cols)
        common = [c for c in left_cols if c in right_set]
        kinds = {c: pair_kind(self._type(c, 0), self._type(c, 1)) for c in common}
        uncomparable = {
            c: f"{_shown(self._type(c, 0))} vs {_shown(self._type(c, 1))} cannot be compared"
            for c in common
            if kinds[c] == "uncomparable"
        }
        comparable = [c for c in common if kinds[c] != "uncomparable"]
        key, key_problem = self._usable_key(left_set, right_set)
        compared = tuple(c for c in comparable if c not in key)
        missing = tuple(c for c in left_cols if c not in right_set)
        extra = tuple(c for c in right_cols if c not in left_set)
        same_schema = self._signature(self.ls) == self._signature(self.rs)
        base: dict[str, Any] = {
            "key": key,
            "key_problem": key_problem,
            "left_columns": tuple(left_cols),
            "right_columns": tuple(right_cols),
            "missing_columns": missing,
            "extra_columns": extra,
            "renamed": self._renamed(missing, extra),
            "dtype_changes": self._dtype_changes(common),
            "uncomparable": uncomparable,
            "compared_columns": compared,
            "kinds": kinds,
        }
        if key:
            return self._keyed(
                base, key, compared, kinds, comparable, same_schema and not uncomparable
            )
        rows = self._multiset(comparable)
        identical = same_schema and not uncomparable and not (rows.lost or rows.extra)
        return FeatureComparison(
            **base,
            left_rows=self.agg.num_rows(self.left),
            right_rows=self.agg.num_rows(self.right),
            identical=identical,
            fingerprint=self._fingerprint() if identical else None,
            keys=None,
            rows=rows,
            matched=0,
            set_differs=bool(rows.lost or rows.extra),
            stats={} if identical else self._stats(compared, kinds, set()),
        )

    def _keyed(
        self,
        base: dict[str, Any],
        key: tuple[str, ...],
        compared: tuple[str, ...],
        kinds: Mapping[str, Kind],
        comparable: list[str],
        same_schema: bool,
    ) -> FeatureComparison:
        kc = self.agg.key_comparison(self.left, self.right, key, {}, self.tol, self.cfg.examples)
        found = self._cell_causes(
            key, {c: self._rule(c, kinds[c]) for c in self._cellwise(compared, kinds)}
        )
        cells_differ = any(f.counts for f in found.values())
        set_differs = self._set_differs(kc.left, kc.right, kc.rows, comparable, cells_differ)
        identical = same_schema and not set_differs and not cells_differ
        keys = _key_diagnostics(key, kc.left, kc.right)
        out = FeatureComparison(
            **base,
            left_rows=kc.left_rows,
            right_rows=kc.right_rows,
            identical=identical,
            fingerprint=self._fingerprint() if identical else None,
            keys=keys,
            rows=kc.rows,
            matched=kc.matched,
            set_differs=set_differs,
        )
        if identical:
            return out
        same = (
            set()
            if set_differs
            else {c for c in compared if not found.get(c) or not found[c].counts}
        )
        stats = self._stats(compared, kinds, same)
        ranges = _Ranges(self, stats, [c for c in compared if kinds[c] in NUMERIC_KINDS])
        diagnoses = _Diagnoser(self, key, kinds, found, ranges, stats, kc.matched).run(compared)
        floats = [c for c in compared if kinds[c] == "float" and not stats[c].identical]
        ranges.exact(floats, only_infinite=True)
        infinities = {
            c: (_inf_counts(ranges.get(0, c)), _inf_counts(ranges.get(1, c))) for c in floats
        }
        return FeatureComparison(
            **{**out.__dict__, "stats": stats, "diagnoses": diagnoses, "infinities": infinities}
        )

    # ---- schema

    def _type(self, column: str, side: int) -> pa.DataType:
        return (self.ls, self.rs)[side].field(column).type

    def _signature(self, schema: pa.Schema) -> str:
        kept = [f for f in schema if f.name not in self.ignore]
        return "\n".join(sorted(f"{f.name}\t{logical_type(f.type)}" for f in kept))

    def _usable_key(self, left: set[str], right: set[str]) -> tuple[tuple[str, ...], str | None]:
        key = tuple(self.ctx.engine.key(RESEARCH) or ())
        if not key:
            return (), None
        absent = {
            side: [c for c in key if c not in names]
            for side, names in (("research", left), ("production", right))
        }
        if not absent["research"] and not absent["production"]:
            return key, None
        problem = "; ".join(
            f"{side} lacks key column(s) {', '.join(cols)}" for side, cols in absent.items() if cols
        )
        return (), problem

    def _dtype_changes(self, common: list[str]) -> tuple[DtypeChange, ...]:
        """`mlcheck.compare.classify_dtype_change`, its values asked as two aggregates: how many
        research values are non-null, and how many change when cast to production's type."""
        pairs = {
            c: (logical_type(self._type(c, 0)), logical_type(self._type(c, 1))) for c in common
        }
        changed = {c: p for c, p in pairs.items() if not p[0].equals(p[1])}
        if not changed:
            return ()
        to_null = [c for c, (_, rt) in changed.items() if type_family(rt) == "null"]
        counts = self.agg.profiles(self.left, dict.fromkeys(to_null, "null"), 0) if to_null else {}
        asked = {
            c: rt
            for c, (lt, rt) in changed.items()
            if type_family(lt) != "null"
            and type_family(rt) != "null"
            and _related(type_family(lt), type_family(rt))
            and _same_zone(lt, rt)
            and not _can_hold(lt, rt)
        }
        trips = self.agg.round_trip_changes(self.left, asked) if asked else {}
        out = []
        for c, (lt, rt) in changed.items():
            out.append(_classify(c, lt, rt, counts.get(c), trips.get(c)))
        return tuple(out)

    def _renamed(self, missing: tuple[str, ...], extra: tuple[str, ...]) -> dict[str, str]:
        """Research-only columns whose value multiset equals a production-only column's (a
        profile screens the candidates; their value counts decide)."""
        if not missing or not extra:
            return {}

        def profiles(rel: str, schema: pa.Schema, names: Sequence[str]) -> dict[str, Any]:
            kinds = {c: pair_kind(schema.field(c).type, schema.field(c).type) for c in names}
            usable = {c: k for c, k in kinds.items() if k not in ("uncomparable", "null")}
            return self.agg.profiles(rel, usable, 0) if usable else {}

        left, right = profiles(self.left, self.ls, missing), profiles(self.right, self.rs, extra)
        out = {}
        for m, ms in left.items():
            if not ms.count or (ms.distinct == 1 and not ms.nulls):
                continue  # one repeated value (or none) cannot identify a column
            for e, es in right.items():
                if (ms.count, ms.nulls, ms.distinct) != (es.count, es.nulls, es.distinct):
                    continue
                if self.agg.value_counts(self.left, m) == self.agg.value_counts(self.right, e):
                    out[m] = e
                    break
        return out

    # ---- rows and cells

    def _cellwise(self, compared: Sequence[str], kinds: Mapping[str, Kind]) -> list[str]:
        """Columns compared cell by cell (all-null pairs and times of day never differ here)."""
        out = []
        for c in compared:
            families = {type_family(self._type(c, s)) for s in (0, 1)}
            if kinds[c] == "null" or (kinds[c] == "temporal" and families != {"instant"}):
                continue
            out.append(c)
        return out

    def _rule(self, column: str, kind: Kind, **extra: Any) -> CauseRule:
        rtol = float(self.cfg.float32_rtol) if kind == "float" else None
        return CauseRule(kind, precision_rtol=rtol, **extra)

    def _cell_causes(
        self, key: tuple[str, ...], rules: Mapping[str, CauseRule]
    ) -> dict[str, CellCauses]:
        if not rules:
            return {}
        return self.agg.cell_causes(
            self.left, self.right, key, rules, self.tol, self.cfg.examples, _TOP
        )

    def _multiset(self, columns: list[str]) -> RowDifference:
        """Rows as multisets over `columns`; with none to compare, rows differ only in number."""
        if columns:
            return self.agg.multiset_difference(self.left, self.right, columns, self.cfg.examples)
        n, m = self.agg.num_rows(self.left), self.agg.num_rows(self.right)
        lost, extra = max(n - m, 0), max(m - n, 0)
        return RowDifference("row", lost, extra, int(lost > 0), int(extra > 0), (), ())

    def _set_differs(
        self,
        left: KeyCounts,
        right: KeyCounts,
        rows: RowDifference,
        comparable: list[str],
        cells_differ: bool,
    ) -> bool:
        """Rows differ outside the matched pairs: keys lost or extra, changed null/duplicate
        counts, or the null/duplicate-key rows differing in content (compared whole: exact
        when no matched cell differs, else taken as differing)."""
        if rows.lost or rows.extra:
            return True
        if (left.null_rows, left.duplicate_rows) != (right.null_rows, right.duplicate_rows):
            return True
        if not (left.null_rows or left.duplicate_rows):
            return False
        if cells_differ:
            return True
        whole = self.agg.multiset_difference(self.left, self.right, comparable, 0)
        return bool(whole.lost or whole.extra)

    def _stats(
        self, compared: Sequence[str], kinds: Mapping[str, Kind], same: set[str]
    ) -> dict[str, StatsComparison]:
        """Both sides' profiles of each column whose values may differ, and what differs."""
        asked = {c: kinds[c] for c in compared if c not in same and self._profiled(c, kinds[c])}
        top = int(getattr(self.cfg, "top_values", 5))
        left = self.agg.profiles(self.left, asked, top) if asked else {}
        right = self.agg.profiles(self.right, asked, top) if asked else {}
        out = {}
        for c in compared:
            if c not in asked:
                out[c] = StatsComparison(c, kinds[c], identical=True)
                continue
            diffs = stat_differences(kinds[c], left[c], right[c], self.tol.rtol, self.tol.atol)
            out[c] = StatsComparison(c, kinds[c], False, left[c], right[c], diffs)
        return out

    def _profiled(self, column: str, kind: Kind) -> bool:
        """Whether both sides can be profiled as `kind` (text statistics need text columns)."""
        if kind != "text":
            return True
        return all(type_family(self._type(column, s)) == "text" for s in (0, 1))

    def _fingerprint(self) -> str:
        """The research table's order-independent content fingerprint (`mlcheck.compare`),
        shown when the two tables are identical."""
        table = self.ctx.engine.table(RESEARCH)
        table = table.drop_columns([c for c in table.column_names if c in self.ignore])
        total = pooled_empty(table.num_rows, np.uint64)
        total.fill(0)
        for name in table.column_names:
            column = table.column(name)
            kind = pair_kind(column.type, column.type)
            if kind != "uncomparable":
                add_hashes(total, column, kind, column.type, _salt(name))
        return _fingerprint(_schema_signature(table), total)


class _Diagnoser:
    """Clip points and fill values from the first answer, asked again for their columns."""

    def __init__(
        self,
        builder: _Builder,
        key: tuple[str, ...],
        kinds: Mapping[str, Kind],
        found: dict[str, CellCauses],
        ranges: _Ranges,
        stats: Mapping[str, StatsComparison],
        matched: int,
    ) -> None:
        self.b, self.key, self.kinds, self.found = builder, key, kinds, dict(found)
        self.ranges, self.stats, self.matched = ranges, stats, matched
        self.cfg = builder.cfg

    def run(self, compared: Sequence[str]) -> dict[str, Diagnosis]:
        numeric = [c for c in compared if self.kinds[c] in NUMERIC_KINDS and c in self.found]
        clips = self._clips([c for c in numeric if self.found[c].counts.get("other")])
        if clips:
            again = self.b._cell_causes(
                self.key,
                {c: self.b._rule(c, self.kinds[c], clip=k.rule()) for c, k in clips.items()},
            )
            clips = {
                c: k
                for c, k in clips.items()
                if again[c].counts.get("clipped_low") or again[c].counts.get("clipped_high")
            }
            self.found |= {c: again[c] for c in clips}
        fills = {c: f for c in numeric if (f := self._fill(self.found[c])) is not None}
        if fills:
            rules = {
                c: self.b._rule(
                    c, self.kinds[c], clip=clips[c].rule() if c in clips else None, fill=f
                )
                for c, f in fills.items()
            }
            self.found |= self.b._cell_causes(self.key, rules)
        out = {}
        for c in compared:
            causes = self.found.get(c) or CellCauses(c, self.kinds[c])
            out[c] = Diagnosis(
                c, self.kinds[c], self.matched, causes, clips.get(c), self._roles(c, causes)
            )
        return out

    # ---- clipping

    def _clips(self, columns: Sequence[str]) -> dict[str, Clip]:
        """Each side's extremes of the columns whose middle quantiles agree: every column's
        quantiles in one question per side, their extremes in one more."""
        q = self.cfg.clip_quantile
        levels = tuple(sorted({q, 1 - q} | {x for x in (0.25, 0.5, 0.75) if q < x < 1 - q}))
        self.ranges.exact(columns, only_infinite=True)
        sides = {c: (self.ranges.get(0, c), self.ranges.get(1, c)) for c in columns}
        usable = {c: (r, p) for c, (r, p) in sides.items() if r is not None and p is not None}
        usable = {
            c: (r, p)
            for c, (r, p) in usable.items()
            if r.finite and p.finite and _touches_extreme(self.found[c], r, p)
        }
        if not usable:
            return {}
        qa = _linear_quantiles(
            self.b.agg, self.b.left, {c: r for c, (r, _) in usable.items()}, levels
        )
        qb = _linear_quantiles(
            self.b.agg, self.b.right, {c: p for c, (_, p) in usable.items()}, levels
        )
        tolerance = max(self.cfg.rtol, self.cfg.float32_rtol)
        agree = [
            c
            for c in usable
            if within_tolerance(np.array(qa[c]), np.array(qb[c]), tolerance, self.cfg.atol).all()
        ]
        self.ranges.exact(agree)
        return {
            c: Clip(levels, qa[c], qb[c], self._extremes(0, c), self._extremes(1, c)) for c in agree
        }

    def _extremes(self, side: int, column: str) -> Extremes:
        found = self.ranges.get(side, column)
        assert found is not None  # asked above
        return _extremes(found)

    # ---- fills

    def _fill(self, causes: CellCauses) -> tuple[int, float] | None:
        """The one value that fills most of the remaining differing cells on a side, as
        `CauseRule.fill`: production is tried first (the side under test), then research."""
        n = causes.counts.get("other", 0)
        for side, name in ((1, "production"), (0, "research")):
            if n < self.cfg.min_fill_cells:
                return None
            _, top = causes.values.get("other", {}).get(name, (0, ()))
            if top and top[0][1] >= max(self.cfg.min_fill_cells, self.cfg.fill_share * n):
                return side, float(top[0][0])
        return None

    def _roles(self, column: str, causes: CellCauses) -> dict[tuple[str, str], str | None]:
        """For each (cause, side) holding a single numeric value: the side's median or mean of
        its other rows, when the value is one of them."""
        out: dict[tuple[str, str], str | None] = {}
        if self.kinds[column] not in NUMERIC_KINDS:
            return out
        for cause, sides in causes.values.items():
            for side, (distinct, top) in sides.items():
                s = 0 if side == "research" else 1
                if cause in ("filled", "emptied", "refilled") and distinct == 1 and top:
                    out[(cause, side)] = self._role(column, s, top[0][0], causes.counts[cause])
        return out

    def _role(self, column: str, side: int, value: Any, k: int) -> str | None:
        arrow_type = self.b._type(column, side)
        if not (pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)):
            return None
        ranges = self.ranges.get(side, column)
        if ranges is None:
            return None
        v = float(value)
        removed = k if math.isfinite(v) else 0
        m = ranges.finite - removed
        if m <= 0:
            return None
        rel = (self.b.left, self.b.right)[side]
        median = _median_without(self.b.agg, rel, column, ranges, v, removed)
        if math.isclose(v, median, rel_tol=1e-9, abs_tol=1e-12):
            return "median"
        mean = self._mean_without(column, side, ranges, v, removed)
        if mean is not None and math.isclose(v, mean, rel_tol=1e-9, abs_tol=1e-12):
            return "mean"
        return None

    def _mean_without(
        self, column: str, side: int, ranges: FiniteRange, v: float, removed: int
    ) -> float | None:
        if ranges.pos_inf or ranges.neg_inf:
            return None  # the exact sum includes them; the finite mean is not asked for
        stats = self.stats.get(column)
        profile = None if stats is None else (stats.left, stats.right)[side]
        if profile is None or profile.sum is None:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            return (profile.sum - removed * v) / (ranges.finite - removed)


class _Ranges:
    """Each side's finite range of numeric columns. A column whose profile shows finite
    extremes holds no infinity, so its counts come from the profile; the rows on each extreme,
    and the ranges of columns holding an infinity, are asked of the engine when needed."""

    def __init__(
        self, builder: _Builder, stats: Mapping[str, StatsComparison], numeric: Sequence[str]
    ) -> None:
        self.b = builder
        self.found: tuple[dict[str, FiniteRange], dict[str, FiniteRange]] = ({}, {})
        self.asked: tuple[set[str], set[str]] = (set(), set())
        for c in numeric:
            st = stats.get(c)
            for side in (0, 1):
                profile = None if st is None else (st.left, st.right)[side]
                if profile is not None and _finite_extremes(profile):
                    self.found[side][c] = _profile_range(profile)

    def get(self, side: int, column: str) -> FiniteRange | None:
        if column not in self.found[side]:
            self.exact([column])
        return self.found[side].get(column)

    def exact(self, columns: Sequence[str], only_infinite: bool = False) -> None:
        """Ask the engine (one question per side) for these columns' full ranges; with
        `only_infinite`, only for those whose profile does not show them finite."""
        for side, rel in ((0, self.b.left), (1, self.b.right)):
            wanted = [
                c
                for c in columns
                if c not in self.asked[side] and not (only_infinite and c in self.found[side])
            ]
            if wanted:
                self.found[side].update(self.b.agg.finite_ranges(rel, wanted))
                self.asked[side].update(wanted)


def _touches_extreme(found: CellCauses, research: FiniteRange, production: FiniteRange) -> bool:
    """Whether an unexplained pair holds a side's own finite extreme: every clipped pair does
    (`CauseRule.clip`; such pairs are "other" without a clip rule, both values finite), so a
    column without one needs no quantiles (two whole-column reads, ~1.2 s of CPU at 1M rows x
    18 columns). Compared with a margin (a profile's extreme may round apart from the cells'
    through a cast): a column near an extreme stays a candidate, which only costs its
    quantiles. Unknown: True."""
    if "other" not in found.extremes:
        return True
    a_min, a_max, b_min, b_max = found.extremes["other"]
    pairs = (
        (a_min, research.min),
        (a_max, research.max),
        (b_min, production.min),
        (b_max, production.max),
    )
    return any(
        cell is not None
        and side is not None
        and math.isclose(cell, side, rel_tol=1e-9, abs_tol=1e-300)
        for cell, side in pairs
    )


def _finite_extremes(profile: ColumnStats) -> bool:
    values = [profile.min, profile.max]
    return all(v is None or math.isfinite(float(v)) for v in values)


def _profile_range(profile: ColumnStats) -> FiniteRange:
    """A finite range from a profile without infinities (rows on the extremes unknown: -1)."""
    n = profile.count - profile.nans
    if not n or profile.min is None:
        return FiniteRange(None, None, 0, 0, 0, 0, 0)
    return FiniteRange(float(profile.min) + 0.0, float(profile.max) + 0.0, -1, -1, n, 0, 0)


# --------------------------------------------------------------------------- helpers


def _key_diagnostics(key: tuple[str, ...], left: KeyCounts, right: KeyCounts) -> KeyDiagnostics:
    return KeyDiagnostics(
        key=key,
        left_null_rows=left.null_rows,
        right_null_rows=right.null_rows,
        left_duplicate_rows=left.duplicate_rows,
        right_duplicate_rows=right.duplicate_rows,
        left_duplicate_keys=left.duplicate_keys,
        right_duplicate_keys=right.duplicate_keys,
        left_duplicate_examples=left.duplicate_examples,
        right_duplicate_examples=right.duplicate_examples,
        compared_as_text=(),
    )


def _classify(
    column: str, lt: pa.DataType, rt: pa.DataType, nulls: ColumnStats | None, changes: int | None
) -> DtypeChange:
    """`mlcheck.compare.classify_dtype_change` with its two data questions answered."""
    lf, rf = type_family(lt), type_family(rt)
    research, production = type_name(lt), type_name(rt)

    def change(kind: ChangeKind, why: str) -> DtypeChange:
        return DtypeChange(column, research, production, kind, why)

    if lf == "null":
        return change("widening", "research column is all null")
    if rf == "null":
        all_null = nulls is not None and nulls.count == 0
        return change(
            "narrowing" if all_null else "precision_loss", "production column is all null"
        )
    if not _related(lf, rf) or not _same_zone(lt, rt):
        why = "timezone added or removed" if lf == rf == "instant" else f"{lf} became {rf}"
        return change("incompatible", why)
    if _can_hold(lt, rt):
        return change("widening", "production's type holds every value")
    if changes == 0:
        if lf == "integer" and rf == "floating":
            return change("widening", "every integer is exact as a float")
        return change("narrowing", "smaller type, but every research value survives the cast")
    return change("precision_loss", "some research values change when cast to production's type")


def _shown(t: pa.DataType) -> str:
    """A nested type's name as a parquet reader shows it: DuckDB calls a list's values `l`,
    pyarrow's parquet reader `element`."""
    if pa.types.is_list(t) and t.value_field.name == "l":
        t = pa.list_(t.value_field.with_name("element"))
    elif pa.types.is_large_list(t) and t.value_field.name == "l":
        t = pa.large_list(t.value_field.with_name("element"))
    return type_name(t)


def _inf_counts(found: FiniteRange | None) -> dict[str, int]:
    if found is None:
        return {"+inf": 0, "-inf": 0}
    return {"+inf": found.pos_inf, "-inf": found.neg_inf}


def _extremes(found: FiniteRange) -> Extremes:
    return Extremes(float(found.min or 0.0), float(found.max or 0.0), found.at_min, found.at_max)


def _elements(
    agg: AggregateEngine, rel: str, indexes: Mapping[str, Sequence[int]]
) -> dict[str, dict[int, float]]:
    """Per column, elements of its sorted finite values at these 0-based indexes, all columns
    in one question."""
    found = agg.sorted_values_many(rel, list(indexes), ranks=indexes)
    return {
        c: {i: found[c][None].at(i) for i in set(idx)} if idx else {} for c, idx in indexes.items()
    }


def _linear_quantiles(
    agg: AggregateEngine, rel: str, ranges: Mapping[str, FiniteRange], levels: Sequence[float]
) -> dict[str, tuple[float, ...]]:
    """Per column, numpy's default (linear) quantiles of the finite values, digit for digit:
    the same virtual index, neighbours and interpolation as `np.quantile`."""
    plans = {c: _linear_plan(r.finite, levels) for c, r in ranges.items()}
    wanted = {c: [int(i) for i in (*previous, *nxt)] for c, (previous, nxt, _) in plans.items()}
    values = _elements(agg, rel, wanted)
    return {c: _interpolate(values[c], *plans[c]) for c in plans}


def _linear_plan(n: int, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`np.quantile`'s neighbours below and above each level's virtual index, and the weight."""
    virtual = (n - 1) * np.asarray(levels, dtype=np.float64)
    previous = np.floor(virtual)
    nxt = previous + 1
    above, below = virtual >= n - 1, virtual < 0
    previous[above] = nxt[above] = n - 1
    previous[below] = nxt[below] = 0
    gamma = virtual - np.where(above, -1, previous)
    return previous, nxt, gamma


def _interpolate(
    values: Mapping[int, float], previous: np.ndarray, nxt: np.ndarray, gamma: np.ndarray
) -> tuple[float, ...]:
    a = np.array([values[int(i)] for i in previous])
    b = np.array([values[int(i)] for i in nxt])
    diff = b - a
    out = a + diff * gamma
    late = gamma >= 0.5
    out[late] = (b - diff * (1 - gamma))[late]
    return tuple(float(x) for x in out)


def _median_without(
    agg: AggregateEngine, rel: str, column: str, ranges: FiniteRange, v: float, k: int
) -> float:
    """The median of the finite values with `k` copies of `v` removed: element j of the rest
    is element j of all when that is below v, else element j + k."""
    m = ranges.finite - k
    middle = [m // 2] if m % 2 else [m // 2 - 1, m // 2]
    asked = {column: [*middle, *(j + k for j in middle)]}
    values = _elements(agg, rel, asked)[column]
    picked = [values[j] if values[j] < v else values[j + k] for j in middle]
    return float(np.mean(picked))
