"""Connection balancing between workers: the rule, the shared counts, the middleware, and a real
two-worker server whose keep-alive connections end up evenly spread."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest

from services.api import connection_balance as cb
from tests.services.api.conftest import run_api
from tests.services.api.test_workers import _live_workers, _port, _server_side_inodes, _socket_inodes


@pytest.mark.parametrize(
    ("mine", "running", "expected"),
    [
        (12, [12, 4], 1),  # above its share and far above the other
        (9, [9, 7], 1),  # fair share 8; 2 more than the other
        (9, [9, 8], 0),  # one more than the other: as even as 17 gets
        (8, [8, 8], 0),
        (4, [4, 12], 0),  # the less busy worker never acts
        (16, [16], 0),  # alone
        (6, [6, 5, 4], 1),  # three workers: fair share 5, and 2 above the least
        (6, [6, 6, 4], 0),  # fair share 6: at its share
    ],
)
def test_only_a_worker_above_its_share_and_two_above_the_least_hands_one_back(mine, running, expected):
    assert cb.to_hand_back(mine, running) == expected


def test_counts_of_workers_that_stopped_publishing_are_left_out():
    counts = [0.0] * 6
    me = cb.WorkerShares(counts, 0)
    other, gone = cb.WorkerShares(counts, 1), cb.WorkerShares(counts, 2)
    gone.publish(30, now=100.0)
    other.publish(5, now=104.5)
    me.publish(9, now=105.0)
    assert me.workers == 3
    assert me.running(now=105.0) == [9, 5]  # worker 2 last counted 5 s ago: not running


async def _ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _request(mw: cb.BalanceConnections, client: tuple[str, int]) -> list[tuple[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await mw({"type": "http", "client": client, "method": "GET", "path": "/"}, receive, send)
    return list(sent[0]["headers"])


def test_a_worker_over_its_share_closes_one_connection_per_look():
    counts = [0.0] * 4
    cb.WorkerShares(counts, 1).publish(0, now=time.monotonic())  # a running worker with none
    mw = cb.BalanceConnections(_ok_app, cb.WorkerShares(counts, 0))

    async def main() -> list[list[tuple[bytes, bytes]]]:
        clients = [("127.0.0.1", 50000 + i) for i in range(4)]
        for _ in range(2):  # kept alive: two requests each
            for c in clients:
                await _request(mw, c)
        mw.look(time.monotonic())  # 4 here, 0 there: hand one back
        return [await _request(mw, c) for c in clients]

    headers = asyncio.run(main())
    closed = [(b"connection", b"close") in h for h in headers]
    assert closed == [True, False, False, False]
    assert counts[0] == 4.0  # published


def test_connections_that_sent_one_request_are_neither_counted_nor_closed():
    counts = [0.0] * 4
    cb.WorkerShares(counts, 1).publish(0, now=time.monotonic())
    mw = cb.BalanceConnections(_ok_app, cb.WorkerShares(counts, 0))

    async def main() -> list[list[tuple[bytes, bytes]]]:
        kept = [("127.0.0.1", 50000 + i) for i in range(3)]
        for _ in range(2):
            for c in kept:
                await _request(mw, c)
        for i in range(30):  # a client that opens a connection per request
            await _request(mw, ("127.0.0.1", 40000 + i))
        mw.look(time.monotonic())  # 3 kept-alive here, 0 there: hand one back
        fresh = [await _request(mw, ("127.0.0.1", 30000 + i)) for i in range(5)]
        return fresh + [await _request(mw, c) for c in kept]

    headers = asyncio.run(main())
    assert counts[0] == 3.0  # the 30 one-request connections are not counted
    closed = [(b"connection", b"close") in h for h in headers]
    assert closed == [False] * 5 + [True, False, False]  # a first request is never the one closed


def test_requests_relayed_by_a_trusted_proxy_are_neither_counted_nor_closed():
    counts = [0.0] * 4
    cb.WorkerShares(counts, 1).publish(0, now=time.monotonic())
    mw = cb.BalanceConnections(_ok_app, cb.WorkerShares(counts, 0))

    async def main() -> list[list[tuple[bytes, bytes]]]:
        # uvicorn's proxy-headers middleware leaves (forwarded address, 0): users, not connections.
        for i in range(6):
            await _request(mw, (f"10.0.0.{i}", 0))
        mw.look(time.monotonic())
        return [await _request(mw, (f"10.0.0.{i}", 0)) for i in range(6)]

    headers = asyncio.run(main())
    assert counts[0] == 0.0
    assert not any((b"connection", b"close") in h for h in headers)


def test_idle_connections_stop_counting_and_a_worker_at_its_share_closes_nothing():
    counts = [0.0] * 4
    other = cb.WorkerShares(counts, 1)
    mw = cb.BalanceConnections(_ok_app, cb.WorkerShares(counts, 0))

    async def main() -> list[list[tuple[bytes, bytes]]]:
        for _ in range(2):  # 8 kept-alive connections, then only 3 of them stay in use
            for i in range(8):
                await _request(mw, ("127.0.0.1", 50000 + i))
        for _ in range(cb.ACTIVE_LOOKS):
            for i in range(3):
                await _request(mw, ("127.0.0.1", 50000 + i))
            other.publish(8, now=time.monotonic())
            mw.look(time.monotonic())
        assert counts[0] == 3.0  # the 5 idle ones are no longer counted
        other.publish(3, now=time.monotonic())
        mw.look(time.monotonic())  # 3 and 3: nothing to do
        return [await _request(mw, ("127.0.0.1", 50000 + i)) for i in range(3)]

    headers = asyncio.run(main())
    assert not any((b"connection", b"close") in h for h in headers)


def test_the_worker_publishes_from_startup_to_shutdown():
    counts = [0.0] * 4
    mw = cb.BalanceConnections(_ok_app, cb.WorkerShares(counts, 0))

    async def main() -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await queue.put({"type": "lifespan.startup"})
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        task = asyncio.create_task(mw({"type": "lifespan"}, queue.get, send))
        await asyncio.sleep(cb.LOOK_S * 2.5)
        assert time.monotonic() - counts[1] < cb.STALE_S  # looking and publishing
        await queue.put({"type": "lifespan.shutdown"})
        await task
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        stamp = counts[1]
        await asyncio.sleep(cb.LOOK_S * 2)
        assert counts[1] == stamp  # stopped with the app

    asyncio.run(main())


# --- a real server: `uplift serve --workers 2` ---


class _KeepAlive:
    """One keep-alive HTTP/1.1 connection that reopens when the server closes it."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port, self.request = port, request
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reopened = 0

    def call(self) -> None:
        self.sock.sendall(self.request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        lines = [line.lower() for line in head.split(b"\r\n")[1:]]
        length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:"))
        while len(body) < length:
            body += self._recv()
        if b"connection: close" in lines:
            self.sock.close()
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.reopened += 1

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection mid-response"
        return chunk


def _split(port: int, pids: set[int], conns: list[_KeepAlive]) -> list[int]:
    inodes = set(_server_side_inodes(port, {c.sock.getsockname()[1] for c in conns}).values())
    return sorted(len(_socket_inodes(pid) & inodes) for pid in pids)


def test_keep_alive_connections_split_unevenly_are_evened_out(trained_models, tmp_path, users):
    data = tmp_path / "var"
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(data)}
    body = json.dumps({"users": [users[0]]}).encode()
    with run_api(env, extra_args=("--workers", "2")) as (url, _):
        port = _port(url)
        pids = _live_workers(data, port)
        request = (
            f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        # The kernel's hash splits 16 connections 8/8 or 7/9 about half the time: open sets of 16
        # until one is split unevenly, so that the balancing has something to do.
        for _ in range(12):
            conns = [_KeepAlive(port, request) for _ in range(16)]
            for c in conns:
                c.call()
            before = _split(port, pids, conns)
            if sum(before) == 16 and before[1] - before[0] >= 3:
                break
            for c in conns:
                c.sock.close()
        else:
            pytest.skip("12 sets of 16 connections were all split within 2 of even")
        deadline = time.monotonic() + 20
        while True:
            for c in conns:  # every connection stays in use
                c.call()
            after = _split(port, pids, conns)
            if sum(after) == 16 and after[1] - after[0] <= 1:
                break
            assert time.monotonic() < deadline, f"still split {after} (was {before})"
        assert sum(c.reopened for c in conns) >= (before[1] - before[0]) // 2
        for c in conns:
            c.sock.close()
