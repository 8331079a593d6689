"""Cross-fitting: nuisance predictions for a row come from a model that never saw that row."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xgboost as xgb

FitFn = Callable[[np.ndarray, np.ndarray], xgb.Booster]
# The same with per-row weights as a third argument.
WeightedFitFn = Callable[[np.ndarray, np.ndarray, np.ndarray], xgb.Booster]


def check_n_folds(n_folds: int) -> None:
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise ValueError(f"n_folds: must be an integer of at least 2, got {n_folds!r}")


def fold_ids(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per row, the folds as equal in size as possible, assigned at random."""
    check_n_folds(n_folds)
    return rng.permutation(n) % n_folds


def cross_predict(
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    fit: FitFn,
    *,
    train_mask: np.ndarray | None = None,
    what: str = "model",
    sample_weight: np.ndarray | None = None,
    fit_weighted: WeightedFitFn | None = None,
) -> np.ndarray:
    """Out-of-fold predictions for every row of X.

    The rows of fold k are predicted by ``fit`` on the ``train_mask`` rows outside fold k (all rows
    when no mask is given), so an outcome model of one arm can still predict every row. With
    ``sample_weight``, ``fit_weighted`` is called with the training rows' weights instead of ``fit``.
    """
    if (sample_weight is None) != (fit_weighted is None):
        raise ValueError("sample_weight and fit_weighted: give both or neither")
    mask = np.ones(len(X), dtype=bool) if train_mask is None else train_mask
    out = np.empty(len(X), dtype=np.float64)
    for k in np.unique(folds):
        held_out = folds == k
        train = mask & ~held_out
        if not train.any():
            raise ValueError(
                f"n_folds: {what} has no rows to train on outside fold {k}; use fewer folds or more data"
            )
        booster = (
            fit(X[train], y[train])
            if sample_weight is None or fit_weighted is None
            else fit_weighted(X[train], y[train], sample_weight[train])
        )
        out[held_out] = booster.inplace_predict(X[held_out])
    return out
