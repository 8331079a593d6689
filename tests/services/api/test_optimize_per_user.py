"""/optimize draws per user from the model's effect samples, with exact propensities, a calibration
learned from /feedback, every assignment in the log, and sandboxes production never reads."""

import shutil
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.assignment_log import features_hash, open_log
from tests.services.api.conftest import new_version


def _policy(seed, **kw):
    return {"budget": 1e6, "cost_per_treatment": 0.5, "value_per_conversion": 20.0, "seed": seed, **kw}


def _control(client):
    return client.get("/model").json()["data"]["control"]


def _straddling(client, users, n=20):
    """The user with the largest effect among the first n, and a cost at its own value × effect."""
    preds = client.post("/predict", json={"users": users[:n]}).json()["predictions"]
    k = int(np.argmax([p["cate"] for p in preds]))
    pol = {
        "budget": 1e6,
        "cost_per_treatment": max(preds[k]["cate"] * 20.0, 1e-3),
        "value_per_conversion": 20.0,
    }
    return [users[k]], preds[k], pol


def _optimize(client, users, **body):
    res = client.post("/optimize", json={"users": users, **body})
    assert res.status_code == 200, res.text
    return res.json()


def test_the_budget_is_a_capacity_walked_in_order_with_exact_propensities(client, users):
    # Value high, cost low: nearly everyone is worth treating, and the budget covers three.
    res = _optimize(client, users[:20], policy=_policy(3, budget=1.5, value_per_conversion=1000.0))
    decisions = res["decisions"]
    control = _control(client)
    treated = [i for i, d in enumerate(decisions) if d["arm"] != control]
    assert len(treated) == 3
    for i, d in enumerate(decisions):
        assert 0 < d["propensity"] <= 1
        if i > treated[-1]:  # past the capacity: control for certain
            assert d["arm"] == control and d["propensity"] == 1.0
    assert res["policy"]["treated"] == 3 and res["seed"] == 3
    # The same seed gives the same draws.
    again = _optimize(client, users[:20], policy=_policy(3, budget=1.5, value_per_conversion=1000.0))
    assert [d["arm"] for d in again["decisions"]] == [d["arm"] for d in decisions]


def test_one_user_propensities_match_their_empirical_frequency(client, users):
    # A user whose effect samples straddle break-even: cost set at the user's own value × effect.
    user, _, pol = _straddling(client, users)
    control = _control(client)
    seen = []
    for seed in range(300):
        d = _optimize(client, user, policy={**pol, "seed": seed})["decisions"][0]
        seen.append((d["arm"] != control, d["propensity"]))
    treated = np.array([t for t, _ in seen])
    p_treat = [p if t else 1 - p for t, p in seen]
    # One user, no feedback: one distribution for every seed.
    assert max(p_treat) - min(p_treat) < 1e-5
    p = float(np.mean(p_treat))
    assert 0.02 < p < 0.98
    assert treated.mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / len(seen)))


def test_an_exploration_floor_gives_every_arm_its_share_and_logs_it(client, users):
    """With exploration 0.4 a user's chance of treatment is 0.6 × the policy's own + 0.4 / 2 arms, and
    the logged propensity is exactly that; a user the policy all but never treats gets 0.2."""
    control = _control(client)
    preds = client.post("/predict", json={"users": users[:20]}).json()["predictions"]
    worst = users[int(np.argmin([p["cate"] for p in preds]))]
    pol = _policy(0, value_per_conversion=20.0, cost_per_treatment=5.0)  # far above any effect × value

    def p_treat(user, **kw):
        d = _optimize(client, [user], policy={**pol, **kw})["decisions"][0]
        return d["propensity"] if d["arm"] != control else 1.0 - d["propensity"], d["arm"] != control

    own, _ = p_treat(worst)
    assert own < 1e-6  # the policy alone all but never treats this user
    seen = [p_treat(worst, seed=seed, exploration=0.4) for seed in range(400)]
    for p, _ in seen:
        assert p == pytest.approx(0.6 * own + 0.2, abs=1e-9)
    share = float(np.mean([t for _, t in seen]))
    assert share == pytest.approx(0.2, abs=4 * np.sqrt(0.2 * 0.8 / len(seen)))
    # A batch takes the same floor: no user's chance of either arm is below 0.2.
    batch = _optimize(client, users[:20], policy={**pol, "seed": 5, "exploration": 0.4})["decisions"]
    assert all(0.2 - 1e-9 <= d["propensity"] <= 0.8 + 1e-9 for d in batch)


@pytest.mark.parametrize("exploration", [-0.1, 1.5, "0.1", None])
def test_exploration_outside_0_1_is_a_422_naming_it(client, users, exploration):
    res = client.post("/optimize", json={"users": users[:1], "policy": _policy(1, exploration=exploration)})
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["field"] == "policy.exploration"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "policy"),
        ({"policy": _policy(1), "campaign_id": "c1"}, "policy"),
        ({"policy": _policy(1), "seed": 4}, "seed"),
        ({"campaign_id": "c1", "sandbox": "s1"}, "sandbox"),
        ({"policy": _policy(1), "sandbox": "no spaces"}, "sandbox"),
    ],
)
def test_exactly_one_source_of_terms(client, users, body, field):
    res = client.post("/optimize", json={"users": users[:1], **body})
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["field"] == field


def test_every_assignment_and_reward_is_logged_with_its_features(client, settings, users):
    res = _optimize(client, users[:4], policy=_policy(5))
    first = res["decisions"][0]
    assert (
        client.post("/feedback", json={"assignment_id": first["assignment_id"], "reward": 1}).status_code
        == 200
    )
    with open_log(settings.resolved_log_url()) as log:
        entries = {e.row.assignment_id: e for e in log.iter_rows()}
    assert set(entries) == {d["assignment_id"] for d in res["decisions"]}
    for d, u in zip(res["decisions"], users[:4], strict=True):
        row = entries[d["assignment_id"]].row
        assert (row.user_id, row.arm, row.segment, row.policy) == (
            u["user_id"],
            d["arm"],
            d["segment"],
            "request",
        )
        assert row.propensity == pytest.approx(d["propensity"]) and row.model_version == res["model_version"]
        assert row.features_hash == features_hash(u["features"]) and row.features_json is not None
    assert entries[first["assignment_id"]].reward == 1.0
    assert all(e.reward is None for k, e in entries.items() if k != first["assignment_id"])


def test_feedback_teaches_the_calibration_and_it_moves_the_decisions(settings, users):
    with TestClient(create_app(settings.model_copy(update={"calibration_prior_sd": 0.05}))) as client:
        user, pred, pol = _straddling(client, users)
        control = _control(client)

        def p_treat(seed):
            d = _optimize(client, user, policy={**pol, "seed": seed})["decisions"][0]
            return d, d["propensity"] if d["arm"] != control else 1 - d["propensity"]

        before = p_treat(0)[1]
        # The model is wrong for this segment: treated users never convert, control users always do.
        for seed in range(120):
            d, _ = p_treat(seed)
            reward = 0 if d["arm"] != control else 1
            assert (
                client.post(
                    "/feedback", json={"assignment_id": d["assignment_id"], "reward": reward}
                ).status_code
                == 200
            )
        time.sleep(0.6)  # the counts cache of this process was invalidated; this only makes it certain
        after = p_treat(0)[1]
        bandit = client.get("/bandit").json()
        cal = {(c["segment"], c["arm"]): c for c in bandit["calibration"]}
        seg = pred["segment"]
        treat_arm = next(a for a in pred["effects"])
        treated_cal, control_cal = cal[(seg, treat_arm)], cal[(seg, control)]
        assert treated_cal["n"] + control_cal["n"] == 120
        if treated_cal["n"]:
            assert treated_cal["observed_minus_predicted"] == pytest.approx(-pred["p_treated"], abs=1e-6)
            assert treated_cal["ci_low"] < treated_cal["observed_minus_predicted"] < treated_cal["ci_high"]
        assert control_cal["observed_minus_predicted"] == pytest.approx(1 - pred["p_control"], abs=1e-6)
        assert treated_cal["shift_mean"] < 0 and control_cal["shift_mean"] is None
        assert after < before
        assert bandit["calibration_prior_sd"] == 0.05


def test_a_sandbox_reads_and_writes_only_itself_and_needs_no_key(settings, users):
    keyed = settings.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(keyed)) as client:
        prod_before = client.get("/bandit").json()
        res = _optimize(client, users[:6], policy=_policy(8), sandbox="visitor-1")
        assert res["sandbox"] == "visitor-1"
        ids = [d["assignment_id"] for d in res["decisions"]]
        # Production cannot see (or be written through) a sandbox id, with or without the key.
        unknown = client.post(
            "/feedback", json={"assignment_id": ids[0], "reward": 1}, headers={"X-API-Key": "s3cret"}
        )
        assert unknown.status_code == 404
        assert client.post("/feedback", json={"assignment_id": ids[0], "reward": 1}).status_code == 401
        for i in ids:
            r = client.post("/feedback", json={"assignment_id": i, "reward": 1, "sandbox": "visitor-1"})
            assert r.status_code == 200 and r.json()["status"] == "applied"
        assert client.get("/bandit").json() == prod_before
        sandboxed = client.get("/bandit", params={"sandbox": "visitor-1"}).json()
        assert sandboxed["sandbox"] == "visitor-1"
        assert sum(a["successes"] for a in sandboxed["arms"]) == 6
        assert sum(c["n"] for c in sandboxed["calibration"]) == 6
        other = client.get("/bandit", params={"sandbox": "visitor-2"}).json()
        assert sum(a["successes"] for a in other["arms"]) == 0
        assert client.get("/bandit", params={"sandbox": "bad name"}).status_code == 422
        # A production assignment still needs the key.
        prod = _optimize(client, users[:1], policy=_policy(9))["decisions"][0]["assignment_id"]
        assert client.post("/feedback", json={"assignment_id": prod, "reward": 1}).status_code == 401
        wrong_place = client.post(
            "/feedback", json={"assignment_id": prod, "reward": 1, "sandbox": "visitor-1"}
        )
        assert wrong_place.status_code == 404
    with open_log(keyed.resolved_log_url()) as log:
        logged = {e.row.assignment_id for e in log.iter_rows()}
    assert logged == {prod}  # sandbox traffic is not in the production log


def test_retention_purges_the_store_and_the_log(settings, users):
    short = settings.model_copy(update={"assignment_retention_days": 1.5 / 86400, "purge_interval_s": 0.2})
    with TestClient(create_app(short)) as client:
        old = _optimize(client, users[:3], policy=_policy(1))["decisions"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if client.app.state.uplift.assignment_log.count() == 0:
                break
            time.sleep(0.1)
        assert client.app.state.uplift.assignment_log.count() == 0
        gone = client.post("/feedback", json={"assignment_id": old[0]["assignment_id"], "reward": 1})
        assert gone.status_code == 404  # the bandit store's assignment went too
        fresh = _optimize(client, users[:1], policy=_policy(2))["decisions"][0]
        assert (
            client.post("/feedback", json={"assignment_id": fresh["assignment_id"], "reward": 0}).status_code
            == 200
        )


def test_a_new_model_version_starts_its_calibration_and_a_restart_keeps_it(trained_models, tmp_path, users):
    """Residuals are against the serving model's predictions, so they teach that version only."""
    models = tmp_path / "models"
    shutil.copytree(trained_models, models)
    s = ApiSettings(models_dir=models, data_dir=tmp_path / "var", max_batch=50)

    def taught(client: TestClient, segment: str) -> int:
        return sum(c["n"] for c in client.get("/bandit").json()["calibration"] if c["segment"] == segment)

    with TestClient(create_app(s)) as client:
        user, pred, pol = _straddling(client, users)
        decisions = [_optimize(client, user, policy={**pol, "seed": k})["decisions"][0] for k in range(31)]
        for d in decisions[:30]:
            assert (
                client.post("/feedback", json={"assignment_id": d["assignment_id"], "reward": 1}).status_code
                == 200
            )
        assert taught(client, pred["segment"]) == 30
    with TestClient(create_app(s)) as client:  # a restart serving the same version keeps what it learned
        assert taught(client, pred["segment"]) == 30
        new_version(models, "v-next")
        assert client.post("/admin/reload").status_code == 200
        assert taught(client, pred["segment"]) == 0
        # A reward for the old version's assignment still lands (on the old version's counts).
        res = client.post("/feedback", json={"assignment_id": decisions[30]["assignment_id"], "reward": 0})
        assert res.status_code == 200 and res.json()["status"] == "applied", res.text
        assert res.json()["segment"] == pred["segment"]
        assert taught(client, pred["segment"]) == 0
