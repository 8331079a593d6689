"""GET /campaigns/{id}/evaluation and the incremental conversions of GET /campaigns/{id}, from the
campaign's log: the same figures as the shared function the CLI uses, and a known effect recovered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.assignment_log import make_row
from shared.ope.policies import evaluate_log, logged_from_entries, model_outcomes, served_minus_none


def _serve_and_log(client: TestClient, users: list[dict[str, Any]], cid: str, rounds: int, seed: int) -> None:
    """Serve the campaign through /optimize (the API logs every assignment), then reward each one from a
    known rule (conversion 0.2 under control, 0.5 under treatment) through /feedback."""
    rng = np.random.default_rng(seed)
    state = client.app.state.uplift  # type: ignore[attr-defined]
    control = state.model.bundle.arms[0]
    for r in range(rounds):
        res = client.post("/optimize", json={"users": users[:50], "campaign_id": cid, "seed": r})
        assert res.status_code == 200, res.text
        for d in res.json()["decisions"]:
            p = 0.2 if d["arm"] == control else 0.5
            reward = int(rng.random() < p)
            fed = client.post("/feedback", json={"assignment_id": d["assignment_id"], "reward": reward})
            assert fed.status_code == 200, fed.text


@pytest.fixture()
def exploring_client(settings: ApiSettings) -> Iterator[TestClient]:
    """An API whose policy explores widely (prior sd of the learned shift 0.2 of conversion rate).

    Off-policy estimates of treat-all and treat-none can only be checked against their truth from a
    log that gives both arms to every kind of user; the default prior explores near the cost
    threshold only, and elsewhere DR leans on the model for users the policy never treats. The test's
    campaign prices the treatment at exactly its true worth (effect 0.3 × value 20 = cost 6), so a
    policy that learns the effect stays undecided, and every user keeps both arms likely.
    """
    with TestClient(create_app(settings.model_copy(update={"calibration_prior_sd": 0.2}))) as c:
        yield c


def test_evaluation_matches_the_shared_function_and_covers_the_truth(
    exploring_client: TestClient, users: list[dict[str, Any]]
) -> None:
    client = exploring_client
    cid = client.post(
        "/campaigns",
        json={"name": "eval", "budget": 10_000.0, "cost_per_treatment": 6.0, "value_per_conversion": 20.0},
    ).json()["campaign_id"]
    _serve_and_log(client, users, cid, rounds=12, seed=5)
    res = client.get(f"/campaigns/{cid}/evaluation", params={"level": 0.9, "bootstrap": 300, "seed": 7})
    assert res.status_code == 200, res.text
    got = res.json()
    state = client.app.state.uplift  # type: ignore[attr-defined]
    bundle = state.model.bundle
    assert got["seed"] == 7 and got["level"] == 0.9 and got["rows"] == 600 and got["unrewarded_rows"] == 0
    assert got["model_version"] == bundle.version and got["arms"] == bundle.arms
    names = [p["policy"] for p in got["policies"]]
    assert {"treat-none", "treat-all", "logged", f"model {bundle.version}"} == set(names)
    # The same numbers as the shared function the CLI calls, on the same rows.
    entries = list(state.assignment_log.iter_rows(campaign_id=cid))
    data = logged_from_entries(entries, bundle.arms[0], "c")
    mu = model_outcomes(bundle, data)
    expected = evaluate_log(
        data, [(bundle.version, mu)], value=20.0, cost=6.0, n_bootstrap=300, level=0.9, seed=7
    )
    assert got["policies"] == [
        r.to_dict() | {"estimates": [e.to_dict() for e in r.estimates]} for r in expected
    ]
    by_name = {p["policy"]: {e["estimator"]: e for e in p["estimates"]} for p in got["policies"]}
    for name, truth in (("treat-none", 0.2), ("treat-all", 0.5)):
        dr = by_name[name]["dr"]
        assert dr["low"] < truth < dr["high"], (name, dr)
        assert dr["ess"] > 0 and dr["n_bootstrap"] == 300
        # DR's interval holds the bootstrap's own, both within the 0/1 rewards' range.
        assert dr["low"] <= max(dr["bootstrap_low"], 0.0) <= min(dr["bootstrap_high"], 1.0) <= dr["high"]
    # Incremental conversions on GET /campaigns/{id}: served − treat-none per user × users served.
    detail = client.get(f"/campaigns/{cid}", params={"level": 0.9}).json()
    diff = served_minus_none(data, mu, n_bootstrap=200, level=0.9, seed=0)
    assert detail["users"] == 600 and detail["rewards"]["received"] == 600
    inc = detail["incremental_conversions"]
    assert inc["value"] == diff.value * 600 and inc["low"] == diff.low * 600 and inc["rows"] == 600
    treated_share = float(np.mean([e.row.arm != bundle.arms[0] for e in entries]))
    truth = 600 * treated_share * 0.3
    assert inc["low"] < truth < inc["high"], (inc, truth)


def test_small_propensities_are_warned_about(client: TestClient, users: list[dict[str, Any]]) -> None:
    cid = client.post(
        "/campaigns",
        json={"name": "w", "max_treated_share": 1.0, "cost_per_treatment": 0.0, "value_per_conversion": 1.0},
    ).json()["campaign_id"]
    state = client.app.state.uplift  # type: ignore[attr-defined]
    arms = state.model.bundle.arms
    rows = [
        make_row(
            assignment_id=f"w{i}",
            user_id=u["user_id"],
            features=u["features"],
            arm=arms[1] if i % 20 == 0 else arms[0],
            propensity=0.004 if i % 20 == 0 else 0.996,
            segment="Neutral",
            model_version="v",
            policy="t",
            campaign_id=cid,
        )
        for i, u in enumerate(users)
    ]
    state.assignment_log.record(rows)
    for i, r in enumerate(rows):
        state.assignment_log.reward(r.assignment_id, float(i % 3 == 0))
    got = client.get(f"/campaigns/{cid}/evaluation").json()
    treat_all = next(p for p in got["policies"] if p["policy"] == "treat-all")
    assert any("smallest logged propensity" in w for e in treat_all["estimates"] for w in e["warnings"])


def test_no_feedback_yet_is_a_200_saying_so(client: TestClient) -> None:
    cid = client.post(
        "/campaigns",
        json={"name": "empty", "budget": 1.0, "cost_per_treatment": 1.0, "value_per_conversion": 1.0},
    ).json()["campaign_id"]
    got = client.get(f"/campaigns/{cid}/evaluation").json()
    assert got["policies"] == [] and got["rows"] == 0 and "no rewarded assignment" in got["notes"][0]
    bad = client.get(f"/campaigns/{cid}/evaluation", params={"level": 1.5})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.level"
