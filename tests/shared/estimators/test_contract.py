"""What every learner in the registry promises: the scikit-learn contract, validation, one serving form."""

import inspect

import numpy as np
import pytest
from sklearn.base import clone

from shared.estimators import (
    LEARNERS,
    ClassTransformation,
    DRLearner,
    EffectFunction,
    MetaLearner,
    RLearner,
    TLearner,
    XLearner,
    supports,
)
from tests.shared.estimators.effect_data import assert_served_form, binary_data

ALL = sorted(LEARNERS.items())
EFFECT_LEARNERS = [(code, cls) for code, cls in ALL if cls is not TLearner]
WITH_PROPENSITY = [XLearner, DRLearner, RLearner, ClassTransformation]
COMMON_ARGS = {
    "params",
    "n_estimators",
    "early_stopping_rounds",
    "validation_fraction",
    "control",
    "outcome",
    "n_jobs",
    "random_state",
}


@pytest.fixture(scope="module")
def small():
    return binary_data(1_500, 5)


def test_registry_codes():
    assert set(LEARNERS) == {"t", "s", "x", "dr", "r", "ct"}
    assert all(issubclass(cls, MetaLearner) for cls in LEARNERS.values())


@pytest.mark.parametrize(("code", "cls"), ALL)
def test_constructor_arguments_and_get_set_params(code, cls):
    names = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert names >= COMMON_ARGS
    params = {"max_depth": 3}
    model = cls(params=params, n_estimators=7, control="ctl")
    got = model.get_params()
    assert set(got) == names
    assert got["params"] is params and got["n_estimators"] == 7 and got["control"] == "ctl"
    assert model.set_params(n_estimators=9, random_state=4) is model
    assert (model.n_estimators, model.random_state) == (9, 4)
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(not_an_argument=1)


@pytest.mark.parametrize(("code", "cls"), ALL)
def test_clone_round_trips_a_fitted_learner_as_unfitted(code, cls, small):
    extra = {"propensity": {0: 0.5, 1: 0.5}} if cls in WITH_PROPENSITY else {}
    model = cls(n_estimators=10, n_jobs=1, random_state=3, params={"max_depth": 2}, **extra).fit(
        small.X, small.t, small.y
    )
    copy = clone(model)
    assert type(copy) is cls and copy.get_params() == model.get_params()
    assert not hasattr(copy, "arms_")
    with pytest.raises(ValueError, match="not fitted"):
        copy.predict(small.X)
    # Same parameters and seed, same data: the clone fits the same model.
    np.testing.assert_array_equal(
        copy.fit(small.X, small.t, small.y).predict(small.X), model.predict(small.X)
    )


@pytest.mark.parametrize(
    ("code", "cls", "arms"),
    [
        (code, cls, arms)
        for code, cls in EFFECT_LEARNERS
        for arms in (2, 3)
        if supports(code, "binary", arms) is None
    ],
)
def test_predict_is_the_sum_over_effect_functions(code, cls, arms):
    data = binary_data(1_500, 6, arms=arms)
    model = cls(n_estimators=20, n_jobs=1, random_state=1).fit(data.X, data.t, data.y)
    assert len(model.effect_functions_) == arms - 1
    assert all(isinstance(f, EffectFunction) for f in model.effect_functions_)
    assert model.predict(data.X).shape == ((1_500,) if arms == 2 else (1_500, arms - 1))
    assert_served_form(model, data.X)


@pytest.mark.parametrize("cls", WITH_PROPENSITY)
@pytest.mark.parametrize(
    ("propensity", "match"),
    [
        ("known", "propensity: must be 'shares', 'estimate' or a mapping"),
        ({0: 0.5}, r"propensity: the mapping has no probability for arm\(s\) \[1\]"),
        ({0: 0.5, 1: 0.5, 2: 0.0}, r"propensity: arm\(s\) \[2\] do not occur in treatment"),
        ({0: 0.0, 1: 1.0}, "propensity: the probability of arm 0 must be in"),
        ({0: 0.3, 1: 0.3}, "propensity: the probabilities must sum to 1, got 0.6000"),
    ],
)
def test_bad_propensity_is_refused(cls, propensity, match, small):
    with pytest.raises(ValueError, match=match):
        cls(n_estimators=5, propensity=propensity).fit(small.X, small.t, small.y)


@pytest.mark.parametrize("cls", [DRLearner, RLearner])
def test_n_folds_must_be_at_least_two(cls, small):
    with pytest.raises(ValueError, match="n_folds: must be an integer of at least 2, got 1"):
        cls(n_estimators=5, n_folds=1).fit(small.X, small.t, small.y)


@pytest.mark.parametrize(
    ("code", "kind", "arms", "rule"),
    [
        ("t", "continuous", 3, None),
        ("dr", "binary", 2, None),
        ("ct", "binary", 2, None),
        ("ct", "binary", 3, "ct needs a binary outcome and exactly two arms"),
        ("ct", "continuous", 2, "ct needs a binary outcome and exactly two arms"),
        ("x", "binary", 1, "x needs at least two arms (control and one treatment), got 1"),
        ("zz", "binary", 2, "learner: unknown code 'zz'; choose one of t, s, x, dr, r, ct"),
        ("s", "count", 2, "outcome kind must be one of binary, continuous, got 'count'"),
    ],
)
def test_supports(code, kind, arms, rule):
    assert supports(code, kind, arms) == rule
