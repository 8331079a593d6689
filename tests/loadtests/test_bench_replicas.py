"""bench_replicas' connection count per server process, on real sockets of this process."""

from __future__ import annotations

import os
import socket
from types import ModuleType

import pytest

from tests.loadtests.scripts import import_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_script("bench_replicas")


def test_connections_are_counted_for_the_process_that_holds_them(bench: ModuleType) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    accepted = [server.accept()[0] for _ in range(3)]
    try:
        # Both ends live in this process: the server side's 3 sockets count (local port == port),
        # the clients' ends do not (their local ports are others).
        assert bench.connections_by_process([port], [os.getpid()]) == [3]
        accepted.pop().close()
        assert bench.connections_by_process([port], [os.getpid()]) == [2]
        assert bench.connections_by_process([port + 1 if port < 65535 else port - 1], [os.getpid()]) == []
    finally:
        for s in (*clients, *accepted, server):
            s.close()


def test_request_bodies_cycle_through_every_user(bench: ModuleType) -> None:
    users = [{"user_id": f"u{i}"} for i in range(5)]
    one = bench.request_bodies(users, 1)
    assert one == [{"users": [u]} for u in users]
    three = bench.request_bodies(users, 3)
    assert len(three) == 5
    assert [u["user_id"] for u in three[4]["users"]] == ["u4", "u0", "u1"]
    assert sorted({u["user_id"] for b in three for u in b["users"]}) == [f"u{i}" for i in range(5)]
