"""`uplift evaluate-policy`: estimates from an exported log cover the simulated truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.assignment_log import EXPORT_SCHEMA

runner = CliRunner()


def _export(
    path: Path, arm: np.ndarray, propensity: np.ndarray, reward: np.ndarray, features: list[str]
) -> None:
    n = len(arm)
    frame = pd.DataFrame(
        {
            "assignment_id": [f"a{i}" for i in range(n)],
            "assigned_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "campaign_id": None,
            "model_version": "v1",
            "user_id": [f"u{i}" for i in range(n)],
            "features_hash": "0" * 64,
            "features_json": features,
            "arm": arm,
            "propensity": propensity,
            "segment": "s",
            "policy": "thompson",
            "reward": reward,
            "rewarded_at": pd.Timestamp("2026-01-02", tz="UTC"),
        }
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, schema=EXPORT_SCHEMA, preserve_index=False), path)


def _by_policy(output: str) -> dict[str, dict[str, dict]]:
    result = json.loads(output)
    return {p["policy"]: {e["estimator"]: e for e in p["estimates"]} for p in result["policies"]}


def test_without_models_the_intervals_cover_the_known_values(tmp_path: Path) -> None:
    # x ~ U(0,1); P(convert | control) = 0.2 + 0.1x, P(convert | treated) = 0.1 + 0.4x; P(treat | x) = 0.2 + 0.6x.
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.uniform(size=n)
    p_treat = 0.2 + 0.6 * x
    treated = rng.uniform(size=n) < p_treat
    reward = rng.binomial(1, np.where(treated, 0.1 + 0.4 * x, 0.2 + 0.1 * x)).astype(float)
    reward[:100] = np.nan  # not yet rewarded: left out
    path = tmp_path / "log.parquet"
    arm = np.where(treated, "treatment", "control")
    _export(path, arm, np.where(treated, p_treat, 1 - p_treat), reward, [json.dumps({"x": v}) for v in x])

    res = runner.invoke(
        app, ["evaluate-policy", "--log", str(path), "--json", "--bootstrap", "300", "--seed", "9"]
    )
    assert res.exit_code == 0, res.output
    got = _by_policy(res.output)
    # Exact integrals over x in [0, 1]; the logged policy's is E[(0.2+0.6x)(0.1+0.4x) + (0.8-0.6x)(0.2+0.1x)].
    truth = {
        "treat-none": 0.25,
        "treat-all": 0.3,
        "logged": (0.02 + 0.14 / 2 + 0.24 / 3) + (0.16 - 0.04 / 2 - 0.06 / 3),
    }
    for policy, value in truth.items():
        for name in ("ips", "snips", "dr"):
            est = got[policy][name]
            assert est["low"] <= value <= est["high"], (policy, name, est)
            assert est["seed"] == 9 and est["n"] == n - 100
    # The logged policy weighs every row 1: its ESS is the number of rewarded rows.
    assert got["logged"]["ips"]["ess"] == pytest.approx(n - 100)
    text = runner.invoke(app, ["evaluate-policy", "--log", str(path), "--bootstrap", "50"])
    assert text.exit_code == 0 and "5900 rewarded assignments (100 without reward left out)" in text.output
    assert "treat-all  (DR direct method: arm means)" in text.output


def test_with_a_model_its_greedy_policy_is_estimated_within_the_interval(
    tmp_path: Path, trained_models: Path
) -> None:
    from shared.bundle import ModelBundle
    from shared.synthetic import MarketConfig, generate_market

    bundle = ModelBundle.load_current(trained_models, use_onnx=False)
    users = generate_market(MarketConfig(rows=5000, seed=77, impression_users=200)).users
    names = bundle.schema.names
    X, _ = bundle.schema.encode_frame(users[names])
    mu = bundle.predict_outcomes(X)
    value, cost = 10.0, 0.3
    greedy_treats = (mu[:, 1] - mu[:, 0]) * value > cost
    truth_p = users[["p_control", "p_treated"]].to_numpy()
    truth = float(np.where(greedy_treats, truth_p[:, 1], truth_p[:, 0]).mean())
    assert 0.05 < greedy_treats.mean() < 0.95  # the policy is neither treat-all nor treat-none

    rng = np.random.default_rng(78)
    treated = rng.uniform(size=len(users)) < 0.5
    reward = rng.binomial(1, np.where(treated, truth_p[:, 1], truth_p[:, 0])).astype(float)
    features = json.loads(users[names].to_json(orient="records"))
    path = tmp_path / "log.parquet"
    arms = np.array(bundle.arms)[treated.astype(int)]
    _export(path, arms, np.full(len(users), 0.5), reward, [json.dumps(f) for f in features])

    res = runner.invoke(
        app,
        [
            *["evaluate-policy", "--log", str(path), "--models", str(trained_models), "--json"],
            *["--value", str(value), "--cost", str(cost), "--control", bundle.arms[0], "--bootstrap", "300"],
        ],
    )
    assert res.exit_code == 0, res.output
    got = _by_policy(res.output)
    dr = got[f"model {bundle.version}"]["dr"]
    assert dr["low"] <= truth <= dr["high"], (truth, dr)
    # Uniform 50/50 logging: the greedy policy matches half the rows, each with weight 2.
    assert got[f"model {bundle.version}"]["ips"]["ess"] == pytest.approx(len(users) / 2, rel=0.05)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--value", "-1"], "error: --value: must be a finite number >= 0, got -1.0"),
        (["--level", "1"], "error: --level: must be in (0, 1), got 1.0"),
        (
            ["--control", "nobody"],
            "error: --control: arm 'nobody' is not in the log (its arms: control, treatment)",
        ),
        (["--models", "{tmp}/missing"], "error: --models: {tmp}/missing is not a folder"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    path = tmp_path / "log.parquet"
    _export(path, np.array(["control", "treatment"]), np.full(2, 0.5), np.array([1.0, 0.0]), ["{}", "{}"])
    res = runner.invoke(
        app, ["evaluate-policy", "--log", str(path), *[e.format(tmp=tmp_path) for e in extra]]
    )
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [message.format(tmp=tmp_path)]
