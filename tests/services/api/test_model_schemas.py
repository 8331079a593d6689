"""The /model* routes answer in their declared types, and the dashboard parses those very types:
a renamed field fails here, not on a page."""

import pytest

from services.api.model_schemas import Curves, Evaluation, ModelInfo, PolicyCurve, Sample
from services.dashboard.client import ApiError, parse

ROUTES = [
    ("/model", {}, ModelInfo),
    ("/model/evaluation", {}, Evaluation),
    ("/model/curves", {"points": 11}, Curves),
    ("/model/policy-curve", {"budget": 500.0, "points": 11}, PolicyCurve),
    ("/model/sample", {"n": 5}, Sample),
]


@pytest.mark.parametrize(("path", "params", "kind"), ROUTES)
def test_each_route_answers_its_declared_type(client, path, params, kind):
    body = client.get(path, params=params).json()
    parsed = parse(kind, path, body)
    assert parsed.model_dump(mode="json").keys() <= body.keys()


def test_policy_curve_carries_the_observed_block(client):
    curve = parse(PolicyCurve, "p", client.get("/model/policy-curve", params={"budget": 500.0}).json())
    assert curve.chosen is not None
    obs = curve.chosen.observed
    assert obs.treated == curve.chosen.policy.treated
    assert obs.uplift.low <= obs.uplift.value <= obs.uplift.high
    assert obs.n_treated_arm + obs.n_control <= obs.treated


@pytest.mark.parametrize(
    ("path", "field", "kind"),
    [("/model", "version", ModelInfo), ("/model/evaluation", "arms", Evaluation)],
)
def test_a_renamed_field_fails_the_dashboards_parse_naming_it(client, path, field, kind):
    body = client.get(path).json()
    body[field + "_renamed"] = body.pop(field)
    with pytest.raises(ApiError, match=field):
        parse(kind, path, body)


def test_a_renamed_nested_field_fails_too(client):
    body = client.get("/model/policy-curve", params={"budget": 500.0}).json()
    body["chosen"]["observed"]["profit_observed"] = body["chosen"]["observed"].pop("profit")
    with pytest.raises(ApiError, match="chosen.observed.profit"):
        parse(PolicyCurve, "/model/policy-curve", body)


def test_audience_scales_counts_and_amounts_not_shares(client):
    base = {"budget": 300.0, "points": 11}
    sample = client.get("/model/policy-curve", params=base).json()
    n = sample["n_users"]
    big = client.get("/model/policy-curve", params={**base, "budget": 600.0, "audience": 2 * n}).json()
    assert big["audience"] == 2 * n and big["scale"] == 2.0
    a, b = sample["chosen"], big["chosen"]
    assert b["share"] == a["share"] and b["budget"] == 600.0
    assert b["policy"]["treated"] == 2 * a["policy"]["treated"]
    assert b["policy"]["profit"] == pytest.approx(2 * a["policy"]["profit"])
    assert b["policy"]["roi"] == pytest.approx(a["policy"]["roi"])
    assert b["observed"]["profit"]["low"] == pytest.approx(2 * a["observed"]["profit"]["low"])
    assert b["observed"]["uplift"] == a["observed"]["uplift"]
    assert big["profit"] == pytest.approx([2 * p for p in sample["profit"]])
