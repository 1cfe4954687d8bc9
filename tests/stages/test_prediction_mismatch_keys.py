"""Stage 4: the predictions tables are matched on research's key, which both must hold. A key
column absent from one table is an input error naming the table and its columns (exit 2), as it
was before the engine port; the engine's binder error crashed PRD003-PRD005 (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_prediction_mismatch import pair, research, run

from mlcheck.errors import InputError
from mlcheck.stages import prediction_mismatch as pm

MATCHED_CHECKS = [pm.keys_predicted_on_one_side, pm.score_agreement, pm.decision_flips]


@pytest.mark.parametrize("lost_as", ["zzz", ""], ids=["renamed", "unnamed"])
@pytest.mark.parametrize("check", MATCHED_CHECKS, ids=lambda c: c.__name__)
def test_key_absent_from_production_is_an_input_error(
    tmp_path: Path, check: object, lost_as: str
) -> None:
    """Defect: production's `id` column is renamed (to `zzz`, or to an empty name)."""
    production = research().rename_columns([lost_as, "score", "decision"])
    ctx = pair(tmp_path, production, columns={"prediction": "decision"})
    with pytest.raises(InputError, match=r"production.predictions .*'id' is absent; columns are"):
        run(check, ctx)


def test_key_present_on_both_sides_is_matched(tmp_path: Path) -> None:
    """No defect: the same ten keys and scores on both sides."""
    ctx = pair(tmp_path, research(), columns={"prediction": "decision"})
    assert pm.matched_key(ctx) == ["id"]
    found = run(pm.keys_predicted_on_one_side, ctx)
    assert [f.observed for f in found] == [0, 0]
