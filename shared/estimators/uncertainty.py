"""Per-user effect samples: a half-sample ensemble of doubly robust effect regressions.

Each member is one squared-error booster fitted to AIPW pseudo-outcomes (Kennedy's DR-learner final
stage) on a random half of the rows, with cross-fitted outcome predictions and the design propensity.
Half-samples are the cheap bootstrap: an estimator on n/2 rows varies about twice as much as on n
rows, so the members' spread is scaled by 1/√2. The spread is centred on the served point effect, so
samples and intervals always surround the number the API serves, whichever learner was chosen:

    sample_j(x) = effect(x) + SCALE · (m_j(x) − mean_j m_j(x))

This captures the estimation noise of a flexible effect model at this sample size, not the bias of
the chosen learner; the trainer reports the intervals' coverage of the true effect on synthetic data
so a reader can see how far to trust them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from shared.effect_form import SCALE, effect_interval, effect_samples
from shared.estimators.boosting import fit_booster
from shared.estimators.drlearner import dr_pseudo_outcomes

__all__ = ["SCALE", "effect_interval", "effect_samples", "fit_members", "member_predictions"]

if TYPE_CHECKING:
    import xgboost as xgb

DEFAULT_MEMBERS = 8


def fit_members(
    X: np.ndarray,
    treatment: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    arms: list[Any],
    *,
    n_members: int = DEFAULT_MEMBERS,
    seed: int = 0,
    n_estimators: int = 400,
    n_jobs: int = 0,
    propensity: np.ndarray | None = None,
) -> list[list[xgb.Booster]]:
    """``n_members`` regression boosters per treatment arm; ``mu`` holds cross-fitted outcomes (n, arms).

    ``propensity``: the known P(treatment | x) per row (two arms; e.g. logged by a serving policy); by
    default the arm's share of its (arm, control) rows, the design of a randomized experiment.
    """
    if n_members < 2:
        raise ValueError(f"n_members: needs at least 2 members for a spread, got {n_members}")
    rng = np.random.default_rng(seed)
    out: list[list[xgb.Booster]] = []
    for k, arm in enumerate(arms[1:], start=1):
        rows = np.flatnonzero((treatment == arm) | (treatment == arms[0]))
        treated = (treatment[rows] == arm).astype(np.float64)
        e = np.full(len(rows), treated.mean()) if propensity is None else propensity[rows]
        phi = dr_pseudo_outcomes(y[rows], treated, mu[rows, 0], mu[rows, k], e)
        members = []
        for _ in range(n_members):
            half = rng.random(len(rows)) < 0.5
            members.append(
                fit_booster(
                    X[rows[half]],
                    phi[half],
                    objective="regression",
                    params=None,
                    n_estimators=n_estimators,
                    early_stopping_rounds=25,
                    validation_fraction=0.1,
                    rng=rng,
                    n_jobs=n_jobs,
                    seed=int(rng.integers(2**31)),
                )
            )
        out.append(members)
    return out


def member_predictions(members: list[list[xgb.Booster]], X: np.ndarray) -> np.ndarray:
    """Raw member outputs, shape (n, treatment arms, members)."""
    return np.stack(
        [np.column_stack([m.inplace_predict(X) for m in arm]).astype(np.float64) for arm in members], axis=1
    )
