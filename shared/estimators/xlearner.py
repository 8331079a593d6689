"""X-Learner (Künzel et al. 2019): impute each arm's individual effects, regress them, blend by propensity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from shared.estimators.base import _as_matrix
from shared.estimators.crossfit import fold_ids
from shared.estimators.direct import EffectLearner
from shared.estimators.effect import EffectFunction
from shared.estimators.propensity import check_propensity, pair_propensity

# Folds of the cross-fitted propensity classifier when propensity="estimate".
PROPENSITY_FOLDS = 2


class XLearner(EffectLearner):
    """Stage 1: outcome models mu_a per arm. Stage 2, per treatment arm a against control:
    D1 = y - mu_0(x) on a's rows and D0 = mu_a(x) - y on control's rows are regressed on X (tau1, tau0),
    and tau = g * tau0 + (1 - g) * tau1 with g the arm's propensity among the (arm, control) rows.

    ``effect_functions_[k]`` is (tau0, tau1) with weights (g, 1 - g). g is a constant so that the
    effect stays a weighted sum of boosters: the design share ("shares", the default), the design
    probability (mapping), or with "estimate" the mean of a cross-fitted propensity classifier
    (clipped to [0.01, 0.99]), or with per-row ``propensity`` given to ``fit`` the mean of those (and
    both stages then use inverse-propensity weights); ``blend_weights_`` records g per arm. Multi-arm:
    each arm against control. Binary and continuous outcomes. ``predict_outcomes`` returns the
    stage-1 outcome models (a T-learner), which is not the X-learner's effect.

    ``outcome_models``: None fits stage 1 here. A fitted ``TLearner`` with the same arms, fitted on the
    same rows with the same settings and the same fit ``propensity``/``sample_weight`` (wrapped in
    ``sklearn.frozen.FrozenEstimator`` so that ``clone`` keeps it fitted), is used as stage 1 instead:
    the selection and the served average fit a T-learner beside the X-learner on the same rows, and its
    outcome models are exactly the ones stage 1 would fit (same seed, same validation draws), so fitting
    them twice would only cost time.
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
        outcome_models: Any = None,
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
        self.outcome_models = outcome_models

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        check_propensity(self.propensity, self.arms_)
        rows = [treatment == arm for arm in self.arms_]
        # Known propensities: inverse-propensity weights in both stages, so every model describes the
        # whole population; the blend weight g is their mean instead of the design share.
        known = self.row_weights
        weight = known.outcome_weights(treatment, self.arms_)

        def w(r: np.ndarray) -> np.ndarray | None:
            return None if weight is None else weight[r]

        self.outcome_boosters_: list[xgb.Booster] = self._stage_one(X, y, rows, w)
        # Stage 2 draws its validation rows from its own stream, so reusing stage 1 changes nothing.
        rng = np.random.default_rng([self.random_state, 2])
        control_rows = rows[0]
        effects: list[EffectFunction] = []
        self.blend_weights_: list[float] = []
        for k, arm in enumerate(self.treatment_arms, start=1):
            arm_rows = rows[k]
            d1 = y[arm_rows] - self.outcome_boosters_[0].inplace_predict(X[arm_rows])
            d0 = self.outcome_boosters_[k].inplace_predict(X[control_rows]) - y[control_rows]
            tau1 = self._booster(X[arm_rows], d1, "regression", rng, sample_weight=w(arm_rows))
            tau0 = self._booster(X[control_rows], d0, "regression", rng, sample_weight=w(control_rows))
            pair = arm_rows | control_rows
            e = known.pair_propensity(pair)
            if e is None:
                e = pair_propensity(
                    self.propensity,
                    X[pair],
                    arm_rows[pair],
                    arm,
                    self.control,
                    folds=fold_ids(int(pair.sum()), PROPENSITY_FOLDS, rng),
                    fit_classifier=lambda Xf, tf: self._booster(Xf, tf, "binary", rng),
                )
            g = float(np.average(e, weights=known.base(pair)))
            self.blend_weights_.append(g)
            effects.append(EffectFunction(boosters=(tau0, tau1), weights=(g, 1.0 - g)))
        self.effect_functions_ = effects

    def _stage_one(
        self,
        X: np.ndarray,
        y: np.ndarray,
        rows: list[np.ndarray],
        weight: Callable[[np.ndarray], np.ndarray | None],
    ) -> list[xgb.Booster]:
        """Stage-1 boosters: fitted here (with the fit's outcome weights), or a given T-learner's, which
        must have been fitted on the same rows with the same ``propensity``/``sample_weight``."""
        given = self.outcome_models
        if given is None:
            rng = np.random.default_rng(self.random_state)
            return [
                self._booster(X[r], y[r], self.outcome_objective, rng, sample_weight=weight(r)) for r in rows
            ]
        fitted = getattr(given, "estimator", given)  # FrozenEstimator keeps the fitted learner here
        boosters = getattr(fitted, "boosters_", None)
        if boosters is None or list(getattr(fitted, "arms_", [])) != list(self.arms_):
            raise ValueError(
                f"outcome_models: must be a fitted TLearner with arms {self.arms_} (the same rows), "
                f"got {type(fitted).__name__}"
            )
        if boosters[0].num_features() != X.shape[1]:
            raise ValueError(
                f"outcome_models: fitted on {boosters[0].num_features()} features, X has {X.shape[1]}"
            )
        return list(boosters)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        """Stage-1 outcome predictions under every arm, shape (n, n_arms), control first."""
        self.check_is_fitted()
        Xm = _as_matrix(X)
        return np.column_stack([b.inplace_predict(Xm) for b in self.outcome_boosters_]).astype(np.float64)
