"""E-values against the worked examples and closed forms of VanderWeele & Ding (2017)."""

import math

import numpy as np
import pytest

from shared.causal.aipw import AverageEffect
from shared.causal.sensitivity import (
    binary_sensitivity,
    continuous_sensitivity,
    e_value,
    e_value_interval,
    pooled_sd,
)


def test_paper_example_rr_3_9() -> None:
    # VanderWeele & Ding (2017): RR 3.9 (CI 1.8 to 8.7) gives E-values 7.26 and 3.0.
    assert e_value(3.9) == pytest.approx(7.26, abs=0.005)
    assert e_value_interval(3.9, 1.8, 8.7) == pytest.approx(3.0, abs=0.005)


def test_protective_effects_invert_and_null_intervals_give_one() -> None:
    assert e_value(0.5) == pytest.approx(e_value(2.0))
    assert e_value_interval(0.5, 0.3, 0.8) == pytest.approx(e_value(1 / 0.8))
    assert e_value_interval(1.3, 0.9, 1.8) == 1.0
    with pytest.raises(ValueError, match="rr:"):
        e_value(0.0)


def _effect(value: float, se: float, m1: float, m0: float, se_log: float | None) -> AverageEffect:
    return AverageEffect(value, se, 0.95, 1000, m1, m0, se_log)


def test_binary_uses_the_risk_ratio_of_the_means() -> None:
    s = binary_sensitivity(_effect(0.1, 0.02, 0.3, 0.2, 0.1))
    z = 1.959964
    assert s.risk_ratio == pytest.approx(1.5)
    assert s.risk_ratio_low == pytest.approx(1.5 * math.exp(-z * 0.1), rel=1e-5)
    assert s.e_value == pytest.approx(1.5 + math.sqrt(1.5 * 0.5))
    assert s.e_value_interval == pytest.approx(e_value(s.risk_ratio_low))
    assert "risk ratio" in s.to_dict()["reading"]


def test_continuous_maps_the_standardized_difference() -> None:
    s = continuous_sensitivity(_effect(2.0, 0.5, 12.0, 10.0, None), sd=4.0)
    rr = math.exp(0.91 * 0.5)
    assert s.risk_ratio == pytest.approx(rr)
    assert s.e_value == pytest.approx(rr + math.sqrt(rr * (rr - 1)))
    assert s.risk_ratio_low == pytest.approx(math.exp(0.91 * (0.5 - 1.959964 * 0.125)), rel=1e-5)
    with pytest.raises(ValueError, match="sd:"):
        continuous_sensitivity(_effect(2.0, 0.5, 12.0, 10.0, None), sd=0.0)


def test_pooled_sd() -> None:
    y = np.array([1.0, 2.0, 3.0, 10.0, 12.0, 14.0])
    t = np.array([0, 0, 0, 1, 1, 1])
    assert pooled_sd(y, t) == pytest.approx(math.sqrt((1.0 * 2 + 4.0 * 2) / 4))
