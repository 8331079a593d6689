"""Training data in one shape, whether generated or read from the user's experiment log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.trainer import ingest
from services.trainer.validate import (
    DataError,
    Limits,
    OutcomeKindArg,
    ValidationReport,
    require_columns,
    resolve_control,
    validate_frame,
)
from shared import synthetic as syn
from shared.schema import FeatureSchema

# How a category the model never saw is scored: stated here once, recorded in every manifest.
UNSEEN_CATEGORY_RULE = (
    "batch scoring (uplift score): encoded as an all-zero one-hot block, like a missing value, and "
    "the affected rows are counted in the summary; API: rejected with 422 naming the allowed values"
)


@dataclass
class LoggedRows:
    """Rows appended from a serving policy's assignment log (services/trainer/from_log.py).

    ``mask`` is True on the logged rows; ``propensity`` is, for every row of the combined frame, the known
    P(treatment arm | x): the design share on experiment rows, the logged (clipped) probability on
    logged rows. ``report`` is what the manifest and evaluation.json record about the log. ``supported`` is
    False on the rows whose propensity was clipped (the policy gave the other arm almost no chance there).
    """

    mask: np.ndarray
    propensity: np.ndarray
    report: dict[str, Any]
    supported: np.ndarray


@dataclass
class TrainingData:
    frame: pd.DataFrame
    features: list[str]
    treatment: str
    outcome: str
    control: Any
    source: str
    seed: int
    path: str | None = None
    categorical: list[str] = field(default_factory=list)
    catalog: pd.DataFrame | None = None
    impressions: pd.DataFrame | None = None
    id_column: str | None = None
    description: dict[str, Any] = field(default_factory=dict)
    outcome_kind: OutcomeKindArg = "auto"
    # The design's assignment probability per arm when known (the generator's); None means the
    # observed arm shares stand in for it, as in any randomized experiment.
    propensity: dict[Any, float] | None = None
    # Rows from an assignment log appended to the experiment (`uplift train --log`), else None.
    logged: LoggedRows | None = None

    @property
    def has_truth(self) -> bool:
        return "true_cate" in self.frame.columns

    def truth(self, arm: Any) -> np.ndarray | None:
        """The known true effect of ``arm`` per row (synthetic data only), else None."""
        col = syn.truth_column(arm)
        if col in self.frame.columns:
            return self.frame[col].to_numpy()
        return None

    def schema(self) -> FeatureSchema:
        return FeatureSchema.infer(self.frame[self.features], categorical=self.categorical)

    def validate(
        self, expected_split: dict[str, float] | None = None, limits: Limits | None = None
    ) -> ValidationReport:
        report = validate_frame(
            self.frame,
            treatment=self.treatment,
            outcome=self.outcome,
            features=self.features,
            control=self.control,
            id_column=self.id_column,
            outcome_kind=self.outcome_kind,
            expected_split=expected_split,
            limits=limits or Limits(),
        )
        self.description["validation"] = report.to_dict()
        return report


def from_market(market: syn.Market) -> TrainingData:
    """The model learns the shape's outcome (``spend`` for the continuous shape); the other outcome
    columns are post-treatment and never features."""
    excluded = {
        syn.ID_COLUMN,
        syn.TREATMENT_COLUMN,
        syn.OUTCOME_COLUMN,
        syn.REVENUE_COLUMN,
        syn.SPEND_COLUMN,
    }
    features = [c for c in market.users.columns if c not in excluded and not syn.is_truth_column(c)]
    return TrainingData(
        frame=market.users,
        features=features,
        treatment=syn.TREATMENT_COLUMN,
        outcome=market.outcome,
        outcome_kind="continuous" if market.outcome == syn.SPEND_COLUMN else "auto",
        control=0,
        source="synthetic",
        seed=market.config.seed,
        catalog=market.catalog,
        impressions=market.impressions,
        id_column=syn.ID_COLUMN,
        description=market.describe(),
        propensity={int(a): share for a, share in market_split(market.config).items()},
    )


def market_split(config: syn.MarketConfig) -> dict[str, float]:
    """The split the generator randomized to: control 1 − share, the rest even over treatment arms."""
    k = config.n_arms - 1
    return {
        "0": 1.0 - config.treatment_share,
        **{str(a): config.treatment_share / k for a in range(1, k + 1)},
    }


@dataclass(frozen=True)
class FileSpec:
    """What the user said about their file on the command line."""

    path: Path
    treatment: str
    outcome: str
    control: str | None = None
    features: Sequence[str] = ()
    exclude: Sequence[str] = ()
    categorical: Sequence[str] = ()
    id_column: str | None = None
    outcome_kind: OutcomeKindArg = "auto"
    seed: int = 7


def _feature_columns(spec: FileSpec, available: list[str]) -> list[str]:
    require_columns(
        available,
        {
            "--treatment": [spec.treatment],
            "--outcome": [spec.outcome],
            "--features": list(spec.features),
            "--exclude": list(spec.exclude),
            "--categorical": list(spec.categorical),
            "--id-column": [spec.id_column] if spec.id_column else [],
        },
    )
    not_features = {spec.treatment, spec.outcome, spec.id_column, *spec.exclude}
    for col in spec.features:
        if col in not_features:
            raise DataError(col, "is named by --features and also as treatment, outcome, ID or --exclude")
    # A file written by `uplift generate` carries the known truth: it is for evaluation, never a feature.
    chosen = list(spec.features) or [
        c for c in available if c not in not_features and not syn.is_truth_column(c)
    ]
    bad_cat = [c for c in spec.categorical if c not in chosen]
    if bad_cat:
        raise DataError(bad_cat[0], "named by --categorical but is not a feature (excluded or not selected)")
    return chosen


def from_file(spec: FileSpec) -> TrainingData:
    """Read only the needed columns of a CSV/Parquet experiment log; types inferred by pyarrow."""
    types = ingest.column_types(spec.path)
    features = _feature_columns(spec, list(types))
    wanted = [spec.treatment, spec.outcome, *([spec.id_column] if spec.id_column else []), *features]
    truth = [c for c in types if syn.is_truth_column(c) and c not in wanted and c != "response_type"]
    wanted += truth
    frame = ingest.read_frame(spec.path, wanted)
    control = resolve_control(frame[spec.treatment], spec.control)
    description = {
        "format": ingest.file_format(spec.path),
        "columns": {c: str(types[c]) for c in wanted},
        "excluded": sorted(set(types) - set(wanted)),
        "truth_columns": truth,
        "unseen_category_rule": UNSEEN_CATEGORY_RULE,
    }
    return TrainingData(
        frame=frame,
        features=features,
        treatment=spec.treatment,
        outcome=spec.outcome,
        control=control,
        source="file",
        seed=spec.seed,
        path=str(spec.path),
        categorical=list(spec.categorical),
        id_column=spec.id_column,
        description=description,
        outcome_kind=spec.outcome_kind,
    )


def from_frame(frame: pd.DataFrame, spec: FileSpec) -> TrainingData:
    """The same checks and column rules as ``from_file``, for a DataFrame already in memory."""
    features = _feature_columns(spec, [str(c) for c in frame.columns])
    wanted = [spec.treatment, spec.outcome, *([spec.id_column] if spec.id_column else []), *features]
    truth = [
        c for c in frame.columns if syn.is_truth_column(str(c)) and c not in wanted and c != "response_type"
    ]
    data = frame[wanted + truth].reset_index(drop=True)
    return TrainingData(
        frame=data,
        features=features,
        treatment=spec.treatment,
        outcome=spec.outcome,
        control=resolve_control(data[spec.treatment], spec.control),
        source="dataframe",
        seed=spec.seed,
        categorical=list(spec.categorical),
        id_column=spec.id_column,
        description={
            "format": "pandas",
            "excluded": sorted(set(map(str, frame.columns)) - set(wanted)),
            "truth_columns": truth,
        },
        outcome_kind=spec.outcome_kind,
    )


def split_mask(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """Seeded boolean mask of held-out rows (True = test)."""
    return np.random.default_rng(seed + 1).random(n) < test_fraction
