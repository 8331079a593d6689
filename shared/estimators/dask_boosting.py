"""``fit_booster`` on a Dask cluster: the same parameters and early stopping, data left on the workers.

The rows are a Dask dataframe of encoded features plus columns the caller names (label, a uniform
draw per row for the validation split). ``xgboost.dask`` builds the quantile matrix partition by
partition on the workers that hold them; only the finished booster comes back to the client, and it is
the same native ``xgb.Booster`` an in-memory fit returns, so it is saved and served the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from shared.estimators.boosting import Objective, booster_params

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client


def fit_booster_dask(
    client: Client,
    frame: dd.DataFrame,
    features: Sequence[str],
    label: str,
    *,
    objective: Objective,
    params: Mapping[str, Any] | None,
    n_estimators: int,
    early_stopping_rounds: int | None,
    validation_fraction: float,
    valid_column: str,
    seed: int,
    n_jobs: int = 0,
) -> xgb.Booster:
    """One booster of at most ``n_estimators`` trees, cut to the trees early stopping chose.

    Rows whose ``valid_column`` draw is below ``validation_fraction`` are the validation rows (the
    in-memory ``fit_booster`` draws them from its rng the same way).
    """
    if n_estimators < 1:
        raise ValueError(f"n_estimators: must be at least 1, got {n_estimators}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction: must be in (0, 1), got {validation_fraction}")
    import xgboost.dask as dxgb

    p = booster_params(params, objective, seed, n_jobs)
    cols = list(features)
    callbacks = None
    evals: list[tuple[Any, str]] = []
    if early_stopping_rounds is not None:
        held = frame[valid_column] < validation_fraction
        fit_rows, valid_rows = frame[~held], frame[held]
        dtrain = dxgb.DaskQuantileDMatrix(client, fit_rows[cols], fit_rows[label], max_bin=p["max_bin"])
        dvalid = dxgb.DaskQuantileDMatrix(
            client, valid_rows[cols], valid_rows[label], max_bin=p["max_bin"], ref=dtrain
        )
        evals = [(dvalid, "valid")]
        callbacks = [xgb.callback.EarlyStopping(rounds=early_stopping_rounds)]
    else:
        dtrain = dxgb.DaskQuantileDMatrix(client, frame[cols], frame[label], max_bin=p["max_bin"])
    out = dxgb.train(
        client, p, dtrain, num_boost_round=n_estimators, evals=evals, callbacks=callbacks, verbose_eval=False
    )
    booster: xgb.Booster = out["booster"]
    if early_stopping_rounds is not None:
        booster = booster[: booster.best_iteration + 1]
    return booster


def _predict_part(part: pd.DataFrame, booster: xgb.Booster, features: list[str]) -> pd.Series:
    if part.empty:
        return pd.Series(np.zeros(0), index=part.index, dtype=np.float64)
    X = part[features].to_numpy(dtype=np.float32)
    return pd.Series(np.asarray(booster.inplace_predict(X), dtype=np.float64), index=part.index)


def predict_column(frame: dd.DataFrame, booster: xgb.Booster, features: Sequence[str]) -> dd.Series:
    """The booster's prediction for every row, as a column aligned with ``frame``'s partitions."""
    # One thread per task: the worker already runs one task per core.
    booster = booster.copy()
    booster.set_param({"nthread": 1})
    return frame.map_partitions(_predict_part, booster, list(features), meta=(None, "f8"))
