"""S-Learner: one outcome model on the features plus arm indicators; the effect is a difference of its predictions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xgboost as xgb

from shared.estimators.base import _as_matrix
from shared.estimators.direct import EffectLearner
from shared.estimators.effect import EffectFunction

DISTILL_TOLERANCE = 1e-2
# Each tree of the joint booster contributes tree(x, a) − tree(x, control) to the effect, itself a tree of
# no greater depth on x: the target is a sum of as many trees as the joint booster has, so the distilled
# booster gets at most this multiple of them (boosting's shrinkage needs some more than the exact count).
# Without the cap a near-zero, jagged effect (a placebo refit) kept "improving" for hundreds of trees.
DISTILL_TREES_PER_TREE = 2


class SLearner(EffectLearner):
    """mu(x, a) = E[y | x, arm=a] from one booster on [X, one indicator per treatment arm] (control = all zeros).

    The effect of arm a is mu(x, a) - mu(x, control) (probabilities for a binary outcome). That is not
    a weighted sum of boosters on X alone, so after fitting, one regression booster per arm is
    DISTILLED on X to that effect on the fit rows; ``effect_functions_`` and ``predict`` use the
    distilled form, so every learner has one serving form and what is evaluated is what is served.
    ``distillation_rmse_`` records, per arm, how far the distilled effect is from the original on the
    fit rows. ``predict_outcomes`` uses the original joint booster (``outcome_booster_``), so
    ``predict`` and a difference of ``predict_outcomes`` agree only up to that distillation error.
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
    ) -> None:
        self.params = params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.control = control
        self.outcome = outcome
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _with_arm(self, X: np.ndarray, indicators: np.ndarray) -> np.ndarray:
        return np.hstack([X, indicators.astype(np.float32)])

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        indicators = np.column_stack([treatment == a for a in self.treatment_arms])
        # Inverse-propensity weights (when known) balance the arms at every x, as in a randomized test.
        weight = self.row_weights.outcome_weights(treatment, self.arms_)
        self.outcome_booster_: xgb.Booster = self._booster(
            self._with_arm(X, indicators), y, self.outcome_objective, rng, sample_weight=weight
        )
        mu = self._outcomes(X)
        tree_cap = DISTILL_TREES_PER_TREE * self.outcome_booster_.num_boosted_rounds()
        effects: list[EffectFunction] = []
        self.distillation_rmse_: list[float] = []
        for k in range(1, len(self.arms_)):
            target = mu[:, k] - mu[:, 0]
            # The target is noise-free, so validation error keeps falling by ever smaller steps: stop
            # once a round gains less than DISTILL_TOLERANCE of the target's spread.
            booster = self._booster(
                X,
                target,
                "regression",
                rng,
                sample_weight=self.row_weights.base(),
                min_delta=DISTILL_TOLERANCE * float(target.std()),
                n_estimators=tree_cap,
            )
            effect = EffectFunction(boosters=(booster,), weights=(1.0,))
            self.distillation_rmse_.append(float(np.sqrt(np.mean((effect.predict(X) - target) ** 2))))
            effects.append(effect)
        self.effect_functions_ = effects

    def _outcomes(self, X: np.ndarray) -> np.ndarray:
        n_treated = len(self.arms_) - 1
        columns = []
        for k in range(len(self.arms_)):
            indicators = np.zeros((len(X), n_treated), dtype=np.float32)
            if k:
                indicators[:, k - 1] = 1.0
            columns.append(self.outcome_booster_.inplace_predict(self._with_arm(X, indicators)))
        return np.column_stack(columns).astype(np.float64)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        """Expected outcome under every arm from the joint booster, shape (n, n_arms), control first."""
        self.check_is_fitted()
        return self._outcomes(_as_matrix(X))
