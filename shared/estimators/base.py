"""What every meta-learner shares: input validation, arm bookkeeping, and the prediction API.

Arms are arbitrary labels; one of them is the control. ``predict`` returns the effect of every
non-control arm against control, shape (n,) for the usual two-arm case and (n, n_arms - 1)
otherwise, so callers written for two arms keep working when arms are added.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal, Self, cast

import numpy as np
from sklearn.base import BaseEstimator

from shared.estimators.weights import RowWeights, check_row_weights

OutcomeKind = Literal["binary", "continuous"]


def _as_matrix(X: Any) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"X: must be a 2-D matrix, got {arr.ndim} dimension(s)")
    if arr.shape[0] == 0:
        raise ValueError("X: must have at least one row")
    return arr


class MetaLearner(BaseEstimator, ABC):
    """Base class: subclasses implement ``_fit_arms`` and ``predict_outcomes``.

    scikit-learn's ``BaseEstimator`` reads the constructor's signature, so ``get_params``,
    ``set_params`` and ``sklearn.base.clone`` work for every learner that stores its arguments untouched.
    """

    control: Any
    arms_: list[Any]
    outcome_kind_: OutcomeKind

    def fit(
        self, X: Any, treatment: Any, y: Any, *, propensity: Any = None, sample_weight: Any = None
    ) -> Self:
        """Fit on rows (X, treatment, y).

        ``propensity`` (two arms only): per row, the known probability e(x_i) that the row gets the
        treatment arm, e.g. the design share for experiment rows and the logged probability for rows a
        serving policy assigned. Outcome models are then fitted with inverse-propensity weights and
        learners that use a propensity take these values (see ``shared.estimators.weights``).
        ``sample_weight``: per-row weights multiplying every loss, scikit-learn's usual meaning.
        """
        Xm = _as_matrix(X)
        t = np.asarray(treatment)
        yv = np.asarray(y, dtype=np.float64)
        if t.ndim != 1 or len(t) != len(Xm):
            raise ValueError(
                f"treatment: must be 1-D with one entry per row of X ({len(Xm)}), got shape {t.shape}"
            )
        if yv.ndim != 1 or len(yv) != len(Xm):
            raise ValueError(f"y: must be 1-D with one entry per row of X ({len(Xm)}), got shape {yv.shape}")
        if not np.isfinite(yv).all():
            raise ValueError("y: must be finite (no NaN or infinity)")
        arms = sorted(np.unique(t).tolist(), key=str)
        if self.control not in arms:
            raise ValueError(f"treatment: control value {self.control!r} does not occur; values seen: {arms}")
        if len(arms) < 2:
            raise ValueError(f"treatment: needs at least two arms, got only {arms}")
        self.arms_ = [self.control] + [a for a in arms if a != self.control]
        self.outcome_kind_ = self._outcome_kind(yv)
        # Handed to _fit_arms through the instance so subclasses keep the (X, treatment, y) signature;
        # removed after the fit so a fitted learner does not hold a copy of its training rows.
        self._row_weights = check_row_weights(propensity, sample_weight, len(Xm), len(arms))
        try:
            self._fit_arms(Xm, t, yv)
        finally:
            del self._row_weights
        return self

    @property
    def row_weights(self) -> RowWeights:
        """The per-row weights of the fit in progress (none outside ``fit``)."""
        return getattr(self, "_row_weights", None) or RowWeights(None, None)

    def _outcome_kind(self, y: np.ndarray) -> OutcomeKind:
        requested = getattr(self, "outcome", "auto")
        is_binary = bool(np.isin(y, (0.0, 1.0)).all())
        if requested == "binary" and not is_binary:
            raise ValueError("y: outcome='binary' requires values in {0, 1}")
        if requested in ("binary", "continuous"):
            return cast(OutcomeKind, requested)
        return "binary" if is_binary else "continuous"

    @property
    def treatment_arms(self) -> list[Any]:
        return self.arms_[1:]

    @abstractmethod
    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def predict_outcomes(self, X: Any) -> np.ndarray:
        """Expected outcome under every arm, shape (n, n_arms), columns in ``arms_`` order (control first)."""

    def predict(self, X: Any) -> np.ndarray:
        mu = self.predict_outcomes(X)
        effects = mu[:, 1:] - mu[:, :1]
        return effects[:, 0] if effects.shape[1] == 1 else effects

    def check_is_fitted(self) -> None:
        if not hasattr(self, "arms_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(X, treatment, y) first")

    @staticmethod
    def arm_names(arms: Sequence[Any]) -> list[str]:
        return [str(a) for a in arms]
