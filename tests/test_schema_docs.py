"""`mlcheck schema` describes every property of the checklist, at every depth."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from mlcheck.checklist import json_schema
from mlcheck.schema_docs import DESCRIPTIONS


def _properties(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(dotted place, property schema) for every property anywhere in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield f"{where}.{name}", prop
                    yield from _properties(prop, f"{where}.{name}")
            elif key == "$defs":
                for name, model in value.items():
                    yield from _properties(model, name)
            else:
                yield from _properties(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, where)


def test_every_property_has_a_description() -> None:
    found = list(_properties(json_schema(), "checklist"))
    assert len(found) > 100  # every model is walked, not just the top level
    undescribed = sorted(
        {w for w, p in found if not (isinstance(p, dict) and p.get("description"))}
    )
    assert not undescribed, f"add a Field description or a schema_docs entry for: {undescribed}"


def test_every_mapping_entry_names_a_real_property() -> None:
    """A renamed field must not leave a description pointing at nothing."""
    schema = json_schema()
    places = {f"Checklist.{name}" for name in schema["properties"]}
    places |= {f"{m}.{n}" for m, d in schema["$defs"].items() for n in d.get("properties", {})}
    assert set(DESCRIPTIONS) <= places, set(DESCRIPTIONS) - places


def test_the_accept_list_is_in_the_schema_with_its_required_keys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", "schema"], capture_output=True, text=True, timeout=120
    )
    schema = json.loads(done.stdout)
    accept = schema["$defs"]["AcceptSpec"]
    assert set(accept["required"]) == {"check", "reason"}
    assert accept["properties"]["until"]["anyOf"][0]["format"] == "date"
    assert "accept" in schema["properties"] and schema["properties"]["accept"]["description"]
