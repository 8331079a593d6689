from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from services.api.deps import ModelDep, StateDep
from shared.policy import policy_curve
from shared.segments import SEGMENTS, segment_labels

router = APIRouter(prefix="/model", tags=["model"])


@router.get("")
def model_info(model: ModelDep) -> dict[str, Any]:
    """The serving version's manifest (schema, data, thresholds, headline metrics) and serving format."""
    b = model.bundle
    info = b.manifest.model_dump(mode="json", exclude={"files"})
    info["serving_format"] = b.serving_format
    info["onnx_parity_max_error"] = b.parity_max_error
    info["has_ranker"] = b.ranker is not None
    return info


@router.get("/evaluation")
def evaluation(model: ModelDep) -> dict[str, Any]:
    """The trainer's held-out evaluation (curves, deciles, segment report, ranker)."""
    result: dict[str, Any] = json.loads((model.bundle.path / "evaluation.json").read_text())
    return result


@router.get("/importance")
def importance(model: ModelDep) -> dict[str, dict[str, float]]:
    """Total gain per encoded feature for each arm's outcome model."""
    b = model.bundle
    names = b.schema.encoded_names
    out: dict[str, dict[str, float]] = {}
    for arm, booster in zip(b.arms, b.boosters, strict=True):
        raw = booster.get_score(importance_type="total_gain")  # one float per feature for trees
        out[arm] = {
            names[int(k[1:])] if k.startswith("f") and k[1:].isdigit() else k: float(v)
            for k, v in raw.items()
            if isinstance(v, float | int)
        }
    return out


def _sample(model: ModelDep, n: int) -> Any:
    import pandas as pd  # only the dashboard's endpoints read tables; scoring never pays for pandas

    path = model.bundle.path / "holdout_sample.parquet"
    if not path.exists():
        return pd.DataFrame()
    return pd.read_parquet(path).head(n)


@router.get("/sample")
def sample(
    model: ModelDep, state: StateDep, n: Annotated[int, Query(ge=1, description="Rows wanted.")] = 500
) -> dict[str, Any]:
    """Held-out users (features, observed arm and outcome, and the truth when the data is synthetic)."""
    frame = _sample(model, min(n, state.settings.max_sample_rows))
    return {"columns": list(frame.columns), "rows": json.loads(frame.to_json(orient="records"))}


@router.get("/policy-curve")
def curve(
    model: ModelDep,
    value_per_conversion: Annotated[float, Query(gt=0)] = 20.0,
    cost_per_treatment: Annotated[float, Query(ge=0)] = 1.0,
    lower: Annotated[float | None, Query()] = None,
    upper: Annotated[float | None, Query()] = None,
    points: Annotated[int, Query(ge=2, le=1001)] = 101,
) -> dict[str, Any]:
    """Profit and ROI against the share targeted, on the held-out sample, with its segment mix."""
    b = model.bundle
    frame = _sample(model, 10**9)
    if frame.empty:
        return {"n_users": 0}
    X, _ = b.schema.encode_frame(frame[b.schema.names])
    mu = b.predict_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    lo = b.manifest.segments.lower if lower is None else lower
    hi = b.manifest.segments.upper if upper is None else upper
    if lo > hi:
        raise HTTPException(422, detail=[{"field": "lower", "rule": "must not exceed upper"}])
    seg = segment_labels(effects, lo, hi)
    order = np.argsort(-effects.max(axis=1), kind="stable")
    out = policy_curve(effects, value_per_conversion, cost_per_treatment, points)
    n = len(effects)
    mix = []
    for share in out["share"]:
        top = seg[order[: round(share * n)]]
        mix.append({s: int((top == s).sum()) for s in SEGMENTS})
    return {"n_users": n, "lower": lo, "upper": hi, **out, "segment_mix": mix}
