"""Probe rows for the parity checks: inside the schema's ranges, one category per block, seeded."""

from __future__ import annotations

import numpy as np

from shared.parity import max_abs_error, probe_matrix
from shared.schema import FeatureSchema, FeatureSpec

SCHEMA = FeatureSchema(
    features=(
        FeatureSpec(name="age", kind="numeric", minimum=18.0, maximum=80.0),
        FeatureSpec(name="device", kind="categorical", categories=("desktop", "mobile", "tablet")),
        FeatureSpec(name="score", kind="numeric"),  # no recorded range: probed on [0, 1]
    )
)


def test_probe_rows_respect_the_schema_and_the_seed() -> None:
    X = probe_matrix(SCHEMA, n=500, seed=3)
    assert X.shape == (500, SCHEMA.n_encoded) and X.dtype == np.float32
    assert X[:, 0].min() >= 18.0 and X[:, 0].max() <= 80.0
    block = X[:, 1:4]
    assert set(np.unique(block)) == {0.0, 1.0} and (block.sum(axis=1) == 1).all()
    assert (block.sum(axis=0) > 0).all()  # every category is probed
    assert X[:, 4].min() >= 0.0 and X[:, 4].max() <= 1.0
    np.testing.assert_array_equal(X, probe_matrix(SCHEMA, n=500, seed=3))
    assert not np.array_equal(X, probe_matrix(SCHEMA, n=500, seed=4))


def test_max_abs_error_fails_a_shape_mismatch() -> None:
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert max_abs_error(a, a + 1e-7) < 2e-7
    assert max_abs_error(a, a[:1]) == float("inf")
