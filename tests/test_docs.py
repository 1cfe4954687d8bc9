"""docs/checklist.md documents every key of the checklist and every status."""

from __future__ import annotations

from pathlib import Path

from mlcheck.checklist import json_schema
from mlcheck.results import Status

DOC = (Path(__file__).resolve().parents[1] / "docs" / "checklist.md").read_text(encoding="utf-8")


def test_every_checklist_key_is_documented() -> None:
    schema = json_schema()
    keys = set(schema["properties"])
    for model in schema["$defs"].values():
        keys |= set(model.get("properties", {}))
    undocumented = sorted(k for k in keys if f"`{k}`" not in DOC)
    assert not undocumented, f"document these keys in docs/checklist.md: {undocumented}"


def test_every_status_is_explained() -> None:
    assert all(f"| `{status.value}` |" in DOC for status in Status)
