"""Locating where the market moved: the changed group's experiment rows lose weight, the rest keep 1."""

from __future__ import annotations

import numpy as np

from services.trainer.drift_regions import locate
from services.trainer.experiment_weight import CANDIDATES, choose_experiment_weight
from shared.estimators import TLearner

NAMES = ["device=mobile", "age"]


def _market(
    n: int, rng: np.random.Generator, group_effect: float, e: np.ndarray | float
) -> tuple[np.ndarray, ...]:
    """Mobile users (half) under 40 (a quarter of all) get ``group_effect``; everyone else +0.1."""
    X = np.c_[rng.random(n) < 0.5, rng.uniform(20, 60, n)].astype(np.float32)
    p = np.broadcast_to(np.asarray(e, dtype=np.float64), (n,))
    t = (rng.random(n) < p).astype(int)
    group = (X[:, 0] > 0.5) & (X[:, 1] < 40)
    effect = np.where(group, group_effect, 0.1)
    y = (rng.random(n) < np.clip(0.3 + t * effect, 0.01, 0.99)).astype(float)
    return X, t, y, p.copy()


def _fit_t(X: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, w: np.ndarray) -> TLearner:
    params = {"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 5.0, "max_bin": 32}
    return TLearner(params=params, n_estimators=60, n_jobs=1, random_state=0).fit(
        X, t, y, propensity=e, sample_weight=w
    )


def _combined(log_group_effect: float, seed: int, n_log: int = 6_000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    exp = _market(16_000, rng, group_effect=0.1, e=0.5)
    log = _market(n_log, rng, group_effect=log_group_effect, e=rng.uniform(0.2, 0.8, n_log))
    parts = [np.concatenate([a, b]) for a, b in zip(exp, log, strict=True)]
    return (*parts, np.r_[np.zeros(16_000, bool), np.ones(n_log, bool)])


def test_a_changed_group_is_located_and_only_its_experiment_rows_lose_weight() -> None:
    X, t, y, e, from_log = _combined(log_group_effect=-0.2, seed=1)
    choice = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3, names=NAMES)
    assert choice.by_region, choice.reason
    weights = np.asarray(choice.experiment_weights(X[~from_log]))
    Xe = X[~from_log]
    group = (Xe[:, 0] > 0.5) & (Xe[:, 1] < 40)
    # The group's rows weigh less than the rest, which the log agrees with and which keep most weight.
    assert weights[group].mean() < 0.5, weights[group].mean()
    assert np.mean(weights[~group] == 1.0) > 0.8, np.mean(weights[~group] == 1.0)
    # The report names the region in feature terms, with its weight.
    assert "device = mobile and age <= 4" in choice.reason, choice.reason
    report = choice.to_dict()["regions"]
    assert report["used"] and any(leaf["weight"] < 1 for leaf in report["leaves"])


def test_an_unchanged_market_locates_nothing() -> None:
    X, t, y, e, from_log = _combined(log_group_effect=0.1, seed=2)
    choice = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3, names=NAMES)
    assert choice.regions is not None and not choice.by_region, choice.to_dict()["regions"]
    # The global rule alone decides (its own false-positive rate is test_experiment_weight's concern).
    assert choice.experiment_weights(X[~from_log]) == choice.chosen


def test_leaves_are_judged_on_rows_that_did_not_grow_the_tree() -> None:
    """A region that only fold 0's noise shows: the tree finds it, fold 1 does not confirm it, it keeps 1."""
    rng = np.random.default_rng(5)
    n = 8_000
    X = rng.normal(size=(n, 3))
    fold = np.arange(n) % 2
    risk = rng.normal(1.0, 0.5, size=(len(CANDIDATES), n))
    # In fold 0, rows with x0 > 1 look much worse at full weight: a region the tree will find.
    risk[0, (fold == 0) & (X[:, 0] > 1)] += 5.0
    regions = locate(X, fold, risk, CANDIDATES, min_rows=200, seed=0)
    assert regions is not None
    chased = [r for r in regions.regions if r.rule.startswith("x[0] >")]
    assert chased and all(r.weight == 1.0 for r in chased), [r.to_dict() for r in regions.regions]
    # Judged on fold 0 itself the same leaf would have been changed beyond doubt.
    assert all(r.risks[1.0] - r.risks[0.0] < 0.5 for r in chased)


def test_too_few_rows_grow_no_tree() -> None:
    rng = np.random.default_rng(6)
    X, fold = rng.normal(size=(300, 2)), np.arange(300) % 2
    risk = rng.normal(size=(len(CANDIDATES), 300))
    assert locate(X, fold, risk, CANDIDATES, min_rows=200, seed=0) is None
