"""fit_booster: early stopping on a seeded split decides the size, and the booster keeps exactly those trees."""

import json

import numpy as np
import pytest

from shared.estimators import fit_booster
from shared.estimators.boosting import DEFAULT_PARAMS


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    return X, X[:, 0] + rng.normal(0, 2.0, n)


def _fit(X, y, seed=0, **kwargs):
    args = {
        "objective": "regression",
        "params": None,
        "n_estimators": 300,
        "early_stopping_rounds": 10,
        "validation_fraction": 0.2,
        "n_jobs": 1,
    }
    return fit_booster(X, y, rng=np.random.default_rng(seed), **{**args, **kwargs})


def test_early_stopping_keeps_only_the_chosen_trees():
    X, y = _data(2_000, 0)
    booster = _fit(X, y)
    # Mostly noise: early stopping ends far below the cap, and the cut booster has best_iteration + 1 trees.
    assert 1 <= booster.num_boosted_rounds() < 150
    assert booster.num_boosted_rounds() == _fit(X, y).num_boosted_rounds()
    assert _fit(X, y, early_stopping_rounds=None).num_boosted_rounds() == 300


def test_small_data_uses_the_cap_and_the_objective_is_set():
    X, y = _data(150, 1)
    booster = _fit(X, (y > 0).astype(float), objective="binary", n_estimators=12)
    assert booster.num_boosted_rounds() == 12
    config = json.loads(booster.save_config())["learner"]
    assert config["objective"]["name"] == "binary:logistic"
    assert int(config["gradient_booster"]["tree_train_param"]["max_depth"]) == DEFAULT_PARAMS["max_depth"]


def test_sample_weight_is_used():
    X, _ = _data(1_000, 2)
    y = (np.random.default_rng(2).random(1_000) < 0.5).astype(
        float
    )  # unrelated to X: the mean is all there is
    weight = np.where(y == 1, 9.0, 1.0)
    plain = _fit(X, y, early_stopping_rounds=None, n_estimators=20).inplace_predict(X).mean()
    weighted = (
        _fit(X, y, early_stopping_rounds=None, n_estimators=20, sample_weight=weight)
        .inplace_predict(X)
        .mean()
    )
    assert plain == pytest.approx(0.5, abs=0.05) and weighted == pytest.approx(0.9, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"validation_fraction": 0.0}, r"validation_fraction: must be in \(0, 1\), got 0.0"),
        ({"n_estimators": 0}, "n_estimators: must be at least 1, got 0"),
        ({"objective": "poisson"}, "objective: must be one of"),
        ({"sample_weight": np.ones(3)}, "y and sample_weight: need one entry per row of X"),
    ],
)
def test_bad_arguments(kwargs, match):
    X, y = _data(400, 3)
    with pytest.raises(ValueError, match=match):
        _fit(X, y, **kwargs)
