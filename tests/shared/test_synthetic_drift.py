import numpy as np
import pandas as pd
import pytest

from shared.synthetic import MarketConfig, generate_market
from shared.synthetic_drift import shift_effect


def _mobile(u: pd.DataFrame) -> pd.Series:
    return u["device"] == "mobile"


@pytest.fixture(scope="module")
def smooth_users() -> pd.DataFrame:
    return generate_market(MarketConfig(rows=60_000, seed=12, shape="smooth", impression_users=100)).users


def _ate(u: pd.DataFrame, arm: int = 1) -> tuple[float, float]:
    a, c = u.loc[u.treatment == arm, "conversion"], u.loc[u.treatment == 0, "conversion"]
    return float(a.mean() - c.mean()), float(np.sqrt(a.var() / len(a) + c.var() / len(c)))


def test_removing_a_groups_effect_changes_only_that_group(smooth_users):
    before = smooth_users.copy()
    after = shift_effect(smooth_users, _mobile, 0.0, np.random.default_rng(1))
    pd.testing.assert_frame_equal(smooth_users, before)  # the input is not modified
    group = _mobile(after).to_numpy()
    assert (after.loc[group, "true_cate"] == 0).all()
    np.testing.assert_array_equal(after["true_cate"], after["p_treated"] - after["p_control"])
    pd.testing.assert_frame_equal(after[~group], before[~group])
    # Control rows keep their draws; only treated members of the group were redrawn.
    control = group & (after.treatment == 0).to_numpy()
    outcomes = ["conversion", "revenue"]
    pd.testing.assert_frame_equal(after.loc[control, outcomes], before.loc[control, outcomes])
    # The redrawn outcomes carry the new (zero) effect, where there was a clear one before.
    old_diff, old_se = _ate(before[group])
    new_diff, new_se = _ate(after[group])
    assert old_diff > 4 * old_se and abs(new_diff) < 4 * new_se
    assert (after.loc[after.conversion == 0, "revenue"] == 0).all()
    assert (after.loc[after.conversion == 1, "revenue"] > 0).all()


def test_a_harmful_shift_is_seen_in_the_redrawn_outcomes(smooth_users):
    after = shift_effect(smooth_users, _mobile, -1.5, np.random.default_rng(2))
    g = after[_mobile(after)]
    truth = g["true_cate"].mean()
    assert truth < -0.05
    diff, se = _ate(g)
    assert abs(diff - truth) < 4 * se
    # Seeded: the same generator state gives the same stream.
    again = shift_effect(smooth_users, _mobile, -1.5, np.random.default_rng(2))
    pd.testing.assert_frame_equal(after, again)


def test_multi_arm_shifts_the_named_arm_only():
    u = generate_market(
        MarketConfig(rows=30_000, seed=3, shape="smooth", n_arms=3, impression_users=100)
    ).users
    after = shift_effect(u, _mobile, 0.0, np.random.default_rng(3), arm=2)
    group = _mobile(after).to_numpy()
    assert (after.loc[group, "true_cate_2"] == 0).all()
    np.testing.assert_array_equal(after["true_cate_1"], u["true_cate_1"])
    np.testing.assert_array_equal(after["true_cate_2"], after["p_arm2"] - after["p_control"])
    np.testing.assert_array_equal(after["p_arm1"], u["p_arm1"])
    arm1 = (after.treatment == 1).to_numpy()
    pd.testing.assert_frame_equal(
        after.loc[arm1, ["conversion", "revenue"]], u.loc[arm1, ["conversion", "revenue"]]
    )
    redrawn = group & (after.treatment == 2).to_numpy()
    assert (after.loc[redrawn, "conversion"] != u.loc[redrawn, "conversion"]).any()


@pytest.mark.parametrize(
    ("shape", "arms", "kwargs", "match"),
    [
        ("continuous", 2, {}, "users: shift_effect needs p_control"),
        ("smooth", 2, {"arm": 2}, r"arm: must be one of the market's treatment arms \[1\], got 2"),
        ("smooth", 3, {"arm": 3}, r"arm: must be one of the market's treatment arms \[1, 2\], got 3"),
        (
            "smooth",
            2,
            {"group_rule": lambda u: np.ones(3, dtype=bool)},
            "group_rule: must return one boolean",
        ),
        ("smooth", 2, {"new_shift": float("nan")}, "new_shift: must be a finite"),
    ],
)
def test_bad_input_names_the_argument(shape, arms, kwargs, match):
    u = generate_market(MarketConfig(rows=500, seed=1, shape=shape, n_arms=arms, impression_users=50)).users
    args = {"group_rule": _mobile, "new_shift": 0.0, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        shift_effect(u, **args)
