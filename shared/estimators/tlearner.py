"""T-Learner: one outcome model per arm; the effect of an arm is the difference of two predictions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xgboost as xgb

from shared.estimators.base import MetaLearner, _as_matrix
from shared.estimators.boosting import DEFAULT_PARAMS, fit_booster, objective_for

__all__ = ["DEFAULT_PARAMS", "TLearner"]


class TLearner(MetaLearner):
    """Two (or more) XGBoost outcome models: mu_a(x) = E[y | x, arm=a]; CATE_a = mu_a - mu_control.

    ``n_estimators`` is the cap; with ``early_stopping_rounds`` a seeded ``validation_fraction`` of
    each arm picks the number of trees actually kept, so a small data set is not over-fitted.
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

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        objective = objective_for(self.outcome_kind_)
        self.boosters_: list[xgb.Booster] = []
        self.best_iterations_: list[int] = []
        # Inverse-propensity weights when propensities are known: each arm's model is then an estimate
        # over the whole population, not over the users a policy happened to send to that arm.
        weight = self.row_weights.outcome_weights(treatment, self.arms_)
        for arm in self.arms_:
            idx = np.flatnonzero(treatment == arm)
            booster = fit_booster(
                X[idx],
                y[idx],
                sample_weight=None if weight is None else weight[idx],
                objective=objective,
                params=self.params,
                n_estimators=self.n_estimators,
                early_stopping_rounds=self.early_stopping_rounds,
                validation_fraction=self.validation_fraction,
                rng=rng,
                n_jobs=self.n_jobs,
                seed=self.random_state,
            )
            self.boosters_.append(booster)
            self.best_iterations_.append(booster.num_boosted_rounds())

    def predict_outcomes(self, X: Any) -> np.ndarray:
        self.check_is_fitted()
        Xm = _as_matrix(X)
        return np.column_stack([b.inplace_predict(Xm) for b in self.boosters_]).astype(np.float64)

    @classmethod
    def from_boosters(
        cls, boosters: list[xgb.Booster], arms: list[Any], outcome_kind: Literal["binary", "continuous"]
    ) -> TLearner:
        """Rebuild a fitted learner from saved boosters (arms in booster order, control first)."""
        if len(boosters) != len(arms) or len(arms) < 2:
            raise ValueError(
                f"boosters: need one per arm and at least two, got {len(boosters)} for arms {arms}"
            )
        model = cls(control=arms[0], outcome=outcome_kind)
        model.arms_ = list(arms)
        model.outcome_kind_ = outcome_kind
        model.boosters_ = boosters
        model.best_iterations_ = [b.num_boosted_rounds() for b in boosters]
        return model
