"""Descriptions for the checklist's JSON Schema (`mlcheck schema`) that the models do not give.

Models describe most fields where they are declared (`Field(description=...)`); this mapping
fills in the rest when the schema is generated, keyed `Model.field` (`Checklist.field` for
top-level keys), so editors show a description for every key. A test fails for any property
left without one. docs/checklist.md is the long form.
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS: dict[str, str] = {
    "Checklist.name": "a name for the model or release, shown in every report's title",
    "Checklist.research": "what the research environment produced (notebooks, training jobs)",
    "Checklist.production": "what production produced from the same raw inputs, and live traffic",
    "Checklist.columns": "which column plays which role (target, score, split, key parts, ...)",
    "Checklist.task": "binary, multiclass or regression: decides metrics and score checks",
    "Checklist.stages": "per-stage thresholds; every one has a documented default",
    "Checklist.accept": (
        "findings the team accepts: they stay in reports, apart, and stop counting toward their "
        "stage and the verdict"
    ),
    "ResearchSpec.features": "the model's input table as research built it",
    "ResearchSpec.predictions": "the model's outputs (columns.score, columns.prediction)",
    "ResearchSpec.labels": "true outcomes (columns.target) keyed like the predictions",
    "ProductionSpec.features": "the model's input table as production built it",
    "ProductionSpec.predictions": "production's outputs for the same rows as research's",
    "ProductionSpec.labels": "true outcomes (columns.target) keyed like the predictions",
    "ProductionSpec.live": "what production has seen recently: stages 5 and 6",
    "LiveSpec.features": "recent live model inputs (stage 6; stage 5 drift)",
    "LiveSpec.predictions": "recent live model outputs (stage 5)",
    "Columns.target": "the true outcome, in labels (or predictions/features) tables",
    "Columns.prediction": "optional hard label; else score >= threshold",
    "Columns.split": "the split name (train/validation/test) in splits tables",
    "Columns.fold": "optional cross-validation fold in splits tables",
    "Columns.group": "optional: groups (e.g. a customer id) that must not span splits",
    "Columns.timestamp": "optional event time: staleness, temporal leakage, calendar chunks",
    "Columns.importance": "optional feature -> weight: drift of important features counts more",
    "Columns.categorical": "features to treat as categories whatever their type",
    "SourceSpec.read_options": "how to parse a csv/tsv source: delimiter, encoding, null markers",
    "PerformanceDropConfig.chunk": "split live rows into chunks: `size` rows, or `every` 1w/1d",
    "StagesConfig.data_reproducibility": "stage 1: raw sources, research vs production",
    "StagesConfig.feature_parity": "stage 2: features and environment files",
    "StagesConfig.split_reproducibility": "stage 3: split and fold membership",
    "StagesConfig.prediction_mismatch": "stage 4: scores and decisions on matched keys",
    "StagesConfig.performance_drop": "stage 5: live performance, estimated and realized; drift",
    "StagesConfig.variable_availability": "stage 6: live inputs missing, null, new or stale",
}


def describe(schema: dict[str, Any], top: str = "Checklist") -> dict[str, Any]:
    """Fill in a description for every property that lacks one (in place; returns `schema`)."""
    _fill(top, schema)
    for name, model in schema.get("$defs", {}).items():
        _fill(name, model)
    return schema


def _fill(model: str, node: dict[str, Any]) -> None:
    for name, prop in node.get("properties", {}).items():
        if isinstance(prop, dict) and not prop.get("description"):
            text = DESCRIPTIONS.get(f"{model}.{name}")
            if text:
                prop["description"] = text
