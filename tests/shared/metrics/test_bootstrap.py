import numpy as np
import pytest

from shared.metrics import auuc, qini_auc, uplift_at_k
from shared.metrics.bootstrap import bootstrap_metrics, paired_weights, weighted_qini


def _data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    tau = rng.normal(0.0, 0.1, n)
    y = (rng.random(n) < 0.2 + t * np.clip(tau, 0, None)).astype(float)
    return y, t, tau


def test_unit_weights_give_the_plain_metrics() -> None:
    y, t, u = _data()
    ones = np.ones((1, len(y)))
    assert weighted_qini(y, t, u, ones)[0] == pytest.approx(qini_auc(y, t, u), rel=1e-12)
    res = bootstrap_metrics(y, t, u, paired_weights(len(y), 20, 1))
    assert res["qini"].value == pytest.approx(qini_auc(y, t, u))
    assert res["auuc"].value == pytest.approx(auuc(y, t, u))
    assert res["uplift_at_10pct"].value == pytest.approx(uplift_at_k(y, t, u, 0.1))


def test_interval_matches_a_resampling_bootstrap() -> None:
    """The Poisson-weighted spread agrees with a classic resample-with-replacement bootstrap."""
    y, t, u = _data(3000, 2)
    rng = np.random.default_rng(5)
    classic = []
    for _ in range(200):
        idx = rng.integers(0, len(y), len(y))
        classic.append(qini_auc(y[idx], t[idx], u[idx]))
    res = bootstrap_metrics(y, t, u, paired_weights(len(y), 200, 3))
    assert res["qini"].sd == pytest.approx(np.std(classic, ddof=1), rel=0.25)
    assert res["qini"].low < res["qini"].value < res["qini"].high


def test_weights_are_seeded_and_validated() -> None:
    assert np.array_equal(paired_weights(10, 5, 1), paired_weights(10, 5, 1))
    with pytest.raises(ValueError, match="n_boot"):
        paired_weights(10, 1, 1)
    y, t, u = _data(100)
    with pytest.raises(ValueError, match="weights"):
        bootstrap_metrics(y, t, u, np.ones((3, 99)))
    with pytest.raises(ValueError, match="level"):
        bootstrap_metrics(y, t, u, np.ones((3, 100)), level=1.5)
