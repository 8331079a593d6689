"""Optional fast path: XGBoost boosters exported to ONNX and run with ONNX Runtime.

The export is only used where its output matches XGBoost's within ``PARITY_TOL`` on a probe set;
otherwise the XGBoost booster serves. Single-threaded sessions: the API scales by workers, and
intra-op threads on a 2-core box only fight each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

PARITY_TOL = 1e-5
ONNX_OPSET = 15


def export_booster(booster: xgb.Booster, n_features: int, path: Path) -> bool:
    """Write an ONNX copy of a binary-logistic or squared-error booster; False if unsupported."""
    try:
        from onnxmltools.convert import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        return False
    try:
        onx = convert_xgboost(
            booster, initial_types=[("input", FloatTensorType([None, n_features]))], target_opset=ONNX_OPSET
        )
    except Exception:  # the converter raises many types for unsupported objectives; XGBoost serves then
        return False
    path.write_bytes(onx.SerializeToString())
    return True


class OnnxModel:
    """One ONNX session returning the same number XGBoost's ``inplace_predict`` would."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        # Classifiers expose (label, probabilities); regressors a single 'variable'.
        self._proba = "probabilities" in outputs
        self._output = "probabilities" if self._proba else outputs[0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        out: Any = self._session.run([self._output], {self._input: X})[0]
        return np.asarray(out[:, 1] if self._proba else out.reshape(-1), dtype=np.float64)


def parity_error(booster: xgb.Booster, onnx_model: OnnxModel, probe: np.ndarray) -> float:
    ref = np.asarray(booster.inplace_predict(probe), dtype=np.float64)
    return float(np.max(np.abs(ref - onnx_model.predict(probe))))
