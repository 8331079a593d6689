"""The coalescing transport joins a loop step's writes and never loses or reorders bytes."""

import asyncio
import json
import socket

from services.api.http_protocol import CoalescingTransport
from tests.services.api.conftest import run_api


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def write_eof(self) -> None:
        self.events.append("eof")

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_in_one_step_leave_as_one_write() -> None:
    async def go() -> RecordingTransport:
        real = RecordingTransport()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"")
        t.write(bytearray(b"body"))
        assert real.writes == [] and t.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        t.write(b"next")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return real

    real = asyncio.run(go())
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]


def test_close_and_eof_flush_first_and_other_calls_pass_through() -> None:
    async def go() -> RecordingTransport:
        real = RecordingTransport()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        assert t.get_extra_info("peername") == "info:peername"
        t.write(b"a")
        t.write_eof()
        t.write(b"b")
        t.close()
        await asyncio.sleep(0)
        return real

    real = asyncio.run(go())
    assert real.writes == [b"a", b"b"]
    assert real.events == ["write", "eof", "write", "close"]


def test_nothing_is_written_to_a_transport_the_peer_closed() -> None:
    async def go() -> RecordingTransport:
        real = RecordingTransport()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"late")
        real.closing = True
        await asyncio.sleep(0)
        return real

    assert asyncio.run(go()).writes == []


def _read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length], rest[length:]


def test_pipelined_requests_on_a_real_server_get_whole_responses_in_order(trained_models, tmp_path, users):
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    with run_api(env) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        bodies = [json.dumps({"users": [u]}).encode() for u in users[:3]]
        wire = b"".join(
            b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(b)}\r\n\r\n".encode()
            + b
            for b in bodies
        )
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(wire + b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            buf = b""
            for u in users[:3]:
                head, body, buf = _read_response(sock, buf)
                assert head.startswith(b"HTTP/1.1 200")
                assert json.loads(body)["predictions"][0]["user_id"] == u["user_id"]
            head, body, buf = _read_response(sock, buf)
            assert head.startswith(b"HTTP/1.1 200") and json.loads(body) == {"status": "ok"}
            assert buf == b""
