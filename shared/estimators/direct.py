"""What learners that hand over their effect as ``EffectFunction`` objects share.

Each such learner stores, after ``fit``, one ``EffectFunction`` per treatment arm (``arms_[1:]`` order)
in ``effect_functions_``; ``predict`` evaluates exactly those, so the evaluated model is the served one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb

from shared.estimators.base import MetaLearner, _as_matrix
from shared.estimators.boosting import Objective, fit_booster, objective_for
from shared.estimators.effect import EffectFunction


class EffectLearner(MetaLearner):
    """A meta-learner whose per-arm effect is a weighted sum of regression boosters on X."""

    params: dict[str, Any] | None
    n_estimators: int
    early_stopping_rounds: int | None
    validation_fraction: float
    n_jobs: int
    random_state: int
    effect_functions_: list[EffectFunction]

    @property
    def outcome_objective(self) -> Objective:
        return objective_for(self.outcome_kind_)

    def _booster(
        self,
        X: np.ndarray,
        y: np.ndarray,
        objective: Objective,
        rng: np.random.Generator,
        sample_weight: np.ndarray | None = None,
        min_delta: float = 0.0,
        n_estimators: int | None = None,
    ) -> xgb.Booster:
        """One booster with this learner's parameters, size (at most ``n_estimators`` when given, never more
        than the learner's own cap) and seed."""
        return fit_booster(
            X,
            y,
            objective=objective,
            params=self.params,
            n_estimators=min(self.n_estimators, n_estimators or self.n_estimators),
            early_stopping_rounds=self.early_stopping_rounds,
            validation_fraction=self.validation_fraction,
            rng=rng,
            n_jobs=self.n_jobs,
            sample_weight=sample_weight,
            seed=self.random_state,
            min_delta=min_delta,
        )

    def check_is_fitted(self) -> None:
        if not hasattr(self, "effect_functions_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(X, treatment, y) first")

    def predict(self, X: Any) -> np.ndarray:
        """Effect of every treatment arm against control: shape (n,) for two arms, else (n, n_arms - 1)."""
        self.check_is_fitted()
        Xm = _as_matrix(X)
        effects = np.column_stack([f.predict(Xm) for f in self.effect_functions_])
        return effects[:, 0] if effects.shape[1] == 1 else effects

    def predict_outcomes(self, X: Any) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} models the effect directly and has no per-arm outcome model; "
            "use predict(X) for the effect, or TLearner/SLearner/XLearner for outcome predictions"
        )
