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


def test_merged_blocks_above_max_points_stay_far_inside_the_spread(monkeypatch) -> None:
    """Above MAX_POINTS distinct scores the resampled curves are read at block ends only: the error is
    a tiny share of the bootstrap sd; ties are never split (constant scores stay exactly random)."""
    from shared.metrics import bootstrap

    y, t, u = _data(20_000, 4)
    w = paired_weights(len(y), 50, 6)
    exact = bootstrap_metrics(y, t, u, w)
    exact_q = weighted_qini(y, t, u, w)
    monkeypatch.setattr(bootstrap, "MAX_POINTS", 256)
    merged = bootstrap_metrics(y, t, u, w)
    assert np.abs(weighted_qini(y, t, u, w) - exact_q).max() < 0.02 * exact["qini"].sd
    for key in ("qini", "auuc", "uplift_at_10pct"):
        assert merged[key].sd == pytest.approx(exact[key].sd, rel=0.01)
        assert merged[key].value == exact[key].value  # the point value is always the exact metric
    flat = weighted_qini(y, t, np.zeros(len(y)), w)
    np.testing.assert_allclose(flat, 0.0, atol=1e-15)
