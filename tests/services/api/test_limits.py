"""Limits: JSON-only bodies (415), requests in flight (503), body read time (408), byte-wise key
comparison, and a client leaving mid-body counted as 499, never as a 5xx."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.api.limits import RequestLimits, is_json
from services.api.main import create_app
from services.api.settings import ApiSettings
from tests.services.api.conftest import run_api


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/problem+json", True),
        ("text/plain", False),
        ("text/plain; charset=utf-8", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/jsonx", False),
    ],
)
def test_is_json(content_type, ok):
    assert is_json(content_type) is ok


@pytest.mark.parametrize("path", ["/predict", "/optimize", "/feedback", "/recommend", "/experiments/analyze"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_post_bodies_must_be_declared_json(client, users, path, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    res = client.post(path, content=b'{"users": []}', headers=headers)
    assert res.status_code == 415
    assert res.json()["detail"][0]["field"] == "header.content-type"


def test_a_declared_json_body_with_parameters_is_served(client, users):
    import json

    body = json.dumps({"users": users[:1]}).encode()
    res = client.post("/predict", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert res.status_code == 200


@pytest.mark.parametrize("key", ["é".encode(), "ключ".encode(), b"\xff\xfe", b"s3cre\xc3\xa9"])
def test_a_non_ascii_api_key_is_a_401_not_a_500(trained_models, tmp_path, key):
    s = ApiSettings(models_dir=trained_models, data_dir=tmp_path / "v", api_key="s3cret")
    with TestClient(create_app(s)) as c:
        res = c.post("/admin/reload", headers={"x-api-key": key})
        assert res.status_code == 401
        assert res.json()["detail"][0]["field"] == "header.x-api-key"
        assert c.post("/admin/reload", headers={"x-api-key": "s3cret"}).status_code == 200


def _slow_app(release: asyncio.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await release.wait()
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_requests_beyond_the_cap_are_a_503_at_once_and_health_is_exempt():
    async def main():
        release = asyncio.Event()
        app = RequestLimits(_slow_app(release), max_concurrent=2, body_timeout_s=5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            held = [asyncio.ensure_future(c.get("/slow")) for _ in range(2)]
            await asyncio.sleep(0.05)
            t0 = time.monotonic()
            refused = await c.get("/slow")
            refused_in = time.monotonic() - t0
            health = await c.get("/health")
            release.set()
            done = await asyncio.gather(*held)
            after = await c.get("/slow")
        return refused, refused_in, health, done, after, app.in_flight

    refused, refused_in, health, done, after, in_flight = asyncio.run(main())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["detail"][0]["field"] == "server" and refused_in < 0.5
    assert health.status_code == 200
    assert [r.status_code for r in done] == [200, 200] and after.status_code == 200
    assert in_flight == 0


def _raw_request(port: int, head: bytes, body: bytes, then_close: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        if then_close:
            return b""
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _metric_total(text: str, status_prefix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("uplift_http_requests_total{") and f'status="{status_prefix}' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
def test_a_stalled_body_is_a_408_and_a_client_leaving_mid_body_is_no_5xx(trained_models, tmp_path):
    log = tmp_path / "api.log"
    env = {
        "UPLIFT_MODELS_DIR": str(trained_models),
        "UPLIFT_DATA_DIR": str(tmp_path / "var"),
        "UPLIFT_BODY_READ_TIMEOUT_S": "1",
    }
    with run_api(env, log_path=log) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        t0 = time.monotonic()
        stalled = _raw_request(port, head, b'{"users": [', then_close=False)
        waited = time.monotonic() - t0
        assert stalled.startswith(b"HTTP/1.1 408") and b'"field":"body"' in stalled
        assert 0.9 <= waited < 5
        for path in (b"/predict", b"/feedback"):
            gone_head = head.replace(b"/predict", path)
            _raw_request(port, gone_head, b'{"users": [', then_close=True)
        time.sleep(0.5)
        metrics = httpx.get(f"{url}/metrics").text
    assert _metric_total(metrics, "5") == 0
    assert _metric_total(metrics, "499") == 2
    assert "Traceback" not in log.read_text(errors="replace")
