"""The T- and DR-learners fitted with ``xgboost.dask``: rows stay on the workers, boosters come back.

The two learners the distributed trainer offers (the reason: both need only per-arm outcome fits and,
for DR, one regression per arm on a pseudo-outcome computed row by row, so every step is a
partition-wise map or an ``xgboost.dask`` fit; S/X/R/CT need further passes that would double or
triple the cluster's work for learners the selection rarely prefers at this scale). Each returns the
same fitted object as its in-memory twin (``TLearner``, ``DRLearner`` with ``effect_functions_``), so
the served form, the export and the server cannot tell where it was trained.

The frame holds the encoded features and four columns: ARM (index into ``arms``, 0 = control),
LABEL (the outcome), U_VALID and U_FOLD (seeded uniform draws per row for the early-stopping
validation rows and the cross-fitting folds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from shared.estimators.boosting import objective_for
from shared.estimators.dask_boosting import fit_booster_dask, predict_column
from shared.estimators.drlearner import DRLearner, dr_pseudo_outcomes
from shared.estimators.effect import EffectFunction
from shared.estimators.tlearner import TLearner

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

ARM = "__arm"
LABEL = "__label"
U_VALID = "__u_valid"
U_FOLD = "__u_fold"


@dataclass
class DaskRows:
    """Training rows on the cluster and what the fits need to know about them."""

    frame: dd.DataFrame
    features: list[str]
    arms: list[Any]
    outcome_kind: Literal["binary", "continuous"]
    # Rows per arm index (for the arm-share propensity of a randomized experiment).
    arm_counts: list[int]


@dataclass(frozen=True)
class BoostSettings:
    n_estimators: int
    seed: int
    params: Mapping[str, Any] | None = None
    early_stopping_rounds: int | None = 25
    validation_fraction: float = 0.1
    n_jobs: int = 0


def _fit(
    client: Client, rows: DaskRows, frame: dd.DataFrame, label: str, objective: Any, s: BoostSettings
) -> Any:
    return fit_booster_dask(
        client, frame, rows.features, label, objective=objective, params=s.params,
        n_estimators=s.n_estimators, early_stopping_rounds=s.early_stopping_rounds,
        validation_fraction=s.validation_fraction, valid_column=U_VALID, seed=s.seed, n_jobs=s.n_jobs,
    )  # fmt: skip


def fit_t_dask(client: Client, rows: DaskRows, s: BoostSettings) -> TLearner:
    """One outcome booster per arm on that arm's rows."""
    objective = objective_for(rows.outcome_kind)
    frame = rows.frame
    boosters = [
        _fit(client, rows, frame[frame[ARM] == k], LABEL, objective, s) for k in range(len(rows.arms))
    ]
    return TLearner.from_boosters(boosters, rows.arms, rows.outcome_kind)


def _pseudo_part(part: pd.DataFrame, arm: int, e: float) -> pd.Series:
    """AIPW pseudo-outcome of each (arm, control) row; mu columns are the out-of-fold outcome predictions."""
    if part.empty:
        return pd.Series(np.zeros(0), index=part.index, dtype=np.float64)
    treated = (part[ARM].to_numpy() == arm).astype(np.float64)
    phi = dr_pseudo_outcomes(
        part[LABEL].to_numpy(np.float64), treated, part["__mu0"].to_numpy(), part[f"__mu{arm}"].to_numpy(),
        np.full(len(part), e),
    )  # fmt: skip
    return pd.Series(phi, index=part.index)


def _pick_fold(part: pd.DataFrame, n_folds: int, names: list[str]) -> pd.Series:
    """Each row's prediction from the model that did not see its fold."""
    fold = np.minimum((part[U_FOLD].to_numpy() * n_folds).astype(np.int64), n_folds - 1)
    preds = part[names].to_numpy()
    return pd.Series(preds[np.arange(len(part)), fold] if len(part) else np.zeros(0), index=part.index)


def fit_dr_dask(
    client: Client,
    rows: DaskRows,
    s: BoostSettings,
    *,
    propensity: Mapping[Any, float] | None,
    n_folds: int = 2,
) -> DRLearner:
    """Cross-fitted outcome models per arm, then per treatment arm one regression of the AIPW
    pseudo-outcome on the (arm, control) rows. ``propensity``: the design's share per arm label, else the
    observed arm shares (a randomized experiment)."""
    objective = objective_for(rows.outcome_kind)
    frame = rows.frame
    for a in range(len(rows.arms)):
        names = []
        for k in range(n_folds):
            # U_FOLD is uniform on [0, 1): fold = floor(u * n_folds), as _pick_fold reads it.
            fit_rows = frame[(frame[U_FOLD] * n_folds).astype("int64") != k]
            booster = _fit(client, rows, fit_rows[fit_rows[ARM] == a], LABEL, objective, s)
            names.append(f"__pred{k}")
            frame = frame.assign(**{names[-1]: predict_column(frame, booster, rows.features)})
        frame = frame.assign(
            **{f"__mu{a}": frame.map_partitions(_pick_fold, n_folds, names, meta=(None, "f8"))}
        ).drop(columns=names)
        frame = client.persist(frame)
    effects = []
    for k in range(1, len(rows.arms)):
        arm, control = rows.arms[k], rows.arms[0]
        if propensity is not None:
            e = float(propensity[arm]) / (float(propensity[arm]) + float(propensity[control]))
        else:
            e = rows.arm_counts[k] / (rows.arm_counts[k] + rows.arm_counts[0])
        pair = frame[(frame[ARM] == k) | (frame[ARM] == 0)]
        pair = pair.assign(__phi=pair.map_partitions(_pseudo_part, k, e, meta=(None, "f8")))
        booster = _fit(client, rows, pair, "__phi", "regression", s)
        effects.append(EffectFunction(boosters=(booster,), weights=(1.0,)))
    model = DRLearner(control=rows.arms[0], outcome=rows.outcome_kind, n_folds=n_folds, random_state=s.seed)
    model.arms_ = list(rows.arms)
    model.outcome_kind_ = rows.outcome_kind
    model.effect_functions_ = effects
    model.propensity_clipped_ = [0.0] * len(effects)
    return model
