"""One comparison engine for two table slots: research (left) against production (right).

Stage 1 compares each raw source with it and stage 2 compares `research.features` with
`production.features`; both call::

    comparison = compare_tables(ctx.engine, "research.features", "production.features", ctx.config)

and read the frozen `TableComparison` it returns (memoised per run through `engine.memo`, so
every check of a stage shares one computation). What it holds:

- schema: columns only on the left (`missing_columns`) or the right (`extra_columns`), a guess of
  renamed columns (`renamed`: identical content under another name), and `dtype_changes`, each
  classified as `widening`, `narrowing`, `precision_loss` or `incompatible` (see `DtypeChange`).
- row counts, and `keys` (`KeyDiagnostics`): null and duplicate keys on each side, from
  `engine.join`. Rows with a null or duplicate key are counted and left out of the cell comparison;
  they are never paired by guesswork.
- `rows` (`RowDifference`): rows only on the left ("lost") and only on the right ("extra"), with
  sorted examples. With a key these are key differences; without one, the difference of the two
  row multisets (rows hashed; a row present twice on the left and once on the right is one lost row).
- `left_fingerprint` / `right_fingerprint`: an order-independent content fingerprint (schema,
  row count, and a sum of per-row hashes, themselves sums of per-column value hashes). Equal
  fingerprints mean identical content up to row and column order; then `identical` is true and the
  expensive comparisons (`stats`, `cells`) are skipped and left empty.
- `stats`: per compared column, `ColumnStats` of each side (nulls, NaNs, min, max, mean, std, sum,
  distinct count, top values) and the statistics that differ beyond tolerance.
- `cells` (keyed tables only): per compared column, a `CellComparison` over the matched key pairs:
  positions beyond tolerance, positions that differ only within tolerance (float noise), cells
  null on one side only, max absolute and relative difference, sorted examples, and accessors for
  the values either side had at any set of positions (stage 2 uses them for imputation and
  clipping diagnostics).

Comparison rules. Each common column pair gets one comparison *kind* from its two types:
`integer` (exact), `float` (any mix of floats, decimals, integers and booleans, compared as
float64 with tolerance), `boolean`, `temporal` (timestamps/dates, times, durations: exact, in the
finer of the two units), `text` and `binary` (exact; a text column against a number, date or
boolean compares the values' text), `null` (both all-null), or `uncomparable` (nested types; listed
in `uncomparable`, not compared). The tolerance is symmetric::

    |a - b| <= atol + rtol * max(|a|, |b|)

null equals null, NaN equals NaN, -0.0 equals 0.0, inf equals inf of the same sign; a null against
a value (NaN included) is a difference beyond any tolerance. Integers are compared exactly: they
carry no floating-point noise, so a changed integer is a real change.

Everything is vectorised with numpy/pyarrow: loops run over columns, blocks or examples, never
over rows. Hashes are 64-bit, deterministic across runs and platforms, and not cryptographic.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.engine import (
    KeyJoin,
    LocalEngine,
    decoded,
    key_table,
    parallel_map,
    pooled_empty,
    union_sorted,
)

Kind = Literal["integer", "float", "boolean", "temporal", "text", "binary", "null", "uncomparable"]
ChangeKind = Literal["widening", "narrowing", "precision_loss", "incompatible"]

DEFAULT_TOP_VALUES = 5
# Aggregates (sum, mean, std) of values that differ within tolerance are rounded differently;
# this many ulps of the aggregate's scale absorb that rounding even when rtol is 0.
_ROUNDING_ULPS = 64 * np.finfo(np.float64).eps


class CompareConfig(Protocol):
    """What `compare_tables` reads from a stage's config (stage 1 and 2 configs both fit)."""

    rtol: float
    atol: float
    examples: int


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DtypeChange:
    """A column whose logical type differs between the sides.

    `kind` is `widening` (production's type holds every value of research's type, or an integer
    became a float and every research value is exact in it), `narrowing` (production's type is
    smaller but every research value survives the cast unchanged), `precision_loss` (some
    research value does not survive: float64 -> float32 rounding, decimal scale reduced,
    timestamp unit coarsened, integer overflow), or `incompatible` (different families, such as
    int -> string, or a timezone added/removed). String layouts (string/large_string/string_view)
    and dictionary encoding are not changes.
    """

    column: str
    research: str
    production: str
    kind: ChangeKind
    reason: str


@dataclass(frozen=True)
class KeyDiagnostics:
    """Null and duplicate keys on each side (rows, and distinct duplicated keys with examples)."""

    key: tuple[str, ...]
    left_null_rows: int
    right_null_rows: int
    left_duplicate_rows: int
    right_duplicate_rows: int
    left_duplicate_keys: int
    right_duplicate_keys: int
    left_duplicate_examples: tuple[dict[str, Any], ...]  # {"key", "rows"} sorted by key
    right_duplicate_examples: tuple[dict[str, Any], ...]
    # key columns typed differently per side (joined in a common type, or as text if none fits)
    compared_as_text: tuple[str, ...]


@dataclass(frozen=True)
class RowDifference:
    """Rows only on the left (`lost`) or only on the right (`extra`).

    `by` is "key" (rows whose key is absent on the other side; `*_keys` counts distinct keys,
    examples are `{"key", "rows"}` sorted by key) or "row" (no key: multiset difference of whole
    rows over the common columns; examples are `{"row", "research", "production"}` with the
    number of copies on each side, in hash order, which does not depend on row order).
    """

    by: Literal["key", "row"]
    lost: int
    extra: int
    lost_keys: int
    extra_keys: int
    lost_examples: tuple[dict[str, Any], ...]
    extra_examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ColumnStats:
    """Order-independent summary of one column (numeric aggregates are summed over sorted values).

    `min`/`max` are numbers, text, or ISO strings for temporal columns. `mean`/`std` (ddof=1)/
    `sum` exist for numeric and boolean kinds and skip NaN. `distinct` counts distinct non-null
    values (NaN counts once). `top` holds the most frequent values with counts, ties by value; it
    is left empty for float columns, where frequencies of continuous values mean little.
    `abs_mean`, `rms` and `abs_sum` are the scales the tolerance of mean, std and sum uses.
    """

    count: int
    nulls: int
    nans: int = 0
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    sum: float | None = None
    top: tuple[tuple[Any, int], ...] = ()
    abs_mean: float | None = None
    rms: float | None = None
    abs_sum: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The user-facing statistics (no tolerance scales), for report details."""
        out: dict[str, Any] = {"count": self.count, "nulls": self.nulls, "nans": self.nans}
        for name in ("distinct", "min", "max", "mean", "std", "sum"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.top:
            out["top"] = [{"value": v, "count": c} for v, c in self.top]
        return out


@dataclass(frozen=True)
class StatDifference:
    stat: str
    research: Any
    production: Any
    tolerance: float | None  # None: compared exactly


@dataclass(frozen=True)
class StatsComparison:
    """One column's statistics on both sides. `identical`: same multiset of values (by hash),
    in which case `left`/`right` are not computed (None) and `differences` is empty."""

    column: str
    kind: Kind
    identical: bool
    left: ColumnStats | None = None
    right: ColumnStats | None = None
    differences: tuple[StatDifference, ...] = ()


@dataclass(frozen=True, eq=False)
class CellComparison:
    """One column compared cell by cell over the matched key pairs of `join`.

    Positions are indices into the matched pairs: pair `p` is research row `join.left_rows[p]`
    and production row `join.right_rows[p]` (pairs are in research row order).

    - `beyond`: cells beyond tolerance, including a null against a value.
    - `noise`: cells that differ but within tolerance (float noise); disjoint from `beyond`.
    - `left_null_only` / `right_null_only`: null on that side only (a subset of `beyond`);
      `right_values(left_null_only)` are the values production had where research was null.
    - `max_abs_diff` / `max_rel_diff`: over differing non-null cells (NaN differences skipped);
      for temporal columns `max_abs_diff` is in seconds and `max_rel_diff` is None.
    - `examples`: up to `examples` beyond-tolerance cells `{"key", "research", "production"}`,
      sorted by key.
    """

    column: str
    kind: Kind
    compared: int
    beyond: np.ndarray
    noise: np.ndarray
    left_null_only: np.ndarray
    right_null_only: np.ndarray
    max_abs_diff: float | None
    max_rel_diff: float | None
    examples: tuple[dict[str, Any], ...]
    left_column: pa.ChunkedArray = field(repr=False)
    right_column: pa.ChunkedArray = field(repr=False)
    join: KeyJoin = field(repr=False)

    @property
    def n_beyond(self) -> int:
        return len(self.beyond)

    @property
    def n_noise(self) -> int:
        return len(self.noise)

    def left_values(self, positions: np.ndarray) -> pa.ChunkedArray:
        """Research's values at these pair positions (original type)."""
        return self.left_column.take(pa.array(self.join.left_rows[positions]))

    def right_values(self, positions: np.ndarray) -> pa.ChunkedArray:
        """Production's values at these pair positions (original type)."""
        return self.right_column.take(pa.array(self.join.right_rows[positions]))


@dataclass(frozen=True, eq=False)
class TableComparison:
    """Everything `compare_tables` found; see the module docstring for the meaning of each part.

    `compared_columns` are the common columns, in research order, that are neither key nor
    ignored nor uncomparable: the columns `stats` and `cells` cover. `key` is empty when the
    tables were compared without a key; `key_problem` says why a declared key was not usable.
    """

    left_slot: str
    right_slot: str
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
    left_fingerprint: str
    right_fingerprint: str
    identical: bool
    keys: KeyDiagnostics | None
    rows: RowDifference
    stats: Mapping[str, StatsComparison]
    cells: Mapping[str, CellComparison]
    join: KeyJoin | None = field(default=None, repr=False)
    # Keyed only: the rows left out of the key match (null or duplicate key) on each side,
    # compared whole as multisets; None without a key.
    excluded_rows: RowDifference | None = None

    @property
    def keyed(self) -> bool:
        return bool(self.key)

    def row_set_differs(self) -> bool:
        """Whether rows differ outside the matched pairs: a key lost or extra, a changed number
        of null- or duplicate-key rows, or those excluded rows differing in content.

        The same null/duplicate rows on both sides are no difference by themselves: they are
        compared whole, as a multiset (`excluded_rows`), so a changed value there is not hidden.
        """
        keys, excluded = self.keys, self.excluded_rows
        counts_differ = keys is not None and (
            keys.left_null_rows != keys.right_null_rows
            or keys.left_duplicate_rows != keys.right_duplicate_rows
        )
        content_differs = excluded is not None and bool(excluded.lost or excluded.extra)
        return bool(self.rows.lost or self.rows.extra or counts_differ or content_differs)


# --------------------------------------------------------------------------- entry point


def compare_tables(
    engine: LocalEngine,
    left_slot: str,
    right_slot: str,
    config: CompareConfig,
    *,
    key: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
) -> TableComparison:
    """Compare two slots (left = research, right = production); memoised per run.

    `key=None` uses the left slot's declared key; `key=()` compares without a key. `ignore`
    columns are dropped from every comparison (schema, fingerprint, stats, cells). A declared
    key absent on both sides means the tables are compared without a key; absent on one side,
    the same, with `key_problem` saying which side lacks it. `config` supplies rtol, atol,
    examples and optionally `top_values` (default 5).
    """
    key_cols = tuple(engine.key(left_slot) or ()) if key is None else tuple(key)
    top = int(getattr(config, "top_values", DEFAULT_TOP_VALUES))
    tol = _Tolerance(float(config.rtol), float(config.atol))
    memo_key = (
        "compare",
        left_slot,
        right_slot,
        key_cols,
        tuple(sorted(set(ignore))),
        tol,
        int(config.examples),
        top,
    )
    return engine.memo(
        memo_key,
        lambda: _Comparer(
            engine, left_slot, right_slot, key_cols, set(ignore), tol, int(config.examples), top
        ).run(),
    )


# --------------------------------------------------------------------------- tolerance


@dataclass(frozen=True)
class _Tolerance:
    rtol: float
    atol: float


def within_tolerance(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Element-wise symmetric closeness `|a - b| <= atol + rtol * max(|a|, |b|)`.

    NaN equals NaN, inf equals inf of the same sign, -0.0 equals 0.0; nulls are the caller's
    business (mask them first).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))
    # With rtol > 0, |x - inf| <= rtol * inf holds: a finite value is never close to an infinity.
    close &= np.isfinite(a) & np.isfinite(b)
    return close | (a == b) | (np.isnan(a) & np.isnan(b))


# --------------------------------------------------------------------------- types and kinds


def logical_type(t: pa.DataType) -> pa.DataType:
    """The type without layout details: dictionary decoded, string/binary layouts unified."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    return t


def type_name(t: pa.DataType) -> str:
    """The logical type as users know it: float64/float32 rather than Arrow's double/float."""
    text = str(logical_type(t))
    for arrow, common in (("halffloat", "float16"), ("double", "float64"), ("float", "float32")):
        text = re.sub(rf"\b{arrow}\b", common, text)
    return text


def type_family(t: pa.DataType) -> str:
    t = logical_type(t)
    checks = [
        (pa.types.is_null, "null"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "floating"),
        (pa.types.is_decimal, "decimal"),
        (pa.types.is_timestamp, "instant"),
        (pa.types.is_date, "instant"),
        (pa.types.is_time, "time"),
        (pa.types.is_duration, "duration"),
        (pa.types.is_string, "text"),
        (pa.types.is_binary, "binary"),
        (pa.types.is_fixed_size_binary, "binary"),
    ]
    return next((name for test, name in checks if test(t)), "other")


_NUMERIC = {"integer", "floating", "decimal", "boolean"}
_TEXTUAL = _NUMERIC | {"instant", "time", "duration", "text"}


def pair_kind(left: pa.DataType, right: pa.DataType) -> Kind:
    """How a column typed `left` in research and `right` in production is compared."""
    lf, rf = type_family(left), type_family(right)
    if lf == "null" or rf == "null":
        return (
            "null"
            if lf == rf
            else pair_kind(right, right)
            if lf == "null"
            else pair_kind(left, left)
        )
    if lf == rf == "integer":
        return "integer"  # exact even for uint64 against int64 (see `_value_hashes`)
    if lf == rf == "boolean":
        return "boolean"
    if lf in _NUMERIC and rf in _NUMERIC:
        return "float"
    if lf == rf and lf in ("instant", "time", "duration"):
        return "temporal"
    if lf == rf and lf in ("text", "binary"):
        return lf  # type: ignore[return-value]
    if {lf, rf} == {"text", "binary"}:
        return "binary"
    if lf in _TEXTUAL and rf in _TEXTUAL:
        return "text"
    return "uncomparable"


# --------------------------------------------------------------------------- normalisation


@dataclass(frozen=True, eq=False)
class _Normalized:
    """A column in its comparison representation: numpy values (or an Arrow array for
    text/binary) with nulls filled, a validity mask, and for temporal columns the unit."""

    values: Any
    valid: np.ndarray
    unit_ns: int = 0


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_DAY_NS = 86_400 * 10**9


def _tick_ns(t: pa.DataType) -> int:
    """Nanoseconds per stored integer of a temporal type."""
    if pa.types.is_date32(t):
        return _DAY_NS
    if pa.types.is_date64(t):
        return _UNIT_NS["ms"]
    return _UNIT_NS[t.unit]


def _normalize(column: pa.ChunkedArray, kind: Kind, other: pa.DataType) -> _Normalized:
    column = decoded(column)
    if column.null_count:
        valid = ~np.asarray(column.is_null().to_numpy(), dtype=bool)
    else:
        valid = np.ones(len(column), dtype=bool)
    if kind == "null":
        return _Normalized(np.zeros(len(column), dtype=np.int64), valid)
    if pa.types.is_null(column.type):
        column = column.cast(logical_type(other))  # all null: take the other side's type
    if kind == "integer":
        target = pa.uint64() if pa.types.is_uint64(column.type) else pa.int64()
        return _Normalized(_filled(column.cast(target), 0), valid)
    if kind == "float":
        # Unsafe: an integer beyond 2**53 rounds to the nearest float64 instead of raising.
        return _Normalized(_filled(column.cast(pa.float64(), safe=False), 0.0), valid)
    if kind == "boolean":
        return _Normalized(_filled(column.cast(pa.uint8()), 0), valid)
    if kind == "temporal":
        return _temporal(column, other, valid)
    target_type = pa.large_string() if kind == "text" else pa.large_binary()
    return _Normalized(column.cast(target_type).combine_chunks(), valid)


def _valid(column: pa.ChunkedArray) -> np.ndarray:
    """Which rows hold a value, as `_normalize` sees them (a dictionary's null entry is null)."""
    if pa.types.is_dictionary(column.type) and any(c.dictionary.null_count for c in column.chunks):
        column = decoded(column)
    if not column.null_count:
        return np.ones(len(column), dtype=bool)
    return ~np.asarray(column.is_null().to_numpy(), dtype=bool)


def _filled(column: pa.ChunkedArray, fill: float) -> np.ndarray:
    return np.asarray((column.fill_null(fill) if column.null_count else column).to_numpy())


def _temporal(column: pa.ChunkedArray, other: pa.DataType, valid: np.ndarray) -> _Normalized:
    other = logical_type(other)
    own_tick = _tick_ns(column.type)
    common = (
        min(own_tick, _tick_ns(other))
        if type_family(other) == type_family(column.type)
        else own_tick
    )
    width = pa.int32() if column.type.bit_width == 32 else pa.int64()
    raw = _filled(column.cast(width), 0).astype(np.int64)
    return _Normalized(raw * np.int64(own_tick // common), valid, common)


# --------------------------------------------------------------------------- hashing

_U = np.uint64
_NULL_HASH = _U(0x6A09E667F3BCC909)
_POLY = 0x100000001B3  # odd, so invertible modulo 2**64
_POLY_INV = pow(_POLY, -1, 2**64)
_INT64_MAX = np.uint64(2**63 - 1)
_UNSIGNED_TAG = _U(0xA54FF53A5F1D36F1)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: spreads every input bit over the 64 output bits (and 0 does not map to 0)."""
    x = np.asarray(x, dtype=np.uint64) + _U(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U(30))) * _U(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U(27))) * _U(0x94D049BB133111EB)
    return x ^ (x >> _U(31))


def _mix2(x: np.ndarray) -> np.ndarray:
    """murmur3 fmix64: a second, independent mixer for the other half of a 128-bit sum."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> _U(33))) * _U(0xFF51AFD7ED558CCD)
    x = (x ^ (x >> _U(33))) * _U(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U(33))


# Numbers, the bulk of a table, get a lighter mixer than splitmix64: two xorshift-multiply
# rounds (murmur3's fmix64 without its last xorshift). Each step is a bijection, so distinct
# values never share a hash. It ends with a multiply, which `add_hashes` folds into the column's
# salt: with the source read in place, a number costs 6 passes instead of 11.
_NUMBER_FOLD = _U(0xFF51AFD7ED558CCD)
_NUMBER_LAST = _U(0xC4CEB9FE1A85EC53)


def _mix_number(x: np.ndarray) -> np.ndarray:
    """The hash of each 64-bit number (its bits as uint64); `_mix_number_into` in place."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> _U(32))) * _NUMBER_FOLD
    return (x ^ (x >> _U(29))) * _NUMBER_LAST


def _mix_number_into(x: np.ndarray, out: np.ndarray, scratch: np.ndarray, salt: np.uint64) -> None:
    """out = salt * _mix_number(x) without temporaries (x may be out; scratch is overwritten)."""
    np.right_shift(x, _U(32), out=scratch)
    np.bitwise_xor(x, scratch, out=out)
    out *= _NUMBER_FOLD
    np.right_shift(out, _U(29), out=scratch)
    out ^= scratch
    out *= _times(_NUMBER_LAST, salt)  # the last multiply and the salt, in one pass


def _times(a: np.uint64, b: np.uint64) -> np.uint64:
    """a * b modulo 2**64 (numpy scalars would warn on the overflow that is meant here)."""
    return _U((int(a) * int(b)) % 2**64)


class _PowerTable:
    """base**k modulo 2**64 for k = 0, 1, ...; grown on demand and shared by every block."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.table = np.ones(1, dtype=np.uint64)

    def upto(self, count: int) -> np.ndarray:
        if len(self.table) < count:
            size = max(count, 2 * len(self.table))
            grown = np.empty(size, dtype=np.uint64)
            grown[0] = 1
            grown[1:] = np.cumprod(np.full(size - 1, self.base, dtype=np.uint64))
            self.table = grown
        return self.table[:count]


_POWERS = _PowerTable(_POLY)
_INVERSE_POWERS = _PowerTable(_POLY_INV)
_BLOCK_BYTES = 1 << 20  # bytes hashed per block: bounds the temporary arrays and power tables


def _block_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Polynomial hash of each value whose bytes are data[offsets[i]:offsets[i+1]]."""
    low, high = int(offsets[0]), int(offsets[-1])
    weighted = data[low:high].astype(np.uint64)
    weighted += _U(1)  # a zero byte still counts
    weighted *= _POWERS.upto(high - low)
    prefix = np.zeros(high - low + 1, dtype=np.uint64)
    np.cumsum(weighted, out=prefix[1:])
    starts, ends = offsets[:-1] - low, offsets[1:] - low
    raw = prefix[ends] - prefix[starts]
    # Multiplying by base**-start makes the hash independent of where the value sits.
    raw *= _INVERSE_POWERS.upto(high - low + 1)[starts]
    raw ^= (ends - starts).astype(np.uint64) * _U(0x9E3779B97F4A7C15)  # "a" + "" != "" + "a"
    return _mix(raw)


def _chunk_hashes(chunk: pa.Array) -> np.ndarray:
    chunk = chunk.cast(pa.large_binary())
    buffers = chunk.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    # Block boundaries (value indices) every _BLOCK_BYTES bytes; a loop over blocks, not rows.
    marks = np.arange(offsets[0], offsets[-1], _BLOCK_BYTES)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, marks[1:]), [len(chunk)]]))
    parts = [_block_hashes(data, offsets[a : b + 1]) for a, b in itertools.pairwise(cuts)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def bytes_hashes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hash of each value of a string/binary array (nulls hash like empty values)."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = [_chunk_hashes(chunk) for chunk in chunks if len(chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _value_hashes(norm: _Normalized) -> np.ndarray:
    """One 64-bit hash per row of a normalised column; nulls get a fixed hash."""
    values = norm.values
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        hashed = bytes_hashes(values)
    elif values.dtype.kind == "f":
        canonical = np.where(values == 0, 0.0, values)  # -0.0 hashes like 0.0
        canonical[np.isnan(canonical)] = np.nan  # one NaN payload
        hashed = _mix_number(canonical.view(np.uint64))
    else:
        hashed = _mix_number(values.astype(np.int64).view(np.uint64))
        if values.dtype == np.uint64:
            # A uint64 beyond int64 shares its bits with a negative int64: tag it apart.
            hashed = np.where(values > _INT64_MAX, hashed ^ _UNSIGNED_TAG, hashed)
    return np.where(norm.valid, hashed, _NULL_HASH)


# ---- the same hashes, computed block by block in place (the comparison's hot path)
#
# `column_hashes` and `_hash_blocks` give exactly `_value_hashes(_normalize(column, ...))`, but
# for the common layouts (float64 and integer columns, plain and dictionary-encoded strings) they
# read Arrow's buffers without a copy and mix a few thousand values at a time in two small
# buffers: no column-sized temporaries (whose fresh pages the kernel must zero) and the working
# set stays in the CPU cache. Other layouts fall back to the reference path.

_HASH_BLOCK = 1 << 15


def column_hashes(column: pa.ChunkedArray, kind: Kind, other: pa.DataType) -> np.ndarray:
    """One 64-bit hash per row, as `_value_hashes(_normalize(column, kind, other))`."""
    out = pooled_empty(len(column), np.uint64)
    for start, hashed in _hash_blocks(column, kind, other, _U(1)):
        out[start : start + len(hashed)] = hashed
    return out


def add_hashes(
    total: np.ndarray, column: pa.ChunkedArray, kind: Kind, other: pa.DataType, salt: np.uint64
) -> None:
    """total += salt * hash of each row's value (a row hash is a salted sum over its columns)."""
    for start, hashed in _hash_blocks(column, kind, other, salt):
        total[start : start + len(hashed)] += hashed


def _hash_blocks(
    column: pa.ChunkedArray, kind: Kind, other: pa.DataType, salt: np.uint64
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, salt * hashes of a block of rows); a yielded block is overwritten by the next
    one. The salt is applied inside the mixing where it can be (no pass of its own)."""
    if not all(_fast_layout(chunk, kind) for chunk in column.chunks):
        hashes = _value_hashes(_normalize(column, kind, other))
        hashes *= salt
        for start in range(0, len(hashes), _HASH_BLOCK):
            yield start, hashes[start : start + _HASH_BLOCK]
        return
    buffers = (np.empty(_HASH_BLOCK, np.uint64), np.empty(_HASH_BLOCK, np.uint64))
    offset = 0
    for chunk in column.chunks:
        for start, hashed in _chunk_blocks(chunk, kind, buffers, salt):
            yield offset + start, hashed
        offset += len(chunk)


def _fast_layout(chunk: pa.Array, kind: Kind) -> bool:
    t = chunk.type
    if pa.types.is_dictionary(t):
        value = t.value_type
        textual = any(
            test(value)
            for test in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)
        )
        return kind in ("text", "binary") and textual and chunk.dictionary.null_count == 0
    if kind == "float":
        return pa.types.is_float64(t)
    if kind == "integer":
        return pa.types.is_integer(t) and not pa.types.is_uint64(t)
    if kind in ("text", "binary"):
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
    return False


def _chunk_blocks(
    chunk: pa.Array, kind: Kind, buffers: tuple[np.ndarray, np.ndarray], salt: np.uint64
) -> Iterator[tuple[int, np.ndarray]]:
    nulls = (
        np.asarray(chunk.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if chunk.null_count
        else None
    )
    if pa.types.is_dictionary(chunk.type):
        blocks = _dictionary_blocks(chunk, buffers[0], salt)
    elif kind in ("text", "binary"):
        blocks = _bytes_blocks(chunk, salt)
    else:
        blocks = _number_blocks(chunk, kind, buffers, salt)
    null_hash = _times(_NULL_HASH, salt)
    for start, hashed in blocks:
        if nulls is not None:
            np.copyto(hashed, null_hash, where=nulls[start : start + len(hashed)])
        yield start, hashed


def _data(chunk: pa.Array, dtype: type) -> np.ndarray:
    """The values buffer of a primitive array as numpy, without a copy (null slots hold junk)."""
    return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=chunk.offset + len(chunk))[
        chunk.offset :
    ]


def _number_blocks(
    chunk: pa.Array, kind: Kind, buffers: tuple[np.ndarray, np.ndarray], salt: np.uint64
) -> Iterator[tuple[int, np.ndarray]]:
    values = _data(chunk, chunk.type.to_pandas_dtype())
    block, spare = buffers
    for start in range(0, len(values), _HASH_BLOCK):
        part = values[start : start + _HASH_BLOCK]
        out, scratch = block[: len(part)], spare[: len(part)]
        source = out
        if kind == "float":
            as_float = out.view(np.float64)
            np.add(part, 0.0, out=as_float)  # -0.0 + 0.0 is 0.0: -0.0 hashes like 0.0
            # The sum only detects a NaN: overflowing to inf, or +inf + -inf giving NaN (one
            # extra pass below), is expected with extreme values and harmless.
            with np.errstate(invalid="ignore", over="ignore"):
                has_nan = math.isnan(as_float.sum())  # a NaN (or +inf and -inf) present
            if has_nan:
                as_float[np.isnan(as_float)] = np.nan  # one NaN payload
        elif part.dtype == np.int64:
            source = part.view(np.uint64)  # its bits are the value: mixed from Arrow's buffer
        else:
            np.copyto(out.view(np.int64), part, casting="unsafe")  # sign-extends narrower ints
        _mix_number_into(source, out, scratch, salt)
        yield start, out


def _dictionary_blocks(
    chunk: pa.Array, block: np.ndarray, salt: np.uint64
) -> Iterator[tuple[int, np.ndarray]]:
    dictionary = bytes_hashes(chunk.dictionary)
    if len(dictionary) == 0:  # every index is null
        dictionary = np.full(1, _NULL_HASH, dtype=np.uint64)
    dictionary *= salt  # salted once per distinct value, not once per row
    indices = _data(chunk.indices, chunk.type.index_type.to_pandas_dtype())
    for start in range(0, len(indices), _HASH_BLOCK):
        part = indices[start : start + _HASH_BLOCK]
        out = block[: len(part)]
        np.take(dictionary, part, out=out, mode="clip")  # null slots (junk indices) are replaced
        yield start, out


def _bytes_blocks(chunk: pa.Array, salt: np.uint64) -> Iterator[tuple[int, np.ndarray]]:
    hashes = bytes_hashes(chunk)
    hashes *= salt
    for start in range(0, len(hashes), _HASH_BLOCK):
        yield start, hashes[start : start + _HASH_BLOCK]


def _mix_in_place(x: np.ndarray, scratch: np.ndarray) -> None:
    """`_mix` without temporaries: x becomes splitmix64(x); scratch is overwritten."""
    x += _U(0x9E3779B97F4A7C15)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, _U(shift), out=scratch)
        x ^= scratch
        x *= _U(factor)
    np.right_shift(x, _U(31), out=scratch)
    x ^= scratch


def _mix2_in_place(x: np.ndarray, scratch: np.ndarray) -> None:
    """`_mix2` without temporaries: x becomes fmix64(x); scratch is overwritten."""
    for factor in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        np.right_shift(x, _U(33), out=scratch)
        x ^= scratch
        x *= _U(factor)
    np.right_shift(x, _U(33), out=scratch)
    x ^= scratch


def _name_hash(text: str) -> np.uint64:
    """`bytes_hashes` of one string, from its UTF-8 bytes (pa.array would import pandas)."""
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return np.uint64(_block_hashes(data, np.array([0, len(data)], dtype=np.int64))[0])


@functools.lru_cache(maxsize=1 << 16)
def _salt(name: str) -> np.uint64:
    """An odd per-column multiplier: a row hash is the sum of value hashes times salts.
    Remembered: each fold pass asks it of every column per side (~30 us a name: 0.3 s a pass
    at 5,000 columns)."""
    return _name_hash(name) | _U(1)


def _digest(hashes: np.ndarray) -> tuple[int, int, int]:
    """Order-independent digest of a multiset of (already mixed) 64-bit value hashes."""
    second = (hashes * _U(0xD6E8FEB86659FD93)) ^ (hashes >> _U(29))
    return len(hashes), int(hashes.sum(dtype=np.uint64)), int(second.sum(dtype=np.uint64))


def _fingerprint(schema_sig: str, row_hashes: np.ndarray) -> str:
    """128 bits: two sums of independently re-mixed row hashes (mixing first makes the sum
    depend on which values share a row, not just on each column's values), plus the schema."""
    first = second = 0
    buffers = (np.empty(_HASH_BLOCK, np.uint64), np.empty(_HASH_BLOCK, np.uint64))
    for start in range(0, len(row_hashes), _HASH_BLOCK):  # blocks: no row-sized temporaries
        block = row_hashes[start : start + _HASH_BLOCK]
        mixed, scratch = buffers[0][: len(block)], buffers[1][: len(block)]
        np.copyto(mixed, block)
        _mix_in_place(mixed, scratch)  # = _mix(block)
        first += int(mixed.sum(dtype=np.uint64))
        np.copyto(mixed, block)
        _mix2_in_place(mixed, scratch)  # = _mix2(block)
        second += int(mixed.sum(dtype=np.uint64))
    first = (first % 2**64) ^ int(_name_hash(schema_sig))
    second = (second % 2**64) ^ len(row_hashes)
    return f"{first:016x}{second:016x}"


# --------------------------------------------------------------------------- dtype changes


def _can_hold(left: pa.DataType, right: pa.DataType) -> bool:
    """Whether every value of type `left` is exactly representable in type `right`."""
    lf, rf = type_family(left), type_family(right)
    if lf == "boolean":
        return rf in ("integer", "floating")
    if lf == "integer" and rf == "integer":
        ls, rs = pa.types.is_signed_integer(left), pa.types.is_signed_integer(right)
        return (ls == rs and right.bit_width >= left.bit_width) or (
            not ls and rs and right.bit_width > left.bit_width
        )
    if lf == "integer" and rf == "floating":
        mantissa = {16: 11, 32: 24, 64: 53}[right.bit_width]
        return left.bit_width - pa.types.is_signed_integer(left) <= mantissa
    if lf == rf == "floating":
        return bool(right.bit_width >= left.bit_width)
    if lf == rf == "decimal":
        return bool(
            right.scale >= left.scale
            and right.precision - right.scale >= left.precision - left.scale
        )
    if lf == "integer" and rf == "decimal":
        digits = len(str(2**left.bit_width))
        return bool(right.precision - right.scale >= digits)
    if lf == rf and lf in ("instant", "time", "duration"):
        return _tick_ns(right) <= _tick_ns(left) and _same_zone(left, right)
    return False


def _same_zone(left: pa.DataType, right: pa.DataType) -> bool:
    """Naive vs zone-aware timestamps differ in meaning; two zones hold the same instants."""
    zones = [getattr(t, "tz", None) is not None for t in (left, right)]
    return zones[0] == zones[1]


def _survives(column: pa.ChunkedArray, target: pa.DataType) -> bool:
    """Whether every value of `column` comes back unchanged from a cast to `target`."""
    try:
        back = column.cast(target, safe=False).cast(column.type, safe=False)
        if back.null_count != column.null_count:
            return False
        same = pc.fill_null(pc.equal(column, back), True)
        if pa.types.is_floating(column.type):
            same = pc.or_(same, pc.and_(pc.is_nan(column), pc.is_nan(back)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False  # no cast or no equality for these types: nothing shows the values survive
    return bool(pc.all(same).as_py() is not False)


def classify_dtype_change(
    column: str, left_column: pa.ChunkedArray, right_type: pa.DataType
) -> DtypeChange | None:
    """Classify research's column type against production's; None when they are the same."""
    lt, rt = logical_type(left_column.type), logical_type(right_type)
    if lt.equals(rt):
        return None
    lf, rf = type_family(lt), type_family(rt)
    values = decoded(left_column)
    research, production = type_name(lt), type_name(rt)
    if lf == "null":
        return DtypeChange(column, research, production, "widening", "research column is all null")
    if rf == "null":
        kind: ChangeKind = "narrowing" if values.null_count == len(values) else "precision_loss"
        return DtypeChange(column, research, production, kind, "production column is all null")
    if not _related(lf, rf) or not _same_zone(lt, rt):
        why = "timezone added or removed" if lf == rf == "instant" else f"{lf} became {rf}"
        return DtypeChange(column, research, production, "incompatible", why)
    if _can_hold(lt, rt):
        return DtypeChange(
            column, research, production, "widening", "production's type holds every value"
        )
    if _survives(values, rt):
        if lf == "integer" and rf == "floating":
            return DtypeChange(
                column, research, production, "widening", "every integer is exact as a float"
            )
        return DtypeChange(
            column,
            research,
            production,
            "narrowing",
            "smaller type, but every research value survives the cast",
        )
    return DtypeChange(
        column,
        research,
        production,
        "precision_loss",
        "some research values change when cast to production's type",
    )


def _related(lf: str, rf: str) -> bool:
    """Families between which a change can be lossless: the same family, numbers, bool -> number."""
    numbers = {"integer", "floating", "decimal"}
    return lf == rf or (lf in numbers and rf in numbers) or (lf == "boolean" and rf in numbers)


# --------------------------------------------------------------------------- statistics


def column_stats(
    norm_values: Any, valid: np.ndarray, kind: Kind, top: int, unit_ns: int = 0
) -> ColumnStats:
    """Statistics of one normalised column (see `ColumnStats`); vectorised, order-independent."""
    count, nulls = int(valid.sum()), int((~valid).sum())
    if kind in ("text", "binary"):
        return _categorical_stats(norm_values.filter(pa.array(valid)), nulls, top, kind)
    if kind in ("null", "uncomparable"):
        return ColumnStats(count=count, nulls=nulls)
    values = norm_values[valid]
    if kind == "temporal":
        return _temporal_stats(values, nulls, top, unit_ns)
    return _numeric_stats(values, nulls, top, kind)


def _numeric_stats(values: np.ndarray, nulls: int, top: int, kind: Kind) -> ColumnStats:
    as_float = np.sort(values.astype(np.float64))  # sorted: sums do not depend on row order
    nan = np.isnan(as_float)
    ordered = as_float[~nan]
    n = len(ordered)
    extremes: tuple[Any, Any] = (None, None)
    if n:
        extremes = (float(ordered[0]), float(ordered[-1]))
        if kind != "float":
            extremes = (values.min().item(), values.max().item())
    if kind == "float":
        # Sorted, so distinct values are the runs; `!=` (not diff) keeps inf == inf.
        distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + (n > 0) + bool(nan.any())
        top_values: tuple[tuple[Any, int], ...] = ()
    else:
        distinct, top_values = _top_numpy(values, top)
    return ColumnStats(
        count=len(values),
        nulls=nulls,
        nans=int(nan.sum()),
        distinct=distinct,
        min=extremes[0],
        max=extremes[1],
        top=top_values,
        **_moments(ordered),
    )


def _moments(ordered: np.ndarray) -> dict[str, float | None]:
    """Sum, mean, std (ddof=1) and the tolerance scales of sorted non-NaN values."""
    n = len(ordered)
    if not n:
        return {}
    with np.errstate(invalid="ignore", over="ignore"):
        total = float(ordered.sum())
        mean = total / n
        absolute = np.abs(ordered)
        return {
            "sum": total,
            "mean": mean,
            "std": float(np.sqrt(np.sum((ordered - mean) ** 2) / (n - 1))) if n > 1 else None,
            "abs_mean": float(absolute.mean()),
            "rms": float(np.sqrt(np.mean(absolute**2))),
            "abs_sum": float(absolute.sum()),
        }


def _top_numpy(
    values: np.ndarray, top: int, render: Any = None
) -> tuple[int, tuple[tuple[Any, int], ...]]:
    distinct, counts = np.unique(values, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]  # np.unique sorted: ties stay by value
    show = render or (lambda v: v.item())
    return len(distinct), tuple((show(distinct[i]), int(counts[i])) for i in order)


def _temporal_stats(values: np.ndarray, nulls: int, top: int, unit_ns: int) -> ColumnStats:
    unit = _numpy_unit(unit_ns)

    def render(v: Any) -> str:
        return str(np.datetime64(int(v), unit)) if unit else str(int(v))  # type: ignore[call-overload]

    distinct, top_values = _top_numpy(values, top, render)
    extremes = (render(values.min()), render(values.max())) if len(values) else (None, None)
    return ColumnStats(
        count=len(values),
        nulls=nulls,
        distinct=distinct,
        min=extremes[0],
        max=extremes[1],
        top=top_values,
    )


def _numpy_unit(unit_ns: int) -> str:
    return {_DAY_NS: "D", 10**9: "s", 10**6: "ms", 10**3: "us", 1: "ns"}.get(unit_ns, "")


def _categorical_stats(values: pa.Array, nulls: int, top: int, kind: Kind) -> ColumnStats:
    counts = pc.value_counts(values)
    table = pa.table({"value": counts.field("values"), "n": counts.field("counts")})
    head = table.sort_by([("n", "descending"), ("value", "ascending")]).slice(0, top)
    extremes = pc.min_max(values)
    return ColumnStats(
        count=len(values),
        nulls=nulls,
        distinct=len(table),
        min=extremes["min"].as_py(),
        max=extremes["max"].as_py(),
        top=tuple(zip(head.column("value").to_pylist(), head.column("n").to_pylist(), strict=True)),
    )


def stat_differences(
    kind: Kind, left: ColumnStats, right: ColumnStats, rtol: float, atol: float
) -> tuple[StatDifference, ...]:
    """The statistics of two columns that differ beyond tolerance.

    Counts, distinct counts (not for floats: noise can split ties), top values, and everything
    of exact kinds (integers, text, temporal) must be equal. For floats, min/max use the cell
    rule; mean, std and sum use the bound that per-cell tolerance implies for them (scale: mean
    of |x|, root mean square of x, sum of |x|; atol times n for the sum) plus rounding slack.
    """
    exact = ["count", "nulls", "nans", "top"] + (["distinct"] if kind != "float" else [])
    out = [
        StatDifference(s, getattr(left, s), getattr(right, s), None)
        for s in exact
        if getattr(left, s) != getattr(right, s)
    ]
    if kind != "float":
        out += [
            StatDifference(s, getattr(left, s), getattr(right, s), None)
            for s in ("min", "max", "mean", "std", "sum")
            if not _same(getattr(left, s), getattr(right, s))
        ]
        return tuple(out)
    n = max(left.count - left.nans, right.count - right.nans, 2)
    spread = math.sqrt(n / (n - 1))
    bounds = {
        "min": (atol, rtol, None),
        "max": (atol, rtol, None),
        "mean": (atol, rtol, _larger(left.abs_mean, right.abs_mean)),
        "std": (atol * spread, rtol * spread, _larger(left.rms, right.rms)),
        "sum": (atol * n, rtol, _larger(left.abs_sum, right.abs_sum)),
    }
    for stat, (abs_tol, rel_tol, scale) in bounds.items():
        a, b = getattr(left, stat), getattr(right, stat)
        limit = _stat_close(a, b, abs_tol, rel_tol, rtol, scale)
        if limit is not None:
            out.append(StatDifference(stat, a, b, limit))
    return tuple(out)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _larger(a: float | None, b: float | None) -> float:
    return max(a or 0.0, b or 0.0)


def _stat_close(
    a: Any, b: Any, abs_tol: float, rel_tol: float, rtol: float, scale: float | None
) -> float | None:
    """None when a and b agree; else the tolerance they broke.

    Per-cell tolerance is relative to max(|a_i|, |b_i|), which exceeds research's magnitude by at
    most the difference itself: dividing by (1 - rtol) closes that gap.
    """
    if a is None or b is None:
        return None if a is b else abs_tol
    if _same(a, b):
        return None
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0  # an infinity or NaN agrees only with itself (rtol * inf would admit anything)
    magnitude = max(abs(a), abs(b)) if scale is None else scale
    widen = 1.0 / (1.0 - rtol) if rtol < 1.0 else math.inf
    with np.errstate(invalid="ignore", over="ignore"):
        rounding = _ROUNDING_ULPS * magnitude if scale is not None else 0.0  # aggregates only
        limit = (abs_tol + rel_tol * magnitude) * widen + rounding
        return None if abs(a - b) <= limit else limit


# --------------------------------------------------------------------------- the comparison


class _Comparer:
    """Builds one TableComparison. Holds the normalised columns only while it runs."""

    def __init__(
        self,
        engine: LocalEngine,
        left_slot: str,
        right_slot: str,
        key: tuple[str, ...],
        ignore: set[str],
        tol: _Tolerance,
        examples: int,
        top: int,
    ) -> None:
        self.engine, self.left_slot, self.right_slot = engine, left_slot, right_slot
        self.tol, self.examples, self.top = tol, examples, top
        self.left = _drop(engine.table(left_slot), ignore)
        self.right = _drop(engine.table(right_slot), ignore)
        self.key, self.key_problem = self._usable_key(key)

    def _usable_key(self, key: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
        if not key:
            return (), None
        absent = {
            side: [c for c in key if c not in t.column_names]
            for side, t in (("research", self.left), ("production", self.right))
        }
        if not absent["research"] and not absent["production"]:
            return key, None
        problem = "; ".join(
            f"{side} lacks key column(s) {', '.join(cols)}" for side, cols in absent.items() if cols
        )
        return (), problem

    def run(self) -> TableComparison:
        left_cols, right_cols = self.left.column_names, self.right.column_names
        # Membership through sets: wide tables (thousands of columns) stay linear.
        left_set, right_set = set(left_cols), set(right_cols)
        common = [c for c in left_cols if c in right_set]
        kinds = {c: pair_kind(self.left.column(c).type, self.right.column(c).type) for c in common}
        uncomparable = {
            c: f"{type_name(self.left.column(c).type)} vs {type_name(self.right.column(c).type)} "
            "cannot be compared"
            for c in common
            if kinds[c] == "uncomparable"
        }
        comparable = [c for c in common if kinds[c] != "uncomparable"]
        (left_rows, left_all), (right_rows, right_all) = self._row_hashes(comparable, kinds)
        fingerprints = (
            _fingerprint(_schema_signature(self.left), left_all),
            _fingerprint(_schema_signature(self.right), right_all),
        )
        del left_all, right_all
        row_hashes = (left_rows, right_rows)
        identical = fingerprints[0] == fingerprints[1] and not uncomparable
        compared = tuple(c for c in comparable if c not in self.key)
        join = (
            self.engine.join(self.left_slot, self.right_slot, list(self.key)) if self.key else None
        )
        # Identical content (the common case) needs no statistics and no cells.
        columns = {} if identical else self._compare_columns(compared, kinds, join)
        return TableComparison(
            left_slot=self.left_slot,
            right_slot=self.right_slot,
            key=self.key,
            key_problem=self.key_problem,
            left_rows=self.left.num_rows,
            right_rows=self.right.num_rows,
            left_columns=tuple(left_cols),
            right_columns=tuple(right_cols),
            missing_columns=tuple(c for c in left_cols if c not in right_set),
            extra_columns=tuple(c for c in right_cols if c not in left_set),
            renamed=self._renamed(),
            dtype_changes=self._dtype_changes(common),
            uncomparable=uncomparable,
            compared_columns=compared,
            left_fingerprint=fingerprints[0],
            right_fingerprint=fingerprints[1],
            identical=identical,
            keys=self._key_diagnostics(join) if join is not None else None,
            rows=self._key_rows(join)
            if join is not None
            else self._multiset_rows(common, row_hashes),
            stats={name: stats for name, (stats, _) in columns.items()},
            cells={} if identical or join is None else self._cells(compared, kinds, columns, join),
            join=join,
            excluded_rows=None if join is None else self._excluded_rows(join, common, row_hashes),
        )

    # ---- schema and fingerprints

    def _row_hashes(
        self, comparable: list[str], kinds: Mapping[str, Kind]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per side, two row hashes (salted sums of value hashes): over the comparable common
        columns (the row multiset's), and over every comparable column of the side (the
        fingerprint's). One side per thread; columns are streamed, never all held at once."""

        def side(tables: tuple[pa.Table, pa.Table]) -> tuple[np.ndarray, np.ndarray]:
            table, other = tables
            common = pooled_empty(table.num_rows, np.uint64)  # warm pages after the read
            common.fill(0)
            for name in comparable:
                column, other_type = table.column(name), other.column(name).type
                add_hashes(common, column, kinds[name], other_type, _salt(name))
            theirs = set(other.column_names)  # once: column_names builds a new list per call
            own = [c for c in table.column_names if c not in theirs]
            everything = common.copy() if own else common
            for name in own:
                column = table.column(name)
                kind = pair_kind(column.type, column.type)
                if kind != "uncomparable":
                    add_hashes(everything, column, kind, column.type, _salt(name))
            return common, everything

        return parallel_map(side, [(self.left, self.right), (self.right, self.left)])

    def _renamed(self) -> dict[str, str]:
        """Research-only columns whose values equal (as a multiset) a production-only column's."""
        left, right = self.left.column_names, self.right.column_names
        left_set, right_set = set(left), set(right)
        missing = [c for c in left if c not in right_set]
        extra = [c for c in right if c not in left_set]
        if not missing or not extra:
            return {}
        extra_digests = {d: c for c in extra if (d := self._content_digest(self.right, c))}
        found = {c: self._content_digest(self.left, c) for c in missing}
        return {
            c: extra_digests[d] for c, d in found.items() if d is not None and d in extra_digests
        }

    def _content_digest(self, table: pa.Table, name: str) -> tuple[int, int, int] | None:
        """A column's value multiset digest; None when it cannot identify the column (nested
        type, or a single repeated value such as all-null, which many columns share)."""
        column = table.column(name)
        kind = pair_kind(column.type, column.type)
        if kind == "uncomparable":
            return None
        hashes = column_hashes(column, kind, column.type)
        if not len(hashes) or hashes.min() == hashes.max():
            return None
        return _digest(hashes)

    def _dtype_changes(self, common: list[str]) -> tuple[DtypeChange, ...]:
        changes = (
            classify_dtype_change(c, self.left.column(c), self.right.column(c).type) for c in common
        )
        return tuple(change for change in changes if change is not None)

    # ---- rows and keys

    def _key_table(self, table: pa.Table, rows: np.ndarray) -> pa.Table:
        return key_table(table, self.key, rows)

    def _key_value(self, record: Mapping[str, Any]) -> Any:
        return record[self.key[0]] if len(self.key) == 1 else {k: record[k] for k in self.key}

    def _key_groups(
        self, table: pa.Table, rows: np.ndarray
    ) -> tuple[int, tuple[dict[str, Any], ...]]:
        """Distinct keys among these rows, and the first `examples` of them by key with row counts."""
        if len(rows) == 0:
            return 0, ()
        groups = (
            self._key_table(table, rows).group_by(list(self.key)).aggregate([([], "count_all")])
        )
        head = groups.sort_by([(k, "ascending") for k in self.key]).slice(0, self.examples)
        examples = tuple(
            {"key": self._key_value(r), "rows": r["count_all"]} for r in head.to_pylist()
        )
        return groups.num_rows, examples

    def _key_diagnostics(self, join: KeyJoin) -> KeyDiagnostics:
        left_dups = self._key_groups(self.left, join.left_duplicate_rows)
        right_dups = self._key_groups(self.right, join.right_duplicate_rows)
        as_text = tuple(
            c
            for c in self.key
            if not logical_type(self.left.column(c).type).equals(
                logical_type(self.right.column(c).type)
            )
        )
        return KeyDiagnostics(
            key=self.key,
            left_null_rows=len(join.left_null_rows),
            right_null_rows=len(join.right_null_rows),
            left_duplicate_rows=len(join.left_duplicate_rows),
            right_duplicate_rows=len(join.right_duplicate_rows),
            left_duplicate_keys=left_dups[0],
            right_duplicate_keys=right_dups[0],
            left_duplicate_examples=left_dups[1],
            right_duplicate_examples=right_dups[1],
            compared_as_text=as_text,
        )

    def _key_rows(self, join: KeyJoin) -> RowDifference:
        lost_keys, lost_examples = self._key_groups(self.left, join.left_only)
        extra_keys, extra_examples = self._key_groups(self.right, join.right_only)
        return RowDifference(
            "key",
            len(join.left_only),
            len(join.right_only),
            lost_keys,
            extra_keys,
            lost_examples,
            extra_examples,
        )

    def _excluded_rows(
        self, join: KeyJoin, common: list[str], row_hashes: tuple[np.ndarray, np.ndarray]
    ) -> RowDifference:
        """The rows set aside by the key match (null or duplicate key), compared whole."""
        left = union_sorted(join.left_null_rows, join.left_duplicate_rows)
        right = union_sorted(join.right_null_rows, join.right_duplicate_rows)
        return self._multiset_rows(common, row_hashes, (left, right))

    def _multiset_rows(
        self,
        common: list[str],
        row_hashes: tuple[np.ndarray, np.ndarray],
        subset: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> RowDifference:
        """Rows compared as whole-row multisets over the comparable common columns (only the
        `subset` row indices of each side when given); `row_hashes` from `_row_hashes`."""
        left_rows, right_rows = row_hashes
        left_index = np.arange(len(left_rows)) if subset is None else subset[0]
        right_index = np.arange(len(right_rows)) if subset is None else subset[1]
        left_rows, right_rows = left_rows[left_index], right_rows[right_index]
        distinct, inverse = np.unique(np.concatenate([left_rows, right_rows]), return_inverse=True)
        n_left = len(left_rows)
        left_count = np.bincount(inverse[:n_left], minlength=len(distinct))
        right_count = np.bincount(inverse[n_left:], minlength=len(distinct))
        lost, extra = (
            np.maximum(left_count - right_count, 0),
            np.maximum(right_count - left_count, 0),
        )
        counts = (left_count, right_count)
        return RowDifference(
            "row",
            int(lost.sum()),
            int(extra.sum()),
            int((lost > 0).sum()),
            int((extra > 0).sum()),
            self._row_examples(self.left, left_index, inverse[:n_left], lost, counts, common),
            self._row_examples(self.right, right_index, inverse[n_left:], extra, counts, common),
        )

    def _row_examples(
        self,
        table: pa.Table,
        index: np.ndarray,
        inverse: np.ndarray,
        excess: np.ndarray,
        counts: tuple[np.ndarray, np.ndarray],
        common: list[str],
    ) -> tuple[dict[str, Any], ...]:
        """One row per distinct hash in excess on this side, in hash order (row-order independent);
        `inverse[i]` is the hash code of table row `index[i]`."""
        codes, first = np.unique(inverse, return_index=True)
        chosen = (excess[codes] > 0).nonzero()[0][: self.examples]
        if not len(chosen):
            return ()
        rows = (
            table.select(common).take(pa.array(index[first[chosen]], type=pa.int64())).to_pylist()
        )
        return tuple(
            {
                "row": row,
                "research": int(counts[0][codes[i]]),
                "production": int(counts[1][codes[i]]),
            }
            for row, i in zip(rows, chosen, strict=True)
        )

    # ---- statistics and cells

    def _compare_columns(
        self, compared: tuple[str, ...], kinds: Mapping[str, Kind], join: KeyJoin | None
    ) -> dict[str, tuple[StatsComparison, dict[str, Any]]]:
        """Statistics and (keyed) cell differences of every compared column, a column per thread."""
        results = parallel_map(lambda name: self._compare_column(name, kinds[name], join), compared)
        return dict(zip(compared, results, strict=True))

    def _compare_column(
        self, name: str, kind: Kind, join: KeyJoin | None
    ) -> tuple[StatsComparison, dict[str, Any]]:
        """One column: statistics when its values differ as a multiset, cells over the pairs."""
        left, right = self.left.column(name), self.right.column(name)
        hashes = (column_hashes(left, kind, right.type), column_hashes(right, kind, left.type))
        same_values = _digest(hashes[0]) == _digest(hashes[1])
        # Text cells compare hashes: their decoded values are needed only for statistics.
        lazy = same_values and kind in ("text", "binary")
        ln = _Normalized(None, _valid(left)) if lazy else _normalize(left, kind, right.type)
        rn = _Normalized(None, _valid(right)) if lazy else _normalize(right, kind, left.type)
        if same_values:
            stats = StatsComparison(name, kind, identical=True)
        else:
            lstats = column_stats(ln.values, ln.valid, kind, self.top, ln.unit_ns)
            rstats = column_stats(rn.values, rn.valid, kind, self.top, rn.unit_ns)
            diffs = stat_differences(kind, lstats, rstats, self.tol.rtol, self.tol.atol)
            stats = StatsComparison(name, kind, False, lstats, rstats, diffs)
        cells = {} if join is None else _cell_differences(kind, ln, rn, hashes, join, self.tol)
        return stats, cells

    def _cells(
        self,
        compared: tuple[str, ...],
        kinds: Mapping[str, Kind],
        columns: Mapping[str, tuple[StatsComparison, dict[str, Any]]],
        join: KeyJoin,
    ) -> dict[str, CellComparison]:
        found = {name: columns[name][1] for name in compared}
        needs_rank = self.examples and any(len(f["beyond"]) for f in found.values())
        rank = self._pair_rank(join) if needs_rank else np.zeros(0, dtype=np.int64)
        out = {}
        for name in compared:
            examples = self._cell_examples(name, found[name]["beyond"], rank, join)
            out[name] = CellComparison(
                column=name,
                kind=kinds[name],
                compared=join.matched,
                examples=examples,
                left_column=self.left.column(name),
                right_column=self.right.column(name),
                join=join,
                **found[name],
            )
        return out

    def _pair_rank(self, join: KeyJoin) -> np.ndarray:
        """rank[p]: position of matched pair p when pairs are sorted by research key."""
        order = pc.sort_indices(
            self._key_table(self.left, join.left_rows),
            sort_keys=[(k, "ascending") for k in self.key],
        ).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank

    def _cell_examples(
        self, name: str, positions: np.ndarray, rank: np.ndarray, join: KeyJoin
    ) -> tuple[dict[str, Any], ...]:
        if not len(positions) or not self.examples:
            return ()
        chosen = positions[np.argsort(rank[positions], kind="stable")[: self.examples]]
        keys = self._key_table(self.left, join.left_rows[chosen]).to_pylist()
        research = self.left.column(name).take(pa.array(join.left_rows[chosen])).to_pylist()
        production = self.right.column(name).take(pa.array(join.right_rows[chosen])).to_pylist()
        return tuple(
            {"key": self._key_value(k), "research": a, "production": b}
            for k, a, b in zip(keys, research, production, strict=True)
        )


def _drop(table: pa.Table, ignore: set[str]) -> pa.Table:
    return table.drop_columns([c for c in table.column_names if c in ignore]) if ignore else table


def _schema_signature(table: pa.Table) -> str:
    """Column names and logical types, order-independent."""
    return "\n".join(sorted(f"{f.name}\t{logical_type(f.type)}" for f in table.schema))


def _cell_differences(
    kind: Kind,
    ln: _Normalized,
    rn: _Normalized,
    hashes: tuple[np.ndarray, np.ndarray],
    join: KeyJoin,
    tol: _Tolerance,
) -> dict[str, Any]:
    """Per-pair comparison of one column: the position arrays and max differences."""
    lvalid, rvalid = ln.valid[join.left_rows], rn.valid[join.right_rows]
    if kind in ("text", "binary"):
        # Equal values hash equally, so differing hashes are exactly the differing values (bar
        # a 2**-64 collision); this avoids gathering the strings themselves.
        a, b = hashes[0][join.left_rows], hashes[1][join.right_rows]
    else:
        a, b = ln.values[join.left_rows], rn.values[join.right_rows]
    same = a == b
    if kind == "float":
        same |= np.isnan(a) & np.isnan(b)
    differ = np.flatnonzero(lvalid & rvalid & ~same)
    close = np.zeros(len(differ), dtype=bool)
    max_abs = max_rel = None
    if kind not in ("text", "binary") and len(differ):
        da, db = a[differ].astype(np.float64), b[differ].astype(np.float64)
        if kind == "float":
            close = within_tolerance(da, db, tol.rtol, tol.atol)
        exact = None if kind == "float" else _integer_abs_diff(a[differ], b[differ])
        max_abs, max_rel = _max_differences(da, db, kind, ln.unit_ns, exact)
    return {
        "beyond": union_sorted(differ[~close], np.flatnonzero(lvalid != rvalid)),
        "noise": differ[close],
        "left_null_only": np.flatnonzero(~lvalid & rvalid),
        "right_null_only": np.flatnonzero(lvalid & ~rvalid),
        "max_abs_diff": max_abs,
        "max_rel_diff": max_rel,
    }


def _integer_abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| of int64/uint64 arrays as float64 rounded once: casting each side to float64
    first would erase the difference of integers beyond 2**53 (big ids, ns timestamps)."""
    (ha, la), (hb, lb) = _split32(a), _split32(b)
    return np.abs((ha - hb).astype(np.float64) * 2.0**32 + (la - lb))


def _split32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low 32 bits of each integer, both as int64 (so their differences are exact)."""
    if x.dtype == np.uint64:
        return (x >> _U(32)).astype(np.int64), (x & _U(0xFFFFFFFF)).astype(np.int64)
    x = x.astype(np.int64)
    return x >> 32, x & 0xFFFFFFFF


def _max_differences(
    a: np.ndarray, b: np.ndarray, kind: Kind, unit_ns: int, exact: np.ndarray | None = None
) -> tuple[float | None, float | None]:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(a - b) if exact is None else exact
        rel = diff / np.maximum(np.abs(a), np.abs(b))
    if np.isnan(diff).all():
        return None, None
    if kind == "temporal":
        return float(np.nanmax(diff)) * unit_ns / 1e9, None
    return float(np.nanmax(diff)), float(np.nanmax(rel)) if not np.isnan(rel).all() else None
