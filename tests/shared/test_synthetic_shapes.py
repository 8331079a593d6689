import numpy as np
import pandas as pd
import pytest

from shared.shape_names import SHAPES
from shared.synthetic import MarketConfig, generate_market, is_truth_column

BINARY_SHAPES = ("hard", "smooth", "rare", "null")
# The default market's checksums (``_checksum``), seed 42, 2,000 users: they must not move. The
# exact-bit checksums of the market before shapes existed held until a CPU without AVX-512 ran them;
# these were taken from the same code (unchanged since) with floats rounded.
USERS_2_ARMS, USERS_3_ARMS = 11875833013956496535, 13666953079517937
IMPRESSIONS = 10077972953189585765


def _market(shape: str, rows: int = 40_000, seed: int = 3, arms: int = 2) -> pd.DataFrame:
    return generate_market(
        MarketConfig(rows=rows, seed=seed, shape=shape, n_arms=arms, impression_users=200)
    ).users


def _observed_ate(u: pd.DataFrame, outcome: str, arm: int = 1) -> tuple[float, float]:
    """Difference in means between ``arm`` and control, and its standard error."""
    a, c = u.loc[u.treatment == arm, outcome], u.loc[u.treatment == 0, outcome]
    return float(a.mean() - c.mean()), float(np.sqrt(a.var() / len(a) + c.var() / len(c)))


def _checksum(frame: pd.DataFrame) -> int:
    """A checksum of the frame with floats to 8 significant digits: NumPy's exp/log take other SIMD
    paths on CPUs with and without AVX-512 and differ in the last bits, so exact bits would tie the
    checksum to one kind of CPU (it failed on a machine without AVX-512)."""
    out = frame.copy()
    for name in out.columns[out.dtypes == np.float64]:
        out[name] = [float(f"{v:.8g}") for v in out[name]]
    return int(pd.util.hash_pandas_object(out, index=False).sum())


def test_hard_default_is_unchanged_by_the_shape_option():
    for arms, expected in ((2, USERS_2_ARMS), (3, USERS_3_ARMS)):
        m = generate_market(MarketConfig(rows=2_000, seed=42, n_arms=arms, impression_users=200))
        assert _checksum(m.users) == expected
        assert _checksum(m.impressions) == IMPRESSIONS


@pytest.mark.parametrize("shape", BINARY_SHAPES)
@pytest.mark.parametrize("arms", [2, 3])
def test_binary_truth_columns_are_consistent(shape, arms):
    u = _market(shape, rows=5_000, arms=arms)
    if arms == 2:
        np.testing.assert_array_equal(u["true_cate"], u["p_treated"] - u["p_control"])
        assert not any(c.startswith("true_cate_") for c in u.columns)
    else:
        for k in (1, 2):
            np.testing.assert_array_equal(u[f"true_cate_{k}"], u[f"p_arm{k}"] - u["p_control"])
    probs = u.filter(regex=r"^p_(control|treated|arm\d)$")
    assert ((probs > 0) & (probs < 1)).all().all()
    assert set(u["conversion"].unique()) <= {0, 1} and "spend" not in u


@pytest.mark.parametrize("arms", [2, 3])
def test_continuous_truth_columns_are_consistent(arms):
    u = _market("continuous", rows=5_000, arms=arms)
    names = ["treated"] if arms == 2 else ["arm1", "arm2"]
    cates = ["true_cate"] if arms == 2 else ["true_cate_1", "true_cate_2"]
    for name, cate in zip(names, cates, strict=True):
        np.testing.assert_array_equal(u[cate], u[f"expected_spend_{name}"] - u["expected_spend_control"])
    # Control buys its usual basket: the expectation is the purchase probability times the order value.
    np.testing.assert_allclose(u["expected_spend_control"], u["p_buy_control"] * u["avg_order_value"])
    assert "p_control" not in u and "revenue" not in u
    # The 0/1 purchase is written too, and is exactly "spent something".
    np.testing.assert_array_equal(u["conversion"] == 1, u["spend"] > 0)
    assert all(is_truth_column(c) for c in u.columns if c.startswith(("p_buy_", "expected_spend_")))


def test_continuous_spend_matches_its_expectation_by_monte_carlo():
    u = _market("continuous", rows=120_000, seed=5)
    for arm, col in ((0, "expected_spend_control"), (1, "expected_spend_treated")):
        rows = u[u.treatment == arm]
        # Within each decile of the true expectation the mean realized spend must match it.
        bins = pd.qcut(rows[col], 10, labels=False)
        for _, g in rows.groupby(bins):
            se = g["spend"].std() / np.sqrt(len(g))
            assert abs(g["spend"].mean() - g[col].mean()) < 4.5 * se
    diff, se = _observed_ate(u, "spend")
    assert abs(diff - u["true_cate"].mean()) < 4 * se
    spend = u["spend"]
    assert 0.8 < (spend == 0).mean() < 0.9
    positive = spend[spend > 0]
    # Heavy right tail: the top 1% of purchases is several times the median one.
    assert positive.quantile(0.99) > 5 * positive.median() and positive.skew() > 3
    # The effect changes sign inside the market, as documented.
    assert 0.2 < (u["true_cate"] < 0).mean() < 0.45


@pytest.mark.parametrize("shape", ["smooth", "rare", "continuous", "null"])
def test_randomized_difference_estimates_the_true_ate(shape):
    m = generate_market(MarketConfig(rows=60_000, seed=9, shape=shape, impression_users=200))
    u = m.users
    diff, se = _observed_ate(u, m.outcome)
    assert abs(diff - u["true_cate"].mean()) < 4 * se


def test_smooth_effect_is_continuous_mostly_positive_and_follows_its_features():
    u = _market("smooth")
    cate = u["true_cate"]
    assert cate.nunique() > 0.95 * len(u)
    assert 0.15 < (cate < 0).mean() < 0.3 and (cate > 0).mean() > 0.7
    # Documented directions: deal seekers gain, older users gain less.
    assert np.corrcoef(cate, u["discount_affinity"])[0, 1] > 0.3
    assert np.corrcoef(cate, u["age"])[0, 1] < -0.2
    np.testing.assert_array_equal(u["response_type"] == "Persuadable", cate > 0.005)


def test_rare_persuadables_are_few_strongly_moved_and_alone():
    u = _market("rare", rows=80_000)
    pers = u["response_type"] == "Persuadable"
    assert 0.02 <= pers.mean() <= 0.03
    assert (u.loc[~pers, "true_cate"] == 0).all()
    assert u.loc[pers, "true_cate"].min() > 0.05 and u.loc[pers, "true_cate"].mean() > 0.2
    assert u.loc[u.treatment == 0, "conversion"].mean() < 0.05
    # The observed effect concentrates where the truth says it does.
    diff_p, se_p = _observed_ate(u[pers], "conversion")
    diff_n, se_n = _observed_ate(u[~pers], "conversion")
    assert diff_p > 0.15 and abs(diff_n) < 4 * se_n


def test_rare_coupon_moves_another_small_pocket():
    u = _market("rare", arms=3)
    moved1, moved2 = u["true_cate_1"] > 0, u["true_cate_2"] > 0
    assert 0.01 < moved2.mean() < 0.04 and (moved1 & moved2).mean() < 0.25 * moved2.mean()


@pytest.mark.parametrize("arms", [2, 3])
def test_null_market_has_no_effect_anywhere(arms):
    m = generate_market(MarketConfig(rows=60_000, seed=4, shape="null", n_arms=arms, impression_users=200))
    u = m.users
    cates = [c for c in u.columns if c.startswith("true_cate")]
    assert cates and all((u[c] == 0).all() for c in cates)
    assert (u["response_type"] == "Neutral").all()
    for arm in range(1, arms):
        diff, se = _observed_ate(u, "conversion", arm)
        assert abs(diff) < 4 * se


def test_smooth_and_continuous_coupon_arms_differ_from_recommendations():
    for shape in ("smooth", "continuous"):
        u = _market(shape, rows=5_000, arms=3)
        assert np.corrcoef(u["true_cate_1"], u["true_cate_2"])[0, 1] < 0.8
        assert (u["true_cate_2"] < 0).any() and (u["true_cate_2"] > 0).any()


@pytest.mark.parametrize("shape", SHAPES)
def test_seeded_and_reproducible(shape):
    a = generate_market(MarketConfig(rows=2_000, seed=5, shape=shape, impression_users=100))
    b = generate_market(MarketConfig(rows=2_000, seed=5, shape=shape, impression_users=100))
    pd.testing.assert_frame_equal(a.users, b.users)
    pd.testing.assert_frame_equal(a.impressions, b.impressions)
    c = generate_market(MarketConfig(rows=2_000, seed=6, shape=shape, impression_users=100))
    assert not a.users[a.outcome].equals(c.users[c.outcome])
    assert a.describe()["shape"] == shape and a.describe()["outcome"] == a.outcome


def test_features_catalog_and_impressions_do_not_depend_on_the_shape():
    hard = generate_market(MarketConfig(rows=2_000, seed=8, impression_users=100))
    smooth = generate_market(MarketConfig(rows=2_000, seed=8, shape="smooth", impression_users=100))
    pd.testing.assert_frame_equal(
        hard.users[["user_id", "age", "device"]], smooth.users[["user_id", "age", "device"]]
    )
    pd.testing.assert_frame_equal(hard.catalog, smooth.catalog)


def test_unknown_shape_is_refused_naming_the_field_and_values():
    with pytest.raises(
        ValueError, match=r"shape: must be one of hard, smooth, rare, continuous, null, got 'wavy'"
    ):
        MarketConfig(rows=10, seed=1, shape="wavy")
