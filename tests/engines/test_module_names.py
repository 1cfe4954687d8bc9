"""Branches append helpers to the engine modules in parallel; a module-level name defined twice
silently replaces the first at import (session 4: `_DIALECT` in duck.py; session 5: spark.py's
`_SPARK_TYPES` of the parquet reader, replaced by register_cast's map, so a hive folder's
int32 partition column could not be cast and fell back to the Arrow table)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parents[2] / "mlcheck" / "engines"


def top_level_names(source: str) -> list[str]:
    """Every name a module binds at its top level (functions, classes, assignments)."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def test_the_check_finds_a_name_bound_twice() -> None:
    source = "_TYPES = {}\ndef f():\n    pass\n_TYPES = {1: 2}\n"
    assert [n for n, k in Counter(top_level_names(source)).items() if k > 1] == ["_TYPES"]


@pytest.mark.parametrize("module", sorted(p.name for p in ENGINES.glob("*.py")))
def test_no_module_level_name_is_defined_twice(module: str) -> None:
    names = Counter(top_level_names((ENGINES / module).read_text(encoding="utf-8")))
    assert [n for n, k in names.items() if k > 1] == []
