"""The policy benchmark's scenarios: a stationary stream per value/cost setting, a paced campaign,
a drifting market with a retrain from the log halfway, and off-policy estimates from the log.

Each scenario gets a fresh server and data folder, so no run learns from another's feedback.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from policy_figures import by_fifths, compare, logged_truth
from policy_server import api_server, call, supports, uplift
from policy_stream import StreamResult, reward_drawer, stream_users

from shared.artifacts import current_version
from shared.bundle import ModelBundle
from shared.synthetic import MarketConfig, generate_market
from shared.synthetic_drift import shift_effect

BUDGET_UNBOUNDED = 1e9  # the per-request policy's budget: set beyond reach, so only the policy decides


@dataclass
class Stream:
    """Fresh users of the market, in stream order, with their truth and the served model's effects."""

    users: pd.DataFrame
    ids: list[str]
    features: list[dict[str, Any]]
    seed: int

    @property
    def true_cate(self) -> np.ndarray:
        return self.users["true_cate"].to_numpy()

    def uniforms(self, scenario: int) -> np.ndarray:
        """One uniform per user for one scenario's rewards (reward = uniform < p(arm)).

        Each scenario draws its own: with shared draws, one unlucky stream would move every
        scenario's realized rewards, and every off-policy interval, the same way at once.
        """
        return np.random.default_rng([self.seed, 1, scenario]).random(len(self.ids))

    def p_by_arm(self, arms: list[str]) -> dict[str, np.ndarray]:
        return {arms[0]: self.users["p_control"].to_numpy(), arms[1]: self.users["p_treated"].to_numpy()}


def make_stream(users: pd.DataFrame, names: list[str], seed: int, tag: str) -> Stream:
    features: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in users[names].astype(object).to_dict(orient="records")
    ]
    ids = [f"{tag}-{i}" for i in range(len(users))]
    return Stream(users.reset_index(drop=True), ids, features, seed)


def fresh_users(rows: int, seed: int, shape: str = "hard") -> pd.DataFrame:
    """New users of the same market (same rules, another seed than training's)."""
    config = MarketConfig(rows=rows, seed=seed, impression_users=min(rows, 1000), shape=shape)
    return generate_market(config).users


def model_effects(bundle: ModelBundle, users: pd.DataFrame) -> np.ndarray:
    """The model's effect of the treatment arm per user: what greedy-on-model thresholds."""
    X, _ = bundle.schema.encode_frame(users[bundle.schema.names])
    mu = bundle.predict_outcomes(X)
    return np.asarray(mu[:, 1] - mu[:, 0], dtype=np.float64)


def _policy_bodies(stream: Stream, setting: dict[str, float], seed_key: list[int]) -> Any:
    seeds = np.random.default_rng(seed_key).integers(0, 2**62, len(stream.ids)).tolist()
    policy = {
        "budget": BUDGET_UNBOUNDED,
        "cost_per_treatment": setting["cost_per_treatment"],
        "value_per_conversion": setting["value_per_conversion"],
    }
    if setting.get("exploration"):  # sent only when asked for, so a run without it is the plain policy
        policy["exploration"] = setting["exploration"]

    def body(i: int) -> dict[str, Any]:
        user = {"user_id": stream.ids[i], "features": stream.features[i]}
        return {"users": [user], "policy": {**policy, "seed": seeds[i]}}

    return body


def _check_stream(result: StreamResult, label: str) -> None:
    if result.errors:
        raise RuntimeError(
            f"{label}: {result.errors} failed requests (optimize {dict(result.optimize_status)}, "
            f"feedback {dict(result.feedback_status)}); first: {result.first_error}"
        )


def _served_figures(
    result: StreamResult,
    arms: list[str],
    model_cate: np.ndarray,
    stream: Stream,
    s: dict[str, float],
) -> dict[str, Any]:
    treat = np.array([a not in ("", arms[0]) for a in result.arm])
    true_cate = stream.true_cate
    value, cost = s["value_per_conversion"], s["cost_per_treatment"]
    out = compare(treat, model_cate, true_cate, value, cost)
    return {
        **out,
        "oracle_share": round(float((true_cate * value > cost).mean()), 5),
        "fifths": by_fifths(treat, model_cate, true_cate, value, cost),
        "realized_conversions": int((result.reward == 1).sum()),
        # Σ p(arm served) over the stream: the realized count above is a draw around it.
        "expected_conversions": round(float(stream.users["p_control"].sum() + true_cate[treat].sum()), 3),
        "mean_propensity": round(float(np.nanmean(result.propensity)), 5),
        "wall_s": round(result.wall_s, 1),
        "retried_503": sum(result.retries.values()),
        "requests_per_s": round(2 * len(true_cate) / result.wall_s, 1),
    }


def export_log(log_url: str, out: Path) -> tuple[Path | None, str]:
    """`uplift log export` of the run's log; (None, why) when the API wrote no log to export."""
    try:
        uplift("log", "export", "--log", log_url, "--out", str(out))
    except RuntimeError as exc:
        return None, "uplift log export: " + str(exc).rpartition("error: ")[2].strip()[-300:]
    rows = len(pd.read_parquet(out, columns=["assignment_id"]))
    return (out, "") if rows else (None, "the assignment log is empty: the API logged no assignment")


def off_policy(
    export: Path, stream: Stream, arms: list[str], bundle: ModelBundle, seed: int, n_bootstrap: int
) -> dict[str, Any]:
    """DR (and IPS, SNIPS) estimates of treat-none, treat-all and the logged policy beside their truth."""
    from services.policy.evaluation import evaluate_log, load_log, model_outcomes

    data = load_log(export, arms[0])
    position = {uid: i for i, uid in enumerate(stream.ids)}
    rows = np.array([position[u] for u in data.frame["user_id"].astype(str)])
    p0 = stream.users["p_control"].to_numpy()[rows]
    p1 = stream.users["p_treated"].to_numpy()[rows]
    truth = {
        "treat-none": float(p0.mean()),
        "treat-all": float(p1.mean()),
        "logged": logged_truth(
            data.frame["arm"].astype(str).tolist(), data.frame["propensity"].to_numpy(), p0, p1, arms[0]
        ),
    }
    try:
        models = [(bundle.version, model_outcomes(bundle, data))]
        direct = f"model {bundle.version}"
    except ValueError as exc:  # no features in the log: DR falls back to each arm's mean reward
        models, direct = [], f"arm means ({exc})"
    reports = evaluate_log(data, models, value=1.0, cost=0.0, n_bootstrap=n_bootstrap, level=0.95, seed=seed)
    out: dict[str, Any] = {"rows": len(data.frame), "direct_method": direct, "seed": seed, "policies": {}}
    for report in reports:
        if report.policy not in truth:
            continue
        for est in report.estimates:
            if est.estimator.lower() != "dr":
                continue
            out["policies"][report.policy] = {
                "estimate": round(est.value, 6),
                "low": round(est.low, 6),
                "high": round(est.high, 6),
                "width": round(est.high - est.low, 6),
                "truth": round(truth[report.policy], 6),
                "covered": bool(est.low <= truth[report.policy] <= est.high),
                # The bootstrap alone: what the interval would be if the model were right where the
                # log is silent (the interval before the design variance).
                "bootstrap_low": round(est.bootstrap_low, 6),
                "bootstrap_high": round(est.bootstrap_high, 6),
                "covered_by_bootstrap": bool(est.bootstrap_low <= truth[report.policy] <= est.bootstrap_high),
                # (estimate − truth) in standard errors read off the 95% interval: a miss at 2.1 is
                # chance (1 in 20 intervals misses), a miss at 6 is a bias.
                "z": round((est.value - truth[report.policy]) / max((est.high - est.low) / 3.92, 1e-12), 2),
                "ess": round(est.ess, 1),
            }
    return out


def stationary(
    k: int,
    setting: dict[str, float],
    stream: Stream,
    models: Path,
    work: Path,
    concurrency: int,
    ope: dict[str, Any],
) -> tuple[dict[str, Any], Path | None, str]:
    """Stream every user under one value/cost setting; the figures and the run's log export."""
    bundle = ModelBundle.load_current(models, use_onnx=False)
    arms, cate = bundle.arms, model_effects(bundle, stream.users)
    data_dir = work / f"setting{k}"
    log_url = f"sqlite:///{(data_dir / 'assignments.db').resolve()}"
    body = _policy_bodies(stream, setting, [stream.seed, 100 + k])
    reward = reward_drawer(stream.uniforms(k), stream.p_by_arm(arms))
    n = len(stream.ids)
    with api_server(models, data_dir, log_url) as port:
        result = stream_users(port, range(n), n, body, reward, concurrency, f"setting {k + 1}")
    _check_stream(result, f"setting {k + 1}")
    figures = {**setting, **_served_figures(result, arms, cate, stream, setting)}
    figures["model_version"] = bundle.version
    figures["served_cate_max_abs_diff"] = float(np.nanmax(np.abs(result.model_cate - cate)))
    export, why = export_log(log_url, work / f"setting{k}.export.parquet")
    if export is not None:
        figures["off_policy"] = off_policy(export, stream, arms, bundle, ope["seed"], ope["n_bootstrap"])
    return figures, export, why


def campaign(
    setting: dict[str, float], stream: Stream, models: Path, work: Path, concurrency: int
) -> dict[str, Any]:
    """One run through a campaign whose budget binds (half what the oracle would spend), paced over the stream."""
    bundle = ModelBundle.load_current(models, use_onnx=False)
    arms, n = bundle.arms, len(stream.ids)
    value, cost = setting["value_per_conversion"], setting["cost_per_treatment"]
    budget = round(0.5 * cost * float((stream.true_cate * value > cost).sum()), 2)
    data_dir = work / "campaign"
    log_url = f"sqlite:///{(data_dir / 'assignments.db').resolve()}"
    with api_server(models, data_dir, log_url) as port:
        spec = {
            "name": "bench-policy",
            "budget": budget,
            "cost_per_treatment": cost,
            "value_per_conversion": value,
            "expected_users": n,
        }
        if setting.get("exploration"):
            spec["exploration"] = setting["exploration"]
        status, created = call(port, "POST", "/campaigns", spec)
        if status in (404, 405):
            return {"skipped": f"POST /campaigns answered {status}: the API has no campaigns yet"}
        if status not in (200, 201):
            raise RuntimeError(f"POST /campaigns answered {status}: {created}")
        cid = created["campaign_id"]
        seeds = np.random.default_rng([stream.seed, 200]).integers(0, 2**62, n).tolist()
        seeded = _optimize_takes_seed(port)

        def body(i: int) -> dict[str, Any]:
            user = {"user_id": stream.ids[i], "features": stream.features[i]}
            return {"users": [user], "campaign_id": cid, **({"seed": seeds[i]} if seeded else {})}

        reward = reward_drawer(stream.uniforms(200), stream.p_by_arm(arms))
        result = stream_users(port, range(n), n, body, reward, concurrency, "campaign")
        _check_stream(result, "campaign")
        _, server_view = call(port, "GET", f"/campaigns/{cid}")
    treated = sum(a not in ("", arms[0]) for a in result.arm)
    spend = cost * treated
    cate = model_effects(bundle, stream.users)
    figures = _served_figures(result, arms, cate, stream, setting)
    return {
        "seeded": seeded,
        "budget": budget,
        "expected_users": n,
        "treated": treated,
        "spend": round(spend, 4),
        "spend_over_budget": round(spend / budget, 4) if budget > 0 else None,
        "server_view": server_view,
        **{k: figures[k] for k in ("policies", "served_over_oracle", "fifths", "wall_s")},
    }


def _optimize_takes_seed(port: int) -> bool:
    """Whether /optimize takes a top-level ``seed`` beside ``campaign_id`` (its OpenAPI schema says)."""
    _, spec = call(port, "GET", "/openapi.json")
    schema = spec.get("components", {}).get("schemas", {}).get("OptimizeRequest", {})
    return "seed" in schema.get("properties", {})


def drift(
    setting: dict[str, float],
    stream: Stream,
    models: Path,
    experiment: Path,
    work: Path,
    concurrency: int,
    train_args: list[str],
) -> dict[str, Any]:
    """First half served by the original model, the log exported and the model retrained, reloaded;
    the second half scored against the drifted market's (new) oracle."""
    original = ModelBundle.load_current(models, use_onnx=False)
    arms, n = original.arms, len(stream.ids)
    live = work / "drift-models"
    shutil.copytree(models, live)
    data_dir = work / "drift"
    log_url = f"sqlite:///{(data_dir / 'assignments.db').resolve()}"
    body = _policy_bodies(stream, setting, [stream.seed, 300])
    reward = reward_drawer(stream.uniforms(300), stream.p_by_arm(arms))
    half = n // 2
    out: dict[str, Any] = {"retrained": False}
    with api_server(live, data_dir, log_url) as port:
        first = stream_users(port, range(half), n, body, reward, concurrency, "drift, first half")
        _check_stream(first, "drift first half")
        export, why = export_log(log_url, work / "drift.export.parquet")
        if export is None:
            out["retrain_skipped"] = f"no log to retrain from: {why}"
        elif not supports(["train"], "--log"):
            out["retrain_skipped"] = "`uplift train` has no --log option yet (the loop branch adds it)"
        else:
            started = time.perf_counter()
            uplift("train", "--data", str(experiment), "--log", str(export), "--out", str(live), *train_args)
            retrain_s = round(time.perf_counter() - started, 1)
            status, answer = call(port, "POST", "/admin/reload")
            if status != 200:
                raise RuntimeError(f"/admin/reload answered {status}: {answer}")
            log_report = json.loads((live / current_version(live) / "evaluation.json").read_text()).get(
                "log", {}
            )
            weight = log_report.get("experiment_weight", {})
            out.update(retrained=True, reload=answer, retrain_s=retrain_s,
                       experiment_weight=weight.get("chosen"), experiment_weight_reason=weight.get("reason"),
                       experiment_weight_by_region=bool(weight.get("regions", {}).get("used")))  # fmt: skip
        second = stream_users(port, range(half, n), n, body, reward, concurrency, "drift, second half")
        _check_stream(second, "drift second half")
    current = ModelBundle.load_current(live, use_onnx=False)
    rest = slice(half, n)
    users = stream.users.iloc[rest]
    value, cost = setting["value_per_conversion"], setting["cost_per_treatment"]
    treat = np.array([a not in ("", arms[0]) for a in second.arm[rest]])
    new_cate = users["true_cate"].to_numpy()
    base = compare(treat, model_effects(original, users), new_cate, value, cost)
    out["second_half"] = {
        **base,
        "greedy_on_original": base["policies"]["greedy"],
        "greedy_on_retrained": compare(treat, model_effects(current, users), new_cate, value, cost)[
            "policies"
        ]["greedy"],
        "model_version_serving": current.version,
    }
    first_treat = np.array([a not in ("", arms[0]) for a in first.arm[:half]])
    out["first_half"] = compare(
        first_treat, model_effects(original, stream.users.iloc[:half]), stream.true_cate[:half], value, cost
    )
    return out


def drifted_users(rows: int, seed: int, new_shift: float, shape: str = "hard") -> tuple[pd.DataFrame, str]:
    """Fresh users whose treatment stopped helping (or now hurts) one group: mobile users in the south.

    The group holds part of the market's Persuadable pocket (young mobile cart-adders in the south
    and east), so a model trained before the change keeps treating users it now harms.
    """
    users = fresh_users(rows, seed, shape)
    rule = "device == 'mobile' and region == 'south'"
    shifted = shift_effect(
        users,
        lambda u: (u["device"] == "mobile") & (u["region"] == "south"),
        new_shift,
        np.random.default_rng([seed, 2]),
    )
    return shifted, f"{rule}: treatment logit shift set to {new_shift}"
