"""Multi-arm recovery on the seeded 3-arm market (true effect per arm known) and the regression learner."""

import json

import numpy as np
import pytest

from services.trainer.data import from_market, split_mask
from shared.estimators import TLearner
from shared.metrics import qini_auc
from shared.synthetic import MarketConfig, generate_market, truth_column


@pytest.fixture(scope="module")
def three_arm(test_seed):
    market = generate_market(MarketConfig(rows=90_000, seed=test_seed, n_arms=3, impression_users=100))
    data = from_market(market)
    X, _ = data.schema().encode_frame(data.frame[data.features])
    t = data.frame["treatment"].to_numpy()
    y = data.frame["conversion"].to_numpy(dtype=float)
    test = split_mask(len(X), 0.3, test_seed)
    model = TLearner(n_estimators=300, n_jobs=2, random_state=test_seed).fit(X[~test], t[~test], y[~test])
    truth = np.column_stack([data.frame[truth_column(k)].to_numpy() for k in (1, 2)])
    return model, X[test], t[test], y[test], truth[test]


def test_market_has_three_arms_and_distinct_true_effects(three_arm):
    model, _, t, _, truth = three_arm
    assert model.arms_ == [0, 1, 2] and set(np.unique(t)) == {0, 1, 2}
    # Different pockets: a learner copying one arm's effect to the other would fail below.
    assert np.corrcoef(truth[:, 0], truth[:, 1])[0, 1] < 0.7


def test_each_arms_known_effect_is_recovered(three_arm):
    model, X, t, y, truth = three_arm
    effects = model.predict(X)
    assert effects.shape == (len(X), 2)
    for k, arm in enumerate((1, 2)):
        assert effects[:, k].mean() == pytest.approx(truth[:, k].mean(), abs=0.015)
        own = np.corrcoef(effects[:, k], truth[:, k])[0, 1]
        other = np.corrcoef(effects[:, k], truth[:, 1 - k])[0, 1]
        assert own > 0.7 and own > other + 0.1
        rows = (t == arm) | (t == 0)
        treated = (t[rows] == arm).astype(int)
        oracle = qini_auc(y[rows], treated, truth[rows, k])
        assert qini_auc(y[rows], treated, effects[rows, k]) > 0.6 * oracle > 0


def _continuous(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    t = rng.integers(0, 2, n)
    tau = np.where(X[:, 0] > 0, 8.0, -2.0) + 2.0 * X[:, 1]
    y = 50 + 10 * X[:, 2] + t * tau + rng.normal(0, 5, n)
    return X, t, y, tau


def test_regression_recovers_a_continuous_effect(test_seed):
    X, t, y, _ = _continuous(30_000, test_seed)
    model = TLearner(n_jobs=2, random_state=test_seed).fit(X, t, y)
    assert model.outcome_kind_ == "continuous"
    objective = json.loads(model.boosters_[0].save_config())["learner"]["objective"]["name"]
    assert objective == "reg:squarederror"
    Xte, _, _, tau = _continuous(10_000, test_seed + 1)
    cate = model.predict(Xte)
    assert cate.mean() == pytest.approx(tau.mean(), abs=0.4)
    assert np.corrcoef(cate, tau)[0, 1] > 0.9
    assert model.predict_outcomes(Xte)[:, 0].mean() == pytest.approx(50, abs=1.0)


def test_outcome_kind_can_be_forced_and_is_checked():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    t = np.tile([0, 1], 200)
    y01 = (rng.random(400) < 0.4).astype(float)
    model = TLearner(n_estimators=5, outcome="continuous").fit(X, t, y01)
    assert model.outcome_kind_ == "continuous"
    with pytest.raises(ValueError, match=r"y: outcome='binary' requires values in \{0, 1\}"):
        TLearner(n_estimators=5, outcome="binary").fit(X, t, y01 * 3)
