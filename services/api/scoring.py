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


def top_items(bundle: ModelBundle, user_rows: np.ndarray, top_k: int) -> list[list[str]]:
    """The ranker's top ``top_k`` catalog items for each encoded user (one booster call in all)."""
    cat = bundle.catalog
    if not bundle.has_ranker or cat is None or len(user_rows) == 0:
        return [[] for _ in range(len(user_rows))]
    scores = bundle.ranker_scores(user_rows)
    k = min(top_k, len(cat.item_ids))
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1), axis=1)
    return [cat.item_ids[row].astype(str).tolist() for row in order]


# Up to this many users are scored on the event loop: one user takes ~50 µs, less than the thread-pool
# hop (~0.2 ms CPU here) it would otherwise pay. Larger batches go to the pool so the loop stays free.
INLINE_MAX_USERS = 16


async def off_loop_if_large(n_users: int, fn: Callable[[], T]) -> T:
    if n_users <= INLINE_MAX_USERS:
        return fn()
    return await run_in_threadpool(fn)
