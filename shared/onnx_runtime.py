"""Optional fast path: XGBoost boosters exported to ONNX and run with ONNX Runtime.

The export is only used where its output matches XGBoost's within ``PARITY_TOL`` on a probe set;
otherwise the XGBoost booster serves. Single-threaded sessions: the API scales by workers, and
intra-op threads on a 2-core box only fight each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the API imports this module at start-up and XGBoost only when it needs it
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


def as_squared_error(booster: xgb.Booster) -> xgb.Booster:
    """A copy of a ``rank:*`` booster that onnxmltools converts as a regressor.

    onnxmltools does not know ranking objectives and converts them as a classifier (NaN scores).
    Ranking and squared-error objectives both output the raw margin (base score plus leaf values),
    so swapping the objective in the saved model changes no prediction, only the converter's guess.
    """
    import xgboost as xgb

    model = json.loads(bytes(booster.save_raw("json")))
    model["learner"]["objective"] = {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
    return xgb.Booster(model_file=bytearray(json.dumps(model).encode()))


def export_ranker(booster: xgb.Booster, n_features: int, path: Path, probe: np.ndarray) -> bool:
    """Write an ONNX copy of a ranking booster's scores; False, and no file, unless it matches on ``probe``."""
    if not export_booster(as_squared_error(booster), n_features, path):
        return False
    try:
        err = parity_error(booster, OnnxModel(path), probe)
    except Exception:  # onnxruntime missing or the graph does not run: the file is useless either way
        err = float("inf")
    if not err <= PARITY_TOL:  # also catches NaN scores
        path.unlink()
        return False
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
