"""HTTP access to the API: one pooled client, short-lived cached GETs, failures shown as a banner.

The dashboard holds no model and no numbers of its own: everything it draws comes through here.
Failed calls are never cached, so a page works again on the first interaction after the API returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import httpx
import pandas as pd
import streamlit as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.api.model_schemas import Curves, Evaluation, ModelInfo, PolicyCurve, Sample
from services.dashboard.settings import DashboardSettings

# Tables change only when a model is reloaded; a short TTL keeps reruns cheap and still picks that up.
CACHE_TTL_SECONDS = 15
ErrorKind = Literal["unreachable", "not_ready", "rejected", "failed"]


class ApiError(Exception):
    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


def get_settings() -> DashboardSettings:
    # Read on every run (microseconds): a test or an operator that changes the environment is obeyed.
    return DashboardSettings()


@st.cache_resource(show_spinner=False)
def _http_client(base_url: str, api_key: str | None, timeout: float) -> httpx.Client:
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout)


def _client(settings: DashboardSettings) -> httpx.Client:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return _http_client(settings.api_url, key, settings.request_timeout)


def _detail(response: httpx.Response) -> str:
    """The API's error body as 'field: rule' lines (its 4xx bodies name both)."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:300]
    if isinstance(detail, list):
        return "; ".join(f"{d.get('field', '?')}: {d.get('rule', d)}" for d in detail if isinstance(d, dict))
    return str(detail)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("reason") or body.get("detail") or body)


def request(method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
    """One call to the API; any failure becomes an ``ApiError`` that says what went wrong."""
    settings = get_settings()
    try:
        response = _client(settings).request(method, path, params=params, json=body)
    except httpx.TransportError as exc:
        raise ApiError(
            "unreachable", f"the API at {settings.api_url} does not answer ({type(exc).__name__}: {exc})"
        ) from exc
    if response.status_code == 503:
        raise ApiError("not_ready", f"the API is not ready: {_reason(response)}", 503)
    if 400 <= response.status_code < 500:
        raise ApiError("rejected", f"{method} {path} was refused: {_detail(response)}", response.status_code)
    if response.status_code >= 500:
        raise ApiError("failed", f"{method} {path} failed on the server: {_detail(response)}", 500)
    return response.json()


def target_list(csv: bytes, params: dict[str, Any]) -> bytes:
    """POST a CSV of users to /model/targets; the streamed CSV answer, read whole (it is bounded)."""
    settings = get_settings()
    path = "/model/targets"
    try:
        with _client(settings).stream(
            "POST", path, params=params, content=csv, headers={"Content-Type": "text/csv"}, timeout=120
        ) as response:
            if response.status_code >= 400:
                response.read()
                kind: ErrorKind = "rejected" if response.status_code < 500 else "failed"
                raise ApiError(kind, f"POST {path} was refused: {_detail(response)}", response.status_code)
            return b"".join(response.iter_bytes())
    except httpx.TransportError as exc:
        raise ApiError("unreachable", f"the API at {settings.api_url} does not answer ({exc})") from exc


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _cached_get(base_url: str, path: str, params: tuple[tuple[str, Any], ...]) -> Any:
    del base_url  # part of the cache key only: another API never answers from this one's cache
    return request("GET", path, params=dict(params))


def fetch(path: str, **params: Any) -> Any:
    """A cached GET of a read-only resource (model manifest, evaluation, curves...)."""
    return _cached_get(get_settings().api_url, path, tuple(sorted(params.items())))


def post(path: str, body: Any) -> Any:
    return request("POST", path, body=body)


Answer = TypeVar("Answer", bound=BaseModel)
_IMPORTANCE = TypeAdapter(dict[str, dict[str, float]])


def parse(kind: type[Answer], path: str, body: Any) -> Answer:
    """The API's JSON as the route's declared type; a mismatch names the route and the field."""
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ApiError("failed", f"GET {path} answered outside its contract: {where}: {err['msg']}") from exc


def model_info() -> ModelInfo:
    return parse(ModelInfo, "/model", fetch("/model"))


def evaluation() -> Evaluation:
    return parse(Evaluation, "/model/evaluation", fetch("/model/evaluation"))


def curves(points: int = 201) -> Curves:
    return parse(Curves, "/model/curves", fetch("/model/curves", points=points))


def policy_curve(**params: Any) -> PolicyCurve:
    return parse(PolicyCurve, "/model/policy-curve", fetch("/model/policy-curve", **params))


def importance() -> dict[str, dict[str, float]]:
    body = fetch("/model/importance")
    try:
        return _IMPORTANCE.validate_python(body)
    except ValidationError as exc:
        raise ApiError("failed", f"GET /model/importance answered outside its contract: {exc}") from exc


def sample_frame(n: int = 5000) -> pd.DataFrame:
    """Held-out users from the serving model's sample (features, arm, outcome, truth if synthetic)."""
    data = parse(Sample, "/model/sample", fetch("/model/sample", n=n))
    return pd.DataFrame(data.rows, columns=data.columns)


def banner(exc: ApiError) -> None:
    if exc.kind == "unreachable":
        st.error(
            f"**API unreachable.** {exc.message}. Start it with `uplift serve` (or `uplift up`); "
            "this page retries by itself and on every interaction.",
            icon=":material/cloud_off:",
        )
    elif exc.kind == "not_ready":
        st.warning(
            f"**API not ready.** {exc.message}. Train a model with `uplift train`.",
            icon=":material/hourglass_empty:",
        )
    else:
        st.error(f"**API error.** {exc.message}", icon=":material/error:")


@contextmanager
def shown_errors() -> Iterator[None]:
    """Run API calls; on failure show the banner and end this run of the page (the next run retries)."""
    try:
        yield
    except ApiError as exc:
        banner(exc)
        st.stop()


def readiness() -> ApiError | None:
    """None when ``/ready`` answers 200, else the error to show."""
    try:
        request("GET", "/ready")
    except ApiError as exc:
        return exc
    return None
