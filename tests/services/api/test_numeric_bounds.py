"""Every money input is finite and within its stated bounds (422 naming the field), and one bad
request never fails the requests batched with it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from services.api.bounds import MAX_BUDGET, MAX_MONEY, MIN_COST, MIN_VALUE
from tests.services.api.conftest import run_api

GOOD = {"budget": 10.0, "cost_per_treatment": 1.0, "value_per_conversion": 20.0}


def _raw(users, policy_json: str) -> str:
    """The body with the policy spliced in as raw JSON text (1e309 is not a Python float literal)."""
    return '{"users": ' + json.dumps(users) + ', "policy": ' + policy_json + "}"


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ('{"budget": 10, "cost_per_treatment": 1, "value_per_conversion": 1e309}', "value_per_conversion"),
        ('{"budget": 10, "cost_per_treatment": 1e999, "value_per_conversion": 1}', "cost_per_treatment"),
        ('{"budget": 1e300, "cost_per_treatment": 1, "value_per_conversion": 1}', "budget"),
        ('{"budget": 10, "cost_per_treatment": 1e-300, "value_per_conversion": 1}', "cost_per_treatment"),
        ('{"budget": 10, "cost_per_treatment": 0, "value_per_conversion": 5e-324}', "value_per_conversion"),
        ('{"budget": 10, "cost_per_treatment": 1, "value_per_conversion": 1e10}', "value_per_conversion"),
        ('{"budget": -1, "cost_per_treatment": 1, "value_per_conversion": 1}', "budget"),
    ],
)
def test_optimize_refuses_non_finite_or_out_of_bounds_money(client, users, policy, field):
    res = client.post(
        "/optimize", content=_raw(users[:2], policy), headers={"content-type": "application/json"}
    )
    assert res.status_code == 422
    assert f"policy.{field}" in {d["field"] for d in res.json()["detail"]}


@pytest.mark.parametrize(
    "policy",
    [
        {"budget": MAX_BUDGET, "cost_per_treatment": MIN_COST, "value_per_conversion": MAX_MONEY},
        {"budget": 0.0, "cost_per_treatment": MAX_MONEY, "value_per_conversion": MIN_VALUE},
        {"budget": MAX_BUDGET, "cost_per_treatment": 0.0, "value_per_conversion": MIN_VALUE},
    ],
)
def test_optimize_answers_at_the_edges_of_the_bounds(client, users, policy):
    res = client.post("/optimize", json={"users": users[:3], "policy": policy})
    assert res.status_code == 200
    body = res.json()
    assert len(body["decisions"]) == 3
    if policy["budget"] == 0.0:  # nothing to spend: everyone gets control
        assert all(d["arm"] == "0" for d in body["decisions"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("value_per_conversion=1e309", "value_per_conversion"),
        ("value_per_conversion=1e-320", "value_per_conversion"),
        ("cost_per_treatment=1e308", "cost_per_treatment"),
        ("cost_per_treatment=1e-308&budget=1e15", "cost_per_treatment"),
        ("budget=1e309", "budget"),
        ("budget=inf", "budget"),
        ("lower=-inf", "lower"),
        ("upper=nan", "upper"),
    ],
)
def test_policy_curve_refuses_non_finite_or_out_of_bounds_query(client, query, field):
    res = client.get(f"/model/policy-curve?{query}")
    assert res.status_code == 422
    assert {d["field"] for d in res.json()["detail"]} & {field, f"query.{field}"}


def test_policy_curve_answers_at_the_edges(client):
    res = client.get(f"/model/policy-curve?value_per_conversion={MAX_MONEY}&cost_per_treatment={MIN_COST}"
                     f"&budget={MAX_BUDGET}&points=3")  # fmt: skip
    assert res.status_code == 200 and res.json()["chosen"]["budget"] == MAX_BUDGET


@pytest.mark.slow
def test_one_bad_request_among_8_concurrent_fails_alone(trained_models, tmp_path, users):
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    bad_policy = '{"budget": 10, "cost_per_treatment": 1, "value_per_conversion": 1e309}'
    bodies = [_raw(users[i : i + 1], json.dumps(GOOD)) for i in range(8)]
    bodies[3] = _raw(users[3:4], bad_policy)
    with run_api(env) as (url, _), httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(5):  # several rounds: the 8 land in one or two loop turns most of the time

            def post(body: str) -> int:
                return c.post(
                    "/optimize", content=body, headers={"content-type": "application/json"}
                ).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(post, bodies))
            assert codes == [200, 200, 200, 422, 200, 200, 200, 200]
