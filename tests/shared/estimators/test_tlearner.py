import numpy as np
import pytest

from shared.estimators import ItemRanker, TLearner
from shared.metrics import ndcg_at_k, qini_auc


def _data(n, seed, arms=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    t = rng.integers(0, arms, n)
    base = 0.2 + 0.1 * (X[:, 1] > 0)
    tau1 = np.where(X[:, 0] > 0.5, 0.3, 0.0)  # arm 1 works only on x0 > 0.5
    tau2 = np.where(X[:, 2] < -0.5, -0.15, 0.05)  # arm 2 hurts on x2 < -0.5
    p = base + np.select([t == 1, t == 2], [tau1, tau2], 0.0)
    y = (rng.random(n) < p).astype(float)
    return X, t, y, tau1, tau2


def test_recovers_known_effect(test_seed):
    X, t, y, tau1, _ = _data(30_000, test_seed)
    model = TLearner(n_jobs=2, random_state=test_seed).fit(X, t, y)
    Xte, tte, yte, tau_te, _ = _data(20_000, test_seed + 1)
    cate = model.predict(Xte)
    assert cate.shape == (20_000,)
    assert cate.mean() == pytest.approx(tau_te.mean(), abs=0.02)
    assert np.corrcoef(cate, tau_te)[0, 1] > 0.8
    oracle = qini_auc(yte, tte, tau_te)
    assert oracle > 0.01
    assert qini_auc(yte, tte, cate) > 0.8 * oracle
    mu = model.predict_outcomes(Xte)
    np.testing.assert_allclose(mu[:, 1] - mu[:, 0], cate)


def test_multi_arm_effects_per_arm(test_seed):
    X, t, y, tau1, tau2 = _data(45_000, test_seed, arms=3)
    model = TLearner(n_jobs=2, random_state=test_seed).fit(X, t, y)
    eff = model.predict(X)
    assert model.arms_ == [0, 1, 2]
    assert eff.shape == (45_000, 2)
    assert eff[:, 0].mean() == pytest.approx(tau1.mean(), abs=0.02)
    assert eff[:, 1].mean() == pytest.approx(tau2.mean(), abs=0.02)
    assert eff[X[:, 2] < -0.5, 1].mean() < -0.08


def test_constructor_stores_arguments_untouched():
    params = {"max_depth": 3}
    model = TLearner(params=params, n_estimators=7, control="ctl")
    assert model.params is params and model.n_estimators == 7 and model.control == "ctl"


@pytest.mark.parametrize(
    ("t", "y", "match"),
    [
        ([0, 0, 0, 0], [0, 1, 0, 1], "at least two arms"),
        ([1, 2, 1, 2], [0, 1, 0, 1], "control value 0 does not occur"),
        ([0, 1, 0], [0, 1, 0, 1], "treatment: must be 1-D with one entry per row"),
        ([0, 1, 0, 1], [0, np.nan, 0, 1], "y: must be finite"),
    ],
)
def test_fit_validation(t, y, match):
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=match):
        TLearner().fit(X, t, y)


def test_predict_before_fit_is_a_clear_error():
    with pytest.raises(ValueError, match="not fitted"):
        TLearner().predict(np.zeros((1, 2)))


def test_ranker_learns_relevance(test_seed):
    rng = np.random.default_rng(test_seed)
    n_q, per = 2_000, 8
    X = rng.normal(size=(n_q * per, 4)).astype(np.float32)
    qid = np.repeat(np.arange(n_q), per)
    rel = (rng.random(n_q * per) < 1 / (1 + np.exp(-(2 * X[:, 0] - 1)))).astype(float)
    model = ItemRanker(n_estimators=50, n_jobs=2, random_state=test_seed).fit(X, rel, qid)
    scores = model.predict(X)
    assert ndcg_at_k(rel, scores, qid) > ndcg_at_k(rel, rng.random(len(rel)), qid) + 0.1
