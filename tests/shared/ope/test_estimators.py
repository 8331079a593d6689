"""IPS, SNIPS and DR: closed forms, fixed values, the Open Bandit Pipeline's formulas, and unbiasedness."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ope import doubly_robust, ips, snips


def _hand_log() -> dict[str, list]:
    return {
        "arm": ["a", "b", "a", "b"],
        "reward": [1.0, 0.0, 0.0, 1.0],
        "propensity": [0.5, 0.25, 0.8, 0.5],
        "target_prob": [1.0, 0.0, 0.5, 1.0],
    }


def test_fixed_values_worked_by_hand() -> None:
    # w = (2, 0, 0.625, 2): IPS = 4/4, SNIPS = 4 / 4.625 = 32/37, ESS = 4.625^2 / 8.390625 = 1369/537.
    log = _hand_log()
    a, s = ips(**log, n_bootstrap=50), snips(**log, n_bootstrap=50)
    assert a.value == pytest.approx(1.0, abs=1e-12)
    assert s.value == pytest.approx(0.86486, abs=1e-5)
    assert a.ess == pytest.approx(2.54935, abs=1e-5) and s.ess == a.ess
    assert a.n == 4 and a.estimator == "ips" and s.estimator == "snips"


def _uniform_log(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    arm = rng.integers(0, k, size=n)
    reward = rng.binomial(1, 0.1 + 0.2 * arm / k + 0.3 * x).astype(float)
    target = np.minimum((x * k).astype(int), k - 1)  # deterministic: arm by band of x
    return x, arm, reward, target


def test_uniform_logging_deterministic_target_closed_form() -> None:
    k, n = 3, 3000
    _, arm, reward, target = _uniform_log(n, k, seed=1)
    match = arm == target
    p = np.full(n, 1.0 / k)
    a = ips(arm, reward, p, match.astype(float), n_bootstrap=20)
    s = snips(arm, reward, p, match.astype(float), n_bootstrap=20)
    assert a.value == pytest.approx(k * reward[match].sum() / n, rel=1e-12)
    assert s.value == pytest.approx(reward[match].mean(), rel=1e-12)
    # Every matching row has weight K: the effective sample size is the number of matches.
    assert a.ess == pytest.approx(match.sum(), rel=1e-12)

    pi = np.eye(k)[target]
    zero = doubly_robust(arm, reward, p, pi, np.zeros((n, k)), [0, 1, 2], n_bootstrap=20)
    assert zero.value == pytest.approx(a.value, rel=1e-12)


def test_dr_with_exact_direct_method_and_noiseless_rewards_is_the_direct_value() -> None:
    k, n = 3, 1000
    rng = np.random.default_rng(2)
    q = rng.uniform(size=(n, k))
    arm = rng.integers(0, k, size=n)
    reward = q[np.arange(n), arm]  # noiseless: every residual is 0
    pi = rng.dirichlet(np.ones(k), size=n)
    est = doubly_robust(arm, reward, np.full(n, 1 / k), pi, q, [0, 1, 2], n_bootstrap=20)
    assert est.value == pytest.approx(float((pi * q).sum(axis=1).mean()), rel=1e-12)


def test_target_equal_to_logging_gives_the_mean_reward_and_full_ess() -> None:
    rng = np.random.default_rng(3)
    n = 500
    p = rng.uniform(0.2, 0.9, size=n)
    reward = rng.normal(size=n)
    arm = np.where(rng.uniform(size=n) < 0.5, "treatment", "control")
    for est in (ips(arm, reward, p, p, n_bootstrap=20), snips(arm, reward, p, p, n_bootstrap=20)):
        assert est.value == pytest.approx(reward.mean(), abs=1e-12)
        assert est.ess == pytest.approx(n)
        assert est.warnings == ()


def _obp_round_rewards(action, reward, pscore, action_dist, q_hat):  # type: ignore[no-untyped-def]
    """The Open Bandit Pipeline's round rewards (obp/ope/estimators.py), re-derived for the check:
    action_dist and q_hat are (n, K, len_list) with one position; iw = pi_e(a_i|x_i) / pscore."""
    n = len(action)
    position = np.zeros(n, dtype=int)
    iw = action_dist[np.arange(n), action, position] / pscore
    q_factual = q_hat[np.arange(n), action, position]
    q_pi = np.average(
        q_hat[np.arange(n), :, position], weights=action_dist[np.arange(n), :, position], axis=1
    )
    return iw * reward, iw, iw * (reward - q_factual) + q_pi


def test_matches_open_bandit_pipeline_formulas_on_a_stochastic_three_arm_target() -> None:
    rng = np.random.default_rng(4)
    n, k = 2000, 3
    labels = ["control", "email", "coupon"]
    logging = rng.dirichlet(np.full(k, 2.0), size=n)
    action = np.array([rng.choice(k, p=row) for row in logging])
    pscore = logging[np.arange(n), action]
    reward = rng.binomial(1, 0.2 + 0.1 * action).astype(float)
    target = rng.dirichlet(np.ones(k), size=n)
    q_hat = rng.uniform(0.1, 0.5, size=(n, k))
    ipw_round, iw, dr_round = _obp_round_rewards(action, reward, pscore, target[..., None], q_hat[..., None])

    arm = np.array(labels)[action]
    t = target[np.arange(n), action]
    assert ips(arm, reward, pscore, t, n_bootstrap=20).value == pytest.approx(ipw_round.mean(), rel=1e-12)
    assert snips(arm, reward, pscore, t, n_bootstrap=20).value == pytest.approx(
        ipw_round.mean() / iw.mean(), rel=1e-12
    )
    dr = doubly_robust(arm, reward, pscore, target, q_hat, labels, n_bootstrap=20)
    assert dr.value == pytest.approx(dr_round.mean(), rel=1e-12)


# A known market: x ~ U(0, 1), reward ~ Bernoulli(q(x, a)), logged with P(treat | x) = 0.2 + 0.6 x.
def _q(x: np.ndarray) -> np.ndarray:
    return np.column_stack([0.2 + 0.1 * x, 0.1 + 0.4 * x])


# Target "treat iff x > 0.4": integral of 0.2 + 0.1x over [0, 0.4] plus 0.1 + 0.4x over [0.4, 1].
TRUE_VALUE = (0.2 * 0.4 + 0.05 * 0.4**2) + (0.1 * 0.6 + 0.2 * (1 - 0.4**2))


def _simulated(seed: int, n: int = 2000) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    p_treat = 0.2 + 0.6 * x
    arm = (rng.uniform(size=n) < p_treat).astype(int)
    reward = rng.binomial(1, _q(x)[np.arange(n), arm]).astype(float)
    target = np.eye(2)[(x > 0.4).astype(int)]
    return {
        "arm": arm,
        "reward": reward,
        "propensity": np.where(arm == 1, p_treat, 1 - p_treat),
        "target": target,
        "target_prob": target[np.arange(n), arm],
    }


def test_true_value_is_the_stated_integral() -> None:
    grid = (np.arange(1_000_000) + 0.5) / 1_000_000  # midpoint rule on the policy's reward
    numeric = _q(grid)[np.arange(len(grid)), (grid > 0.4).astype(int)].mean()
    assert numeric == pytest.approx(TRUE_VALUE, abs=1e-6)


def test_each_estimator_is_unbiased_over_seeds() -> None:
    values: dict[str, list[float]] = {"ips": [], "snips": [], "dr": []}
    for seed in range(200):
        d = _simulated(seed)
        base = (d["arm"], d["reward"], d["propensity"])
        values["ips"].append(ips(*base, d["target_prob"], n_bootstrap=2).value)
        values["snips"].append(snips(*base, d["target_prob"], n_bootstrap=2).value)
        # A deliberately wrong direct method: DR stays unbiased because the propensities are exact.
        wrong_q = np.full((len(d["arm"]), 2), 0.3)
        values["dr"].append(doubly_robust(*base, d["target"], wrong_q, [0, 1], n_bootstrap=2).value)
    for name, vals in values.items():
        # Per-seed sd ~0.012, so the mean of 200 has sd ~0.001: 0.004 is four of those.
        assert np.mean(vals) == pytest.approx(TRUE_VALUE, abs=0.004), name


def test_dr_interval_covers_the_truth_in_most_seeds() -> None:
    covered = 0
    seeds = range(1000, 1060)
    for seed in seeds:
        d = _simulated(seed)
        x_free_q = np.tile([0.25, 0.3], (len(d["arm"]), 1))  # the arms' average rewards, no x
        est = doubly_robust(
            d["arm"], d["reward"], d["propensity"], d["target"], x_free_q, [0, 1], n_bootstrap=300, seed=seed
        )
        covered += est.low <= TRUE_VALUE <= est.high
        assert est.low < est.value < est.high
    # Nominal 95%: 60 seeds give 57 on average; 51 or fewer has probability < 0.5%.
    assert covered >= 52


def test_bootstrap_is_reproducible_and_records_its_seed() -> None:
    d = _simulated(7)
    args = (d["arm"], d["reward"], d["propensity"], d["target_prob"])
    a, b = ips(*args, seed=11, n_bootstrap=200), ips(*args, seed=11, n_bootstrap=200)
    c = ips(*args, seed=12, n_bootstrap=200)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)
    out = a.to_dict()
    assert out["seed"] == 11 and out["n_bootstrap"] == 200 and out["level"] == 0.95
    assert isinstance(out["warnings"], list)


def test_higher_level_gives_a_wider_interval() -> None:
    d = _simulated(8)
    args = (d["arm"], d["reward"], d["propensity"], d["target_prob"])
    narrow, wide = snips(*args, level=0.5, n_bootstrap=300), snips(*args, level=0.99, n_bootstrap=300)
    assert wide.low < narrow.low < narrow.high < wide.high
