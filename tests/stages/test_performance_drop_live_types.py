"""Stage 5: a live feature whose type cannot hold the kind research gives it is an input error
naming the feature and the type (exit 2), not a check crashed on an engine's failed cast."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_performance_drop import context, live_of, one, run, write_scenario

from mlcheck.errors import InputError


def _live_column(path: Path, name: str, change: object) -> None:
    """Replace live feature `name` with `change(values)`."""
    live = pq.read_table(path.parent / "live_features.parquet")
    index = live.schema.get_field_index(name)
    values = live[name].combine_chunks()
    live = live.set_column(index, name, change(values))  # type: ignore[operator]
    pq.write_table(live, path.parent / "live_features.parquet")


def _one_element_lists(values: pa.Array) -> pa.Array:
    offsets = pa.array(range(len(values) + 1), pa.int32())
    return pa.ListArray.from_arrays(offsets, values)


@pytest.mark.parametrize(
    ("name", "message"),
    [("x1", "feature 'x1' must be numeric"), ("cat", "feature 'cat' must be a category")],
)
def test_list_feature_in_live_is_an_input_error(tmp_path: Path, name: str, message: str) -> None:
    """Defect: live delivers each value of `name` wrapped in a one-element list."""
    path = write_scenario(tmp_path, live_of(n=300))
    _live_column(path, name, _one_element_lists)
    with pytest.raises(InputError, match=message) as raised:
        one("PERF002", context(path))
    assert "list" in str(raised.value) and "production.live.features" in str(raised.value)


def test_text_for_a_numeric_feature_is_an_input_error(tmp_path: Path) -> None:
    """Defect: live delivers x1 as text ("0.25") while research holds doubles."""
    path = write_scenario(tmp_path, live_of(n=300))
    _live_column(path, "x1", lambda values: values.cast(pa.string()))
    with pytest.raises(InputError, match="feature 'x1' must be numeric, but its type is string"):
        one("PERF002", context(path))


def test_integers_for_a_float_feature_are_compared(tmp_path: Path) -> None:
    """No defect in the type: live x1 rounded to integers is still numeric (and drifts)."""
    path = write_scenario(tmp_path, live_of(n=300))
    _live_column(path, "x1", lambda values: values.cast(pa.int64(), safe=False))
    findings = {f.column: f for f in run("PERF002", context(path))}
    assert set(findings) == {"x1", "x2", "cat"}
    assert findings["x1"].threshold == context(path).config.drift_wasserstein  # numeric kind
    assert findings["x1"].observed is not None and findings["x1"].observed > 0
