"""The OpenAPI document tells the truth: error bodies, every error answer per route, the API key."""

from __future__ import annotations

from services.api.openapi_features import features_schema
from shared.bundle import ModelBundle


def test_error_answers_are_documented_with_the_real_error_body(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    expected = {
        ("/predict", "post"): {"400", "408", "413", "415", "422", "503"},
        ("/optimize", "post"): {"400", "408", "413", "415", "422", "503"},
        ("/feedback", "post"): {"401", "404", "409", "413", "415", "422", "503"},
        ("/admin/reload", "post"): {"401", "409", "503"},
        ("/recommend", "post"): {"409", "422", "503"},
        ("/model/policy-curve", "get"): {"422", "503"},
        ("/bandit", "get"): {"503"},
    }
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert codes <= set(responses), (path, sorted(responses))
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"] == ref
    assert "Retry-After" in paths["/optimize"]["post"]["responses"]["503"]["headers"]
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    # FastAPI's {loc, msg, type} validation body is never sent, so never documented.
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert set(spec["components"]["schemas"]["ErrorItem"]["properties"]) == {"field", "rule"}


def test_the_api_key_is_a_security_scheme_on_the_routes_that_check_it(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert spec["paths"]["/feedback"]["post"]["security"] == [{"ApiKey": []}]
    assert spec["paths"]["/admin/reload"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/predict"]["post"]


def test_the_document_carries_the_serving_models_feature_schema(client, trained_models):
    spec = client.get("/openapi.json").json()
    schema = ModelBundle.load_current(trained_models).schema
    assert spec["components"]["schemas"]["Features"] == features_schema(schema)
    user = spec["components"]["schemas"]["UserIn"]
    assert user["properties"]["features"] == {"$ref": "#/components/schemas/Features"}
    features = spec["components"]["schemas"]["Features"]
    assert set(features["required"]) == set(schema.names) and features["additionalProperties"] is False
    cats = [f for f in schema.features if f.kind != "numeric"]
    assert features["properties"][cats[0].name]["enum"] == list(cats[0].categories)
