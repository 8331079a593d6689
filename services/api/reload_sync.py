"""A reload that reaches every worker: a generation counter in a file the workers poll.

``uplift serve --workers N`` runs N processes, each with its own model in memory, and
``/admin/reload`` lands on one of them. That worker loads the new version, then bumps the
generation in ``<folder>/generation`` (written atomically; ``uplift serve`` makes the folder,
``<data_dir>/reload``, when it starts several workers). Every worker stats that file
every ``poll_s`` (one ``stat`` call, microseconds), and on a new generation loads the current
version itself and writes what it now serves to ``<folder>/worker-<pid>.json``. The
reloading worker waits for those reports, so its answer says when all serve the new version, or
which did not and why.

Workers are found by their report files; a file whose process is gone is removed. The scheme
covers the workers of one server (replicas elsewhere reload on their own).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("uplift.api")


@dataclass(frozen=True)
class WorkerReport:
    pid: int
    generation: int
    version: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "generation": self.generation, "version": self.version, "error": self.error}


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that id: not ours, but it exists
        return True
    return True


class ReloadSync:
    def __init__(self, folder: Path, poll_s: float = 0.5) -> None:
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.generation_file = self.dir / "generation"
        self.poll_s = poll_s
        self.pid = os.getpid()
        self.seen = self.read_generation()  # what this worker's model reflects
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.generation_file.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def read_generation(self) -> int:
        try:
            return int(self.generation_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def changed(self) -> bool:
        """Whether the generation file changed since the last look (a ``stat``, nothing read)."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return self.read_generation() > self.seen

    def publish(self) -> int:
        """The next generation, written for the other workers to pick up; this worker has it already."""
        with (self.dir / "generation.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two reloads at once still get two generations
            generation = self.read_generation() + 1
            _write_atomically(self.generation_file, f"{generation}\n")
        self.seen = generation
        self._stamp = self._file_stamp()
        return generation

    def report(self, version: str | None, error: str | None = None, generation: int | None = None) -> None:
        """Record what this worker serves, at which generation."""
        if generation is not None:
            self.seen = max(self.seen, generation)
        body = WorkerReport(self.pid, self.seen, version, error).to_dict()
        _write_atomically(self.dir / f"worker-{self.pid}.json", json.dumps(body))

    def workers(self) -> list[WorkerReport]:
        """The reports of the workers alive now (those of dead ones are removed)."""
        out = []
        for path in sorted(self.dir.glob("worker-*.json")):
            try:
                raw = json.loads(path.read_text())
                report = WorkerReport(int(raw["pid"]), int(raw["generation"]), raw["version"], raw["error"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # replaced under us, or half a file from a killed process: next look
            if _alive(report.pid):
                out.append(report)
            else:
                path.unlink(missing_ok=True)
        return out

    def wait_for(self, generation: int, version: str, timeout_s: float) -> tuple[list[WorkerReport], bool]:
        """The workers' reports once every live one reached ``generation`` (or ``timeout_s`` passed);
        and whether all of them serve ``version``."""
        deadline = time.monotonic() + timeout_s
        while True:
            reports = self.workers()
            if all(r.generation >= generation for r in reports) or time.monotonic() >= deadline:
                return reports, all(r.generation >= generation and r.version == version for r in reports)
            time.sleep(0.05)

    def leave(self) -> None:
        (self.dir / f"worker-{self.pid}.json").unlink(missing_ok=True)
