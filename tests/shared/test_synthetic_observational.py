"""The observational generator: seeded, confounded as documented, truth beside the data."""

import numpy as np
import pytest

from shared.synthetic import is_truth_column
from shared.synthetic_observational import FEATURES, ObservationalConfig, generate_observational


def test_seeded_and_truth_columns_are_never_features() -> None:
    a = generate_observational(ObservationalConfig(rows=500, seed=4))
    b = generate_observational(ObservationalConfig(rows=500, seed=4))
    assert a.users.equals(b.users)
    assert not any(is_truth_column(f) for f in FEATURES)
    assert is_truth_column("p_arm1") and "true_cate" in a.users


@pytest.mark.parametrize("outcome", ["binary", "continuous"])
def test_treatment_follows_the_confounders_and_the_naive_difference_is_biased(outcome: str) -> None:
    data = generate_observational(ObservationalConfig(rows=20_000, seed=1, outcome=outcome))  # type: ignore[arg-type]
    u = data.users
    treated = u["treatment"] == 1
    assert u.loc[treated, "activity"].mean() > u.loc[~treated, "activity"].mean() + 0.5
    # The true propensity drives the draw: its mean matches the treated share.
    assert u["p_arm1"].mean() == pytest.approx(treated.mean(), abs=0.01)
    desc = data.describe()
    assert desc["naive_difference_1"] > 2 * desc["true_ate_1"] > 0


def test_three_arms_write_a_truth_per_arm() -> None:
    u = generate_observational(ObservationalConfig(rows=3000, seed=2, n_arms=3)).users
    assert set(np.unique(u["treatment"])) == {0, 1, 2}
    assert {"true_cate_1", "true_cate_2", "p_arm1", "p_arm2"} <= set(u.columns)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="n_arms"):
        ObservationalConfig(rows=10, seed=0, n_arms=4)
