import numpy as np
import pytest

from shared.metrics import auuc, qini_auc, qini_curve, uplift_at_k, uplift_by_decile, uplift_curve


def naive_qini(y, t, u):
    """Reference: one cut-off per distinct score, plain Python loops."""
    order = sorted(range(len(y)), key=lambda i: -u[i])
    xs, qs = [0], [0.0]
    cuts = sorted(set(u), reverse=True)
    for c in cuts:
        top = [i for i in order if u[i] >= c]
        yt = sum(y[i] for i in top if t[i] == 1)
        yc = sum(y[i] for i in top if t[i] == 0)
        nt = sum(1 for i in top if t[i] == 1)
        nc = len(top) - nt
        xs.append(len(top))
        qs.append(yt - yc * nt / nc if nc else 0.0)
    return np.array(xs, float), np.array(qs)


def test_qini_curve_hand_computed():
    # sorted by score: (y=1,t=1) (y=0,t=0) (y=1,t=0) (y=0,t=1)
    y = [1, 0, 1, 0]
    t = [1, 0, 0, 1]
    u = [0.9, 0.7, 0.5, 0.1]
    x, q = qini_curve(y, t, u)
    # n=1: Yt=1, no control -> 1 - 0 = 1? control count 0 -> term is 0, so q = 1
    # n=2: Yt=1, Yc=0, Nt=1, Nc=1 -> 1
    # n=3: Yt=1, Yc=1, Nt=1, Nc=2 -> 1 - 0.5 = 0.5
    # n=4: Yt=1, Yc=1, Nt=2, Nc=2 -> 0
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1, 0.5, 0])
    # area (trapezoid) = 0.5 + 1 + 0.75 + 0.25 = 2.5; random line ends at 0 -> area 0; /N^2 = 2.5/16
    assert qini_auc(y, t, u) == pytest.approx(2.5 / 16)


@pytest.mark.parametrize("continuous", [False, True])
def test_qini_matches_naive_reference_with_ties(continuous):
    rng = np.random.default_rng(3)
    n = 300
    u = rng.integers(0, 25, n).astype(float)  # many ties
    t = rng.integers(0, 2, n)
    y = rng.gamma(2.0, 3.0, n) * (rng.random(n) < 0.4) if continuous else (rng.random(n) < 0.3).astype(float)
    x, q = qini_curve(y, t, u)
    xr, qr = naive_qini(list(y), list(t), list(u))
    np.testing.assert_allclose(x, xr)
    np.testing.assert_allclose(q, qr, atol=1e-9)


def test_tie_order_does_not_matter():
    y = np.array([1, 0, 1, 0, 1, 1])
    t = np.array([1, 0, 0, 1, 1, 0])
    u = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    perm = np.array([2, 0, 1, 5, 3, 4])
    assert qini_auc(y, t, u) == pytest.approx(qini_auc(y[perm], t[perm], u[perm]))


def test_oracle_beats_random_and_reversed_is_negative():
    rng = np.random.default_rng(11)
    n = 40_000
    tau = np.where(rng.random(n) < 0.3, 0.3, 0.0)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + tau * t).astype(float)
    oracle = qini_auc(y, t, tau + rng.normal(0, 1e-6, n))
    rand = qini_auc(y, t, rng.random(n))
    assert oracle > 0.01
    assert abs(rand) < 0.005
    assert qini_auc(y, t, -tau) < 0
    assert auuc(y, t, tau) > auuc(y, t, rng.random(n))


def test_uplift_curve_hand_computed():
    y = [1, 0, 1, 0]
    t = [1, 0, 0, 1]
    u = [0.9, 0.7, 0.5, 0.1]
    _, v = uplift_curve(y, t, u)
    # n=2: (1/1 - 0/1)*2 = 2; n=3: (1 - 1/2)*3 = 1.5; n=4: (1/2 - 1/2)*4 = 0
    np.testing.assert_allclose(v, [0, 0, 2, 1.5, 0])


def test_uplift_at_k_and_deciles():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 1, 0])
    t = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    u = np.arange(10, 0, -1).astype(float)
    # top 40%: rows 0..3 -> treated y = [1, 1], control y = [0, 0] -> 1.0
    assert uplift_at_k(y, t, u, 0.4) == pytest.approx(1.0)
    rows = uplift_by_decile(y, t, u, bins=2)
    # bin 0 rows 0..4: treated y=[1,1,0] mean 2/3, control y=[0,0] mean 0
    assert rows[0]["uplift"] == pytest.approx(2 / 3)
    assert rows[0]["n_t"] == 3 and rows[0]["n_c"] == 2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1, 0], [1, 0], [0.1]), "same length"),
        (([1, 0], [1, 1], [0.1, 0.2]), "both treated"),
        (([1, 0], [2, 0], [0.1, 0.2]), "0 \\(control\\) or 1"),
        (([1, np.nan], [1, 0], [0.1, 0.2]), "y: must be finite"),
        (([1, 0], [1, 0], [0.1, np.inf]), "uplift: must be finite"),
        (([], [], []), "must not be empty"),
    ],
)
def test_validation_names_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        qini_curve(*args)


def test_uplift_at_k_rejects_bad_k():
    with pytest.raises(ValueError, match="k: must be a share"):
        uplift_at_k([1, 0], [1, 0], [0.2, 0.1], 0)
