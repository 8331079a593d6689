import numpy as np
import pandas as pd
import pytest

from shared.synthetic import MarketConfig, generate_market


def test_seeded_and_reproducible():
    a = generate_market(MarketConfig(rows=3_000, seed=5, impression_users=300))
    b = generate_market(MarketConfig(rows=3_000, seed=5, impression_users=300))
    pd.testing.assert_frame_equal(a.users, b.users)
    pd.testing.assert_frame_equal(a.impressions, b.impressions)
    c = generate_market(MarketConfig(rows=3_000, seed=6, impression_users=300))
    assert not a.users["conversion"].equals(c.users["conversion"])


def test_truth_is_consistent_and_types_behave():
    m = generate_market(MarketConfig(rows=60_000, seed=1, impression_users=1_000))
    u = m.users
    np.testing.assert_allclose(u["true_cate"], u["p_treated"] - u["p_control"])
    by_type = u.groupby("response_type")["true_cate"]
    assert by_type.min()["Persuadable"] > 0.05
    assert by_type.max()["Sleeping Dog"] < -0.02
    assert (by_type.apply(lambda s: s.abs().max())[["Neutral", "Sure Thing", "Lost Cause"]] == 0).all()
    assert u["response_type"].value_counts(normalize=True)["Neutral"] > 0.5
    # Randomized treatment: the observed difference estimates the true ATE.
    diff = u.loc[u.treatment == 1, "conversion"].mean() - u.loc[u.treatment == 0, "conversion"].mean()
    assert diff == pytest.approx(u["true_cate"].mean(), abs=0.012)
    # Sure Things buy most but are not moved: a response model would target the wrong users.
    rates = u.groupby("response_type")["p_control"].mean()
    assert rates["Sure Thing"] > rates["Persuadable"]


def test_impressions_are_distinct_items_per_user():
    m = generate_market(MarketConfig(rows=2_000, seed=2, impression_users=200, impressions_per_user=10))
    per_user = m.impressions.groupby("user_id")["item_id"].nunique()
    assert (per_user == 10).all() and len(per_user) == 200
    assert set(m.impressions["item_id"]) <= set(m.catalog["item_id"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rows": 0}, "rows: must be a positive"),
        ({"rows": 10, "treatment_share": 1.0}, "strictly between 0 and 1"),
    ],
)
def test_invalid_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MarketConfig(**{"seed": 1, **kwargs})
