"""The health probe against a real HTTP server: 200 passes; an error status or no answer fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.space.probe import main
from tests.services.api.conftest import free_port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_all_urls_answering_200_pass(server: str) -> None:
    assert main([f"{server}/ok", f"{server}/ok"]) == 0


def test_one_failing_url_fails_and_says_which(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"{server}/ok", f"{server}/ready"]) == 1
    assert f"unhealthy: {server}/ready: HTTP 503" in capsys.readouterr().err


def test_nothing_listening_fails(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    assert main([url]) == 1
    assert url in capsys.readouterr().err


def test_no_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
