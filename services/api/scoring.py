"""The fast path shared by /predict, /optimize and /recommend: encode, score, segment.

No pandas here and one call per model per request: the cost of answering one user is a couple of
small numpy operations and two ONNX Runtime calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from starlette.concurrency import run_in_threadpool

from shared.bundle import ModelBundle

T = TypeVar("T")


@dataclass(frozen=True)
class Scores:
    X: np.ndarray
    outcomes: np.ndarray  # (n, arms), control first
    effects: np.ndarray  # (n, arms - 1)
    best: np.ndarray  # index of the best treatment arm among treatment arms
    segments: np.ndarray


def score(bundle: ModelBundle, features: Sequence[dict[str, Any]]) -> Scores:
    X = bundle.schema.encode_records(features)
    mu = bundle.predict_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    return Scores(X, mu, effects, np.argmax(effects, axis=1), bundle.segments(effects))


def effects_dict(bundle: ModelBundle, row: np.ndarray) -> dict[str, float]:
    return {arm: float(v) for arm, v in zip(bundle.arms[1:], row, strict=True)}


# Up to this many users are scored on the event loop: one user takes ~50 µs, less than the thread-pool
# hop (~0.2 ms CPU here) it would otherwise pay. Larger batches go to the pool so the loop stays free.
INLINE_MAX_USERS = 16


async def off_loop_if_large(n_users: int, fn: Callable[[], T]) -> T:
    if n_users <= INLINE_MAX_USERS:
        return fn()
    return await run_in_threadpool(fn)
