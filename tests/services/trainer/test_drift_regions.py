"""Locating where the market moved: the changed group's experiment rows lose weight, the rest keep 1."""

from __future__ import annotations

import re

import numpy as np
import pytest

from services.trainer import drift_regions
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
    found = re.search(r"device = mobile and age <= ([\d.]+) at weight", choice.reason)
    assert found and 38 <= float(found[1]) <= 42, choice.reason
    report = choice.to_dict()["regions"]
    assert report["used"] and any(leaf["weight"] < 1 for leaf in report["leaves"])


def test_a_changed_group_the_policy_decides_almost_surely_is_located_from_its_outcomes() -> None:
    """The policy decides the changed group almost surely (logged 0.99 or 0.01, clipped to 0.95 or 0.05),
    so none of its rows has a propensity the transformed outcome could judge by; its outcomes still show
    the change, the treated rows' against the control rows'."""
    rng = np.random.default_rng(4)
    exp = _market(16_000, rng, group_effect=0.1, e=0.5)
    n_log = 6_000
    X = np.c_[rng.random(n_log) < 0.5, rng.uniform(20, 60, n_log)].astype(np.float32)
    group = (X[:, 0] > 0.5) & (X[:, 1] < 40)
    # Near-greedy in the group: the young almost surely treated, the rest almost surely not.
    logged_p = np.where(group, np.where(X[:, 1] < 30, 0.99, 0.01), rng.uniform(0.2, 0.8, n_log))
    t = (rng.random(n_log) < logged_p).astype(int)
    y = (rng.random(n_log) < np.clip(0.3 + t * np.where(group, -0.2, 0.1), 0.01, 0.99)).astype(float)
    e_log = np.clip(logged_p, 0.05, 0.95)
    parts = [np.concatenate([a, b]) for a, b in zip(exp, (X, t, y, e_log), strict=True)]
    from_log = np.r_[np.zeros(16_000, bool), np.ones(n_log, bool)]
    supported = np.r_[np.ones(16_000, bool), ~group]
    Xa, ta, ya, ea = parts
    choice = choose_experiment_weight(
        Xa, ta, ya, ea, from_log, 0, _fit_t, seed=3, names=NAMES, supported=supported
    )
    assert choice.judged_rows == int((~group).sum())  # the group judges nothing through psi
    assert choice.by_region, choice.reason
    weights = np.asarray(choice.experiment_weights(Xa[~from_log]))
    Xe = Xa[~from_log]
    in_group = (Xe[:, 0] > 0.5) & (Xe[:, 1] < 40)
    # Where the policy treated the group, the log shows the change and the experiment loses weight; its
    # untreated part shows no treated outcome to judge by, and the rest of the market keeps 1.
    treated_part = in_group & (Xe[:, 1] < 30)
    assert weights[treated_part].mean() < 0.5, weights[treated_part].mean()
    assert np.mean(weights[~in_group] == 1.0) > 0.8, np.mean(weights[~in_group] == 1.0)
    # The tree split the group where the policy did, so its treated leaf holds no control row: the arm
    # contrast was read on the smallest region around it with both arms.
    leaf = next(r for r in choice.regions.regions if r.weight < 1.0) if choice.regions else None
    assert leaf is not None and leaf.effect_shift is not None and leaf.effect_shift < -0.1, leaf


def test_a_baseline_that_moved_for_both_arms_is_not_a_changed_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    """The group converts 0.2 more in the log whatever the arm: the experiment predicts its outcomes
    worse, but its effect, which is all the experiment is kept for, still holds there."""
    rng = np.random.default_rng(7)
    exp = _market(16_000, rng, group_effect=0.1, e=0.5)
    n_log = 6_000
    X = np.c_[rng.random(n_log) < 0.5, rng.uniform(20, 60, n_log)].astype(np.float32)
    group = (X[:, 0] > 0.5) & (X[:, 1] < 40)
    e = rng.uniform(0.2, 0.8, n_log)
    t = (rng.random(n_log) < e).astype(int)
    y = (rng.random(n_log) < 0.3 + 0.2 * group + 0.1 * t).astype(float)
    Xa, ta, ya, ea = (np.concatenate([a, b]) for a, b in zip(exp, (X, t, y, e), strict=True))
    from_log = np.r_[np.zeros(16_000, bool), np.ones(n_log, bool)]
    choice = choose_experiment_weight(Xa, ta, ya, ea, from_log, 0, _fit_t, seed=3, names=NAMES)
    assert choice.regions is not None and not choice.by_region, choice.to_dict()["regions"]
    assert choice.chosen == 1.0, choice.reason
    # Judged by the outcome risk alone (every leaf's arms taken to part), the group would be "changed".
    monkeypatch.setattr(drift_regions, "_effect_shift", lambda *_: (1.0, 0.0))
    outcome_only = choose_experiment_weight(Xa, ta, ya, ea, from_log, 0, _fit_t, seed=3, names=NAMES)
    assert outcome_only.by_region and "device = mobile" in outcome_only.reason, outcome_only.reason


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
    # Its treated rows' residuals part from the control rows' in both folds: only d is left to judge.
    treated = np.arange(n) % 4 < 2
    residual = rng.normal(0.0, 0.3, n) - 0.3 * (treated & (X[:, 0] > 1))
    regions = locate(X, fold, risk, CANDIDATES, residual=residual, treated=treated, min_rows=200, seed=0)
    assert regions is not None
    chased = [r for r in regions.regions if r.rule.startswith("x[0] >")]
    assert chased and all(r.weight == 1.0 for r in chased), [r.to_dict() for r in regions.regions]
    # Judged on fold 0 itself the same leaf would have been changed beyond doubt.
    assert all(r.risks[1.0] - r.risks[0.0] < 0.5 for r in chased)


def test_too_few_rows_grow_no_tree() -> None:
    rng = np.random.default_rng(6)
    X, fold = rng.normal(size=(300, 2)), np.arange(300) % 2
    risk = rng.normal(size=(len(CANDIDATES), 300))
    residual, treated = rng.normal(size=300), np.arange(300) % 2 == 0
    assert locate(X, fold, risk, CANDIDATES, residual=residual, treated=treated, min_rows=200, seed=0) is None
