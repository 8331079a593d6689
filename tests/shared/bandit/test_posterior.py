"""Posterior math against closed forms, hand-computed values, scipy quadrature and seeded Monte Carlo."""

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import betaln

from shared.bandit import (
    BetaPosterior,
    Prior,
    choice_probabilities,
    expected_loss,
    prob_best,
    thompson_arms,
    thompson_choose,
)

MC_SEED = 20261123


def miller_prob_b_beats_a(a: BetaPosterior, b: BetaPosterior) -> float:
    """Evan Miller's closed form for P(θ_B > θ_A), a finite sum for integer alpha_B."""
    assert float(b.alpha).is_integer()
    i = np.arange(int(b.alpha))
    terms = (
        betaln(a.alpha + i, a.beta + b.beta)
        - np.log(b.beta + i)
        - betaln(1 + i, b.beta)
        - betaln(a.alpha, a.beta)
    )
    return float(np.sum(np.exp(terms)))


def _breakpoints(posts):
    levels = [1e-10, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-10]
    return sorted({float(q) for p in posts for q in stats.beta.ppf(levels, p.alpha, p.beta)})


def quad_choice_probabilities(posts, values=None, costs=None):
    """Independent reference by adaptive quadrature, in arm i's probability scale u = F_i(θ).

    P(i chosen) = ∫_0^1 Π_{j≠i} F_j((v_i Q_i(u) − c_i + c_j) / v_j) du: a bounded integrand, so
    U-shaped posteriors (infinite density) need no special care.
    """
    k = len(posts)
    v = np.ones(k) if values is None else np.asarray(values, float)
    c = np.zeros(k) if costs is None else np.asarray(costs, float)
    out = []
    for i, p in enumerate(posts):

        def integrand(u, i=i, p=p):
            x = stats.beta.ppf(u, p.alpha, p.beta)
            others = [
                stats.beta.cdf(np.clip((v[i] * x - c[i] + c[j]) / v[j], 0, 1), q.alpha, q.beta)
                for j, q in enumerate(posts)
                if j != i
            ]
            return np.prod(others)

        # Where the other arms' CDFs turn, in u: help the adaptive rule find the bends.
        bends = sorted(
            {
                float(stats.beta.cdf((v[j] * x - c[j] + c[i]) / v[i], p.alpha, p.beta))
                for j, q in enumerate(posts)
                if j != i
                for x in stats.beta.ppf([0.001, 0.1, 0.5, 0.9, 0.999], q.alpha, q.beta)
            }
            - {0.0, 1.0}
        )
        out.append(integrate.quad(integrand, 0, 1, points=bends or None, limit=500, epsabs=1e-12)[0])
    return np.array(out)


def quad_expected_loss(posts):
    """E[max] = ∫ (1 − Π F_j) by adaptive quadrature, minus each exact mean."""

    def tail(x):
        return 1.0 - np.prod([stats.beta.cdf(x, p.alpha, p.beta) for p in posts])

    e_max = integrate.quad(tail, 0, 1, points=_breakpoints(posts), limit=500, epsabs=1e-13)[0]
    return np.array([e_max - p.mean for p in posts])


def test_posterior_mean_and_interval_match_scipy():
    p = BetaPosterior(2, 8)
    assert p.mean == pytest.approx(0.2)
    np.testing.assert_allclose(p.interval(), stats.beta.ppf([0.025, 0.975], 2, 8), rtol=1e-12)
    np.testing.assert_allclose(p.interval(0.5), stats.beta.ppf([0.25, 0.75], 2, 8), rtol=1e-12)
    assert p.ci95 == p.interval()
    # Uniform posterior: the 95% interval is exactly (0.025, 0.975).
    np.testing.assert_allclose(BetaPosterior(1, 1).ci95, (0.025, 0.975), rtol=1e-12)


@pytest.mark.parametrize(("alpha", "beta"), [(0, 1), (1, -2), (float("nan"), 1), (1, float("inf"))])
def test_posterior_rejects_invalid_parameters(alpha, beta):
    with pytest.raises(ValueError, match="alpha and beta: must be finite and positive"):
        BetaPosterior(alpha, beta)


def test_interval_level_and_prior_are_validated():
    with pytest.raises(ValueError, match="level: must be strictly between 0 and 1"):
        BetaPosterior(1, 1).interval(1.0)
    with pytest.raises(ValueError, match="prior alpha and beta"):
        Prior(0, 1)
    with pytest.raises(ValueError, match="successes and failures: must be >= 0"):
        Prior().posterior(-1, 0)
    assert Prior(2, 3).posterior(4, 5) == BetaPosterior(6, 8)


def test_hand_computed_values():
    # Beta(2,1) has density 2x, Beta(1,1) CDF x: P(first best) = ∫ 2x·x dx = 2/3.
    np.testing.assert_allclose(
        prob_best([BetaPosterior(2, 1), BetaPosterior(1, 1)]), [2 / 3, 1 / 3], atol=1e-6
    )
    # Two uniforms: E[max] = 2/3, so each loses 2/3 − 1/2 = 1/6.
    np.testing.assert_allclose(expected_loss([BetaPosterior(1, 1)] * 2), [1 / 6, 1 / 6], atol=1e-9)
    # Beta(2,1), Beta(1,1): P(max <= x) = x²·x, E[max] = 3/4; means 2/3 and 1/2.
    np.testing.assert_allclose(
        expected_loss([BetaPosterior(2, 1), BetaPosterior(1, 1)]), [1 / 12, 1 / 4], atol=1e-9
    )
    one = [BetaPosterior(3, 4)]
    assert prob_best(one).tolist() == [1.0]
    assert expected_loss(one).tolist() == [0.0]
    assert choice_probabilities(one, [2.0], [1.0]).tolist() == [1.0]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3, 9), (5, 7)),
        ((30, 70), (40, 60)),
        ((120, 880), (135, 865)),
        ((1, 1), (3, 1)),
        ((1, 40), (30, 2)),
        # A million observations per arm: narrower than a cell of any fixed grid over [0, 1]
        # (a 4001-point one was off by 0.064 here).
        ((12_000, 988_000), (12_100, 987_900)),
        ((10_000, 10), (3, 3)),
    ],
)
def test_prob_best_two_arms_matches_miller_closed_form(a, b):
    pa, pb = BetaPosterior(*a), BetaPosterior(*b)
    exact = miller_prob_b_beats_a(pa, pb)
    best = prob_best([pa, pb])
    assert best[1] == pytest.approx(exact, abs=1e-6)
    assert best[0] == pytest.approx(1 - exact, abs=1e-6)


def test_three_arms_against_quadrature_and_seeded_monte_carlo():
    posts = [BetaPosterior(20, 80), BetaPosterior(25, 75), BetaPosterior(22, 78)]
    np.testing.assert_allclose(prob_best(posts), quad_choice_probabilities(posts), atol=1e-6)
    np.testing.assert_allclose(expected_loss(posts), quad_expected_loss(posts), atol=1e-8)

    n = 1_000_000
    draws = np.random.default_rng(MC_SEED).beta(
        [p.alpha for p in posts], [p.beta for p in posts], size=(n, 3)
    )
    mc_best = np.bincount(draws.argmax(axis=1), minlength=3) / n
    gap = draws.max(axis=1)[:, None] - draws
    # Tolerance: 5 standard errors of each Monte Carlo estimate (≤ 5e-4 per share at n = 1e6).
    np.testing.assert_allclose(prob_best(posts), mc_best, atol=5 * np.sqrt(0.25 / n))
    np.testing.assert_allclose(
        expected_loss(posts), gap.mean(axis=0), atol=5 * gap.std(axis=0).max() / np.sqrt(n)
    )


def test_u_shaped_posterior_against_quadrature():
    # alpha, beta < 1: infinite density at both ends, where a midpoint rule is weakest.
    posts = [BetaPosterior(0.5, 0.5), BetaPosterior(3, 1), BetaPosterior(0.7, 2.0)]
    np.testing.assert_allclose(prob_best(posts), quad_choice_probabilities(posts), atol=1e-5)
    np.testing.assert_allclose(expected_loss(posts), quad_expected_loss(posts), atol=1e-6)


VALUE_COST_CASES = [
    (
        [BetaPosterior(30, 70), BetaPosterior(40, 60), BetaPosterior(35, 65)],
        [20.0, 20.0, 20.0],
        [0.0, 1.5, 0.5],
    ),
    ([BetaPosterior(3, 9), BetaPosterior(5, 7)], [10.0, 12.0], [0.0, 1.0]),
    ([BetaPosterior(8, 2), BetaPosterior(2, 2)], [1.0, 1.0], [0.0, 0.3]),
]


@pytest.mark.parametrize(("posts", "values", "costs"), VALUE_COST_CASES)
def test_choice_probabilities_match_quadrature_and_thompson_frequencies(posts, values, costs):
    exact = choice_probabilities(posts, values, costs)
    np.testing.assert_allclose(exact, quad_choice_probabilities(posts, values, costs), atol=1e-6)
    n = 400_000
    picks = thompson_choose(posts, np.random.default_rng(MC_SEED), n, values, costs)
    freq = np.bincount(picks, minlength=len(posts)) / n
    # 5 standard errors of a share estimated from n draws.
    np.testing.assert_allclose(exact, freq, atol=5 * np.sqrt(0.25 / n))


def test_choice_probabilities_defaults_and_invariances():
    posts = [BetaPosterior(30, 70), BetaPosterior(40, 60)]
    np.testing.assert_allclose(choice_probabilities(posts), prob_best(posts), atol=1e-12)
    # The rule only compares scores: scaling values and costs together changes nothing.
    np.testing.assert_allclose(
        choice_probabilities(posts, [20.0, 20.0], [0.0, 2.0]), choice_probabilities(posts, [1.0, 1.0], [0.0, 0.1]),
        atol=1e-9,
    )  # fmt: skip
    # A cost above the whole value range: the arm's best score (1·1 − 2) loses to any θ ≥ 0.
    assert choice_probabilities(posts, [1.0, 1.0], [0.0, 2.0]).tolist() == [1.0, 0.0]
    picks = thompson_choose(posts, np.random.default_rng(1), 10_000, [1.0, 1.0], [0.0, 2.0])
    assert not picks.any()


def test_thompson_choose_is_reproducible_from_the_seed():
    posts = [BetaPosterior(3, 9), BetaPosterior(5, 7), BetaPosterior(1, 1)]
    first = thompson_choose(posts, np.random.default_rng(42), 1000)
    again = thompson_choose(posts, np.random.default_rng(42), 1000)
    other = thompson_choose(posts, np.random.default_rng(43), 1000)
    assert first.shape == (1000,) and np.issubdtype(first.dtype, np.integer)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert set(np.unique(first)) <= {0, 1, 2}
    assert thompson_choose(posts, np.random.default_rng(42), 0).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rng": np.random.RandomState(0)}, "rng: must be a numpy.random.Generator"),
        ({"n": -1}, "n: must be a non-negative integer"),
        ({"n": 2.5}, "n: must be a non-negative integer"),
        ({"values": [1.0]}, r"values: need one per arm \(2\)"),
        ({"values": [1.0, 0.0]}, "values: must be finite and positive"),
        ({"costs": [0.0, float("nan")]}, "costs: must be finite"),
        ({"posteriors": []}, "posteriors: need at least one arm"),
        ({"posteriors": [(1, 1), (2, 2)]}, "posteriors: every item must be a BetaPosterior"),
    ],
)
def test_thompson_choose_validates_input(kwargs, message):
    args = {"posteriors": [BetaPosterior(1, 1), BetaPosterior(2, 2)], "rng": np.random.default_rng(0), "n": 5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        thompson_choose(**args)


def test_probability_functions_validate_input():
    with pytest.raises(ValueError, match="posteriors: need at least one arm"):
        prob_best([])
    with pytest.raises(ValueError, match="posteriors: need at least one arm"):
        expected_loss([])
    with pytest.raises(ValueError, match="values: must be finite and positive"):
        choice_probabilities([BetaPosterior(1, 1)] * 2, values=[1.0, -1.0])
    with pytest.raises(ValueError, match="costs: need one per arm"):
        choice_probabilities([BetaPosterior(1, 1)] * 2, costs=[1.0, 2.0, 3.0])


def test_thompson_arms_is_cached_read_only_and_draws_like_thompson_choose():
    posts = [BetaPosterior(30, 70), BetaPosterior(35, 65)]
    arms = thompson_arms(posts, np.array([20.0, 20.0]), [0.0, 0.5])
    # Equal inputs, whatever their container, hit the same cached entry.
    assert thompson_arms([BetaPosterior(30, 70), BetaPosterior(35, 65)], [20, 20], (0.0, 0.5)) is arms
    assert thompson_arms(posts, [20.0, 20.0], [0.0, 0.6]) is not arms
    with pytest.raises(ValueError):
        arms.probabilities[0] = 1.0
    assert np.array_equal(arms.probabilities, choice_probabilities(posts, [20.0, 20.0], [0.0, 0.5]))
    picks = arms.choose(np.random.default_rng(MC_SEED), 1000)
    same = thompson_choose(posts, np.random.default_rng(MC_SEED), 1000, [20.0, 20.0], [0.0, 0.5])
    assert np.array_equal(picks, same)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[1.0, 2.0]], r"values: need one number per arm \(2\)"),
        (["a", "b"], r"values: need one number per arm"),
    ],
)
def test_per_arm_weights_must_be_numbers(values, message):
    with pytest.raises(ValueError, match=message):
        thompson_arms([BetaPosterior(1, 1)] * 2, values)


def test_a_one_user_draw_picks_what_the_batch_draw_picks_first():
    # choose(rng, 1) takes scalar draws (the one-user fast path); the same seed must give the same
    # arm as the first row of a batch draw, or a request's seed would mean different things by size.
    arms = thompson_arms(
        [BetaPosterior(3, 9), BetaPosterior(4, 8), BetaPosterior(5, 7)], [1, 1, 1], [0, 0.05, 0.1]
    )
    firsts = [int(arms.choose(np.random.default_rng(s), 1)[0]) for s in range(300)]
    batch_firsts = [int(arms.choose(np.random.default_rng(s), 5)[0]) for s in range(300)]
    assert firsts == batch_firsts
    assert set(firsts) == {0, 1, 2}
