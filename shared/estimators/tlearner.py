"""T-Learner: one outcome model per arm; the effect of an arm is the difference of two predictions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xgboost as xgb

from shared.estimators.base import MetaLearner, _as_matrix

DEFAULT_PARAMS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 6,
    "learning_rate": 0.1,
    "min_child_weight": 20.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "max_bin": 64,
    "reg_lambda": 1.0,
}


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

    def _booster_params(self) -> dict[str, Any]:
        p = {**DEFAULT_PARAMS, **(self.params or {})}
        p["objective"] = "binary:logistic" if self.outcome_kind_ == "binary" else "reg:squarederror"
        p["eval_metric"] = "logloss" if self.outcome_kind_ == "binary" else "rmse"
        p["seed"] = self.random_state
        if self.n_jobs:
            p["nthread"] = self.n_jobs
        return p

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        params = self._booster_params()
        self.boosters_: list[xgb.Booster] = []
        self.best_iterations_: list[int] = []
        for arm in self.arms_:
            idx = np.flatnonzero(treatment == arm)
            Xa, ya = X[idx], y[idx]
            evals: list[tuple[xgb.DMatrix, str]] = []
            use_es = self.early_stopping_rounds is not None and len(idx) >= 200
            if use_es:
                valid = rng.random(len(idx)) < self.validation_fraction
                dtrain = xgb.QuantileDMatrix(Xa[~valid], ya[~valid], max_bin=params["max_bin"])
                dvalid = xgb.DMatrix(Xa[valid], ya[valid])
                evals = [(dvalid, "valid")]
            else:
                dtrain = xgb.QuantileDMatrix(Xa, ya, max_bin=params["max_bin"])
            booster = xgb.train(
                params,
                dtrain,
                num_boost_round=self.n_estimators,
                evals=evals,
                early_stopping_rounds=self.early_stopping_rounds if use_es else None,
                verbose_eval=False,
            )
            if use_es:
                # Keep exactly the trees early stopping chose, so the saved model is the evaluated one.
                booster = booster[: booster.best_iteration + 1]
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
