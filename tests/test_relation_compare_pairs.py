"""The (key, value) pair digests of stage 1's fold: the same for any row order and any split
into batches; different when values swap between keys or any one cell changes."""

from __future__ import annotations

import numpy as np

from mlcheck import relation_compare as rc

_U = np.uint64


def digests(keys: np.ndarray, values: np.ndarray, cuts: list[int]) -> int:
    """The digest of one column summed over batches cut at `cuts` (as the fold adds them)."""
    total = 0
    for a, b in zip([0, *cuts], [*cuts, len(keys)], strict=True):
        hashes = {"k": keys[a:b], "v": values[a:b]}
        total += rc._pair_sums(hashes, ("k",), ("v",), b - a)[0]
    return total % 2**64


def test_order_and_batches_do_not_matter() -> None:
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 2**64, 1000, dtype=_U)
    values = rng.integers(0, 2**64, 1000, dtype=_U)
    order = rng.permutation(1000)
    assert digests(keys, values, []) == digests(keys[order], values[order], [1, 400, 999])


def test_swapped_values_and_each_changed_cell_are_seen() -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 2**64, 200, dtype=_U)
    values = rng.integers(0, 2**64, 200, dtype=_U)
    base = digests(keys, values, [])
    swapped = values.copy()
    swapped[[3, 7]] = swapped[[7, 3]]
    assert digests(keys, swapped, []) != base
    for i in range(200):  # a product with an odd factor: one changed hash always shows
        changed = values.copy()
        changed[i] ^= _U(1) << _U(i % 64)
        assert digests(keys, changed, []) != base
