"""POST/GET /campaigns, /optimize spending from a campaign, close, and the bad input they refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.api.main import create_app
from services.api.settings import ApiSettings

TERMS = {"cost_per_treatment": 1.0, "value_per_conversion": 20.0}


def create(client: TestClient, **kw: Any) -> str:
    res = client.post("/campaigns", json={"name": "spring", **TERMS, **kw})
    assert res.status_code == 201, res.text
    return str(res.json()["campaign_id"])


def test_create_read_list(client: TestClient) -> None:
    cid = create(client, budget=5.0, expected_users=100, sandbox=True)
    got = client.get(f"/campaigns/{cid}").json()
    assert got["campaign_id"] == cid and got["status"] == "open" and got["sandbox"] is True
    assert (got["spend"], got["reserved"], got["remaining"], got["users"], got["treated"]) == (
        0,
        0,
        5.0,
        0,
        0,
    )
    assert got["throttle"] == 0 and got["progress"] == 0
    assert got["rewards"] == {"received": 0, "total": 0} and got["incremental_conversions"] is None
    assert got["notes"]  # why there is no estimate yet
    other = create(client, max_treated_share=0.2)
    assert [c["campaign_id"] for c in client.get("/campaigns").json()["campaigns"]] == [cid, other]


@pytest.mark.parametrize("field", ["budget", "cost_per_treatment", "value_per_conversion"])
@pytest.mark.parametrize("bad", ["-1", "NaN", "Infinity", "-Infinity"])
def test_negative_or_non_finite_money_is_a_422_naming_the_field(
    client: TestClient, field: str, bad: str
) -> None:
    body = {"name": "x", "budget": 10.0, **TERMS, field: 12345.0}
    raw = json.dumps(body).replace("12345.0", bad)
    res = client.post("/campaigns", content=raw, headers={"content-type": "application/json"})
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["field"] == field


def test_other_rules(client: TestClient) -> None:
    def refused(**kw: Any) -> str:
        res = client.post("/campaigns", json={"name": "x", **TERMS, **kw})
        assert res.status_code == 422, res.text
        return str(res.json()["detail"][0]["field"])

    assert refused() == "budget"  # neither a budget nor a share cap
    assert refused(budget=1.0, cost_per_treatment=1e-9) == "cost_per_treatment"
    assert refused(max_treated_share=1.5) == "max_treated_share"
    assert refused(budget=1.0, ends_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == "ends_at"
    assert refused(budget=1.0, ends_at="2099-01-01T00:00:00") == "ends_at"  # no time zone
    assert refused(budget=1.0, expected_users=0) == "expected_users"
    assert refused(budget=1.0, exploration=1.5) == "exploration"
    assert refused(budget=1.0, exploration=-0.1) == "exploration"


def test_a_campaigns_exploration_floor_is_in_every_logged_propensity(
    client: TestClient, users: list[dict[str, Any]]
) -> None:
    """Cost far above any effect × value: without the floor nobody is treated; with 0.4 every user's
    chance of treatment is 0.4 / 2 arms and the logged propensity says so. The budget still caps."""
    terms = {"cost_per_treatment": 15.0, "value_per_conversion": 20.0}
    res = client.post("/campaigns", json={"name": "explore", **terms, "budget": 45.0, "exploration": 0.4})
    assert res.status_code == 201, res.text
    cid = res.json()["campaign_id"]
    assert client.get(f"/campaigns/{cid}").json()["exploration"] == 0.4
    treated = 0
    for i, user in enumerate(users[:40]):
        d = client.post("/optimize", json={"users": [user], "campaign_id": cid, "seed": i}).json()[
            "decisions"
        ][0]
        is_treated = d["arm"] in d["effects"]
        treated += is_treated
        if treated < 3 or is_treated:  # while the budget lasts (3 treatments), the floor holds
            p_treat = d["propensity"] if is_treated else 1.0 - d["propensity"]
            assert p_treat == pytest.approx(0.2, abs=1e-6), (i, d)
    assert treated == 3  # 40 users at 0.2 each would give about 8: the budget caps at 3
    plain = create(client, **terms, budget=45.0)
    assert client.get(f"/campaigns/{plain}").json()["exploration"] == 0.0


def test_unknown_campaign_is_a_404_everywhere(client: TestClient, users: list[dict[str, Any]]) -> None:
    for res in (
        client.get("/campaigns/cmp_nope"),
        client.get("/campaigns/cmp_nope/evaluation"),
        client.post("/campaigns/cmp_nope/close"),
        client.post("/optimize", json={"users": users[:1], "campaign_id": "cmp_nope"}),
    ):
        assert res.status_code == 404, res.text
        assert res.json()["detail"][0]["field"] == "campaign_id"


def test_optimize_needs_a_policy_or_a_campaign(client: TestClient, users: list[dict[str, Any]]) -> None:
    res = client.post("/optimize", json={"users": users[:1]})
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "policy"


def test_optimize_spends_from_the_campaign_and_never_over(
    client: TestClient, users: list[dict[str, Any]]
) -> None:
    cid = create(client, budget=7.0)  # 7 treatments
    treated = 0
    for i, user in enumerate(users[:40]):
        res = client.post("/optimize", json={"users": [user], "campaign_id": cid})
        assert res.status_code == 200, res.text
        d = res.json()["decisions"][0]
        treated += d["arm"] in d["effects"]
        assert 0 < d["propensity"] <= 1
        got = client.get(f"/campaigns/{cid}").json()
        assert got["spend"] + got["reserved"] <= 7.0 and got["treated"] == treated and got["users"] == i + 1
    assert treated == 7  # the model treats many more than 7 of 40 at value 20, cost 1
    assert client.get(f"/campaigns/{cid}").json()["remaining"] == 0


def test_share_cap_and_a_batch(client: TestClient, users: list[dict[str, Any]]) -> None:
    cid = create(client, max_treated_share=0.1)
    res = client.post(
        "/optimize",
        json={"users": users[:30], "campaign_id": cid, "seed": 3},
    )
    assert res.status_code == 200, res.text
    decisions = res.json()["decisions"]
    assert sum(d["arm"] in d["effects"] for d in decisions) <= 3
    assert res.json()["seed"] == 3  # the request's seed is still used and echoed


def test_pacing_ahead_of_target_moves_everyone_to_control(
    client: TestClient, users: list[dict[str, Any]]
) -> None:
    cid = create(client, budget=100.0, expected_users=100_000)
    first = client.post("/optimize", json={"users": users[:40], "campaign_id": cid})
    assert first.status_code == 200
    treated = sum(d["arm"] in d["effects"] for d in first.json()["decisions"])
    assert treated >= 3  # then well over a band (2 treatments) ahead of a target of 0.04
    assert client.get(f"/campaigns/{cid}").json()["throttle"] == 1.0
    second = client.post("/optimize", json={"users": users[:20], "campaign_id": cid})
    assert all(d["arm"] not in d["effects"] and d["propensity"] == 1.0 for d in second.json()["decisions"])


def test_close_refuses_optimize_but_feedback_is_still_recorded(
    client: TestClient, users: list[dict[str, Any]]
) -> None:
    cid = create(client, budget=50.0)
    aid = client.post("/optimize", json={"users": users[:1], "campaign_id": cid}).json()["decisions"][0][
        "assignment_id"
    ]
    closed = client.post(f"/campaigns/{cid}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    res = client.post("/optimize", json={"users": users[:1], "campaign_id": cid})
    assert res.status_code == 409 and res.json()["detail"][0]["field"] == "campaign_id"
    fb = client.post("/feedback", json={"assignment_id": aid, "reward": 1})
    assert fb.status_code == 200 and fb.json()["status"] == "applied"
    # Recorded: a repeat is a duplicate, a different reward a conflict.
    assert client.post("/feedback", json={"assignment_id": aid, "reward": 1}).json()["status"] == "duplicate"
    assert client.post("/feedback", json={"assignment_id": aid, "reward": 0}).status_code == 409
    assert client.get(f"/campaigns/{cid}").json()["users"] == 1


def test_writes_need_the_api_key_when_one_is_set(settings: ApiSettings) -> None:
    keyed = settings.model_copy(update={"api_key": SecretStr("k")})
    with TestClient(create_app(keyed)) as c:
        body = {"name": "x", "budget": 1.0, **TERMS}
        assert c.post("/campaigns", json=body).status_code == 401
        res = c.post("/campaigns", json=body, headers={"X-API-Key": "k"})
        assert res.status_code == 201
        cid = res.json()["campaign_id"]
        assert c.post(f"/campaigns/{cid}/close").status_code == 401
        assert c.get(f"/campaigns/{cid}").status_code == 200  # reads are open


def test_openapi_documents_the_campaign_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, codes in (
        ("/campaigns", "post", {"201", "401", "422", "503"}),
        ("/campaigns/{campaign_id}", "get", {"200", "404", "422", "503"}),
        ("/campaigns/{campaign_id}/close", "post", {"200", "401", "404", "503"}),
        ("/campaigns/{campaign_id}/evaluation", "get", {"200", "404", "422", "503"}),
        ("/optimize", "post", {"404", "409"}),
    ):
        responses = paths[path][method]["responses"]
        assert codes <= set(responses), (path, sorted(responses))
        for code in codes - {"200", "201"}:
            assert responses[code]["content"]["application/json"]["schema"] == ref, (path, code)


def test_other_methods_are_405_listing_both(client: TestClient) -> None:
    for method in ("PUT", "DELETE", "OPTIONS"):
        res = client.request(method, "/campaigns")
        assert res.status_code == 405 and res.headers["allow"] == "GET, POST"
