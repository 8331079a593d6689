from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from services.api.bounds import COST_RULE, MAX_BUDGET, MAX_MONEY, MIN_VALUE, check_cost
from services.api.deps import ModelDep, StateDep
from services.api.model_schemas import Curves, Evaluation, ModelInfo, PolicyCurve, Sample
from services.api.targets import TargetRequest, read_users, score_users, target_rows
from shared.metrics import qini_curve, uplift_curve
from shared.metrics.observed import observed_targeting
from shared.policy import best_arm, budget_mask, evaluate_policy, policy_curve
from shared.segments import SEGMENTS, segment_labels

router = APIRouter(prefix="/model", tags=["model"])
# Fixed: the same request always shows the same interval (the seed is in the answer).
OBSERVED_SEED = 20240917


@router.get("", response_model=ModelInfo)
def model_info(model: ModelDep) -> dict[str, Any]:
    """The serving version's manifest (schema, data, thresholds, headline metrics) and serving format."""
    b = model.bundle
    info = b.manifest.model_dump(mode="json", exclude={"files"})
    info["verdict"] = info["verdict"] or None  # a model trained before the verdict has none
    info["serving_format"] = b.serving_format
    info["onnx_parity_max_error"] = b.parity_max_error
    info["has_ranker"] = b.has_ranker
    info["ranker_format"] = b.ranker_format
    info["ranker_onnx_parity_max_error"] = b.ranker_parity_max_error
    info["ranker_pair_parity_max_error"] = b.pair_parity_max_error
    return info


@router.get("/evaluation", response_model=Evaluation)
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
    for arm, booster in zip(b.arms, b.boosters[: len(b.arms)], strict=True):
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


@router.get("/sample", response_model=Sample)
def sample(
    model: ModelDep, state: StateDep, n: Annotated[int, Query(ge=1, description="Rows wanted.")] = 500
) -> dict[str, Any]:
    """Held-out users (features, observed arm and outcome, and the truth when the data is synthetic)."""
    frame = _sample(model, min(n, state.settings.max_sample_rows))
    return {"columns": list(frame.columns), "rows": json.loads(frame.to_json(orient="records"))}


@router.get("/policy-curve", response_model=PolicyCurve)
def curve(
    model: ModelDep,
    value_per_conversion: Annotated[float, Query(ge=MIN_VALUE, le=MAX_MONEY, allow_inf_nan=False)] = 20.0,
    cost_per_treatment: Annotated[
        float, Query(ge=0, le=MAX_MONEY, allow_inf_nan=False, description=f"{COST_RULE}.")
    ] = 1.0,
    lower: Annotated[float | None, Query(ge=-1e6, le=1e6, allow_inf_nan=False)] = None,
    upper: Annotated[float | None, Query(ge=-1e6, le=1e6, allow_inf_nan=False)] = None,
    points: Annotated[int, Query(ge=2, le=1001)] = 101,
    budget: Annotated[
        float | None,
        Query(
            ge=0,
            le=MAX_BUDGET,
            allow_inf_nan=False,
            description="Spend cap over the audience; marks the policy's cut-off.",
        ),
    ] = None,
    audience: Annotated[
        int | None,
        Query(ge=1, le=10**10, description="Users the policy will be applied to (default: the sample's)."),
    ] = None,
) -> dict[str, Any]:
    """Profit and ROI against the share targeted, on the held-out sample, with its segment mix.

    With ``budget``, also the policy's own cut-off (positive expected profit, best first, within
    the budget) and its totals against treating everyone and treating as many users at random.
    With ``audience``, the held-out users stand for that many users: the budget is spread over
    them and every count and amount is scaled by audience / sample size (shares and ROI are not).
    """
    check_cost(cost_per_treatment)
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
    scale = 1.0 if audience is None else audience / n
    out["profit"] = [p * scale for p in out["profit"]]
    out["random_profit"] = [p * scale for p in out["random_profit"]]
    mix = [{k: round(v * scale) for k, v in m.items()} for m in mix]
    result = {
        "n_users": n,
        "audience": audience or n,
        "scale": scale,
        "lower": lo,
        "upper": hi,
        **out,
        "segment_mix": mix,
    }
    if budget is not None:
        chosen = _chosen(effects, seg, value_per_conversion, cost_per_treatment, budget / scale)
        chosen["observed"] = _observed(
            b, frame, effects, chosen.pop("mask"), value_per_conversion, cost_per_treatment
        )
        result["chosen"] = _scaled(chosen, scale, budget)
    return result


def _scaled(chosen: dict[str, Any], scale: float, budget: float) -> dict[str, Any]:
    """The sample's totals as the audience's: counts and amounts × scale; shares, uplifts, ROI as they are."""
    if scale == 1.0:
        return chosen
    for key in ("policy", "treat_all", "random"):
        t = chosen[key]
        t["treated"] = round(t["treated"] * scale)
        for field in ("incremental_conversions", "cost", "profit"):
            t[field] *= scale
    obs = chosen["observed"]
    obs["treated"] = chosen["policy"]["treated"]
    for field in ("incremental", "profit", "profit_vs_random", "profit_treat_all", "profit_random"):
        obs[field] = {k: v * scale if k != "level" else v for k, v in obs[field].items()}
    chosen["segment_mix"] = {k: round(v * scale) for k, v in chosen["segment_mix"].items()}
    chosen["budget"] = budget
    return chosen


def _chosen(effects: np.ndarray, seg: np.ndarray, value: float, cost: float, budget: float) -> dict[str, Any]:
    mask = budget_mask(effects, value, cost, budget)
    totals = {k: v.to_dict() for k, v in evaluate_policy(effects, mask, value, cost).items()}
    mix = {s: int((seg[mask] == s).sum()) for s in SEGMENTS}
    return {"budget": budget, "share": float(mask.mean()), **totals, "segment_mix": mix, "mask": mask}


def _observed(b: Any, frame: Any, effects: np.ndarray, mask: np.ndarray, value: float, cost: float) -> Any:
    """What the held-out users observed under the same targeting (see shared.metrics.observed)."""
    data = b.manifest.data
    index = {arm: k for k, arm in enumerate(b.arms)}
    got = frame[data.treatment_column].astype(str).map(index)
    known = got.notna().to_numpy()  # a held-out row of an arm the model does not serve says nothing
    rec, _ = best_arm(effects)
    y = frame[data.outcome_column].to_numpy(dtype=np.float64)
    return observed_targeting(
        y[known],
        got[known].to_numpy(dtype=np.int64),
        rec[known] + 1,
        mask[known],
        arms=len(b.arms),
        value=value,
        cost=cost,
        seed=OBSERVED_SEED,
    ).to_dict()


def _downsample(x: np.ndarray, y: np.ndarray, points: int) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(x) - 1, points).round().astype(int))
    return {"x": (x[idx] / x[-1]).tolist(), "y": y[idx].tolist()}


def _curve_set(
    y: np.ndarray, treated: np.ndarray, effect: np.ndarray, truth: np.ndarray | None, points: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, fn in (("qini", qini_curve), ("uplift", uplift_curve)):
        x, v = fn(y, treated, effect)
        curves = {"model": _downsample(x, v, points), "random": {"x": [0.0, 1.0], "y": [0.0, float(v[-1])]}}
        if truth is not None:
            curves["oracle"] = _downsample(*fn(y, treated, truth), points)
        out[kind] = curves
    return out


def _truth(frame: Any, arm: str, *, single: bool) -> np.ndarray | None:
    """The arm's true effect per user when the data is synthetic (``true_cate`` is one arm's only)."""
    if f"true_cate_{arm}" in frame.columns:
        return np.asarray(frame[f"true_cate_{arm}"].to_numpy(dtype=np.float64))
    if single and "true_cate" in frame.columns:
        return np.asarray(frame["true_cate"].to_numpy(dtype=np.float64))
    return None


@router.get("/curves", response_model=Curves)
def curves(model: ModelDep, points: Annotated[int, Query(ge=2, le=1001)] = 101) -> dict[str, Any]:
    """Qini and uplift curves per treatment arm on the held-out sample (model, random, oracle if known)."""
    b, data = model.bundle, model.bundle.manifest.data
    frame = _sample(model, 10**9)
    if frame.empty:
        return {"n_users": 0, "arms": {}}
    X, _ = b.schema.encode_frame(frame[b.schema.names])
    mu = b.predict_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    t = frame[data.treatment_column].astype(str).to_numpy()
    y = frame[data.outcome_column].to_numpy(dtype=np.float64)
    arms: dict[str, Any] = {}
    for k, arm in enumerate(b.arms[1:]):
        rows = (t == arm) | (t == data.control)
        treated = (t[rows] == arm).astype(np.int8)
        truth = _truth(frame, arm, single=effects.shape[1] == 1)
        arms[arm] = {
            "n_users": int(rows.sum()),
            **_curve_set(y[rows], treated, effects[rows, k], None if truth is None else truth[rows], points),
        }
    return {"n_users": len(frame), "arms": arms}


@router.post(
    "/targets",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The target list, best first."}},
    openapi_extra={"requestBody": {"content": {"text/csv": {}}, "required": True}},
)
async def targets(
    request: Request,
    model: ModelDep,
    value_per_conversion: Annotated[float, Query(gt=0)] = 20.0,
    cost_per_treatment: Annotated[float, Query(ge=0)] = 1.0,
    budget: Annotated[
        float | None, Query(ge=0, description="Spend cap; without it every user worth it.")
    ] = None,
    interval: Annotated[
        float, Query(ge=0.01, le=0.999, description="Coverage of the effect interval.")
    ] = 0.9,
    id_column: Annotated[
        str | None, Query(description="The file's user id column (default user_id).")
    ] = None,
) -> StreamingResponse:
    """The target list for a CSV of users (body, text/csv; at most 100,000 rows), streamed as CSV:
    user, recommended arm, expected effect with its interval, expected profit, segment, target."""
    frame = read_users(await request.body())
    req = TargetRequest(value_per_conversion, cost_per_treatment, budget, interval, id_column)
    scored = score_users(model.bundle, frame, req)
    return StreamingResponse(
        target_rows(scored),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="targets-{model.bundle.version}.csv"'},
    )
