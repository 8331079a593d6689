"""Warnings about untrustworthy weights, and errors on bad input that name the argument and rule."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ope import doubly_robust, effective_sample_size, ips, snips


def test_effective_sample_size_closed_forms() -> None:
    assert effective_sample_size(np.ones(10)) == pytest.approx(10.0)
    assert effective_sample_size(np.array([5.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_sample_size(np.zeros(4)) == 0.0


def test_tiny_propensity_on_a_supported_row_warns_with_the_rule() -> None:
    n = 1000
    p = np.full(n, 0.5)
    p[0] = 0.005
    est = ips(np.zeros(n), np.ones(n), p, np.ones(n), n_bootstrap=20)
    assert any("0.005" in w and "at least 0.01" in w for w in est.warnings)


def test_tiny_propensity_where_the_target_never_goes_does_not_warn() -> None:
    n = 1000
    p = np.full(n, 0.5)
    p[0] = 0.005
    t = np.ones(n)
    t[0] = 0.0
    assert ips(np.zeros(n), np.ones(n), p, t, n_bootstrap=20).warnings == ()


def test_one_dominant_weight_warns_about_share_and_ess() -> None:
    n = 2000
    p = np.full(n, 0.9)
    p[0] = 0.0001
    est = snips(np.zeros(n), np.ones(n), p, np.r_[1.0, np.full(n - 1, 0.001)], n_bootstrap=20)
    text = " ".join(est.warnings)
    assert "effective sample size" in text and "of the total importance weight" in text


def test_no_supported_row_warns_for_ips_and_refuses_snips() -> None:
    arm, r, p, t = np.zeros(10), np.ones(10), np.full(10, 0.5), np.zeros(10)
    est = ips(arm, r, p, t, n_bootstrap=20)
    assert est.value == 0.0 and est.ess == 0.0
    assert est.warnings == (
        "no logged row has an arm the target policy would choose: the log says nothing about it",
    )
    with pytest.raises(ValueError, match="target_prob: is 0 on every logged row"):
        snips(arm, r, p, t, n_bootstrap=20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"propensity": [0.5, 0.0]}, r"propensity: must be in \(0, 1\]"),
        ({"propensity": [0.5, 1.2]}, r"propensity: must be in \(0, 1\]"),
        ({"reward": [1.0]}, r"reward: must have one value per logged row \(2\)"),
        ({"reward": [1.0, float("nan")]}, "reward: must be finite"),
        ({"target_prob": [0.5, 1.5]}, r"target_prob: must be probabilities in \[0, 1\]"),
        ({"arm": []}, "arm: needs at least one logged row"),
        ({"n_bootstrap": 1}, "n_bootstrap: must be at least 2"),
        ({"level": 1.0}, r"level: must be in \(0, 1\)"),
    ],
)
def test_bad_input_names_the_argument_and_rule(kwargs: dict, match: str) -> None:
    args = {"arm": [0, 1], "reward": [1.0, 0.0], "propensity": [0.5, 0.5], "target_prob": [1.0, 0.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ips(**args)


def test_doubly_robust_checks_matrices_and_arms() -> None:
    arm, r, p = ["a", "b"], [1.0, 0.0], [0.5, 0.5]
    pi, q = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"target_probs: must have shape \(rows, arms\) = \(2, 2\)"):
        doubly_robust(arm, r, p, pi[:1], q, ["a", "b"])
    with pytest.raises(ValueError, match="target_probs: each row must sum to 1"):
        doubly_robust(arm, r, p, pi * 0.5, q, ["a", "b"])
    with pytest.raises(ValueError, match="predicted_rewards: must be finite"):
        doubly_robust(arm, r, p, pi, np.full((2, 2), np.inf), ["a", "b"])
    with pytest.raises(ValueError, match="arm: logged arm 'b' is not one of the columns"):
        doubly_robust(arm, r, p, pi, q, ["a", "c"])


def test_a_target_that_treats_users_the_log_never_treated_is_warned_about() -> None:
    # Half the users were (almost) never treated: the log gave them control with probability 0.999.
    n = 1000
    arm = np.array(["0"] * n)
    p = np.where(np.arange(n) < n // 2, 0.999, 0.5)
    reward = np.zeros(n)
    q = np.zeros((n, 2))
    treat_all = np.tile([0.0, 1.0], (n, 1))
    est = doubly_robust(arm, reward, p, treat_all, q, ["0", "1"], n_bootstrap=50)
    assert any("50% of the target policy's choices" in w and "rule: at most 1%" in w for w in est.warnings)
    # The logging policy's own choices are all well supported: no such warning for treat-none.
    none = np.tile([1.0, 0.0], (n, 1))
    assert not any(
        "target policy's choices" in w
        for w in doubly_robust(arm, reward, p, none, q, ["0", "1"], n_bootstrap=50).warnings
    )
    # With three arms the log does not say what the others were given: nothing is claimed.
    three = np.tile([0.0, 1.0, 0.0], (n, 1))
    est3 = doubly_robust(arm, reward, p, three, np.zeros((n, 3)), ["0", "1", "2"], n_bootstrap=50)
    assert not any("target policy's choices" in w for w in est3.warnings)
