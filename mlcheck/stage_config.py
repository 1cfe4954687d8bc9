"""Per-stage thresholds with their documented defaults (SPEC section 2, `stages:`).

Each stage owns one class here. A default written here is the default users get and the one
`mlcheck checks` prints, so change it only with the README.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_PACKAGES = [
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "xgboost",
    "lightgbm",
    "catboost",
    "torch",
    "tensorflow",
    "statsmodels",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float:
    """'30d' -> seconds. Units: s, m, h, d, w."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 1w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# Every metric the performance_drop stage knows (mlcheck/metrics.py checks it against the task).
METRIC_NAMES = (
    "roc_auc",
    "average_precision",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "mae",
    "rmse",
    "r2",
    "mape",
)


def admitting(value: float) -> str:
    """The smallest two-digit tolerance at or above `value` (with a margin for rounding), as a
    hint writes it: a setting a hint suggests must really silence what it was suggested for."""
    if not math.isfinite(value) or value <= 0:
        return "0"
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return f"{math.ceil(value * (1 + 1e-6) / step) * step:.2g}"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataReproducibilityConfig(Strict):
    rtol: float = Field(
        1.0e-9, ge=0, description="relative tolerance: |a-b| <= atol + rtol*max(|a|,|b|)"
    )
    atol: float = Field(0.0, ge=0, description="absolute tolerance for numeric cells")
    max_lost_rows: int = Field(0, ge=0, description="keys in research but not production")
    max_extra_rows: int = Field(0, ge=0, description="keys in production but not research")
    max_mismatched_cells: int = Field(0, ge=0, description="cells beyond tolerance per column")
    examples: int = Field(10, ge=0, le=100, description="example rows/keys per finding")
    top_values: int = Field(
        5, ge=0, le=100, description="most frequent values compared per non-float column"
    )


class FeatureParityConfig(DataReproducibilityConfig):
    rtol: float = Field(1.0e-7, ge=0, description="relative tolerance for numeric cells")
    atol: float = Field(1.0e-9, ge=0, description="absolute tolerance for numeric cells")
    packages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PACKAGES),
        description="packages whose major/minor change fails",
    )
    float32_rtol: float = Field(
        1.0e-6,
        ge=0,
        description="cells beyond rtol but within this relative difference are float precision, not logic",
    )
    clip_quantile: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="clipping is named when quantiles from this level to 1 minus it agree",
    )
    fill_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of a column's differing cells one value must hold to be named a fill value",
    )
    min_fill_cells: int = Field(
        3, ge=1, description="cells a value must fill to be named a fill value"
    )


class SplitReproducibilityConfig(Strict):
    max_reassigned: int = Field(0, ge=0, description="keys whose split differs")
    temporal: bool = Field(False, description="the split is by time: test rows must be newer")
    holdout: list[str] = Field(
        default_factory=lambda: ["test", "validation", "valid", "val", "holdout"],
        description="split names that are held out from training",
    )
    train: list[str] = Field(
        default_factory=lambda: ["train", "training"], description="split names used for training"
    )
    max_missing_keys: int = Field(
        0, ge=0, description="keys in one side's splits but not the other's"
    )
    max_leaked_keys: int = Field(0, ge=0, description="keys in a holdout split and another split")
    max_leaked_groups: int = Field(
        0, ge=0, description="groups whose rows span more than one split"
    )
    max_proportion_diff: float = Field(
        0.01, ge=0, le=1, description="split share difference that warns (context only)"
    )
    max_balance_diff: float = Field(
        0.01, ge=0, le=1, description="per-split class share difference that warns (context only)"
    )
    examples: int = Field(10, ge=0, le=100, description="example keys/groups per finding")


class PredictionMismatchConfig(Strict):
    atol: float = Field(1.0e-6, ge=0, description="absolute tolerance for scores")
    rtol: float = Field(0.0, ge=0, description="relative tolerance for scores")
    max_mismatch_rate: float = Field(
        0.0, ge=0, le=1, description="share of scores beyond tolerance"
    )
    max_flip_rate: float = Field(0.0, ge=0, le=1, description="share of decisions flipped")
    max_invalid_rate: float = Field(0.0, ge=0, le=1, description="share of invalid outputs")
    threshold: float = Field(0.5, description="decision threshold on the score")
    max_missing_predictions: int = Field(0, ge=0, description="keys predicted on one side only")
    sum_tolerance: float = Field(
        1.0e-6, ge=0, description="how far a multiclass row's probabilities may sum from 1"
    )
    examples: int = Field(10, ge=0, le=100, description="example keys/rows per finding")


# A calendar chunk is whole seconds, at most this long: its width in nanosecond ticks must fit
# an int64 (chunks are cut in the timestamp's own integer unit, never in floats).
MAX_CHUNK_SECONDS = 100_000 * 86400


def chunk_seconds(text: str) -> int:
    """'1w' -> 604800: a calendar chunk's width, whole seconds from 1 s to 100000d."""
    seconds = duration_seconds(text)
    if not (seconds.is_integer() and 1 <= seconds <= MAX_CHUNK_SECONDS):
        raise ValueError(
            f"{text!r} is not a chunk width: give whole seconds from 1s to 100000d, like 1w or 1d"
        )
    return int(seconds)


class ChunkConfig(Strict):
    size: int | None = Field(None, gt=0, description="rows per chunk, in file order")
    every: str | None = Field(None, description="calendar chunk by the timestamp column: 1w, 1d")

    @field_validator("every")
    @classmethod
    def _width(cls, value: str | None) -> str | None:
        if value is not None:
            chunk_seconds(value)  # a zero, negative or unreadable width: its own line
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ChunkConfig:
        if (self.size is None) == (self.every is None):
            raise ValueError("give exactly one of `size` or `every`")
        return self


class PerformanceDropConfig(Strict):
    """Thresholds of stage 5. `max_drop` is in the metric's own units; for a lower-is-better
    metric (log_loss, brier, mae, rmse, mape) a "drop" is a rise by more than `max_drop`."""

    metric: str | None = Field(None, description="default: roc_auc, accuracy or rmse by task")
    max_drop: float = Field(0.02, ge=0, description="largest tolerated metric drop")
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence level of intervals")
    baseline: float | None = Field(None, description="baseline metric instead of research labels")
    chunk: ChunkConfig | None = None
    bootstrap: int = Field(1000, ge=50, le=100000, description="bootstrap resamples")
    threshold: float = Field(0.5, description="binary decision threshold when no prediction column")
    baseline_split: str = Field("test", description="research split the baseline is measured on")
    train_split: str = Field("train", description="research split that drift is measured against")
    drift_alpha: float = Field(0.01, gt=0, lt=1, description="BH-adjusted significance level")
    drift_wasserstein: float = Field(
        0.05, ge=0, description="normalised Wasserstein effect size (research sds moved)"
    )
    drift_jensen_shannon: float = Field(0.1, ge=0, le=1, description="Jensen-Shannon distance")
    drift_psi: float = Field(0.2, ge=0, description="population stability index")
    important_share: float = Field(
        0.1, ge=0, le=1, description="importance share above which drift fails rather than warns"
    )
    min_labels: int = Field(100, ge=1, description="labels below which the stage only warns")
    concept_rate_change: float = Field(
        0.05, gt=0, le=1, description="change of a bin's positive rate that counts as concept drift"
    )
    bins: int = Field(10, ge=2, le=100, description="score/feature bins for concept drift")
    examples: int = Field(10, ge=0, le=100, description="example categories/bins per finding")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRIC_NAMES:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(METRIC_NAMES)}")
        return value


class VariableAvailabilityConfig(Strict):
    max_null_rate_increase: float = Field(
        0.05,
        ge=0,
        le=1,
        description="largest rise of a feature's null (or NaN) rate, live - research",
    )
    max_unseen_rate: float = Field(
        0.01, ge=0, le=1, description="share of live rows with a category never seen in research"
    )
    min_count: int = Field(5, ge=1, description="research count below which a category is rare")
    max_rare_rate: float = Field(
        0.05, ge=0, le=1, description="share of live rows with rare values"
    )
    max_staleness: str | None = Field(
        "30d", description="longest silence of a feature before the live window ends (null: off)"
    )
    absence_alpha: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="a vanished category or a column turned constant fails only when pure sampling "
        "luck would produce it with probability below this",
    )
    rename_similarity: float = Field(
        0.8, ge=0, le=1, description="difflib name ratio that names a new live column a replacement"
    )
    rename_distance: float = Field(
        0.1,
        ge=0,
        description="normalised Wasserstein (numeric) or Jensen-Shannon (categorical) distance "
        "below which a new live column of the same dtype is a replacement",
    )
    examples: int = Field(10, ge=0, le=100, description="example categories/columns per finding")

    @field_validator("max_staleness")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value


class StagesConfig(Strict):
    data_reproducibility: DataReproducibilityConfig = Field(
        default_factory=DataReproducibilityConfig  # type: ignore[arg-type]
    )
    feature_parity: FeatureParityConfig = Field(default_factory=FeatureParityConfig)  # type: ignore[arg-type]
    split_reproducibility: SplitReproducibilityConfig = Field(
        default_factory=SplitReproducibilityConfig  # type: ignore[arg-type]
    )
    prediction_mismatch: PredictionMismatchConfig = Field(default_factory=PredictionMismatchConfig)  # type: ignore[arg-type]
    performance_drop: PerformanceDropConfig = Field(default_factory=PerformanceDropConfig)  # type: ignore[arg-type]
    variable_availability: VariableAvailabilityConfig = Field(
        default_factory=VariableAvailabilityConfig  # type: ignore[arg-type]
    )


Task = Literal["binary", "multiclass", "regression"]
