"""DR-Learner (Kennedy 2023): regress the doubly robust (AIPW) pseudo-outcome on the features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from shared.estimators.crossfit import check_n_folds, cross_predict, fold_ids
from shared.estimators.direct import EffectLearner
from shared.estimators.effect import EffectFunction
from shared.estimators.propensity import check_propensity, clipped_share, pair_propensity


def dr_pseudo_outcomes(
    y: np.ndarray, treated: np.ndarray, mu0: np.ndarray, mu1: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """AIPW pseudo-outcome per row: mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e).

    Its conditional mean given x is the effect when either the outcome models or the propensity are
    right. ``treated`` is 1 for the arm, 0 for control; ``e`` = P(arm | x) must lie in (0, 1).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (y, treated, mu0, mu1, e)]
    yv, t, m0, m1, ev = arrays
    if any(a.shape != yv.shape or a.ndim != 1 for a in arrays):
        raise ValueError(
            f"y, treated, mu0, mu1, e: must be 1-D of one length, got {[a.shape for a in arrays]}"
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("treated: must be 0 (control) or 1 (arm)")
    if not ((ev > 0.0) & (ev < 1.0)).all():
        raise ValueError("e: propensities must lie strictly between 0 and 1")
    return m1 - m0 + t * (yv - m1) / ev - (1.0 - t) * (yv - m0) / (1.0 - ev)


class DRLearner(EffectLearner):
    """Cross-fitted (``n_folds``) outcome models mu_a per arm and, with propensity="estimate", a
    cross-fitted classifier of arm vs control (clipped to [0.01, 0.99]; ``propensity_clipped_`` gives
    the share of rows on a bound). Per treatment arm, on the (arm, control) rows, the AIPW
    pseudo-outcome (``dr_pseudo_outcomes``) is regressed on X by one booster: ``effect_functions_[k]``
    is that booster with weight 1. Multi-arm: each arm against control. Binary and continuous
    outcomes. ``predict_outcomes`` raises NotImplementedError: the outcome models are out-of-fold
    nuisances, not kept.
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
        folds = fold_ids(len(X), self.n_folds, rng)
        known = self.row_weights
        # Known propensities: each arm's outcome model is inverse-propensity weighted (it then describes
        # the whole population) and the pseudo-outcome divides by the known e instead of a share.
        weight = known.outcome_weights(treatment, self.arms_)
        mu = np.column_stack(
            [
                cross_predict(
                    X,
                    y,
                    folds,
                    lambda Xf, yf: self._booster(Xf, yf, self.outcome_objective, rng),
                    train_mask=treatment == arm,
                    what=f"the outcome model of arm {arm!r}",
                    sample_weight=weight,
                    fit_weighted=None
                    if weight is None
                    else lambda Xf, yf, wf: self._booster(Xf, yf, self.outcome_objective, rng, wf),
                )
                for arm in self.arms_
            ]
        )
        effects: list[EffectFunction] = []
        self.propensity_clipped_: list[float] = []
        for k, arm in enumerate(self.treatment_arms, start=1):
            pair = (treatment == arm) | (treatment == self.control)
            treated = (treatment[pair] == arm).astype(np.float64)
            e = known.pair_propensity(pair)
            if e is None:
                e = pair_propensity(
                    self.propensity,
                    X[pair],
                    treated,
                    arm,
                    self.control,
                    folds=folds[pair],
                    fit_classifier=lambda Xf, tf: self._booster(Xf, tf, "binary", rng),
                )
            estimated = self.propensity == "estimate" and known.propensity is None
            self.propensity_clipped_.append(clipped_share(e) if estimated else 0.0)
            phi = dr_pseudo_outcomes(y[pair], treated, mu[pair, 0], mu[pair, k], e)
            final = self._booster(X[pair], phi, "regression", rng, sample_weight=known.base(pair))
            effects.append(EffectFunction(boosters=(final,), weights=(1.0,)))
        self.effect_functions_ = effects
