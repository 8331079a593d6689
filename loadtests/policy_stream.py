"""Streams users one per request through a real API's /optimize and answers every assignment with
/feedback, the reward drawn from the user's true conversion probability under the arm it got.

A few keep-alive HTTP/1.1 connections (asyncio streams, no client library in the way); connection
k takes users k, k + c, k + 2c, ... so the stream keeps its order to within c users, which is what
"per fifth of the stream" reads.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from bench_latency import read_response  # this folder, as the benchmarks import each other

# A request body for user i (the policy or campaign part is the caller's).
BodyFor = Callable[[int], dict[str, Any]]
RETRIES_503 = 8


@dataclass
class StreamResult:
    """What the API decided for every user of the stream, in stream order."""

    arm: list[str]
    propensity: np.ndarray
    model_cate: np.ndarray
    reward: np.ndarray  # -1 where the request failed
    assignment_id: list[str]
    wall_s: float
    optimize_status: Counter[int] = field(default_factory=Counter)
    feedback_status: Counter[int] = field(default_factory=Counter)
    first_error: str = ""
    retries: Counter[int] = field(default_factory=Counter)  # 503s retried, by attempt

    @property
    def errors(self) -> int:
        bad = sum(v for k, v in self.optimize_status.items() if k != 200)
        return bad + sum(v for k, v in self.feedback_status.items() if k != 200)


def _request(path: str, body: dict[str, Any]) -> bytes:
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, retries: Counter[int]
) -> tuple[int, bytes]:
    """Send one request; a 503 (the store was slow on this shared machine) is retried, as the API asks.

    A retried /feedback is safe (a repeat is answered as a duplicate); a retried /optimize draws a
    new decision, and the one that failed was never answered, so no reward is ever owed to it.
    """
    for attempt in range(RETRIES_503):
        writer.write(request)
        status, raw = await read_response(reader)
        if status != 503:
            return status, raw
        retries[attempt] += 1
        await asyncio.sleep(0.1 * (attempt + 1))
    return status, raw


async def _connection(
    port: int,
    indices: Sequence[int],
    body_for: BodyFor,
    reward_for: Callable[[int, str], int],
    out: StreamResult,
    progress: Callable[[], None],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in indices:
            status, raw = await _post(reader, writer, _request("/optimize", body_for(i)), out.retries)
            out.optimize_status[status] += 1
            if status != 200:
                out.first_error = out.first_error or f"/optimize {status}: {raw[:300]!r}"
                progress()
                continue
            decision = orjson.loads(raw)["decisions"][0]
            arm, aid = str(decision["arm"]), str(decision["assignment_id"])
            reward = reward_for(i, arm)
            out.arm[i], out.assignment_id[i] = arm, aid
            out.propensity[i] = float(decision["propensity"])
            out.model_cate[i] = float(decision["cate"])
            feedback = _request("/feedback", {"assignment_id": aid, "reward": reward})
            status, raw = await _post(reader, writer, feedback, out.retries)
            out.feedback_status[status] += 1
            if status == 200:
                out.reward[i] = reward
            else:
                out.first_error = out.first_error or f"/feedback {status}: {raw[:300]!r}"
            progress()
    finally:
        writer.close()


def stream_users(
    port: int,
    indices: Sequence[int],
    n_total: int,
    body_for: BodyFor,
    reward_for: Callable[[int, str], int],
    concurrency: int,
    label: str,
) -> StreamResult:
    """Serve users ``indices`` (positions in a stream of ``n_total``); results are indexed by position."""
    out = StreamResult(
        arm=[""] * n_total,
        propensity=np.full(n_total, np.nan),
        model_cate=np.full(n_total, np.nan),
        reward=np.full(n_total, -1, dtype=np.int8),
        assignment_id=[""] * n_total,
        wall_s=0.0,
    )
    done = [0]
    step = max(1, len(indices) // 10)
    start = time.perf_counter()

    def progress() -> None:
        done[0] += 1
        if done[0] % step == 0:
            rate = done[0] / (time.perf_counter() - start)
            print(f"  {label}: {done[0]}/{len(indices)} users ({rate:.0f}/s)", flush=True)

    async def run() -> None:
        parts = [list(indices[k::concurrency]) for k in range(concurrency)]
        await asyncio.gather(
            *(_connection(port, part, body_for, reward_for, out, progress) for part in parts if part)
        )

    asyncio.run(run())
    out.wall_s = time.perf_counter() - start
    return out


def reward_drawer(uniforms: np.ndarray, p_by_arm: dict[str, np.ndarray]) -> Callable[[int, str], int]:
    """reward(i, arm) = 1 iff the user's pre-drawn uniform falls below their true probability under arm.

    One seeded uniform per user, drawn before the stream: the reward is fixed by the user and the
    arm, whatever order the connections interleave in, so a run is reproducible from its seed.
    """

    def reward(i: int, arm: str) -> int:
        try:
            p = p_by_arm[arm]
        except KeyError:
            raise ValueError(
                f"the API chose arm {arm!r}, unknown to the market ({sorted(p_by_arm)})"
            ) from None
        return int(uniforms[i] < p[i])

    return reward
