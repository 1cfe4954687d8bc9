"""CI runs plain `pytest` from a fresh checkout: only each test file's own folder is on
`sys.path` (pytest's rootdir-less "prepend" import mode; no `tests/__init__.py`), so a test that
imports `tests.something` passes where the repository root happens to be on the path and fails
to import in CI (session 8's submission did not land for four such imports). Shared helpers are
imported as siblings (`from test_relation_compare import ...`) from the same folder."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imports_of_the_tests_package(source: str) -> list[str]:
    """Modules imported from the `tests` package (which CI cannot import)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module] if node.module.split(".")[0] == "tests" else []
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "tests"]
    return found


def test_the_check_finds_an_import_of_the_tests_package() -> None:
    source = "from tests.test_x import helper\nimport tests.stages.y\nfrom test_z import w\n"
    assert imports_of_the_tests_package(source) == ["tests.test_x", "tests.stages.y"]


def test_the_check_passes_sibling_imports() -> None:
    assert imports_of_the_tests_package("from test_relation import assert_same\n") == []


def test_no_test_imports_the_tests_package() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := imports_of_the_tests_package(path.read_text()))
    }
    assert offenders == {}


def test_test_module_names_are_unique() -> None:
    """Two folders' `test_x.py` would be one module `test_x` to the prepend import mode."""
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
