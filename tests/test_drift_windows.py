"""`drift.measure_windows` (every window sorted and ranked against research) gives exactly
what `NumericReference.compare` gives each window's finite values sorted on their own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcheck import drift


def _reference(values: np.ndarray) -> drift.NumericReference:
    return drift.NumericReference(drift.finite_sorted(values))


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Research and live values with ties inside each side and across the sides (rounded to one
    decimal), a few NaN and infinities on both sides, and live shifted by a quarter sd."""
    rng = np.random.default_rng(seed)
    research = np.round(rng.normal(0, 1, 3000), 1)
    live = np.round(rng.normal(0.25, 1, 5000), 1)
    research[[5, 9]] = [np.nan, np.inf]
    live[[0, 7, 11]] = [np.nan, -np.inf, np.inf]
    return research, live


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_window_equals_its_own_comparison(seed: int) -> None:
    """Windows: every row, contiguous chunks, an interleaved subset, one row, no row."""
    research, live = _samples(seed)
    reference = _reference(research)
    windows = [
        np.arange(len(live)),
        *np.array_split(np.arange(len(live)), 7),
        np.arange(0, len(live), 3),
        np.array([7]),  # a single infinite value: nothing finite to compare
        np.array([42]),
        np.array([], dtype=np.int64),
    ]
    got = drift.measure_windows(reference, live, windows)
    expected = [reference.compare(drift.finite_sorted(live[rows])) for rows in windows]
    assert got == expected


def test_run_ends_equal_a_right_search() -> None:
    values = np.sort(np.round(np.random.default_rng(4).normal(size=2000), 1))
    np.testing.assert_array_equal(drift._run_ends(values), np.searchsorted(values, values, "right"))
    np.testing.assert_array_equal(
        drift._run_starts(values), np.searchsorted(values, values, "left")
    )
    assert drift._run_ends(np.array([])).tolist() == []
    assert drift._run_starts(np.array([])).tolist() == []


def test_ranks_equal_two_searches() -> None:
    """Live values equal to research values (ties) and between them: both counts match."""
    reference = _reference(np.array([1.0, 2.0, 2.0, 3.0, 5.0]))
    live = np.array([0.0, 1.0, 2.0, 2.5, 3.0, 5.0, 6.0]) - reference.centre
    at, before = reference.ranks(live)
    assert at.tolist() == np.searchsorted(reference.values, live, "right").tolist()
    assert before.tolist() == np.searchsorted(reference.values, live, "left").tolist()


def test_an_empty_reference_gives_nothing_to_compare() -> None:
    reference = _reference(np.array([np.nan]))
    assert drift.measure_windows(reference, np.array([1.0, 2.0]), [np.arange(2)]) == [None]


def _dictionary_chunk(rng: np.random.Generator, n: int, words: list[str]) -> pa.Array:
    """n rows over `words` in a shuffled dictionary of its own, about 10% null."""
    dictionary = pa.array(list(rng.permutation(words)))
    indices = pa.array(rng.integers(0, len(words), n).astype(np.int32), mask=rng.random(n) < 0.1)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dictionary_columns_code_like_their_decoded_values(seed: int) -> None:
    """Research in two chunks and live in one, each chunk with its own dictionary order and a
    category ("z") that only live has: the unified-dictionary path gives the same dictionary
    (first-seen order) and codes as dictionary-encoding the decoded strings."""
    rng = np.random.default_rng(seed)
    words = ["b", "a", "c", "héllo ✓"]
    reference = pa.chunked_array(
        [_dictionary_chunk(rng, 3000, words), _dictionary_chunk(rng, 5, words)]
    )
    live = pa.chunked_array([_dictionary_chunk(rng, 4000, [*words, "z"])])
    fast = drift.shared_codes(reference, live)
    decoded = drift.shared_codes(reference.cast(pa.string()), live.cast(pa.string()))
    assert fast[0].equals(decoded[0])
    np.testing.assert_array_equal(fast[1], decoded[1])
    np.testing.assert_array_equal(fast[2], decoded[2])


def _continuous(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`_samples` unrounded (mostly distinct values), with a few live values equal to research
    values, so ties across the sides remain."""
    rng = np.random.default_rng(seed)
    research, live = rng.normal(0, 1, 3000), rng.normal(0.25, 1, 5000)
    live[100:110] = research[200:210]
    research[[5, 9]] = [np.nan, np.inf]
    live[[0, 7, 11]] = [np.nan, -np.inf, np.inf]
    return research, live


@pytest.mark.parametrize("sample", [_samples, _continuous])
@pytest.mark.parametrize("seed", [5, 6])
def test_disjoint_chunks_and_small_windows_equal_their_own_comparisons(
    seed: int, sample: Any
) -> None:
    """Window layouts give each window's own answer: disjoint chunks of shuffled rows (as
    weekly chunks of unsorted timestamps are), overlapping windows, and small windows, with
    discrete (rounded) and continuous values, ties across the sides in both."""
    research, live = sample(seed)
    reference = _reference(research)
    shuffled = np.random.default_rng(seed).permutation(len(live))
    chunks = [np.sort(part) for part in np.array_split(shuffled, 9)]
    layouts = {
        "disjoint": [np.arange(len(live)), *chunks],
        "overlapping": [*chunks, chunks[0][:100], np.arange(len(live))],
        "small": [chunks[1][:50], np.array([3, 3, 4]), chunks[2][:10]],
    }
    for windows in layouts.values():
        got = drift.measure_windows(reference, live, windows)
        assert got == [reference.compare(drift.finite_sorted(live[rows])) for rows in windows]


def test_merged_ranks_equal_a_right_search() -> None:
    """A live sample large against research is ranked by merging the two sorted runs."""
    reference = _reference(np.round(np.random.default_rng(7).normal(size=500), 1))
    live = np.sort(np.round(np.random.default_rng(8).normal(size=4000), 1)) - reference.centre
    merged = reference._at(live)
    np.testing.assert_array_equal(merged, np.searchsorted(reference.values, live, "right"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_tie_ranks_survive_centring_that_overflows() -> None:
    """Research values near the float limit, centred on their median, overflow to equal
    infinities; a live value tied with them still ranks as the left search says (KS 0.6)."""
    big = 1.7e308
    reference = drift.NumericReference(np.array([-big, -big, -big, big, big]))
    found = reference.compare(np.array([big]))
    assert found is not None and found.ks == pytest.approx(0.6)
    centred = np.array([big]) - reference.centre
    _, before = reference.ranks(centred)
    assert before.tolist() == np.searchsorted(reference.values, centred, "left").tolist()
