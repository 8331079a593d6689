"""EffectFunction: the weighted sum it promises, and refusal of boosters whose output is not raw."""

import numpy as np
import pytest
import xgboost as xgb

from shared.estimators import EffectFunction


def _booster(objective, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(float) if objective == "binary:logistic" else X[:, 0] + 0.5 * X[:, 1]
    return X, xgb.train({"objective": objective, "max_depth": 2, "seed": seed}, xgb.DMatrix(X, y), 10)


def test_predict_is_offset_plus_weighted_boosters():
    X, b1 = _booster("reg:squarederror", 1)
    _, b2 = _booster("reg:squarederror", 2)
    f = EffectFunction(boosters=(b1, b2), weights=(0.25, 0.75), offset=-1.0)
    expected = -1.0 + 0.25 * b1.predict(xgb.DMatrix(X)) + 0.75 * b2.predict(xgb.DMatrix(X))
    out = f.predict(X.astype(np.float64))
    assert out.dtype == np.float64 and out.shape == (300,)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_refuses_mismatched_weights_and_non_regression_boosters():
    _, reg = _booster("reg:squarederror", 1)
    _, clf = _booster("binary:logistic", 1)
    with pytest.raises(ValueError, match=r"weights: need one per booster \(1\), got 2"):
        EffectFunction(boosters=(reg,), weights=(1.0, 2.0))
    with pytest.raises(
        ValueError, match=r"boosters\[1\]: must use objective reg:squarederror, got binary:logistic"
    ):
        EffectFunction(boosters=(reg, clf), weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="boosters: an effect function needs at least one booster"):
        EffectFunction(boosters=(), weights=())
    with pytest.raises(ValueError, match="weights and offset: must be finite"):
        EffectFunction(boosters=(reg,), weights=(float("nan"),))


def test_is_frozen():
    _, reg = _booster("reg:squarederror", 1)
    f = EffectFunction(boosters=(reg,), weights=(1.0,))
    with pytest.raises(AttributeError):
        f.offset = 2.0  # type: ignore[misc]
