"""Aggregate engines: checks ask aggregate questions and get small answers (SPEC 7.1).

The seam is `AggregateEngine` (`mlcheck.engines.base`): a handful of primitives whose answers
are counts, extremes, capped example lists and value tables, never whole columns:

- `key_comparison`: two relations matched on a key; lost/extra/null/duplicate key counts with
  examples, and per column the cells beyond / only within tolerance, null-vs-value each way,
  max absolute and relative difference, and the first `examples` differing cells by key;
- `profiles`: per column count, nulls, NaNs, distinct, min, max, mean, std, sum, top values;
- `value_counts` and `quantiles`: per group (a chunk, a split) or overall;
- `crosstab`: counts of (left value, right value) over keys matched on both sides;
- `multiset_difference`: whole rows only on one side, without a key.

Statistics (KS, PSI, DeLong, ...) stay in Python on these answers. `duckdb` answers them with
SQL over files read in place or Arrow tables; the in-memory numpy engine (`mlcheck.engine`)
still serves the checks not yet ported. `make_engine` builds an engine from `EngineSettings`.
"""

from __future__ import annotations

from mlcheck.engines.base import AggregateEngine, EngineSettings, Unsupported, make_engine

ENGINE_NAMES = ("duckdb", "spark")

__all__ = ["ENGINE_NAMES", "AggregateEngine", "EngineSettings", "Unsupported", "make_engine"]
