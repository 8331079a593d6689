"""R-Learner (Nie & Wager 2021): the effect that best explains outcome residuals by treatment residuals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from shared.estimators.crossfit import check_n_folds, cross_predict, fold_ids
from shared.estimators.direct import EffectLearner
from shared.estimators.effect import EffectFunction
from shared.estimators.propensity import check_propensity, clipped_share, pair_propensity


class RLearner(EffectLearner):
    """Minimises the R-loss sum_i ((y_i - m(x_i)) - (T_i - e(x_i)) tau(x_i))^2 over tau.

    Multi-arm is handled pairwise: for each treatment arm, on the (arm, control) rows only,
    m(x) = E[y | x] is cross-fitted (``n_folds``) and e(x) = P(arm | x, arm or control) comes from the
    design ("shares", a mapping) or a cross-fitted classifier ("estimate", clipped to [0.01, 0.99];
    ``propensity_clipped_`` gives the share of rows on a bound). The R-loss equals a weighted
    squared error on the target (y - m) / (T - e) with weights (T - e)^2, so one regression booster
    fits it (the early-stopping split is scored with the same weights): ``effect_functions_[k]`` is
    that booster with weight 1. Binary and continuous outcomes. ``predict_outcomes`` raises
    NotImplementedError: m is the outcome averaged over arms, not an outcome per arm.
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
        n_folds: int = 2,
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
        self.n_folds = n_folds

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        check_propensity(self.propensity, self.arms_)
        check_n_folds(self.n_folds)
        rng = np.random.default_rng(self.random_state)
        effects: list[EffectFunction] = []
        self.propensity_clipped_: list[float] = []
        known = self.row_weights
        for arm in self.treatment_arms:
            pair = (treatment == arm) | (treatment == self.control)
            Xp, yp = X[pair], y[pair]
            treated = (treatment[pair] == arm).astype(np.float64)
            folds = fold_ids(len(Xp), self.n_folds, rng)
            base = known.base(pair)
            # m(x) = E[y | x] is the outcome under the data's own assignment, so it is NOT
            # inverse-propensity weighted; known propensities replace e(x) in the residual T - e.
            m = cross_predict(
                Xp,
                yp,
                folds,
                lambda Xf, yf: self._booster(Xf, yf, self.outcome_objective, rng),
                what=f"the outcome model of the ({arm!r}, control) rows",
                sample_weight=base,
                fit_weighted=None
                if base is None
                else lambda Xf, yf, wf: self._booster(Xf, yf, self.outcome_objective, rng, wf),
            )
            e = known.pair_propensity(pair)
            if e is None:
                e = pair_propensity(
                    self.propensity,
                    Xp,
                    treated,
                    arm,
                    self.control,
                    folds=folds,
                    fit_classifier=lambda Xf, tf: self._booster(Xf, tf, "binary", rng),
                )
            estimated = self.propensity == "estimate" and known.propensity is None
            self.propensity_clipped_.append(clipped_share(e) if estimated else 0.0)
            residual_t = treated - e
            target = (yp - m) / residual_t
            weight = residual_t**2 if base is None else residual_t**2 * base
            booster = self._booster(Xp, target, "regression", rng, sample_weight=weight)
            effects.append(EffectFunction(boosters=(booster,), weights=(1.0,)))
        self.effect_functions_ = effects
