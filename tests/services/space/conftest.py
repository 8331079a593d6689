"""Looking at processes through /proc: who is whose child, who is still there, who is a zombie."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def children_of(pid: int) -> list[int]:
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [child for child in pids if (st := _stat(child)) is not None and st[1] == pid]


def alive(pid: int) -> bool:
    """Present and not a zombie."""
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def zombies_of(pid: int) -> list[int]:
    return [child for child in children_of(pid) if (st := _stat(child)) is not None and st[0] == "Z"]


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
