"""`split_spread` on unique keys (one row per entity: the fast path) and the engine's entity
codes from a sorted integer key agree with a hand computation / the hash-code path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlcheck.engine import key_codes, sort_key
from mlcheck.stages.split_reproducibility import split_spread


def _by_hand(entity: np.ndarray, split: np.ndarray, is_holdout: np.ndarray) -> dict[str, list]:
    """Per entity, from Python sets: distinct splits, held-out ones, rows, bit mask, first row."""
    size = int(entity.max(initial=-1)) + 1
    splits: list[set[int]] = [set() for _ in range(size)]
    rows, first = [0] * size, [len(entity)] * size
    for row, (e, s) in enumerate(zip(entity.tolist(), split.tolist(), strict=True)):
        if e < 0:
            continue
        splits[e].add(s + 1)
        rows[e] += 1
        first[e] = min(first[e], row)
    return {
        "splits": [len(b) for b in splits],
        "holdout": [sum(bool(is_holdout[b]) for b in bits) for bits in splits],
        "rows": rows,
        "mask": [sum(1 << b for b in bits) for bits in splits],
        "first_row": first,
    }


def test_one_row_per_entity_matches_the_hand_count() -> None:
    """Six entities, one row each, shuffled; splits train(0)/test(1)/null(-1); entity -1 is a
    null key (ignored)."""
    entity = np.array([3, 0, -1, 5, 1, 4, 2])
    split = np.array([0, 1, 0, -1, 1, 0, 1])
    is_holdout = np.array([False, False, True])
    spread = split_spread(entity, split, is_holdout)
    found = {name: getattr(spread, name).tolist() for name in _by_hand(entity, split, is_holdout)}
    assert found == _by_hand(entity, split, is_holdout)


def test_shared_entities_still_take_the_counting_path() -> None:
    """Entity 0 has two rows in two splits: counted (2 splits, 1 held out), not the fast path."""
    entity, split = np.array([0, 0, 1]), np.array([0, 1, 1])
    is_holdout = np.array([False, False, True])
    spread = split_spread(entity, split, is_holdout)
    assert spread.splits.tolist() == [2, 1] and spread.holdout.tolist() == [1, 1]


def test_dense_codes_from_a_sorted_key_group_like_hash_codes() -> None:
    """Keys 7, 3, 7, 9, 3 (shuffled, repeated): the sorted-key ranks group rows exactly as the
    hash-based codes do (the numbering may differ, the grouping may not)."""
    keys = pa.chunked_array([pa.array([7, 3, 7, 9, 3])])
    ranks = sort_key(keys).dense_codes()
    hashed, _ = key_codes([keys], [keys.slice(0, 0)])
    assert ranks.tolist() == [1, 0, 1, 2, 0]
    same_rank = ranks[:, None] == ranks[None, :]
    assert (same_rank == (hashed[:, None] == hashed[None, :])).all()
