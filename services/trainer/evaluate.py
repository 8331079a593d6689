"""Held-out evaluation: the same metric functions the API and dashboard use, on the test split."""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.metrics import qini_auc, qini_curve, segment_report, uplift_at_k, uplift_by_decile
from shared.segments import SEGMENTS, segment_labels


def _downsample_curve(x: np.ndarray, y: np.ndarray, points: int = 201) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(x) - 1, points).round().astype(int))
    return {"x": [float(v) for v in x[idx] / x[-1]], "y": [float(v) for v in y[idx]]}


def _uplift_at(y: np.ndarray, treated: np.ndarray, effect: np.ndarray, k: float) -> float | None:
    """None when the top share holds only one arm (tiny or extreme data), instead of failing the run."""
    try:
        return uplift_at_k(y, treated, effect, k)
    except ValueError:
        return None


def evaluate_arm(
    y: np.ndarray, treated: np.ndarray, effect: np.ndarray, response: np.ndarray, truth: np.ndarray | None
) -> dict[str, Any]:
    """Metrics of one arm against control; ``treated`` is 1 for this arm, 0 for control rows."""
    out: dict[str, Any] = {
        "n_test": len(y),
        "qini": qini_auc(y, treated, effect),
        "qini_random": 0.0,
        # A response model targets likely buyers; showing its Qini makes the case for uplift modelling.
        "qini_response_model": qini_auc(y, treated, response),
        "uplift_at_10pct": _uplift_at(y, treated, effect, 0.1),
        "uplift_at_30pct": _uplift_at(y, treated, effect, 0.3),
        "ate_observed": float(y[treated == 1].mean() - y[treated == 0].mean()),
        "ate_predicted": float(effect.mean()),
        "deciles": uplift_by_decile(y, treated, effect),
    }
    x, q = qini_curve(y, treated, effect)
    curves = {"model": _downsample_curve(x, q)}
    if truth is not None:
        out["qini_oracle"] = qini_auc(y, treated, truth)
        out["qini_vs_oracle"] = out["qini"] / out["qini_oracle"] if out["qini_oracle"] > 0 else None
        # Undefined (None, not NaN) when either side is constant, as in the null market's zero truth.
        constant = np.ptp(effect) == 0 or np.ptp(truth) == 0
        out["pearson_cate_truth"] = None if constant else float(np.corrcoef(effect, truth)[0, 1])
        out["ate_true"] = float(truth.mean())
        xo, qo = qini_curve(y, treated, truth)
        curves["oracle"] = _downsample_curve(xo, qo)
    out["curves"] = curves
    return out


def evaluate_segments(
    effects: np.ndarray, lower: float, upper: float, truth: np.ndarray | None
) -> dict[str, Any]:
    pred = segment_labels(effects, lower, upper)
    shares = {s: float((pred == s).mean()) for s in SEGMENTS}
    out: dict[str, Any] = {"lower": lower, "upper": upper, "shares": shares}
    if truth is not None:
        true_seg = segment_labels(truth, lower, upper)
        rep = segment_report(true_seg, pred, labels=SEGMENTS)
        out["vs_truth"] = rep.to_dict()
        out["true_shares"] = {s: float((true_seg == s).mean()) for s in SEGMENTS}
    return out
