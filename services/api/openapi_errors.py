"""The OpenAPI document states every error answer a route gives, with the body it really has.

FastAPI documents a 422 with its own ``{loc, msg, type}`` body; ours is ``{"detail": [{field, rule}]}``
(``services.api.errors``), and the 401/404/408/409/413/415/503 answers were not documented at
all. The rules below follow from what each operation declares (a body, parameters, the API key)
and from the small tables of what a route needs (a model, the bandit store), so that a route
added later is documented by the same rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

API_KEY_SCHEME = "ApiKey"


class ErrorItem(BaseModel):
    field: str = Field(
        description="The input at fault: a body path (users[0].features.age), query.x, header.x."
    )
    rule: str = Field(description="The rule it broke, or what to do.")


class ErrorBody(BaseModel):
    detail: list[ErrorItem]


class NotReady(BaseModel):
    status: str
    reason: str | None


# Routes that answer from the loaded model (503 while none is) and that call the bandit store
# (503 with Retry-After while it is out or too slow).
_NEEDS_MODEL = ("/predict", "/optimize", "/recommend", "/bandit", "/model")
_NEEDS_STORE = ("/optimize", "/feedback", "/bandit", "/campaigns")
# Answers particular to one operation.
_OWN: dict[tuple[str, str], dict[int, str]] = {
    ("/feedback", "post"): {
        404: "No assignment with this id (never issued, or past the retention period).",
        409: "The assignment already has a different reward; rewards are final.",
    },
    ("/admin/reload", "post"): {
        409: "The current artifact is corrupt or mismatched; the old model keeps serving."
    },
    ("/recommend", "post"): {409: "The serving model version has no ranker."},
    ("/predict", "post"): {413: "More users than max_batch, or a body over max_body_bytes."},
    ("/optimize", "post"): {
        413: "More users than max_batch, or a body over max_body_bytes.",
        404: "No campaign has this campaign_id.",
        409: "The campaign was closed or has passed its ends_at.",
    },
}
_REF = "#/components/schemas/{model}"


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
    }
    if retry_after:
        out["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return out


def _answers(path: str, method: str, op: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    if path == "/health":
        return out  # exempt from every limit; it never fails while the process runs
    if "requestBody" in op:
        out[400] = _error("The body is not readable JSON (not UTF-8, or cut short).")
        out[408] = _error("The request body did not arrive within body_read_timeout_s.")
        out[413] = _error("The request body is over max_body_bytes.")
        out[415] = _error("The body is not declared application/json.")
    if "requestBody" in op or op.get("parameters"):
        out[422] = _error("An input breaks a rule: the field and the rule are named.")
    if op.get("security"):
        out[401] = _error("Missing or wrong X-API-Key (required when the server has UPLIFT_API_KEY set).")
    for code, text in _OWN.get((path, method), {}).items():
        out[code] = _error(text)
    reasons = ["more than max_concurrent_requests requests in flight"]
    if path.startswith(_NEEDS_MODEL):
        reasons.append("no model loaded")
    if path.startswith(_NEEDS_STORE):
        reasons.append("the bandit store is out or slower than store_timeout_s")
    out[503] = _error(f"Unavailable for now ({'; '.join(reasons)}); retry later.", retry_after=True)
    if path == "/ready":
        out[503] = {
            "description": "Not ready: no model loaded, or the bandit store does not answer (the reason says which).",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="NotReady")}}},
        }
    return out


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers, their bodies and the API-key scheme to a generated OpenAPI document."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ErrorItem, ErrorBody, NotReady):
        spec = model.model_json_schema(ref_template=_REF)
        schemas.update(spec.pop("$defs", {}))
        schemas[model.__name__] = spec
    # FastAPI's own validation-error models describe a body this API never sends.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            for code, answer in _answers(path, method, op).items():
                responses[str(code)] = answer
    return schema


def install(app: FastAPI) -> None:
    previous = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        app.openapi_schema = document(previous())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
