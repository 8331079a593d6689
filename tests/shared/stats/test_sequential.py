"""mSPRT against its textbook form, the vectorized loss against shared.bandit, and a seeded A/A check."""

import math

import numpy as np
import pytest

from shared.bandit import BetaPosterior, expected_loss
from shared.stats import always_valid_p, beta_pair_loss, msprt_log_lr, msprt_test
from shared.stats.sequential import first_crossing


def test_msprt_matches_johari_per_pair_form():
    # Johari et al. write it per n pairs with per-pair variance V: √(V/(V+nτ²)) exp(n²τ²Δ²/(2V(V+nτ²))).
    n, v, tau, d = 4000, 0.18, 0.01, 0.012
    expected = 0.5 * math.log(v / (v + n * tau**2)) + n**2 * tau**2 * d**2 / (2 * v * (v + n * tau**2))
    assert float(msprt_log_lr(d, v / n, tau)) == pytest.approx(expected, rel=1e-12)
    res = msprt_test("B", "A", d, v / n, tau, alpha=0.05)
    assert res.p_value_always_valid == pytest.approx(min(1.0, math.exp(-expected)))
    assert res.reject == (expected >= math.log(20))


def test_always_valid_p_is_a_running_minimum_and_no_variance_is_no_evidence():
    p = always_valid_p(np.array([[0.0, 2.0, 1.0, 3.0]]))
    assert p[0].tolist() == pytest.approx([1.0, math.exp(-2), math.exp(-2), math.exp(-3)])
    assert float(msprt_log_lr(0.1, 0.0, 0.01)) == 0.0
    with pytest.raises(ValueError, match=r"tau: must be finite and positive"):
        msprt_log_lr(0.1, 0.1, 0.0)


@pytest.mark.parametrize(
    ("c", "n", "t", "m"), [(100, 1000, 120, 1000), (0, 10, 0, 10), (5000, 50000, 5100, 50000), (1, 3, 2, 3)]
)
def test_pair_loss_matches_shared_bandit(c, n, t, m):
    got = beta_pair_loss(np.array(c), np.array(n), np.array(t), np.array(m))
    ref = expected_loss([BetaPosterior(1 + c, 1 + n - c), BetaPosterior(1 + t, 1 + m - t)])
    assert [float(g) for g in got] == pytest.approx(ref.tolist(), abs=1e-7)


def test_first_crossing():
    assert first_crossing(np.array([[False, True, True], [False, False, False]])).tolist() == [1, -1]


def test_msprt_holds_alpha_on_seeded_aa_streams():
    rng = np.random.default_rng(20261124)
    runs, looks, batch, p = 2000, 40, 250, 0.1
    n = batch * np.arange(1, looks + 1)
    c = np.cumsum(rng.binomial(batch, p, (runs, looks)), axis=1) / n
    t = np.cumsum(rng.binomial(batch, p, (runs, looks)), axis=1) / n
    hit = msprt_log_lr(t - c, (c * (1 - c) + t * (1 - t)) / n, 0.01) >= math.log(1 / 0.05)
    fpr = hit.any(axis=1).mean()
    assert fpr <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)
