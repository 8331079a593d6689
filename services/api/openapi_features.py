"""The OpenAPI document carries the serving model's real feature schema.

``features`` is a free-form object in the request models (the model, and so its features, change
on reload), so /docs and a schema-driven client or fuzzer could not know what a valid user is.
Here the loaded version's ``FeatureSchema`` becomes the ``Features`` component: each feature
required, numbers as numbers within float32's range (what the models read), categories as an enum
of the categories seen in training, nothing else allowed. The document is rebuilt when the
serving version changes.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from shared.schema import FeatureSchema

_F32_MAX = 3.4028234663852886e38
_REF = {"$ref": "#/components/schemas/Features"}
# The request models whose ``features`` are one user's features.
_USERS_MODELS = ("UserIn", "RecommendRequest")


def features_schema(schema: FeatureSchema) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in schema.features:
        if f.kind == "numeric":
            props[f.name] = {"type": "number", "minimum": -_F32_MAX, "maximum": _F32_MAX}
        else:
            props[f.name] = {"type": "string", "enum": list(f.categories or ())}
    return {
        "title": "Features",
        "description": "One user's features, as the serving model version was trained on them.",
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def with_features(document: dict[str, Any], schema: FeatureSchema) -> dict[str, Any]:
    out = copy.deepcopy(document)
    components = out.setdefault("components", {}).setdefault("schemas", {})
    components["Features"] = features_schema(schema)
    for name in _USERS_MODELS:
        model = components.get(name)
        if model is not None and "features" in model.get("properties", {}):
            model["properties"]["features"] = dict(_REF)
    return out


def install(app: FastAPI) -> None:
    previous = app.openapi
    built: dict[str | None, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        state = getattr(app.state, "uplift", None)
        model = getattr(state, "model", None)
        version = None if model is None else model.bundle.version
        if version not in built:
            base = previous()
            built.clear()
            built[version] = base if model is None else with_features(base, model.bundle.schema)
        return built[version]

    app.openapi = openapi  # type: ignore[method-assign]
