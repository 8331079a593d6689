"""The nuisance models of an observational analysis: cross-fitted outcome and propensity boosters.

Every model here is an XGBoost booster fitted the way the learners fit theirs (``fit_booster``), and
every prediction for a row comes from a model that never saw that row (``cross_predict``), so the
doubly robust estimates built on them keep their guarantees with flexible models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from shared.estimators.boosting import Objective, fit_booster
from shared.estimators.crossfit import FitFn, cross_predict, fold_ids


class PropensityError(ValueError):
    """The propensity model cannot be fitted or leaves no overlap; the message names the arm and rule."""


@dataclass(frozen=True)
class NuisanceConfig:
    """How the nuisance boosters are fitted; ``seed`` seeds the folds, early stopping and XGBoost."""

    n_folds: int = 2
    n_estimators: int = 300
    n_jobs: int = 0
    seed: int = 0


def _fitter(objective: Objective, config: NuisanceConfig, rng: np.random.Generator) -> FitFn:
    def fit(X: np.ndarray, y: np.ndarray) -> xgb.Booster:
        return fit_booster(
            X,
            y,
            objective=objective,
            params=None,
            n_estimators=config.n_estimators,
            early_stopping_rounds=25,
            validation_fraction=0.1,
            rng=rng,
            n_jobs=config.n_jobs,
            seed=int(rng.integers(2**31)),
        )

    return fit


def cross_fitted_propensity(
    X: np.ndarray, t: np.ndarray, arm: object, control: object, config: NuisanceConfig
) -> np.ndarray:
    """Unclipped out-of-fold P(arm | x, arm or control) for EVERY row of X.

    The classifier of arm k learns on the (arm k, control) rows outside each fold and predicts all of
    that fold's rows, so a multi-arm table gets each row's propensity for every pair and one overlap
    region can be defined for all arms at once.
    """
    pair = (t == arm) | (t == control)
    n_arm, n_control = int((t == arm).sum()), int((t == control).sum())
    if min(n_arm, n_control) < 2 * config.n_folds:
        raise PropensityError(
            f"the propensity model of arm {arm!r} cannot be fitted: it needs at least {2 * config.n_folds} "
            f"rows in the arm and in control ({config.n_folds} folds), got {n_arm} and {n_control}"
        )
    rng = np.random.default_rng(config.seed)
    folds = fold_ids(len(X), config.n_folds, rng)
    target = (t == arm).astype(np.float64)
    try:
        e = cross_predict(
            X,
            target,
            folds,
            _fitter("binary", config, rng),
            train_mask=pair,
            what=f"the propensity model of arm {arm!r}",
        )
    except (ValueError, xgb.core.XGBoostError) as exc:
        raise PropensityError(f"the propensity model of arm {arm!r} cannot be fitted: {exc}") from exc
    if not np.isfinite(e).all():
        raise PropensityError(f"the propensity model of arm {arm!r} predicted non-finite probabilities")
    return e


def cross_fitted_outcomes(
    X: np.ndarray, treated: np.ndarray, y: np.ndarray, outcome_kind: str, config: NuisanceConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold (mu0, mu1, e) on one (arm, control) sample; ``treated`` is 1 for the arm, 0 for control.

    e is left unclipped; callers clip it where they divide by it.
    """
    rng = np.random.default_rng(config.seed)
    folds = fold_ids(len(X), config.n_folds, rng)
    objective: Objective = "binary" if outcome_kind == "binary" else "regression"
    mu = [
        cross_predict(
            X,
            y,
            folds,
            _fitter(objective, config, rng),
            train_mask=treated == a,
            what=f"the outcome model of {'the arm' if a else 'control'}",
        )
        for a in (0, 1)
    ]
    e = cross_predict(X, treated.astype(np.float64), folds, _fitter("binary", config, rng), what="propensity")
    return mu[0], mu[1], e
