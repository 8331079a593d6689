import json
import math
import shutil

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.artifacts import resolve_current


def _user(users, **changes):
    feats = {**users[0]["features"], **changes}
    return {"user_id": "x", "features": {k: v for k, v in feats.items() if v is not ...}}


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"age": ...}, "users[0].features.age", "missing"),
        ({"shoe_size": 3}, "users[0].features.shoe_size", "unknown feature"),
        ({"age": "old"}, "users[0].features.age", "must be a number"),
        ({"device": "fridge"}, "users[0].features.device", "unseen category"),
        ({"device": 7}, "users[0].features.device", "must be a string"),
    ],
)
def test_feature_errors_name_field_and_rule(client, users, change, field, rule):
    res = client.post("/predict", json={"users": [_user(users, **change)]})
    assert res.status_code == 422
    detail = res.json()["detail"][0]
    assert detail["field"] == field and rule in detail["rule"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e39", "1" + "0" * 400])
def test_non_finite_numbers_are_refused(client, users, value):
    body = json.dumps({"users": [_user(users)]}).replace(
        '"age": ' + json.dumps(users[0]["features"]["age"]), f'"age": {value}'
    )
    for path, extra in (
        ("/predict", ""),
        ("/optimize", ', "policy": {"budget": 1, "cost_per_treatment": 1, "value_per_conversion": 1}'),
    ):
        res = client.post(path, content=body[:-1] + extra + "}", headers={"content-type": "application/json"})
        assert res.status_code == 422, (path, res.text)
        assert res.json()["detail"][0]["field"] == "users[0].features.age"


def test_batch_and_body_limits(client, users):
    assert client.post("/predict", json={"users": []}).json()["detail"][0]["field"] == "users"
    res = client.post("/predict", json={"users": [users[0]] * 51})
    assert res.status_code == 413 and "at most 50 users" in res.json()["detail"][0]["rule"]
    big = client.post(
        "/predict", content=b"{" + b" " * 300_000 + b"}", headers={"content-type": "application/json"}
    )
    assert big.status_code == 413 and big.json()["detail"][0]["field"] == "body"


def test_policy_and_feedback_errors(client, users):
    bad = client.post(
        "/optimize",
        json={
            "users": [users[0]],
            "policy": {"budget": -1, "cost_per_treatment": 1, "value_per_conversion": 1},
        },
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "policy.budget"
    assert client.post("/feedback", json={"assignment_id": "nope", "reward": 1}).status_code == 404
    r = client.post("/feedback", json={"assignment_id": "nope", "reward": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reward"
    assert (
        client.post(
            "/feedback", content=b"not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/recommend", json={"user_id": "a", "features": users[0]["features"], "candidates": ["zzz"]}
        ).status_code
        == 422
    )


def test_api_key_guards_feedback_and_admin(trained_models, tmp_path, users):
    s = ApiSettings(models_dir=trained_models, data_dir=tmp_path / "v", api_key="s3cret")
    with TestClient(create_app(s)) as c:
        d = c.post(
            "/optimize",
            json={
                "users": [users[0]],
                "policy": {"budget": 1, "cost_per_treatment": 1, "value_per_conversion": 9, "seed": 1},
            },
        ).json()["decisions"][0]
        body = {"assignment_id": d["assignment_id"], "reward": 1}
        assert c.post("/feedback", json=body).status_code == 401
        wrong = c.post("/feedback", json=body, headers={"x-api-key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"][0]["field"] == "header.x-api-key"
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/feedback", json=body, headers={"x-api-key": "s3cret"}).json()["status"] == "applied"
        assert c.post("/predict", json={"users": [users[0]]}).status_code == 200  # scoring stays open


def test_reload_with_corrupt_artifact_keeps_serving(trained_models, tmp_path, users):
    models = tmp_path / "models"
    shutil.copytree(trained_models, models)
    with TestClient(create_app(ApiSettings(models_dir=models, data_dir=tmp_path / "v"))) as c:
        version = c.get("/ready").json()["model_version"]
        version_dir, manifest = resolve_current(models)
        (version_dir / manifest.uplift_model.booster_files[1]).write_bytes(b"corrupt")
        res = c.post("/admin/reload")
        assert res.status_code == 409
        assert (
            "still serving" in res.json()["detail"][0]["rule"] and "sha256" in res.json()["detail"][0]["rule"]
        )
        assert c.post("/predict", json={"users": [users[0]]}).json()["model_version"] == version


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mutation=st.dictionaries(
        st.sampled_from(["age", "device", "loyalty_tier", "sessions_30d", "extra", "user_id"]),
        json_values,
        max_size=3,
    ),
    top=json_values,
)
def test_fuzzed_payloads_never_5xx(client, users, mutation, top):
    feats = {**users[0]["features"], **{k: v for k, v in mutation.items() if k != "user_id"}}
    user = {"user_id": mutation.get("user_id", "u"), "features": feats}
    for body in ({"users": [user]}, {"users": top}, top, {"users": [user], "policy": top}):
        for path in ("/predict", "/optimize", "/feedback", "/recommend"):
            res = client.post(path, json=body)
            assert res.status_code < 500, (path, body, res.text)
            if res.status_code >= 400 and res.status_code != 404:
                assert res.json()["detail"], res.text


def test_feature_types_checked_not_coerced(client, users):
    # A bool is not a number and a numeric string is not a number: no silent coercion.
    for value in (True, "34"):
        assert client.post("/predict", json={"users": [_user(users, age=value)]}).status_code == 422
    assert math.isfinite(
        client.post("/predict", json={"users": [_user(users, age=34)]}).json()["predictions"][0]["cate"]
    )


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"age": "old"}, "must be a number"),
        ({"device": "fridge"}, "unseen category"),
        ({"age": ...}, "missing"),
    ],
)
def test_batch_errors_name_the_user(client, users, change, rule):
    # 40 users take the column-wise encoding path; the error still names the user and the feature.
    batch = [{"user_id": f"u{i}", "features": dict(users[i % len(users)]["features"])} for i in range(40)]
    batch[37] = {**_user(users, **change), "user_id": "u37"}
    res = client.post("/predict", json={"users": batch})
    assert res.status_code == 422
    detail = res.json()["detail"][0]
    assert detail["field"] == f"users[37].features.{next(iter(change))}" and rule in detail["rule"]


@pytest.mark.parametrize("path", ["/predict", "/optimize"])
@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        (b"not json", "body", "Invalid JSON"),
        (b'{"users": [', "body", "Invalid JSON"),
        (b"[]", "body", "should be an object"),
        (b"", "body", "Invalid JSON"),
    ],
)
def test_scoring_routes_refuse_malformed_json_naming_the_body(client, path, raw, field, rule):
    res = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == field and rule in res.json()["detail"][0]["rule"]


def test_scoring_routes_document_their_raw_json_bodies(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, model in (("/predict", "PredictRequest"), ("/optimize", "OptimizeRequest")):
        body = spec["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert schemas[model]["examples"]
    # The nested models the request bodies point at are there too.
    # policy is optional when the request names a campaign_id.
    policy = schemas["OptimizeRequest"]["properties"]["policy"]
    assert {"$ref": "#/components/schemas/Policy"} in policy["anyOf"]
    assert {"UserIn", "Policy"} <= set(schemas)
