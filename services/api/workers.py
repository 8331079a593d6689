"""`uplift serve --workers N` on Linux: N worker processes, each listening on its own socket.

uvicorn's own supervisor (``uvicorn.run(workers=N)``) shares one listening socket between its
workers, and whichever worker sits in ``accept()`` takes a burst of new connections: 16 keep-alive
connections opened at once all landed on one worker, and two workers served 0.99x the /predict
throughput of one (loadtests/bench_replicas.py). Here each worker binds its own socket to the same
host:port with ``SO_REUSEPORT``, and the kernel hands every new connection to one of them by a hash
of its addresses, whatever the workers are doing when the connections arrive: even over many
connections, uneven as often as not over a few kept-alive ones, which the workers then even out
between themselves (services.api.connection_balance, through a small shared array made here).

A worker joins the kernel's spread only when it starts listening, which uvicorn does after the
app's lifespan start-up: a worker still loading its model is not handed connections.

The workers run uvicorn through its public API (``Config`` + ``Server.run(sockets=...)``). This
module's supervisor starts them with the ``spawn`` context (nothing of the parent's threads or
imports is inherited; the environment is), forwards SIGTERM/SIGINT to them and waits, and starts a
new worker, after a back-off, in place of one that died.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import MutableSequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

# uvicorn's logger, as uvicorn's own supervisor uses: the same format and --log-level as the workers.
log = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3  # uvicorn's exit code when a worker cannot start (its lifespan start-up failed)
STOP_TIMEOUT_S = 30.0  # a stopping worker finishes its requests; one stuck past this is killed
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 30.0
STABLE_AFTER_S = 30.0  # a worker that lived this long resets its slot's back-off


@dataclass(frozen=True)
class WorkerOptions:
    """What `uplift serve` tells uvicorn; every worker gets the same (pickled to spawned workers)."""

    host: str
    port: int
    log_level: str
    limit_concurrency: int
    timeout_keep_alive: int

    def uvicorn_kwargs(self) -> dict[str, Any]:
        """The options shared by ``uvicorn.run`` (one worker, or the fallback) and ``uvicorn.Config``."""
        return {
            "app": "services.api.main:app",
            "factory": True,
            "host": self.host,
            "port": self.port,
            "log_level": self.log_level,
            "access_log": False,
            # Connections held per worker (idle or slow ones too); beyond it uvicorn answers 503.
            "limit_concurrency": self.limit_concurrency,
            "timeout_keep_alive": self.timeout_keep_alive,
        }


def reuse_port_available() -> bool:
    """Linux's ``SO_REUSEPORT`` spreads connections over the sockets; elsewhere it means other things."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A socket bound to host:port, not yet listening (uvicorn listens once the app has started)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart may bind while the last run's connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_in_use(host: str, port: int) -> str | None:
    """Why host:port cannot be served, or None. The probe binds without ``SO_REUSEPORT``, which fails
    while anything listens there: another server's reuse-port sockets too, which this server's
    workers would otherwise join, silently splitting that server's traffic with it."""
    try:
        bind(host, port, reuse_port=False).close()
    except OSError as exc:
        return f"error: --port: cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _exit_normally(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_worker(options: WorkerOptions, counts: MutableSequence[float] | None = None, index: int = 0) -> None:
    """One worker process (the spawn target): its own reuse-port socket, then uvicorn until stopped.
    ``counts``: the workers' shared connection counts (services.api.connection_balance)."""
    # A Ctrl+C reaches the whole process group; the supervisor turns it into one SIGTERM per worker
    # (a second SIGINT would make uvicorn drop its graceful shutdown).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # uvicorn re-raises the signal it stopped on once it has shut down; that is a normal stop (exit
    # 0), and so is a SIGTERM that arrives before uvicorn has taken over the signals.
    signal.signal(signal.SIGTERM, _exit_normally)
    # As `uplift serve` does before starting uvicorn (see services.api.commands): a spawned process
    # inherits the environment (OMP_NUM_THREADS and the rest) but not sys.modules.
    sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]
    try:
        sock = bind(options.host, options.port, reuse_port=True)
    except OSError as exc:
        print(f"error: --port: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
    if counts is not None:
        from services.api import connection_balance  # the worker's app needs it; the supervisor not

        connection_balance.join(connection_balance.WorkerShares(counts, index))
    import uvicorn

    uvicorn.Server(uvicorn.Config(**options.uvicorn_kwargs())).run(sockets=[sock])


@dataclass
class _Slot:
    """One worker position: the process in it now, and how long to wait before replacing it."""

    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    restarts: int = 0
    backoff_s: float = FIRST_BACKOFF_S
    start_at: float | None = None  # when a replacement is due


class Supervisor:
    def __init__(self, options: WorkerOptions, workers: int) -> None:
        self.options = options
        self.slots = [_Slot(i) for i in range(workers)]
        self.context = multiprocessing.get_context("spawn")
        self.stop_signal: int | None = None
        # (connections in use, when counted) per worker, in shared memory: see connection_balance.
        self.counts = self.context.RawArray("d", 2 * workers)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (exit code 0) or until a first worker cannot start (3)."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        # A signal writes a byte to the pipe the loop waits on: the loop wakes at once, and the
        # handler itself does nothing but note the signal (the loop may be mid-start of a process).
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._note_signal)
        try:
            for slot in self.slots:
                self._start(slot)
            log.info(
                "%d workers on %s:%d, each with its own socket (SO_REUSEPORT)",
                len(self.slots),
                self.options.host,
                self.options.port,
            )
            code = self._loop(wake_r)
            self._stop_all()
            return code
        finally:
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)

    def _note_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def _start(self, slot: _Slot) -> None:
        process = self.context.Process(
            target=run_worker, args=(self.options, self.counts, slot.index), name=f"worker-{slot.index}"
        )
        process.start()
        slot.process, slot.started, slot.start_at = process, time.monotonic(), None

    def _loop(self, wake_fd: int) -> int:
        while self.stop_signal is None:
            due = [s.start_at for s in self.slots if s.start_at is not None]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            live = [s.process.sentinel for s in self.slots if s.process is not None]
            ready = wait([wake_fd, *live], timeout)
            if wake_fd in ready:
                os.read(wake_fd, 64)
            if self.stop_signal is not None:
                break
            for slot in self.slots:
                if slot.process is not None and not slot.process.is_alive():
                    if self._worker_died(slot) == STARTUP_FAILURE and slot.restarts == 0:
                        log.error("worker %d could not start; stopping the server", slot.index)
                        return STARTUP_FAILURE
                elif slot.start_at is not None and slot.start_at <= time.monotonic():
                    slot.restarts += 1
                    self._start(slot)
        log.info("received %s: stopping the workers", signal.Signals(self.stop_signal).name)
        return 0

    def _worker_died(self, slot: _Slot) -> int | None:
        """Reap a worker that exited on its own; schedule its replacement. Returns its exit code."""
        assert slot.process is not None
        process, slot.process = slot.process, None
        process.join()
        self.counts[2 * slot.index + 1] = 0.0  # its count is no one's now, before it goes stale
        _forget(process.pid)
        lived = time.monotonic() - slot.started
        # Doubling while replacements keep dying soon after they start: a worker that cannot stay
        # up must not keep the cores busy with start-ups (each loads the model) beside the others.
        delay = FIRST_BACKOFF_S if lived >= STABLE_AFTER_S else slot.backoff_s
        slot.backoff_s = min(2 * delay, MAX_BACKOFF_S)
        slot.start_at = time.monotonic() + delay
        # A first start that failed is the server's configuration (shown on stderr by the worker):
        # the caller stops. A replacement that fails may meet a passing outage: it is retried.
        if not (process.exitcode == STARTUP_FAILURE and slot.restarts == 0):
            log.warning(
                "worker %d (pid %s) exited unexpectedly (%s); starting a new one in %.1f s",
                slot.index,
                process.pid,
                _describe(process.exitcode),
                delay,
            )
        return process.exitcode

    def _stop_all(self) -> None:
        """SIGTERM to every worker (each finishes its requests), then wait; kill one stuck too long."""
        running = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for process in running:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning(
                    "worker pid %s did not stop within %.0f s; killing it", process.pid, STOP_TIMEOUT_S
                )
                process.kill()
                process.join()
            _forget(process.pid)


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _forget(pid: int | None) -> None:
    """What a dead worker leaves behind for the others: Prometheus multiprocess mode keeps its
    counters (totals must not drop) and needs only its live gauges removed, as the client documents
    for a process that is gone. The reload-sync files of dead workers are pruned by the workers
    themselves (services.api.reload_sync), once the process is reaped, as it is here."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve(options: WorkerOptions, workers: int) -> int:
    """Run ``workers`` reuse-port workers under a supervisor; the process exit code."""
    import uvicorn

    uvicorn.Config(**options.uvicorn_kwargs())  # sets up uvicorn's loggers (the app is not loaded)
    problem = port_in_use(options.host, options.port)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return Supervisor(options, workers).run()
