"""Nothing acknowledged is lost when the writer is killed with SIGKILL mid-stream (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from shared.assignment_log import open_log

# The child records and rewards rows one by one and prints each id only after the call returned.
CHILD = textwrap.dedent(
    """
    import sys
    from shared.assignment_log import make_row, open_log

    log = open_log(sys.argv[1])
    for i in range(1_000_000):
        aid = f"k{i:07d}"
        log.record([make_row(assignment_id=aid, user_id=f"u{i}", features={"i": i}, arm="treatment",
                             propensity=0.5, segment="s", model_version="v1", policy="thompson")])
        print("R", aid, flush=True)
        log.reward(aid, 1.0)
        print("W", aid, flush=True)
    """
)
ACKS_BEFORE_KILL = 300


def test_acknowledged_rows_and_rewards_survive_kill_9(log_url: str) -> None:
    open_log(log_url).close()  # tables exist before the child races to create them
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, log_url], stdout=subprocess.PIPE, text=True, cwd=root
    )
    recorded: list[str] = []
    rewarded: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        kind, aid = line.split()
        (recorded if kind == "R" else rewarded).append(aid)
        if len(recorded) + len(rewarded) >= ACKS_BEFORE_KILL:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the child ended before it was killed"
    # Acknowledgements still in the pipe were printed after a committed call: they count too.
    for line in child.stdout:
        kind, aid = line.split()
        (recorded if kind == "R" else rewarded).append(aid)

    log = open_log(log_url)
    try:
        stored = {e.row.assignment_id: e.reward for e in log.iter_rows()}
    finally:
        log.close()
    assert len(recorded) >= ACKS_BEFORE_KILL // 2
    assert set(recorded) <= set(stored), "an acknowledged assignment is missing"
    assert all(stored[aid] == 1.0 for aid in rewarded), "an acknowledged reward is missing"
