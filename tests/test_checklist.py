"""The checklist loader: every problem at once, each with its YAML line, dotted path and a
did-you-mean; environment expansion; relative paths; the published JSON Schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlcheck.checklist import Checklist, SourceSpec, json_schema, load_checklist
from mlcheck.errors import ChecklistError

REPO = Path(__file__).resolve().parents[1]

# The example of SPEC section 2, verbatim: the whole format in one file.
SPEC_EXAMPLE = """\
version: 1
name: credit-risk scorecard v3
key: application_id            # row identity for all tables (a source may override; may be a list)

research:
  raw:                         # one or more named sources
    applications: {path: ../sample_data/credit/research/raw/applications.csv}
    bureau:       {path: ../sample_data/credit/research/raw/bureau.parquet}
  features:    {path: ../sample_data/credit/research/features.parquet}
  splits:      {path: ../sample_data/credit/research/splits.csv}
  predictions: {path: ../sample_data/credit/research/predictions.parquet}
  labels:      {path: ../sample_data/credit/research/labels.parquet}
  environment: {path: ../sample_data/credit/research/environment.json}

production:                    # the production pipeline replayed on the same raw inputs
  raw:
    applications: {path: ../sample_data/credit/production/raw/applications.csv}
    bureau:       {path: ../sample_data/credit/production/raw/bureau.parquet}
  features:    {path: ../sample_data/credit/production/features.parquet}
  splits:      {path: ../sample_data/credit/production/splits.csv}
  predictions: {path: ../sample_data/credit/production/predictions.parquet}
  environment: {path: ../sample_data/credit/production/requirements.txt}
  live:                        # what production has seen recently (stages 5 and 6)
    features:    {path: ../sample_data/credit/live/features.parquet}
    predictions: {path: ../sample_data/credit/live/predictions.parquet}
    labels:      {path: ../sample_data/credit/live/labels.parquet}    # optional: delayed or absent

columns:                       # roles; everything optional except where a stage needs it
  target: defaulted            # in labels (or features) tables
  score: p_default             # in predictions tables
  prediction: decision         # optional hard label; else derived from score and threshold
  split: split                 # in splits tables
  fold: fold                   # optional CV fold column
  group: customer_id           # optional: groups that must not span splits
  timestamp: event_time        # optional: for staleness, temporal leakage and chunking
  features: [income, age, region, product]   # optional: the model's inputs
  importance: {income: 0.4, age: 0.3}        # optional: weights drift of important features higher
  categorical: [region, product]   # overrides type inference
  ignore: [ingested_at]        # never compared

task: binary                   # binary | multiclass | regression

stages:                        # every threshold has a documented default; these override it
  data_reproducibility: {rtol: 1.0e-9, atol: 0.0, max_lost_rows: 0}
  feature_parity:       {rtol: 1.0e-7, atol: 1.0e-9, packages: [numpy, pandas, scikit-learn]}
  split_reproducibility: {max_reassigned: 0}
  prediction_mismatch:  {atol: 1.0e-6, max_mismatch_rate: 0.0, max_flip_rate: 0.0, threshold: 0.5}
  performance_drop:     {metric: roc_auc, max_drop: 0.02, confidence: 0.95, chunk: {size: 5000}}
  variable_availability: {max_null_rate_increase: 0.05, max_unseen_rate: 0.01, max_staleness: 30d}
"""

# The smallest valid checklist; problem cases below are variations of it.
MINIMAL = """\
version: 1
research:
  features: {path: r.parquet}
production:
  features: {path: p.parquet}
"""


def write(tmp_path: Path, text: str, name: str = "checklist.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(write(tmp_path, text))
    assert caught.value.exit_code == 2
    return caught.value.problems


def only_problem(tmp_path: Path, text: str) -> str:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- valid files


def test_spec_example_loads_with_every_part(tmp_path: Path) -> None:
    checklist = load_checklist(write(tmp_path, SPEC_EXAMPLE))
    assert checklist.key_columns == ["application_id"]
    assert sorted(checklist.research.raw or {}) == ["applications", "bureau"]
    assert isinstance(checklist.research.splits, SourceSpec)
    assert checklist.production.live is not None
    assert checklist.production.live.labels is not None
    assert checklist.columns.importance == {"income": 0.4, "age": 0.3}
    assert checklist.columns.role_columns() == {
        "defaulted",
        "p_default",
        "decision",
        "split",
        "fold",
        "customer_id",
        "event_time",
    }
    assert checklist.stages.performance_drop.chunk is not None
    assert checklist.stages.performance_drop.chunk.size == 5000
    assert checklist.stages.feature_parity.packages == ["numpy", "pandas", "scikit-learn"]
    assert checklist.where("production.raw.bureau") == f"{tmp_path / 'checklist.yaml'}:18"


def test_splits_mapping_of_split_name_to_source(tmp_path: Path) -> None:
    checklist = load_checklist(
        write(
            tmp_path,
            """\
            research:
              splits:
                train: {path: train.csv}
                test: {path: test.csv, key: [a, b]}
            production: {}
            """,
        )
    )
    splits = checklist.research.splits
    assert isinstance(splits, dict)
    assert splits["train"].path == "train.csv"
    assert splits["test"].key_columns == ["a", "b"]
    assert checklist.where("research.splits.test") == f"{tmp_path / 'checklist.yaml'}:4"


def test_paths_are_relative_to_the_checklist_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "ci" / "checks"
    folder.mkdir(parents=True)
    checklist = load_checklist(write(folder, MINIMAL))
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    assert checklist.resolve_path("../data/x.csv") == folder / "../data/x.csv"
    assert checklist.resolve_path("/abs/x.csv") == Path("/abs/x.csv")
    assert checklist.resolve_path("~/x.csv") == Path.home() / "x.csv"


def test_yaml_anchors_in_x_keys_and_merge_keys(tmp_path: Path) -> None:
    """`x-...` top-level keys are ignored, so they can hold anchors shared by several sources."""
    checklist = load_checklist(
        write(
            tmp_path,
            """\
            x-semicolons: &semi {read_options: {delimiter: ";", encoding: latin-1}}
            research:
              features: {<<: *semi, path: r.csv}
            production:
              features: {<<: *semi, path: p.csv, read_options: {delimiter: tab}}
            """,
        )
    )
    research, production = checklist.research.features, checklist.production.features
    assert research is not None and research.read_options is not None
    assert research.read_options.delimiter == ";"
    assert production is not None and production.read_options is not None
    assert production.read_options.delimiter == "\t"  # the explicit key wins over the merge


def test_numbers_written_as_text_and_1e_notation_are_accepted(tmp_path: Path) -> None:
    # YAML 1.1 reads `1e-9` (no dot) as text; thresholds still take it as the number it means.
    checklist = load_checklist(
        write(
            tmp_path,
            MINIMAL + "stages:\n  data_reproducibility: {rtol: 1e-9, max_lost_rows: '3'}\n",
        )
    )
    assert checklist.stages.data_reproducibility.rtol == 1e-9
    assert checklist.stages.data_reproducibility.max_lost_rows == 3


# --------------------------------------------------------------------------- environment


def test_env_var_set_unset_and_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLCHECK_DATA", "/data/run7")
    monkeypatch.delenv("MLCHECK_UNSET", raising=False)
    checklist = load_checklist(
        write(
            tmp_path,
            """\
            name: "${MLCHECK_DATA} vs ${MLCHECK_UNSET:-nightly}"
            research:
              features: {path: "${MLCHECK_DATA}/r.parquet"}
            production:
              features: {path: "${MLCHECK_UNSET:-fallback}/p.parquet"}
            columns:
              features: ["${MLCHECK_UNSET:-income}", age]
            stages:
              data_reproducibility: {max_lost_rows: "${MLCHECK_UNSET:-4}"}
            """,
        )
    )
    assert checklist.name == "/data/run7 vs nightly"
    assert checklist.research.features is not None
    assert checklist.research.features.path == "/data/run7/r.parquet"
    assert checklist.production.features is not None
    assert checklist.production.features.path == "fallback/p.parquet"
    assert checklist.columns.features == ["income", "age"]
    assert checklist.stages.data_reproducibility.max_lost_rows == 4


def test_env_var_set_wins_over_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLCHECK_SIDE", "blue")
    checklist = load_checklist(write(tmp_path, "name: ${MLCHECK_SIDE:-green}\n" + MINIMAL))
    assert checklist.name == "blue"


def test_unset_env_vars_are_each_reported_with_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLCHECK_NOPE", raising=False)
    monkeypatch.delenv("MLCHECK_NOPE2", raising=False)
    problems = problems_of(
        tmp_path,
        """\
        research:
          features: {path: "${MLCHECK_NOPE}/r.parquet"}
        production:
          features: {path: p.parquet}
        columns:
          features: [a, "${MLCHECK_NOPE2}"]
        """,
    )
    assert problems == [
        "line 2: `research.features.path`: environment variable ${MLCHECK_NOPE} is not set "
        "(set it, or give a default: ${MLCHECK_NOPE:-value})",
        "line 6: `columns.features[1]`: environment variable ${MLCHECK_NOPE2} is not set "
        "(set it, or give a default: ${MLCHECK_NOPE2:-value})",
    ]


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "nam: x\n" + MINIMAL, "line 1: unknown key `nam`; did you mean `name`?", id="top-level"
        ),
        pytest.param(
            "research:\n  featurs: {path: r.parquet}\nproduction: {}\n",
            "line 2: unknown key `research.featurs`; did you mean `features`?",
            id="research",
        ),
        pytest.param(
            "research: {}\nproduction:\n  predictons: {path: p.parquet}\n",
            "line 3: unknown key `production.predictons`; did you mean `predictions`?",
            id="production",
        ),
        pytest.param(
            "research:\n  raw:\n    bureau: {pth: b.parquet}\nproduction: {}\n",
            "line 3: unknown key `research.raw.bureau.pth`; did you mean `path`?",
            id="raw-source",
        ),
        pytest.param(
            "research: {}\nproduction:\n  live:\n    feature: {path: l.parquet}\n",
            "line 4: unknown key `production.live.feature`; did you mean `features`?",
            id="live",
        ),
        pytest.param(
            MINIMAL + "columns:\n  targt: y\n",
            "line 7: unknown key `columns.targt`; did you mean `target`?",
            id="columns",
        ),
        pytest.param(
            MINIMAL + "stages:\n  data_reproducibilty: {}\n",
            "line 7: unknown key `stages.data_reproducibilty`; did you mean `data_reproducibility`?",
            id="stages",
        ),
        pytest.param(
            MINIMAL + "stages:\n  data_reproducibility: {max_lost_rowz: 1}\n",
            "line 7: unknown key `stages.data_reproducibility.max_lost_rowz`; "
            "did you mean `max_lost_rows`?",
            id="stage-threshold",
        ),
        pytest.param(
            MINIMAL + "stages:\n  performance_drop: {chunk: {sise: 10}}\n",
            "line 7: unknown key `stages.performance_drop.chunk.sise`; did you mean `size`?",
            id="chunk",
        ),
        pytest.param(
            "research:\n  features:\n    path: r.csv\n    read_options: {delimitr: ';'}\n"
            "production: {}\n",
            "line 4: unknown key `research.features.read_options.delimitr`; did you mean `delimiter`?",
            id="read-options",
        ),
        pytest.param(
            "research:\n  splits:\n    train: {path: a.csv}\n    test: {pth: b.csv}\nproduction: {}\n",
            "line 4: unknown key `research.splits.test.pth`; did you mean `path`?",
            id="splits-mapping-typo",
        ),
        pytest.param(
            "research:\n  splits: {pth: s.csv}\nproduction: {}\n",
            "line 2: unknown key `research.splits.pth`; did you mean `path`?",
            id="splits-one-table-typo",
        ),
        pytest.param(
            "research:\n  splits: [train.csv, test.csv]\nproduction: {}\n",
            "line 2: `research.splits`: expected a mapping, found a list",
            id="splits-list",
        ),
        pytest.param(
            "research:\n  features: [r.parquet]\nproduction: {}\n",
            "line 2: `research.features`: expected a mapping, found a list",
            id="list-for-mapping",
        ),
        pytest.param(
            MINIMAL + "stages:\n  data_reproducibility: {rtol: tiny}\n",
            "line 7: `stages.data_reproducibility.rtol`: expected a number, found the text 'tiny'",
            id="string-for-number",
        ),
        pytest.param(
            MINIMAL + "stages:\n  data_reproducibility: {max_lost_rows: 1.5}\n",
            "line 7: `stages.data_reproducibility.max_lost_rows`: expected a whole number, "
            "found the number 1.5",
            id="fraction-for-integer",
        ),
        pytest.param(
            MINIMAL + "stages:\n  data_reproducibility: {rtol: -1}\n",
            "line 7: `stages.data_reproducibility.rtol`: must be greater than or equal to 0, "
            "found the number -1",
            id="negative",
        ),
        pytest.param(
            MINIMAL + "columns:\n  features: income\n",
            "line 7: `columns.features`: expected a list, found the text 'income' "
            "(a one-item list is written [income])",
            id="string-for-list",
        ),
        pytest.param(
            MINIMAL + "columns:\n  target: 2023\n",
            "line 7: `columns.target`: expected a string, found the number 2023 "
            "(quote it to make it text)",
            id="number-for-name",
        ),
        pytest.param(
            "version: 1\nproduction: {}\n",
            "line 1: missing required key `research`",
            id="missing-research",
        ),
        pytest.param("", "line 1: the checklist is empty", id="empty"),
        pytest.param("# only a comment\n", "line 1: the checklist is empty", id="comment-only"),
        pytest.param(
            "- research\n- production\n",
            "line 1: the checklist is a list, not a mapping of keys",
            id="list",
        ),
        pytest.param(
            "just text\n",
            "line 1: the checklist is the text 'just text', not a mapping of keys",
            id="scalar",
        ),
        pytest.param(
            "version: 2\n" + MINIMAL.replace("version: 1\n", ""),
            "line 1: `version`: unsupported checklist version 2; this mlcheck reads version 1",
            id="version-2",
        ),
        pytest.param(
            "research: {}\nproduction:\n  live:\n    raw: {path: r.csv}\n",
            "line 4: unknown key `production.live.raw`: `live` holds features, predictions and "
            "labels; raw sources go under `production.raw`",
            id="raw-under-live",
        ),
        pytest.param(
            MINIMAL + "task: binery\n",
            "line 6: `task`: expected one of binary, multiclass, regression, "
            "found the text 'binery'; did you mean `binary`?",
            id="task-typo",
        ),
        pytest.param(
            "research:\n  features: {path: r.data, format: parquett}\nproduction: {}\n",
            "line 2: `research.features.format`: expected one of csv, tsv, parquet, feather, arrow, "
            "ipc, jsonl, ndjson, sql, found the text 'parquett'; did you mean `parquet`?",
            id="format-typo",
        ),
        pytest.param(
            "key: 5\n" + MINIMAL,
            "line 1: `key`: expected a string or a list of names, found the number 5",
            id="key-union",
        ),
        pytest.param(
            "research:\n  features: {path: r.csv, key: [id, 7]}\nproduction: {}\n",
            "line 2: `research.features.key[1]`: expected a string, found the number 7 "
            "(quote it to make it text)",
            id="key-list-item",
        ),
        pytest.param(
            "research:\n  splits: {path: s.csv, key: {a: 1}}\nproduction: {}\n",
            "line 2: `research.splits.key`: expected a string or a list of names, found a mapping",
            id="union-inside-splits",
        ),
        pytest.param(
            "research:\n  features: {path: r.csv, columns: []}\nproduction: {}\n",
            "line 2: `research.features.columns`: must not be empty",
            id="empty-columns",
        ),
        pytest.param(
            "research:\n  features: {format: csv}\nproduction: {}\n",
            "line 2: `research.features`: give exactly one of `path` or `url`",
            id="no-location",
        ),
        pytest.param(
            "research:\n  features: {url: 'sqlite:///x.db'}\nproduction: {}\n",
            "line 2: `research.features`: a `url` source needs exactly one of `query` or `table`",
            id="url-without-query",
        ),
        pytest.param(
            "research:\n  features: {url: 'mysql://u:pw@db/x', table: t}\nproduction: {}\n",
            "line 2: `research.features`: a `url` is sqlite:///path.db or "
            "postgresql://USER@HOST/DB, not 'mysql://u:***@db/x'",
            id="url-unknown-scheme",
        ),
        pytest.param(
            "research:\n  features: {path: r.csv, table: t}\nproduction: {}\n",
            "line 2: `research.features`: `query` and `table` go with `url`, not `path`",
            id="table-with-path",
        ),
        pytest.param(
            "research:\n  features: {path: r.parquet, read_options: {header: false}}\n"
            "production: {}\n",
            "line 2: `research.features`: `read_options` apply to csv/tsv sources, not parquet",
            id="read-options-on-parquet",
        ),
        pytest.param(
            "research:\n  features: {path: r.csv, read_options: {encoding: utf-9}}\nproduction: {}\n",
            "line 2: `research.features.read_options.encoding`: unknown text encoding 'utf-9'",
            id="unknown-encoding",
        ),
        pytest.param(
            "base_dir: /etc\n" + MINIMAL, "line 1: unknown key `base_dir`", id="internal-field"
        ),
        pytest.param(
            MINIMAL + "columns:\n  importance: {income: -0.5}\n",
            "line 7: `columns.importance.income`: must be greater than or equal to 0, "
            "found the number -0.5",
            id="negative-importance",
        ),
    ],
)
def test_each_problem_is_one_line_with_its_yaml_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert only_problem(tmp_path, text) == expected


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "research:\n  zzz: 1\nproduction: {}\n")
    assert problem == (
        "line 2: unknown key `research.zzz`; known keys: "
        "raw, features, splits, predictions, labels, environment"
    )


def test_duplicate_keys_are_reported_with_both_lines(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        research:
          features: {path: a.parquet}
          features: {path: b.parquet}
        production:
          raw:
            x: {path: x.csv, path: y.csv}
        research: {}
        """,
    )
    assert problems == [
        "line 3: duplicate key `research.features` (first at line 2)",
        "line 6: duplicate key `production.raw.x.path` (first at line 6)",
        "line 7: duplicate key `research` (first at line 1)",
    ]


def test_tab_indentation(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "research:\n\tfeatures: {path: r.csv}\nproduction: {}\n")
    assert problem.startswith("line 2, column 1: a tab character")
    assert "spaces" in problem


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "research:\n  features: {path: r.csv\nproduction: {}\n")
    assert problem.startswith("line 3, column ")
    assert "invalid YAML" in problem


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\nresearch: {}\n")
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path)
    assert caught.value.problems == [
        "line 2: the file is not UTF-8 text (byte 0xe9); save it as UTF-8"
    ]


def test_utf8_with_bom_and_unicode_names_load(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf" + "name: scorecard \u00e9t\u00e9\n".encode() + MINIMAL.encode()
    )
    assert load_checklist(path).name == "scorecard \u00e9t\u00e9"


def test_missing_checklist_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"file not found: {tmp_path / 'nope.yaml'}"]
    with pytest.raises(ChecklistError) as caught:
        load_checklist(tmp_path)
    assert "is a folder" in caught.value.problems[0]


def test_unsafe_yaml_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    problem = only_problem(
        tmp_path, f'name: !!python/object/apply:os.system ["touch {marker}"]\n' + MINIMAL
    )
    assert problem.startswith("line 1, column 7: invalid YAML")
    assert not marker.exists()


def test_self_referencing_anchor_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "research: &loop\n  raw: *loop\nproduction: {}\n")
    assert problem == "line 1, column 11: invalid YAML: found unconstructable recursive node"


def test_absurd_nesting_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = "research: " + "[" * 3000 + "]" * 3000 + "\nproduction: {}\n"
    assert only_problem(tmp_path, text) == "line 1: the checklist nests too deeply to read"


def test_every_problem_at_once_sorted_by_line(tmp_path: Path) -> None:
    """Seven unrelated defects, each reported once, in file order."""
    problems = problems_of(
        tmp_path,
        """\
        version: 2
        research:
          featurs: {path: r.parquet}
          splits:
            train: {path: a.csv}
            test: {pth: b.csv}
        production:
          live:
            raw: {path: r.csv}
        columns:
          features: income
        stages:
          prediction_mismatch: {threshhold: 0.3}
        task: binery
        """,
    )
    assert [p.split(":")[0] for p in problems] == [
        "line 1",
        "line 3",
        "line 6",
        "line 9",
        "line 11",
        "line 13",
        "line 14",
    ]
    assert "did you mean `features`?" in problems[1]
    assert "did you mean `path`?" in problems[2]
    assert "did you mean `threshold`?" in problems[5]


def test_a_bad_splits_entry_gives_one_line_without_pydantic_internals(tmp_path: Path) -> None:
    """A splits mapping with one bad entry used to yield an error per union branch."""
    problems = problems_of(
        tmp_path,
        """\
        research:
          splits:
            train: {path: a.csv}
            test: {path: b.csv, columns: id}
            valid: {url: 'sqlite:///s.db'}
        production: {}
        """,
    )
    assert problems == [
        "line 4: `research.splits.test.columns`: expected a list, found the text 'id' "
        "(a one-item list is written [id])",
        "line 5: `research.splits.valid`: a `url` source needs exactly one of `query` or `table`",
    ]
    for noise in ("function-after", "dict[", "SourceSpec", "<", "Input should"):
        assert all(noise not in p for p in problems)


# --------------------------------------------------------------------------- JSON Schema


def _validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_a_valid_json_schema_without_internal_fields() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"research", "production"}
    assert not {"base_dir", "source_file", "lines"} & set(schema["properties"])


def test_spec_example_validates_against_the_schema() -> None:
    assert list(_validator().iter_errors(yaml.safe_load(SPEC_EXAMPLE))) == []


@pytest.mark.parametrize(
    "path", sorted((REPO / "checklists").rglob("*.yaml")), ids=lambda p: p.name
)
def test_repository_checklists_validate_against_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(_validator().iter_errors(data)) == []
    assert isinstance(load_checklist(path), Checklist)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["research"].update(featurs=d["research"].pop("features")), "featurs"),
        (lambda d: d.update(task="binery"), "binery"),
        (lambda d: d.update(version=2), "2"),
        (lambda d: d.pop("production"), "production"),
        (lambda d: d["stages"]["data_reproducibility"].update(rtol="tiny"), "tiny"),
        (lambda d: d["research"].update(splits={"test": {"pth": "b.csv"}}), "pth"),
    ],
    ids=["typo", "task", "version", "missing", "type", "splits-entry"],
)
def test_broken_checklists_fail_the_schema(change, fragment: str) -> None:
    data = yaml.safe_load(SPEC_EXAMPLE)
    change(data)
    errors = list(_validator().iter_errors(data))
    assert errors
    assert any(fragment in str(e.message) or fragment in str(e.instance) for e in errors)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("accept:\n  - {check: PERF001, reason: known, until: 2027-13-01}\n", "line"),
        ("x-note: 2027-02-30\n", None),
    ],
)
def test_a_value_shaped_like_a_date_but_not_one_is_no_crash(
    tmp_path: Path, extra: str, line: str | None
) -> None:
    """Defect: PyYAML raises a bare ValueError ("month must be in 1..12") for `2027-13-01`,
    which ended the run as an internal error (exit 3). Such a value stays text: where a date is
    expected the checklist error names the line; elsewhere (an `x-` key) it is just text."""
    text = MINIMAL + extra
    if line is None:
        load_checklist(write(tmp_path, text))
        return
    problem = only_problem(tmp_path, text)
    assert problem.startswith("line ") and "until" in problem, problem
