"""The T- and DR-learners fitted in external memory: ``xgboost.DataIter`` over a ``RowCache``.

Every booster is trained on an ``ExtMemQuantileDMatrix`` built from an iterator that reads the cache
batch by batch and keeps the rows a mask selects (an arm, the other folds, the early-stopping split),
so XGBoost holds compressed histogram pages on disk and peak memory does not grow with the rows. The
DR-learner's cross-fitting runs the same way: fold models are fitted per arm, each row's out-of-fold
prediction is written back to the cache, and the pseudo-outcome is computed batch by batch when the
effect booster reads it. The results are the same fitted objects as the in-memory learners
(``TLearner``, ``DRLearner`` with ``effect_functions_``), so export and serving are unchanged.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from shared.estimators.boosting import Objective, booster_params, objective_for
from shared.estimators.drlearner import DRLearner, dr_pseudo_outcomes
from shared.estimators.effect import EffectFunction
from shared.estimators.row_cache import Batch, RowCache
from shared.estimators.tlearner import TLearner

Select = Callable[[Batch], np.ndarray]
Label = Callable[[Batch], np.ndarray]


class _CacheIter(xgb.DataIter):
    """The selected rows of every cache batch, with the label the caller computes from the batch."""

    def __init__(self, cache: RowCache, select: Select, label: Label, prefix: str, with_mu: bool) -> None:
        self.cache, self.select, self.label, self.with_mu = cache, select, label, with_mu
        self._it: Any = None
        super().__init__(cache_prefix=prefix, release_data=True)

    def reset(self) -> None:
        self._it = None

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._it is None:
            self._it = self.cache.batches(self.with_mu)
        for batch in self._it:
            keep = self.select(batch)
            if keep.any():
                input_data(data=batch.X[keep], label=self.label(batch)[keep])
                return True
        return False


@dataclass(frozen=True)
class ExtSettings:
    n_estimators: int
    seed: int
    params: Mapping[str, Any] | None = None
    early_stopping_rounds: int = 25
    validation_fraction: float = 0.1
    n_jobs: int = 0


def fit_booster_extmem(
    cache: RowCache,
    select: Select,
    label: Label,
    objective: Objective,
    s: ExtSettings,
    *,
    with_mu: bool = False,
) -> xgb.Booster:
    """One booster on the selected rows, cut to the trees early stopping chose (as ``fit_booster``)."""
    p = booster_params(s.params, objective, s.seed, s.n_jobs)
    tmp = tempfile.mkdtemp(prefix="uplift-extmem-")

    def rows(valid: bool) -> _CacheIter:
        def keep(b: Batch) -> np.ndarray:
            return np.asarray(select(b) & ((b.u_valid() < s.validation_fraction) == valid))

        name = "valid" if valid else "train"
        return _CacheIter(cache, keep, label, str(Path(tmp) / name), with_mu)

    try:
        dtrain = xgb.ExtMemQuantileDMatrix(rows(False), max_bin=p["max_bin"])
        dvalid = xgb.ExtMemQuantileDMatrix(rows(True), max_bin=p["max_bin"], ref=dtrain)
        trained = xgb.train(
            p, dtrain, num_boost_round=s.n_estimators, evals=[(dvalid, "valid")], verbose_eval=False,
            callbacks=[xgb.callback.EarlyStopping(rounds=s.early_stopping_rounds)],
        )  # fmt: skip
        booster = trained[: trained.best_iteration + 1]
        # XGBoost removes its page files when the matrices go: let it, before the folder goes.
        del trained, dtrain, dvalid
        gc.collect()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return booster


def _arm_is(a: int) -> Select:
    return lambda b: np.asarray(b.arm == a)


def _outcome(b: Batch) -> np.ndarray:
    return b.y


def fit_t_extmem(
    cache: RowCache, arms: list[Any], outcome_kind: Literal["binary", "continuous"], s: ExtSettings
) -> TLearner:
    objective = objective_for(outcome_kind)
    boosters = [fit_booster_extmem(cache, _arm_is(a), _outcome, objective, s) for a in range(len(arms))]
    return TLearner.from_boosters(boosters, arms, outcome_kind)


def _write_out_of_fold(cache: RowCache, models: list[list[xgb.Booster]], n_folds: int) -> None:
    """mu[i, a] = the arm-a model of the fold that did not see row i, for every cached row."""
    for batch in cache.batches():
        fold = batch.fold(n_folds)
        mu = np.empty((len(batch.y), len(models)))
        for a, per_fold in enumerate(models):
            for k, booster in enumerate(per_fold):
                rows = fold == k
                if rows.any():
                    mu[rows, a] = booster.inplace_predict(batch.X[rows])
        cache.write_mu(mu, batch.start)


def fit_dr_extmem(
    cache: RowCache,
    arms: list[Any],
    outcome_kind: Literal["binary", "continuous"],
    s: ExtSettings,
    *,
    propensity: Mapping[Any, float] | None,
    arm_counts: list[int],
    n_folds: int = 2,
) -> DRLearner:
    """Cross-fitted outcome models per arm, out-of-fold predictions written to the cache, then per
    treatment arm one regression of the AIPW pseudo-outcome on the (arm, control) rows."""
    objective = objective_for(outcome_kind)

    def other_folds(a: int, k: int) -> Select:
        return lambda b: np.asarray((b.arm == a) & (b.fold(n_folds) != k))

    models = [
        [fit_booster_extmem(cache, other_folds(a, k), _outcome, objective, s) for k in range(n_folds)]
        for a in range(len(arms))
    ]
    _write_out_of_fold(cache, models, n_folds)
    effects = []
    for k in range(1, len(arms)):
        if propensity is not None:
            e = float(propensity[arms[k]]) / (float(propensity[arms[k]]) + float(propensity[arms[0]]))
        else:
            e = arm_counts[k] / (arm_counts[k] + arm_counts[0])

        def pair(b: Batch, k: int = k) -> np.ndarray:
            return np.asarray((b.arm == k) | (b.arm == 0))

        def phi(b: Batch, k: int = k, e: float = e) -> np.ndarray:
            assert b.mu is not None
            out = np.zeros(len(b.y))
            rows = pair(b)
            treated = (b.arm[rows] == k).astype(np.float64)
            out[rows] = dr_pseudo_outcomes(
                b.y[rows], treated, b.mu[rows, 0], b.mu[rows, k], np.full(rows.sum(), e)
            )
            return out

        booster = fit_booster_extmem(cache, pair, phi, "regression", s, with_mu=True)
        effects.append(EffectFunction(boosters=(booster,), weights=(1.0,)))
    model = DRLearner(control=arms[0], outcome=outcome_kind, n_folds=n_folds, random_state=s.seed)
    model.arms_ = list(arms)
    model.outcome_kind_ = outcome_kind
    model.effect_functions_ = effects
    model.propensity_clipped_ = [0.0] * len(effects)
    return model


def shuffled_copy(cache: RowCache, folder: Path, seed: int) -> RowCache:
    """The cache with arms permuted within each batch (the placebo's data), written once to ``folder``."""
    copy = RowCache(folder, cache.n_features, cache.n_arms, cache.seed, cache.batch_rows)
    for batch in cache.batches():
        rng = np.random.default_rng([seed, batch.start])
        copy.append(batch.X, rng.permutation(batch.arm), batch.y)
    copy.close()
    return copy
