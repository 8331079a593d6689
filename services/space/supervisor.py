"""One container, two processes: the API on loopback, then the dashboard on the public port.

A Hugging Face Space runs one container and publishes one port. This supervisor is the
container's PID 1: it starts `uplift serve` on 127.0.0.1, waits until `/ready` answers (the
model is loaded), then starts `uplift dashboard` pointed at it. SIGTERM/SIGINT are forwarded to
both; if either child dies the other is stopped and the supervisor exits non-zero, so the
platform restarts the whole Space instead of serving half of it. As PID 1 it also reaps every
exited process, its own children and orphans re-parented to it, so no zombie is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from services.space.probe import check

_TICK = 0.1  # seconds between checks of children, signals and readiness


@dataclass(frozen=True)
class SpaceConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    api_port: int = 8000
    ready_timeout: float = 180.0
    stop_timeout: float = 8.0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def _uplift(*args: str) -> list[str]:
    # This interpreter, not a PATH lookup: the children run from the same venv as the supervisor.
    return [sys.executable, "-m", "services.cli", *args]


def api_command(config: SpaceConfig) -> list[str]:
    # The API stays on loopback: only the dashboard is published by the Space.
    return _uplift("serve", "--host", "127.0.0.1", "--port", str(config.api_port))


def dashboard_command(config: SpaceConfig) -> list[str]:
    return _uplift("dashboard", "--host", config.host, "--port", str(config.port))


def _log(message: str) -> None:
    print(f"space: {message}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, config: SpaceConfig) -> None:
        self.config = config
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_signal: int | None = None

    def run(self) -> int:
        """Start both services and watch them; the exit code says how it ended (0 = asked to stop)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        try:
            self._start("api", api_command(self.config), {})
            code = self._wait_ready()
            if code is None:
                self._start(
                    "dashboard", dashboard_command(self.config), {"UPLIFT_API_URL": self.config.api_url}
                )
                _log(f"dashboard starting on {self.config.host}:{self.config.port}")
                code = self._watch()
            return code
        finally:
            self._stop_all()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signum

    def _start(self, name: str, command: list[str], extra_env: dict[str, str]) -> None:
        # A session of its own per child: a terminal's Ctrl-C reaches only the supervisor, which
        # forwards it, and a stop signal can reach a child's own children through its group.
        self.children[name] = subprocess.Popen(
            command, env={**os.environ, **extra_env}, start_new_session=True
        )

    def _wait_ready(self) -> int | None:
        """None once the API's /ready answers 200; otherwise the exit code to end with."""
        deadline = time.monotonic() + self.config.ready_timeout
        while time.monotonic() < deadline:
            code = self._check()
            if code is not None:
                return code
            if check(f"{self.config.api_url}/ready", timeout=1.0) is None:
                _log(f"api ready on {self.config.api_url}")
                return None
            time.sleep(_TICK)
        _log(f"api not ready after {self.config.ready_timeout:.0f} s; stopping")
        return 1

    def _watch(self) -> int:
        while True:
            code = self._check()
            if code is not None:
                return code
            time.sleep(_TICK)

    def _check(self) -> int | None:
        """None while all is well; the exit code once a stop was asked for or a child ended."""
        self._reap()
        if self.stop_signal is not None:
            _log(f"received {signal.Signals(self.stop_signal).name}; stopping both services")
            return 0
        for name, proc in self.children.items():
            if proc.returncode is not None:
                _log(f"{name} exited with code {proc.returncode}; stopping the rest")
                return _exit_code(proc.returncode)
        return None

    def _reap(self) -> None:
        """Collect every exited process: our children (keeping their codes) and adopted orphans."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for proc in self.children.values():
                if proc.pid == pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)

    def _stop_all(self) -> None:
        live = [p for p in self.children.values() if p.returncode is None]
        sig = self.stop_signal or signal.SIGTERM
        # Every group, the ended children's too: what they started themselves must go as well.
        for proc in self.children.values():
            _signal_group(proc, sig)
        deadline = time.monotonic() + self.config.stop_timeout
        while any(p.returncode is None for p in live) and time.monotonic() < deadline:
            time.sleep(_TICK)
            self._reap()
        for proc in live:
            if proc.returncode is None:
                _log(f"pid {proc.pid} ignored {signal.Signals(sig).name}; killing it")
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self._reap()


def _exit_code(returncode: int) -> int:
    """Non-zero whatever happened: a child that ended at all is a failure of the Space."""
    if returncode < 0:
        return 128 - returncode  # killed by a signal, as a shell reports it
    return returncode or 1


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone between the check and the signal
        os.killpg(proc.pid, signum)


def run(config: SpaceConfig) -> int:
    return Supervisor(config).run()
