"""The serving form of a direct effect model: a weighted sum of regression boosters on the features."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

REGRESSION_OBJECTIVE = "reg:squarederror"


def _objective(booster: xgb.Booster) -> str:
    return str(json.loads(booster.save_config())["learner"]["objective"]["name"])


@dataclass(frozen=True)
class EffectFunction:
    """effect(x) = offset + sum_j weight_j * booster_j(x), each booster a raw squared-error regressor.

    Every learner that models the effect directly hands over its per-arm effect in this form, and its
    ``predict`` evaluates exactly these boosters, so what is evaluated is what is saved and served.
    """

    boosters: tuple[xgb.Booster, ...]
    weights: tuple[float, ...]
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not self.boosters:
            raise ValueError("boosters: an effect function needs at least one booster")
        if len(self.weights) != len(self.boosters):
            raise ValueError(f"weights: need one per booster ({len(self.boosters)}), got {len(self.weights)}")
        if not all(np.isfinite(w) for w in (*self.weights, self.offset)):
            raise ValueError("weights and offset: must be finite")
        for j, booster in enumerate(self.boosters):
            # A logistic booster's inplace_predict is a probability, not a raw score: the sum would
            # silently change meaning between training and a server that reads margins.
            name = _objective(booster)
            if name != REGRESSION_OBJECTIVE:
                raise ValueError(f"boosters[{j}]: must use objective {REGRESSION_OBJECTIVE}, got {name}")

    def predict(self, X: Any) -> np.ndarray:
        """Effect per row of X, float64, shape (n,)."""
        Xm = np.asarray(X, dtype=np.float32)
        if Xm.ndim != 2:
            raise ValueError(f"X: must be a 2-D matrix, got {Xm.ndim} dimension(s)")
        out = np.full(len(Xm), self.offset, dtype=np.float64)
        for weight, booster in zip(self.weights, self.boosters, strict=True):
            out += weight * np.asarray(booster.inplace_predict(Xm), dtype=np.float64)
        return out
