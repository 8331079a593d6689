"""Small batches go through ONNX Runtime, large ones through XGBoost: both give the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.bundle import ONNX_MAX_ROWS, ModelBundle, probe_matrix
from shared.onnx_runtime import PARITY_TOL


def test_small_and_large_batches_agree(trained_models: Path) -> None:
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.serving_format == "onnx"
    X = probe_matrix(bundle.schema, ONNX_MAX_ROWS + 50, seed=11)
    large = bundle.predict_outcomes(X)  # one XGBoost call
    small = np.vstack([bundle.predict_outcomes(X[i : i + 10]) for i in range(0, len(X), 10)])  # ONNX
    reference = np.column_stack([b.inplace_predict(X) for b in bundle.boosters])
    np.testing.assert_allclose(large, reference, atol=1e-12)
    np.testing.assert_allclose(small, reference, atol=PARITY_TOL)
