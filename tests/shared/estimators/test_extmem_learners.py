"""External-memory T- and DR-learners: the row cache reads back what was written, known effects are
recovered, and the cross-fitted DR effect agrees with the in-memory DR-learner on the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.estimators.drlearner import DRLearner
from shared.estimators.extmem_learners import ExtSettings, fit_dr_extmem, fit_t_extmem, shuffled_copy
from shared.estimators.row_cache import RowCache, draws

N = 20_000


def market(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Binary outcome; the true effect is +0.3 where x0 > 0 and 0 elsewhere."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 4)).astype(np.float32)
    arm = rng.integers(0, 2, N).astype(np.int8)
    effect = np.where(X[:, 0] > 0, 0.3, 0.0)
    y = (rng.random(N) < 0.2 + 0.1 * (X[:, 1] > 0) + arm * effect).astype(np.float64)
    return X, arm, y, effect


def cache_of(folder: Path, X: np.ndarray, arm: np.ndarray, y: np.ndarray, batch_rows: int = 1500) -> RowCache:
    cache = RowCache(folder, X.shape[1], 2, seed=3, batch_rows=batch_rows)
    for part in np.array_split(np.arange(len(y)), 3):  # appended in uneven pieces, read in fixed batches
        cache.append(X[part], arm[part], y[part])
    cache.close()
    return cache


def test_cache_reads_back_every_row_and_draws_are_positional(tmp_path: Path) -> None:
    X, arm, y, _ = market()
    cache = cache_of(tmp_path, X, arm, y)
    batches = list(cache.batches())
    assert [b.start for b in batches] == list(range(0, N, 1500))
    np.testing.assert_array_equal(np.vstack([b.X for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b.arm for b in batches]), arm)
    np.testing.assert_array_equal(np.concatenate([b.y for b in batches]), y)
    # Row i gets the same draw whatever batch it is read in.
    whole = draws(3, 31, 0, N)
    np.testing.assert_array_equal(np.concatenate([b.u_valid() for b in batches]), whole)
    with pytest.raises(ValueError, match="batch_rows"):
        RowCache(tmp_path / "x", 4, 2, seed=0, batch_rows=0)


def test_t_and_dr_recover_the_known_effect(tmp_path: Path) -> None:
    X, arm, y, effect = market()
    cache = cache_of(tmp_path, X, arm, y)
    s = ExtSettings(n_estimators=80, seed=1)
    t = fit_t_extmem(cache, [0, 1], "binary", s)
    dr = fit_dr_extmem(cache, [0, 1], "binary", s, propensity=None, arm_counts=np.bincount(arm).tolist())
    for model in (t, dr):
        est = np.asarray(model.predict(X)).ravel()
        assert est[effect > 0].mean() - est[effect == 0].mean() == pytest.approx(0.3, abs=0.1)
        assert np.corrcoef(est, effect)[0, 1] > 0.5
    # The in-memory DR-learner on the same rows learns the same function, up to fold and sampling noise.
    in_memory = DRLearner(n_estimators=80, random_state=1, control=0).fit(X, arm, y)
    assert np.corrcoef(np.ravel(dr.predict(X)), np.ravel(in_memory.predict(X)))[0, 1] > 0.8


def test_placebo_copy_breaks_the_arm_link(tmp_path: Path) -> None:
    X, arm, y, effect = market()
    cache = cache_of(tmp_path / "rows", X, arm, y)
    placebo = shuffled_copy(cache, tmp_path / "placebo", seed=9)
    got = np.concatenate([b.arm for b in placebo.batches()])
    assert np.bincount(got).tolist() == np.bincount(arm).tolist()  # same arm counts per batch, permuted
    est = np.asarray(fit_t_extmem(placebo, [0, 1], "binary", ExtSettings(n_estimators=80, seed=1)).predict(X))
    assert abs(est[effect > 0].mean() - est[effect == 0].mean()) < 0.1
