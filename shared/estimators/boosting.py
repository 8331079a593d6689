"""Fitting one XGBoost booster the way every learner does: hist trees, size chosen by early stopping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import xgboost as xgb

Objective = Literal["binary", "regression"]

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

# Below this many rows a held-out tenth is too small to pick a tree count reliably; the cap is used.
MIN_ROWS_FOR_EARLY_STOPPING = 200

_OBJECTIVES: dict[str, tuple[str, str]] = {
    "binary": ("binary:logistic", "logloss"),
    "regression": ("reg:squarederror", "rmse"),
}


def objective_for(outcome_kind: str) -> Objective:
    """The booster objective that models an outcome of this kind ("binary" or "continuous")."""
    return "binary" if outcome_kind == "binary" else "regression"


def booster_params(
    params: Mapping[str, Any] | None, objective: Objective, seed: int, n_jobs: int
) -> dict[str, Any]:
    """DEFAULT_PARAMS overlaid with the caller's, then the objective, its metric, seed and threads."""
    if objective not in _OBJECTIVES:
        raise ValueError(f"objective: must be one of {sorted(_OBJECTIVES)}, got {objective!r}")
    p = {**DEFAULT_PARAMS, **(params or {})}
    p["objective"], p["eval_metric"] = _OBJECTIVES[objective]
    p["seed"] = seed
    if n_jobs:
        p["nthread"] = n_jobs
    return p


def fit_booster(
    X: np.ndarray,
    y: np.ndarray,
    *,
    objective: Objective,
    params: Mapping[str, Any] | None,
    n_estimators: int,
    early_stopping_rounds: int | None,
    validation_fraction: float,
    rng: np.random.Generator,
    n_jobs: int,
    sample_weight: np.ndarray | None = None,
    seed: int = 0,
    min_delta: float = 0.0,
) -> xgb.Booster:
    """One booster with at most ``n_estimators`` trees.

    With ``early_stopping_rounds`` and at least 200 rows, a ``validation_fraction`` of the rows drawn
    from ``rng`` is held out and the booster is cut to exactly the trees early stopping chose, so the
    model that is saved and served is the one that was validated. ``seed`` seeds XGBoost's own row
    and column sampling. ``min_delta``: a round counts as an improvement only when the validation
    metric falls by more than this (a noise-free target, as in distillation, improves forever).
    """
    if n_estimators < 1:
        raise ValueError(f"n_estimators: must be at least 1, got {n_estimators}")
    if len(X) != len(y) or (sample_weight is not None and len(sample_weight) != len(y)):
        raise ValueError(f"y and sample_weight: need one entry per row of X ({len(X)})")
    p = booster_params(params, objective, seed, n_jobs)
    use_es = early_stopping_rounds is not None and len(y) >= MIN_ROWS_FOR_EARLY_STOPPING
    evals: list[tuple[xgb.DMatrix, str]] = []
    if use_es:
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction: must be in (0, 1), got {validation_fraction}")
        valid = rng.random(len(y)) < validation_fraction
        w_fit = None if sample_weight is None else sample_weight[~valid]
        w_valid = None if sample_weight is None else sample_weight[valid]
        dtrain = xgb.QuantileDMatrix(X[~valid], y[~valid], weight=w_fit, max_bin=p["max_bin"])
        evals = [(xgb.DMatrix(X[valid], y[valid], weight=w_valid), "valid")]
    else:
        dtrain = xgb.QuantileDMatrix(X, y, weight=sample_weight, max_bin=p["max_bin"])
    callbacks = (
        [xgb.callback.EarlyStopping(rounds=early_stopping_rounds, min_delta=min_delta)]
        if use_es and early_stopping_rounds is not None
        else None
    )
    booster = xgb.train(
        p, dtrain, num_boost_round=n_estimators, evals=evals, callbacks=callbacks, verbose_eval=False
    )
    if use_es:
        booster = booster[: booster.best_iteration + 1]
    return booster
