"""The fast path shared by /predict, /optimize and /recommend: encode, score, segment.

No pandas here and one call per model per batch: the cost of answering one user is a couple of
small numpy operations and two ONNX Runtime calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

import numpy as np
from fastapi import Request

from services.api.batching import LoopBatcher
from services.api.body import validate
from services.api.deps import require_model, state_of
from services.api.errors import PayloadTooLargeError
from services.api.schemas import UsersRequest
from shared.bundle import ONNX_MAX_ROWS, ModelBundle
from shared.effect_form import effect_interval

if TYPE_CHECKING:
    from services.api.state import AppState, LoadedModel


class Scores(NamedTuple):
    """A tuple, not a frozen dataclass: built per batch and per request, and tuples build fastest."""

    X: np.ndarray
    outcomes: np.ndarray  # (n, arms), control first
    effects: np.ndarray  # (n, arms - 1)
    best: np.ndarray  # index of the best treatment arm among treatment arms
    segments: np.ndarray

    def rows(self, start: int, stop: int) -> Scores:
        """The scores of users ``start:stop`` (one request's share of a batch)."""
        sl = slice(start, stop)
        return Scores(self.X[sl], self.outcomes[sl], self.effects[sl], self.best[sl], self.segments[sl])


class EncodedJob(Protocol):
    """A request waiting in a batch: the model it was admitted under and its users, encoded."""

    @property
    def model(self) -> LoadedModel: ...

    @property
    def X(self) -> np.ndarray: ...  # noqa: N802 - the name of the encoded matrix everywhere else


J = TypeVar("J", bound=EncodedJob)
R = TypeVar("R")
B = TypeVar("B", bound=UsersRequest)


def score_jobs(jobs: Sequence[J]) -> Iterator[tuple[J, Scores]]:
    """Each job with its own users' scores, the users of consecutive jobs on one model scored in one call.

    One model per batch, unless a reload landed between two submissions: then each run of jobs is
    scored by the model it was admitted under.
    """
    for _, same_model in groupby(jobs, key=lambda j: id(j.model)):
        group = list(same_model)
        X = group[0].X if len(group) == 1 else np.vstack([j.X for j in group])
        bundle = group[0].model.bundle
        scores = score_encoded(bundle, X)
        start = 0
        for job in group:
            stop = start + len(job.X)
            yield job, scores.rows(start, stop)
            start = stop


def effect_intervals_of(
    model: LoadedModel, X: np.ndarray, effects: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's effect interval per treatment arm: the members' numpy forest once ready, XGBoost
    before (or instead)."""
    trees = model.runtime.get("members")
    if trees is None:
        return model.bundle.effect_intervals(X, effects, level)
    return effect_interval(effects, trees.raw(X), level, model.bundle.effect_form.slopes)


def score(bundle: ModelBundle, features: Sequence[dict[str, Any]]) -> Scores:
    return score_encoded(bundle, bundle.schema.encode_records(features))


def score_encoded(bundle: ModelBundle, X: np.ndarray) -> Scores:
    """Scores of already encoded users; each row's scores depend on that row alone."""
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
    ids = cat.id_list
    if len(scores) == 1:  # one user: 1-D calls, a third of the 2-D ones' fixed cost
        row = scores[0]
        part = np.argpartition(-row, k - 1)[:k]
        return [[ids[j] for j in part[np.argsort(-row[part])].tolist()]]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1), axis=1)
    return [[ids[j] for j in row] for row in order.tolist()]


async def answer_request(
    request: Request,
    body_model: type[B],
    batcher_of: Callable[[AppState], LoopBatcher[J, R]],
    make_job: Callable[[B, LoadedModel, np.ndarray], J],
    answer_alone: Callable[[AppState, Callable[[], J]], Awaitable[R]],
) -> R:
    """A scoring request's answer: small ones join the loop turn's batch, larger ones run alone.

    The body is validated and the job made (its users encoded) here, per request, so bad input fails
    this request alone (422), never a batch it would join. A large request is answered by
    ``answer_alone``, given the job's maker so that encoding happens off the loop with the scoring.
    (Validating large bodies in the pool as well, on the thread that then encodes them, was
    measured: no difference in CPU or p99 for 1,000 users.)
    """
    body = validate(await request.body(), body_model)
    state = state_of(request)
    check_batch(len(body.users), state.settings.max_batch)
    model = require_model(state)

    def job() -> J:
        return make_job(body, model, model.bundle.schema.encode_records([u.features for u in body.users]))

    # Intervals read the effect-sample members with XGBoost: too slow for the loop, so they run alone.
    if len(body.users) > INLINE_MAX_USERS or getattr(body, "interval", None) is not None:
        return await answer_alone(state, job)
    return await batcher_of(state).submit(job())


def check_batch(n: int, limit: int) -> None:
    if n > limit:
        raise PayloadTooLargeError("users", f"at most {limit} users per request, got {n}")


# Up to this many users per request are scored on the event loop, batched with the other requests
# of the same loop turn (services.api.batching): one user takes ~50 µs, less than the thread-pool
# hop (~0.2 ms CPU here) it would otherwise pay. Larger requests go to the pool so the loop stays free.
INLINE_MAX_USERS = 16
# Requests per batch: their rows stay below the ONNX path's limit, since a larger stack would switch
# engines and a user's scores would then depend on who else was in the batch.
BATCH_MAX_JOBS = (ONNX_MAX_ROWS - 1) // INLINE_MAX_USERS
