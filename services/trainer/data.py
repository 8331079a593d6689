"""Training data in one shape, whether generated or read from the user's experiment log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared import synthetic as syn
from shared.schema import FeatureSchema


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

    @property
    def has_truth(self) -> bool:
        return "true_cate" in self.frame.columns

    def schema(self) -> FeatureSchema:
        return FeatureSchema.infer(self.frame[self.features], categorical=self.categorical)


def from_market(market: syn.Market) -> TrainingData:
    excluded = {
        syn.ID_COLUMN,
        syn.TREATMENT_COLUMN,
        syn.OUTCOME_COLUMN,
        syn.REVENUE_COLUMN,
        *syn.TRUTH_COLUMNS,
    }
    features = [c for c in market.users.columns if c not in excluded]
    return TrainingData(
        frame=market.users,
        features=features,
        treatment=syn.TREATMENT_COLUMN,
        outcome=syn.OUTCOME_COLUMN,
        control=0,
        source="synthetic",
        seed=market.config.seed,
        catalog=market.catalog,
        impressions=market.impressions,
        id_column=syn.ID_COLUMN,
        description=market.describe(),
    )


def split_mask(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """Seeded boolean mask of held-out rows (True = test)."""
    return np.random.default_rng(seed + 1).random(n) < test_fraction
