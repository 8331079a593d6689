"""Per-user Thompson sampling: the logged propensities are the real drawing probabilities."""

import numpy as np
import pytest

from shared.bandit.per_user import Calibration, decide, win_probabilities


def _frequencies(samples, cal, draws=20_000, **kw):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    rep = np.repeat(samples, draws, axis=0)
    d = decide(rep, cal, rng=rng, **kw)
    k = samples.shape[1] + 1
    return np.bincount(d.arm, minlength=k) / draws, d


@pytest.mark.parametrize("kw", [{}, {"epsilon": 0.1}, {"throttle": 0.3}, {"epsilon": 0.05, "throttle": 0.5}])
def test_empirical_arm_frequencies_match_the_logged_probabilities(kw) -> None:  # type: ignore[no-untyped-def]
    # One user, two treatment arms, 8 members whose effects straddle the break-even point.
    samples = np.array(
        [[[0.02, 0.05, -0.01, 0.04, 0.03, 0.0, 0.06, 0.01], [0.03, -0.02, 0.05, 0.01, 0.0, 0.04, 0.02, 0.03]]]
    )
    cal = Calibration(mean=np.array([0.005, -0.004]), sd=np.array([0.01, 0.02]))
    freq, d = _frequencies(samples, cal, value=10.0, cost=0.25, **kw)
    np.testing.assert_allclose(freq, d.probabilities[0], atol=0.012)
    np.testing.assert_allclose(d.propensity, d.probabilities[np.arange(len(d.arm)), d.arm])
    assert d.probabilities.min() > 0 or "epsilon" not in kw


def test_win_probabilities_closed_form_for_one_arm() -> None:
    from scipy.stats import norm

    values = np.array([[0.3], [-0.2]])
    sds = np.array([[0.5], [0.1]])
    p = win_probabilities(values, sds)
    np.testing.assert_allclose(p[:, 1], norm.cdf(values[:, 0] / sds[:, 0]), atol=1e-10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_without_calibration_uncertainty_the_choice_follows_the_members() -> None:
    samples = np.array([[[0.1, 0.1, -0.1, 0.1]]])
    d = decide(samples, Calibration.none(1), value=1.0, cost=0.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(d.probabilities[0], [0.25, 0.75])


def test_bad_input_names_the_argument() -> None:
    s = np.zeros((1, 1, 2))
    with pytest.raises(ValueError, match="epsilon"):
        decide(s, Calibration.none(1), value=1.0, cost=0.0, rng=np.random.default_rng(0), epsilon=1.5)
    with pytest.raises(ValueError, match="value/cost"):
        decide(s, Calibration.none(1), value=float("inf"), cost=0.0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="samples"):
        decide(np.zeros((2, 2)), Calibration.none(1), value=1.0, cost=0.0, rng=np.random.default_rng(0))


def test_per_user_throttle_moves_each_users_own_share_to_control() -> None:
    samples = np.full((3, 1, 2), 0.5)
    th = np.array([0.0, 0.25, 1.0])
    d = decide(samples, Calibration.none(1), value=1.0, cost=0.0, rng=np.random.default_rng(0), throttle=th)
    np.testing.assert_allclose(d.probabilities[:, 1], [1.0, 0.75, 0.0])
    with pytest.raises(ValueError, match="throttle"):
        decide(
            samples, Calibration.none(1), value=1.0, cost=0.0, rng=np.random.default_rng(0), throttle=th + 0.5
        )


def test_capacity_propensities_are_exact_given_the_users_before() -> None:
    # Six users walked in order, at most two treatments: a user after two treatments is control with
    # certainty, every other user is drawn from its own distribution (epsilon and throttle folded in).
    samples = np.array([[[0.04, -0.01, 0.02, 0.0]], [[0.03, 0.01, -0.02, 0.05]]] * 3)
    cal = Calibration(mean=np.array([0.002]), sd=np.array([0.01]))
    th = np.array([0.1, 0.0, 0.3, 0.0, 0.2, 0.5])
    rng = np.random.default_rng(11)
    draws = 20_000
    arms = np.empty((draws, 6), dtype=int)
    props = np.empty((draws, 6))
    for t in range(draws):
        d = decide(samples, cal, value=10.0, cost=0.1, rng=rng, epsilon=0.05, throttle=th, capacity=2)
        arms[t], props[t] = d.arm, d.propensity
    base = decide(samples, cal, value=10.0, cost=0.1, rng=rng, epsilon=0.05, throttle=th).probabilities
    before = np.cumsum(arms > 0, axis=1) - (arms > 0)
    assert (arms > 0).sum(axis=1).max() == 2
    for i in range(6):
        full = before[:, i] >= 2
        assert np.all(arms[full, i] == 0) and np.all(props[full, i] == 1.0)
        open_ = ~full
        freq = (arms[open_, i] > 0).mean()
        assert freq == pytest.approx(base[i, 1], abs=0.015)
        # The logged propensity is the probability of the logged arm: IPS weights average to one per arm.
        for a in (0, 1):
            assert np.mean((arms[open_, i] == a) / props[open_, i]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("seed", range(40))
def test_one_user_closed_form_is_decide_for_one_user(seed: int) -> None:
    from shared.bandit.per_user import decide_one

    rng = np.random.default_rng(seed)
    members = rng.normal(0.02, 0.03, size=8)
    mean, sd = float(rng.normal(0, 0.01)), float(abs(rng.normal(0, 0.01)))
    kw = {"value": 10.0, "cost": 0.2, "epsilon": [0.0, 0.1][seed % 2], "throttle": [0.0, 0.4][seed // 2 % 2]}
    a = decide(
        members[None, None, :],
        Calibration(np.array([mean]), np.array([sd])),
        rng=np.random.default_rng(seed),
        **kw,
    )
    arm, prop = decide_one(members.tolist(), mean, sd, rng=np.random.default_rng(seed), **kw)
    assert arm == int(a.arm[0])
    assert prop == pytest.approx(float(a.propensity[0]), abs=1e-9)
    assert decide_one(members.tolist(), mean, sd, rng=np.random.default_rng(seed), capacity=0, **kw) == (
        0,
        1.0,
    )


def test_a_full_throttle_gives_control_with_propensity_exactly_one() -> None:
    from shared.bandit.per_user import decide_one

    samples = np.random.default_rng(0).normal(0.05, 0.02, size=(50, 1, 8))
    cal = Calibration(mean=np.array([0.001]), sd=np.array([0.01]))
    d = decide(samples, cal, value=20.0, cost=0.1, rng=np.random.default_rng(1), throttle=1.0)
    assert np.all(d.arm == 0) and np.all(d.propensity == 1.0)
    for seed in range(20):
        assert decide_one(
            samples[seed, 0].tolist(),
            0.001,
            0.01,
            value=20.0,
            cost=0.1,
            rng=np.random.default_rng(seed),
            throttle=1.0,
        ) == (0, 1.0)
