"""Refutations pass for a sound estimator on confounded data and fail for estimators that misbehave."""

from functools import partial

import numpy as np

from shared.causal.aipw import AverageEffect, aipw_effect
from shared.causal.refute import data_subsets, placebo_treatment, random_common_cause, refute
from tests.shared.causal.conftest import CONFIG, Confounded


def test_a_sound_estimator_passes_every_refutation(continuous_case: Confounded) -> None:
    d = continuous_case
    estimate = partial(aipw_effect, outcome_kind="continuous", config=CONFIG)
    original = estimate(d.X, d.treated, d.y)
    results = refute(estimate, d.X, d.treated, d.y, original, np.random.default_rng(1))
    assert [r.name for r in results] == ["placebo treatment", "random common cause", "data subsets"]
    assert all(r.passed for r in results), [r.to_dict() for r in results]
    placebo = results[0].estimates[0]
    # About zero: well inside the original effect's own standard error scale.
    assert abs(placebo.value) < 3 * original.se < original.value
    assert len(results[2].estimates) == 3
    assert "PASS" in results[1].line()


def _fixed(value: float, se: float = 0.01) -> AverageEffect:
    return AverageEffect(value, se, 0.95, 100, 1.0, 1.0, None)


def test_an_estimator_blind_to_treatment_fails_the_placebo() -> None:
    X, t, y = np.zeros((200, 1)), np.repeat([0, 1], 100), np.ones(200)
    result = placebo_treatment(lambda *_: _fixed(0.5), X, t, y, np.random.default_rng(0), _fixed(0.5))
    assert not result.passed and result.to_dict()["estimate"] == 0.5


def test_an_estimator_that_moves_with_an_irrelevant_column_fails() -> None:
    X, t, y = np.zeros((200, 2)), np.repeat([0, 1], 100), np.ones(200)
    original = _fixed(2.0)
    result = random_common_cause(
        lambda Xs, *_: _fixed(float(Xs.shape[1])), X, t, y, np.random.default_rng(0), original
    )
    assert not result.passed and "FAIL" in result.line()


def test_an_estimator_driven_by_few_rows_fails_the_subsets() -> None:
    y = np.zeros(400)
    y[:3] = 100.0  # three outliers: a half-sample keeps some or none of them
    X, t = np.zeros((400, 1)), np.repeat([0, 1], 200)
    original = _fixed(float(y.mean()), se=0.05)
    result = data_subsets(
        lambda _X, _t, ys: _fixed(float(ys.mean())), X, t, y, np.random.default_rng(0), original
    )
    assert not result.passed
