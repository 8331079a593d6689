"""One socket write per response: the transport's rule, and real servers (a bare ASGI app, then
`uplift serve`) counted in TCP segments per answer."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from services.api.coalesced_writes import CoalescingHTTPProtocol, CoalescingTransport
from tests.services.api.conftest import free_port, run_api


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _transport() -> tuple[CoalescingTransport, FakeTransport]:
    inner = FakeTransport()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner


def test_writes_of_one_turn_leave_as_one_on_the_next() -> None:
    asyncio.run(_writes_of_one_turn_leave_as_one_on_the_next())


async def _writes_of_one_turn_leave_as_one_on_the_next() -> None:
    t, inner = _transport()
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(memoryview(b"body"))
    assert inner.writes == [] and t.get_write_buffer_size() == 23
    await _turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    await _turn()  # nothing more, and nothing twice
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


def test_a_lone_write_leaves_on_the_next_turn_and_later_chunks_follow_in_order() -> None:
    asyncio.run(_a_lone_write_leaves_on_the_next_turn_and_later_chunks_follow_in_order())


async def _a_lone_write_leaves_on_the_next_turn_and_later_chunks_follow_in_order() -> None:
    t, inner = _transport()
    t.write(b"head")
    await _turn()
    assert inner.writes == [b"head"]
    for chunk in (b"a", b"b", b"c"):
        t.write(chunk)
        await _turn()
    assert inner.writes == [b"head", b"a", b"b", b"c"]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    asyncio.run(_close_sends_what_is_held_first_and_abort_drops_it())


async def _close_sends_what_is_held_first_and_abort_drops_it() -> None:
    t, inner = _transport()
    t.write(b"last")
    t.close()
    assert inner.writes == [b"last"] and inner.closed
    await _turn()
    assert inner.writes == [b"last"]

    t, inner = _transport()
    t.write(b"dropped")
    t.abort()
    await _turn()
    assert inner.writes == [] and inner.aborted


def test_nothing_is_written_to_a_transport_the_peer_closed() -> None:
    asyncio.run(_nothing_is_written_to_a_transport_the_peer_closed())


async def _nothing_is_written_to_a_transport_the_peer_closed() -> None:
    t, inner = _transport()
    t.write(b"late")
    inner.closed = True  # connection_lost arrived before the flush
    await _turn()
    assert inner.writes == []


def _segments_in(sock: socket.socket) -> int:
    # struct tcp_info's tcpi_segs_in (Linux >= 4.2): segments this socket received.
    return int(struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 140)[0])


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the headers"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head, body


def _segments_per_answer(port: int, request: bytes, n: int = 100) -> tuple[float, list[tuple[bytes, bytes]]]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        _read_response(sock)
        time.sleep(0.05)
        before = _segments_in(sock)
        answers = []
        for _ in range(n):
            sock.sendall(request)
            answers.append(_read_response(sock))
        time.sleep(0.05)
        return (_segments_in(sock) - before) / n, answers


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/stream":  # three body messages, the event loop turning between them
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"9")]})
        for part in (b"one", b"two", b"six"):
            await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": part, "more_body": part != b"six"})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


@contextmanager
def _uvicorn(http: Any) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_hello, host="127.0.0.1", port=port, http=http, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.mark.parametrize(("http", "segments"), [("httptools", 2.0), (CoalescingHTTPProtocol, 1.0)])
def test_uvicorns_protocol_sends_two_segments_per_answer_and_the_coalescing_one_sends_one(
    http: Any, segments: float
) -> None:
    with _uvicorn(http) as port:
        per_answer, answers = _segments_per_answer(port, b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
    assert all(body == b"hello" and head.startswith(b"HTTP/1.1 200") for head, body in answers)
    assert per_answer == pytest.approx(segments, abs=0.1)


def test_a_streamed_answer_then_connection_close_arrive_whole_and_in_order() -> None:
    with (
        _uvicorn(CoalescingHTTPProtocol) as port,
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
    ):
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        head, body = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b"onetwosix"
        sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        head, body = _read_response(sock)
        assert body == b"hello" and b"connection: close" in head.lower()
        assert sock.recv(1) == b"", "the server closes after the answer it said was the last"


def test_uplift_serve_answers_each_predict_in_one_segment(
    trained_models: Path, tmp_path: Path, users: list[dict[str, Any]]
) -> None:
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    body = json.dumps({"users": [users[0]]}).encode()
    request = (
        f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with run_api(env) as (url, _):
        per_answer, answers = _segments_per_answer(int(url.rsplit(":", 1)[1]), request, n=50)
    assert all(json.loads(b)["predictions"][0]["user_id"] == users[0]["user_id"] for _, b in answers)
    assert per_answer == pytest.approx(1.0, abs=0.1)
