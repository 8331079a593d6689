"""Class transformation (Jaskowski & Jaroszewicz 2012): one model of a label whose mean encodes the effect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from shared.estimators.crossfit import fold_ids
from shared.estimators.direct import EffectLearner
from shared.estimators.effect import EffectFunction
from shared.estimators.propensity import check_propensity, clipped_share, pair_propensity

# Folds of the cross-fitted propensity classifier when propensity="estimate".
PROPENSITY_FOLDS = 2


class ClassTransformation(EffectLearner):
    """Z = 1 for a treated converter or a control non-converter, else 0.

    Rows are weighted 1 / (2 e) if treated and 1 / (2 (1 - e)) if control, so both groups carry half
    the weight at every x whatever the assignment shares; then E_w[Z | x] = (p1(x) + 1 - p0(x)) / 2 and
    the effect p1 - p0 = 2 E_w[Z | x] - 1. A squared-error REGRESSION booster fits E_w[Z | x], keeping
    the effect linear in it: ``effect_functions_[0]`` is that booster with weight 2 and offset -1.
    e comes from the design ("shares", a mapping) or a cross-fitted classifier ("estimate", clipped
    to [0.01, 0.99]; ``propensity_clipped_`` gives the share of rows on a bound).

    Binary outcome and exactly two arms only (``fit`` refuses anything else).
    ``predict_outcomes`` raises NotImplementedError: Z mixes both arms' outcomes in one label.
    """

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        n_estimators: int = 400,
        early_stopping_rounds: int | None = 25,
        validation_fraction: float = 0.1,
        control: Any = 0,
        outcome: Literal["auto", "binary", "continuous"] = "auto",
        n_jobs: int = 0,
        random_state: int = 0,
        propensity: str | Mapping[Any, float] = "shares",
    ) -> None:
        self.params = params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.control = control
        self.outcome = outcome
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.propensity = propensity

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        if self.outcome_kind_ != "binary":
            raise ValueError("y: class transformation needs a binary outcome (values in {0, 1})")
        if len(self.arms_) != 2:
            raise ValueError(f"treatment: class transformation needs exactly two arms, got {len(self.arms_)}")
        check_propensity(self.propensity, self.arms_)
        rng = np.random.default_rng(self.random_state)
        arm = self.arms_[1]
        treated = (treatment == arm).astype(np.float64)
        known = self.row_weights
        e = known.pair_propensity(np.ones(len(X), dtype=bool))
        if e is None:
            e = pair_propensity(
                self.propensity,
                X,
                treated,
                arm,
                self.control,
                folds=fold_ids(len(X), PROPENSITY_FOLDS, rng),
                fit_classifier=lambda Xf, tf: self._booster(Xf, tf, "binary", rng),
            )
        estimated = self.propensity == "estimate" and known.propensity is None
        self.propensity_clipped_ = [clipped_share(e) if estimated else 0.0]
        z = treated * y + (1.0 - treated) * (1.0 - y)
        # With known per-row e this is exact at every x: both arms carry half the weight there.
        weight = np.where(treated == 1.0, 0.5 / e, 0.5 / (1.0 - e))
        base = known.base()
        booster = self._booster(
            X, z, "regression", rng, sample_weight=weight if base is None else weight * base
        )
        self.effect_functions_ = [EffectFunction(boosters=(booster,), weights=(2.0,), offset=-1.0)]
