"""Bad checklists: each case breaks the clean project's checklist one way.

Every case must exit 2 with one `error:` line (plus one indented line per problem) that names
the checklist file and the YAML line (or the source's file), never a traceback. A checklist is
validated before any data is read, so none of these reads a data file. Two cases are not errors
(`${VAR:-default}` and a UTF-8 byte-order mark): they run to a verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from robustness_support import Case, Outcome, Project, assert_outcome, run_processes

UNSET_VAR = "MLCHECK_ROBUSTNESS_UNSET_DIR"


def yaml_replace(p: Project, old: str, new: str) -> None:
    """Write the checklist as text with one exact edit (for YAML no mapping can produce)."""
    text = p.yaml_text()
    assert old in text, f"{old!r} is not in the checklist text"
    p.checklist_text = text.replace(old, new, 1)


def malformed_yaml(p: Project) -> None:
    """A flow sequence is left open: `features: {path: [`."""
    yaml_replace(p, "  features:\n    path: research/features.parquet\n", "  features: {path: [\n")


def tab_indent(p: Project) -> None:
    """One line is indented with a tab."""
    yaml_replace(p, "\n    path: research/features.parquet", "\n\tpath: research/features.parquet")


def duplicate_key(p: Project) -> None:
    """production.predictions is given twice."""
    yaml_replace(
        p,
        "  predictions:\n    path: production/predictions.parquet\n",
        "  predictions:\n    path: production/predictions.parquet\n"
        "  predictions:\n    path: production/features.parquet\n",
    )


def wrong_type_task(p: Project) -> None:
    """task is the number 5."""
    p.checklist["task"] = 5


def wrong_type_features(p: Project) -> None:
    """columns.features is a string, not a list."""
    p.checklist["columns"]["features"] = "income"


def wrong_type_threshold(p: Project) -> None:
    """stages.prediction_mismatch.atol is the text 'tiny'."""
    p.checklist["stages"]["prediction_mismatch"] = {"atol": "tiny"}


def source_is_text(p: Project) -> None:
    """research.features is a bare path string, not a mapping."""
    p.checklist["research"]["features"] = "research/features.parquet"


def unknown_key_typo(p: Project) -> None:
    """production.predictions is misspelt `predictons`."""
    production = p.checklist["production"]
    production["predictons"] = production.pop("predictions")


def unknown_top_key(p: Project) -> None:
    """`stages` is misspelt `stage`."""
    p.checklist["stage"] = p.checklist.pop("stages")


def missing_research(p: Project) -> None:
    """The research side is not declared."""
    del p.checklist["research"]


def source_without_path(p: Project) -> None:
    """research.features has a format but no path or url."""
    p.checklist["research"]["features"] = {"format": "parquet"}


def missing_folder(p: Project) -> None:
    """production.features points into folders that do not exist."""
    p.source("production.features")["path"] = "nowhere/at/all/features.parquet"


def empty_dataset_folder(p: Project) -> None:
    """production.features is an existing folder with no parquet files."""
    (p.root / "production" / "features_parts").mkdir(parents=True)
    p.source("production.features")["path"] = "production/features_parts"


def unset_variable(p: Project) -> None:
    """A path uses ${VAR} of a variable that is not set."""
    p.source("research.features")["path"] = "${" + UNSET_VAR + "}/features.parquet"


def variable_default(p: Project) -> None:
    """Not a defect: ${VAR:-research} falls back to its default."""
    p.source("research.features")["path"] = "${" + UNSET_VAR + ":-research}/features.parquet"


def not_utf8(p: Project) -> None:
    """The checklist is saved as latin-1 ('café')."""
    text = p.yaml_text().replace("name: robustness project", "name: caf\u00e9 project")
    p.checklist_text = text.encode("latin-1")


def control_character(p: Project) -> None:
    """A NUL byte (valid UTF-8, refused by YAML) pasted into the name."""
    yaml_replace(p, "name: robustness project", "name: robustness\x00project")


def newline_in_key(p: Project) -> None:
    """A quoted key holding a line break: the problem names it escaped, on one line."""
    yaml_replace(p, "name: robustness project", '"na\\nme": robustness project')


def empty_checklist(p: Project) -> None:
    """The checklist file is empty."""
    p.checklist_text = ""


def comments_only(p: Project) -> None:
    """The checklist holds only comments."""
    p.checklist_text = "# nothing here yet\n\n# still nothing\n"


def checklist_is_list(p: Project) -> None:
    """The checklist is a YAML list."""
    p.checklist_text = "- version: 1\n- research: {}\n"


def checklist_is_text(p: Project) -> None:
    """The checklist is one line of text."""
    p.checklist_text = "just some words\n"


def no_source_declared(p: Project) -> None:
    """Research and production are empty mappings: nothing to check at all."""
    p.checklist["research"] = {}
    p.checklist["production"] = {}


def every_stage_skipped(p: Project) -> None:
    """Only predictions are declared, without columns.score: every stage skips for missing
    inputs, so the run checks nothing."""
    p.checklist["research"] = {"predictions": {"path": "research/predictions.parquet"}}
    p.checklist["production"] = {"predictions": {"path": "production/predictions.parquet"}}
    p.checklist["columns"] = {}


def nothing_checked(outcome: Outcome) -> None:
    report = outcome.report
    assert {s["status"] for s in report["stages"]} == {"skipped"}
    assert (report["verdict"], report["stopped_at"]) == ("not_ready", None)


def future_version(p: Project) -> None:
    """version: 2."""
    p.checklist["version"] = 2


def python_tag(p: Project) -> None:
    """A python/object tag (a safe loader must refuse it)."""
    yaml_replace(p, "name: robustness project", "name: !!python/object/apply:os.system ['true']")


def alias_bomb(p: Project) -> None:
    """The 'billion laughs': nine levels of nine aliases (387 million strings if expanded)."""
    lines = ['x-lol: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"x-lol{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    p.checklist_text = p.yaml_text() + "\n".join(lines) + "\n"


def deep_nesting(p: Project) -> None:
    """An extension key nests 5000 lists deep."""
    p.checklist_text = p.yaml_text() + "x-deep: " + "[" * 5000 + "]" * 5000 + "\n"


def empty_key_list(p: Project) -> None:
    """key is an empty list."""
    p.checklist["key"] = []


def read_options_on_parquet(p: Project) -> None:
    """read_options (a delimiter) on a parquet source."""
    p.source("research.features")["read_options"] = {"delimiter": ";"}


def unknown_format(p: Project) -> None:
    """format: xlsx."""
    p.source("research.features")["format"] = "xlsx"


def missing_split_file(p: Project) -> None:
    """production splits as a mapping of two files that do not exist."""
    p.checklist["production"]["splits"] = {
        "train": {"path": "production/splits_train.csv"},
        "test": {"path": "production/splits_test.csv"},
    }


def byte_order_mark(p: Project) -> None:
    """Not a defect: the checklist starts with a UTF-8 byte-order mark."""
    p.checklist_text = ("\ufeff" + p.yaml_text()).encode("utf-8")


def null_source(p: Project) -> None:
    """research.raw.bureau is declared with an empty value."""
    p.checklist["research"]["raw"]["bureau"] = None


def splits_mapping_empty(p: Project) -> None:
    """production.splits is an empty mapping."""
    p.checklist["production"]["splits"] = {}


def nothing(p: Project) -> None:
    """The clean project: the checklist argument itself is what is wrong."""


def all_pass(outcome: Outcome) -> None:
    assert {s["status"] for s in outcome.report["stages"]} == {"pass"}


def file_and_line(line: int) -> tuple[str, ...]:
    return ("checklist.yaml", f"line {line}")


CASES = [
    Case("malformed_yaml", malformed_yaml, 2, (*file_and_line(12), "invalid YAML"), process=True),
    Case("tab_indent", tab_indent, 2, (*file_and_line(11), "a tab character")),
    Case(
        "duplicate_key",
        duplicate_key,
        2,
        (*file_and_line(32), "duplicate key `production.predictions` (first at line 30)"),
    ),
    Case(
        "wrong_type_task", wrong_type_task, 2, (*file_and_line(62), "`task`", "found the number 5")
    ),
    Case(
        "wrong_type_features",
        wrong_type_features,
        2,
        (*file_and_line(49), "`columns.features`: expected a list"),
    ),
    Case(
        "wrong_type_threshold",
        wrong_type_threshold,
        2,
        (*file_and_line(68), "`stages.prediction_mismatch.atol`: expected a number"),
    ),
    Case(
        "source_is_text",
        source_is_text,
        2,
        (*file_and_line(10), "`research.features`: expected a mapping"),
    ),
    Case(
        "unknown_key_typo",
        unknown_key_typo,
        2,
        (*file_and_line(39), "did you mean `predictions`?"),
        process=True,
    ),
    Case(
        "unknown_top_key",
        unknown_top_key,
        2,
        (*file_and_line(63), "unknown key `stage`; did you mean `stages`?"),
    ),
    Case(
        "missing_research",
        missing_research,
        2,
        ("checklist.yaml", "missing required key `research`"),
    ),
    Case(
        "source_without_path",
        source_without_path,
        2,
        (*file_and_line(10), "exactly one of `path` or `url`"),
    ),
    Case(
        "missing_folder",
        missing_folder,
        2,
        (
            "production.features",
            "checklist.yaml:26",
            "file not found",
            "nowhere/at/all/features.parquet",
        ),
        process=True,
    ),
    Case(
        "empty_dataset_folder",
        empty_dataset_folder,
        2,
        ("production.features", "checklist.yaml:26", "features_parts holds no parquet files"),
    ),
    Case(
        "unset_variable",
        unset_variable,
        2,
        (*file_and_line(11), "${" + UNSET_VAR + "} is not set"),
        process=True,
    ),
    Case("variable_default", variable_default, 0, expect=all_pass),
    Case("not_utf8", not_utf8, 2, (*file_and_line(2), "not UTF-8 text (byte 0xe9)")),
    Case("control_character", control_character, 2, (*file_and_line(2), "U+0000 is not allowed")),
    Case("newline_in_key", newline_in_key, 2, (*file_and_line(2), "unknown key `na\\nme`")),
    Case("empty_checklist", empty_checklist, 2, (*file_and_line(1), "the checklist is empty")),
    Case("comments_only", comments_only, 2, (*file_and_line(1), "the checklist is empty")),
    Case(
        "checklist_is_list", checklist_is_list, 2, (*file_and_line(1), "is a list, not a mapping")
    ),
    Case(
        "checklist_is_text", checklist_is_text, 2, (*file_and_line(1), "the text 'just some words'")
    ),
    Case(
        "future_version", future_version, 2, ("checklist.yaml", "unsupported checklist version 2")
    ),
    Case("python_tag", python_tag, 2, (*file_and_line(2), "could not determine a constructor")),
    Case(
        "alias_bomb",
        alias_bomb,
        2,
        ("checklist.yaml", "aliases (*name) are expanded"),
        process=True,
    ),
    Case("deep_nesting", deep_nesting, 2, ("checklist.yaml", "nests too deeply")),
    Case("empty_key_list", empty_key_list, 2, (*file_and_line(3), "`key`")),
    Case(
        "read_options_on_parquet",
        read_options_on_parquet,
        2,
        (*file_and_line(10), "`read_options` apply to csv/tsv"),
    ),
    Case("unknown_format", unknown_format, 2, (*file_and_line(12), "found the text 'xlsx'")),
    Case(
        "missing_split_file",
        missing_split_file,
        2,
        ("2 problems", "production.splits.train", "production.splits.test", "splits_train.csv"),
    ),
    Case(
        "null_source",
        null_source,
        2,
        ("checklist.yaml", "`research.raw.bureau`: expected a mapping"),
    ),
    Case(
        "splits_mapping_empty", splits_mapping_empty, 2, ("checklist.yaml", "`production.splits`")
    ),
    Case(
        "checklist_is_folder",
        nothing,
        2,
        ("research is a folder, not a checklist file",),
        target="research",
    ),
    Case(
        "checklist_missing",
        nothing,
        2,
        ("file not found", "no-such-checklist.yaml"),
        target="no-such-checklist.yaml",
    ),
    Case("byte_order_mark", byte_order_mark, 0, expect=all_pass),
    Case("no_source_declared", no_source_declared, 2, ("checklist.yaml", "nothing to check")),
    Case("every_stage_skipped", every_stage_skipped, 1, expect=nothing_checked),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_checklist(
    case: Case, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET_VAR, raising=False)
    assert_outcome(case, run_cli(case.prepare(tmp_path)))


@pytest.fixture(scope="module")
def process_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The `process=True` cases, each run by a real `python -m mlcheck` (a few at a time)."""
    chosen = [c for c in CASES if c.process]
    targets = [c.prepare(tmp_path_factory.mktemp(c.id)) for c in chosen]
    with pytest.MonkeyPatch.context() as env:
        env.delenv(UNSET_VAR, raising=False)
        outcomes = run_processes([(target, ()) for target in targets])
    return {c.id: o for c, o in zip(chosen, outcomes, strict=True)}


@pytest.mark.parametrize("case", [c for c in CASES if c.process], ids=lambda c: c.id)
def test_bad_checklist_real_process(case: Case, process_outcomes: dict[str, Outcome]) -> None:
    assert_outcome(case, process_outcomes[case.id])
