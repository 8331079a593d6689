"""bench_replicas' connection count per server process (on real sockets of this process), its
preemption count (on real processes), and the client's scheduling policy."""

from __future__ import annotations

import os
import socket
from pathlib import Path
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


def test_the_policy_control_is_compared_with_its_own_one_worker_run(bench: ModuleType) -> None:
    plain = ["1_worker", "2_workers", "2_processes_one_port", "2_processes_redis"]
    assert bench.against_one(plain) == list(bench.AGAINST_ONE)
    pairs = bench.against_one([*plain, "1_worker_normal_client", "2_workers_normal_client"])
    assert pairs[-1] == ("2_workers_vs_1_normal_client", "2_workers_normal_client", "1_worker_normal_client")


def test_a_busy_process_is_counted_as_preempted_when_another_takes_its_core(bench: ModuleType) -> None:
    # Three busy children on this machine's cores, all pinned to core 0: they must take turns, and
    # each turn taken from a runnable process is an involuntary switch.
    import subprocess
    import sys
    import time

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os, time; os.sched_setaffinity(0, {0}); t = time.time()\nwhile time.time() - t < 1.5: pass",
            ]
        )
        for _ in range(3)
    ]
    try:
        time.sleep(0.2)
        before = [bench.involuntary_switches(p.pid) for p in procs]
        time.sleep(0.8)
        after = [bench.involuntary_switches(p.pid) for p in procs]
    finally:
        for p in procs:
            p.wait(10)
    assert all(a > b for a, b in zip(after, before, strict=True))
    assert bench.involuntary_switches(os.getpid()) >= 0


def test_wrk_runs_under_the_policy_asked_for() -> None:
    clients = import_script("replica_clients")
    argv = clients._wrk_argv(8000, 16, 5, Path("b.jsonl"), "batch")
    assert argv[:4] == ["chrt", "--batch", "0", "wrk"]
    assert clients._wrk_argv(8000, 16, 5, Path("b.jsonl"), "normal")[0] == "wrk"
    with pytest.raises(ValueError, match="policy"):
        clients.wrk_client(Path("b.jsonl"), 5, "idle")
