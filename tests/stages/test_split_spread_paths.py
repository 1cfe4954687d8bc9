"""The engine's entity codes from a sorted integer key agree with the hash-code path (stage 3
now asks the aggregate engine how keys spread over splits: tests/engines/test_spread.py)."""

from __future__ import annotations

import pyarrow as pa

from mlcheck.engine import key_codes, sort_key


def test_dense_codes_from_a_sorted_key_group_like_hash_codes() -> None:
    """Keys 7, 3, 7, 9, 3 (shuffled, repeated): the sorted-key ranks group rows exactly as the
    hash-based codes do (the numbering may differ, the grouping may not)."""
    keys = pa.chunked_array([pa.array([7, 3, 7, 9, 3])])
    ranks = sort_key(keys).dense_codes()
    hashed, _ = key_codes([keys], [keys.slice(0, 0)])
    assert ranks.tolist() == [1, 0, 1, 2, 0]
    same_rank = ranks[:, None] == ranks[None, :]
    assert (same_rank == (hashed[:, None] == hashed[None, :])).all()
