"""Answering /optimize: score, draw an arm per user by Thompson sampling, cap by budget, rank items.

Small requests are answered in batches (``answer`` takes every job a loop turn collected): one
model call and one commit for all of them. Each job keeps its own seed, policy and model, and a
user's scores depend on that user's row alone, so a batch gives every request exactly what it
would have got on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api import campaign_gate
from services.api.campaign_gate import Grant
from services.api.metrics import ASSIGNMENTS, OPTIMIZE_BATCH
from services.api.schemas import OptimizeRequest, Policy
from services.api.scoring import Scores, score_jobs, top_items
from services.api.state import AppState, LoadedModel
from shared.bandit import Assignment, BetaPosterior, ThompsonArms, new_assignment_ids, thompson_arms
from shared.bundle import ModelBundle
from shared.policy import totals
from shared.schema import SchemaError

log = logging.getLogger("uplift.api")

# Distinct (segment, feedback counts, value, cost) keys kept per model before starting over.
ARMS_CACHE_SIZE = 4096


@dataclass(frozen=True, eq=False)
class OptimizeJob:
    body: OptimizeRequest
    model: LoadedModel
    X: np.ndarray  # the users, encoded (bad input was refused before the job existed)


async def answer(
    state: AppState, jobs: Sequence[OptimizeJob], inline: bool = True
) -> list[Response | Exception]:
    """One response per job: users scored together per model, every assignment committed at once.

    The store is read and written through the guard (off the loop, bounded in time); the decisions
    run on the loop for the small batched requests (``inline``) and in the pool for a large one.
    A job whose decision fails gets its exception as its result: it never fails the others.
    """
    store = state.store
    counts = store.cached_counts()
    if counts is None:
        counts = await state.guard.call(store.counts, "counts")
    top_k = state.settings.top_k
    grants = await _campaign_grants(state, jobs)

    def decide_all() -> list[tuple[dict[str, Any], list[Assignment]] | Exception]:
        return [
            g if isinstance(g, Exception) else _decide_alone(job, s, counts, top_k, g)
            for (job, s), g in zip(score_jobs(jobs), grants, strict=True)
        ]

    decided: list[tuple[dict[str, Any], list[Assignment]] | Exception] = []
    try:
        decided = decide_all() if inline else await run_in_threadpool(decide_all)
        records = [r for d in decided if not isinstance(d, Exception) for r in d[1]]
        if records:
            # Persisted before any answer leaves, so feedback for any returned id is always found.
            await state.guard.call(
                lambda: store.record_assignments(records), "record_assignments", writes=True
            )
    except BaseException:
        await _settle_campaigns(state, jobs, grants, [])  # nothing was answered: every unit goes back
        raise
    await _settle_campaigns(state, jobs, grants, decided)
    for r in records:
        ASSIGNMENTS.labels(r.context, r.arm).inc()
    OPTIMIZE_BATCH.observe(len(jobs))
    # Plain JSON, like /predict: OptimizeResponse documents the shape; re-validating our own numbers
    # would cost more than the scoring.
    return [
        d if isinstance(d, Exception) else Response(orjson.dumps(d[0]), media_type="application/json")
        for d in decided
    ]


def _decide_alone(
    job: OptimizeJob,
    s: Scores,
    counts: dict[tuple[str, str], tuple[int, int]],
    default_top_k: int,
    grant: Grant | None = None,
) -> tuple[dict[str, Any], list[Assignment]] | Exception:
    try:
        if grant is None:
            return _decide(job, s, counts, default_top_k)
        return _decide(job, s, counts, default_top_k, grant)
    except Exception as exc:  # this request's own failure: the batch's other requests go on
        log.exception("an /optimize request failed while deciding (its batch was not affected)")
        return exc


def _decide(
    job: OptimizeJob,
    s: Scores,
    counts: dict[tuple[str, str], tuple[int, int]],
    default_top_k: int,
    grant: Grant | None = None,
) -> tuple[dict[str, Any], list[Assignment]]:
    """One request's answer (as plain JSON data) and the assignments to persist before sending it.

    Per-user logic on Python lists: a request here has at most INLINE_MAX_USERS users (or runs in the
    thread pool), and a dozen numpy calls on one-element arrays cost more than the decisions.
    """
    body, model = job.body, job.model
    bundle = model.bundle
    pol = _campaign_policy(body.policy, grant) if grant is not None else body.policy
    assert pol is not None  # _campaign_grants refused a request with neither
    seed = pol.seed if pol.seed is not None else secrets.randbits(63)
    # Generator(PCG64(seed)) is default_rng(seed), without the dispatch (~15 µs of a one-user call).
    rng = np.random.Generator(np.random.PCG64(seed))
    effects = s.effects.tolist()
    segments = s.segments.tolist()
    picked, props = _thompson(model, segments, counts, pol, rng)
    arm_effect = [e[max(c - 1, 0)] for e, c in zip(effects, picked, strict=True)]
    if grant is None:
        _apply_budget(picked, props, arm_effect, pol)
    else:
        _campaign_terms(model, segments, counts, pol, picked, props, grant, rng)
    treated = [i for i, c in enumerate(picked) if c > 0]
    items = _items(bundle, s.X, treated, pol.top_k or default_top_k)
    now = time.time()
    arms = bundle.arms
    best = s.best.tolist()
    decisions: list[dict[str, Any]] = []
    records: list[Assignment] = []
    ids = new_assignment_ids(len(picked))
    for i, user in enumerate(body.users):
        aid = ids[i]
        arm, seg = arms[picked[i]], segments[i]
        records.append(Assignment(aid, seg, arm, props[i], now))
        decisions.append(
            {
                "user_id": user.user_id,
                "arm": arm,
                "assignment_id": aid,
                "propensity": props[i],
                "cate": effects[i][best[i]],
                "effects": dict(zip(arms[1:], effects[i], strict=True)),
                "segment": seg,
                "items": items[i],
            }
        )
    value, cost = pol.value_per_conversion, pol.cost_per_treatment
    best_effects = [e[b] for e, b in zip(effects, best, strict=True)]
    # The policy's own total counts the arm Thompson actually chose; the baselines (what
    # shared.policy.evaluate_policy reports) give every user, or a random len(treated), their best arm.
    own = totals(math.fsum(arm_effect[i] for i in treated), len(treated), value, cost)
    treat_all = totals(math.fsum(best_effects), len(effects), value, cost)
    at_random = totals(math.fsum(best_effects) / len(effects) * len(treated), len(treated), value, cost)
    payload = {
        "model_version": bundle.version,
        "seed": seed,
        "decisions": decisions,
        "policy": own.to_dict(),
        "treat_all": treat_all.to_dict(),
        "random": at_random.to_dict(),
    }
    return payload, records


def _thompson(
    model: LoadedModel,
    segments: list[str],
    counts: dict[tuple[str, str], tuple[int, int]],
    pol: Policy,
    rng: np.random.Generator,
) -> tuple[list[int], list[float]]:
    """Arm index (0 = control) and its choice probability per user, drawn segment by segment.

    The draws go segment by segment in name order, and in user order within a segment: the seed
    fixes every user's arm.
    """
    n = len(segments)
    if n == 1:
        tarms = _arms(model, segments[0], counts, pol)
        arm = int(tarms.choose(rng, 1)[0])
        return [arm], [float(tarms.probabilities[arm])]
    picked = [0] * n
    props = [1.0] * n
    for seg in sorted(set(segments)):
        rows = [i for i, g in enumerate(segments) if g == seg]
        tarms = _arms(model, seg, counts, pol)
        probabilities = tarms.probabilities.tolist()
        for i, arm in zip(rows, tarms.choose(rng, len(rows)).tolist(), strict=True):
            picked[i], props[i] = arm, probabilities[arm]
    return picked, props


def _arms(
    model: LoadedModel, seg: str, counts: dict[tuple[str, str], tuple[int, int]], pol: Policy
) -> ThompsonArms:
    """The segment's arms under this policy's value and cost, from the model's priors plus feedback.

    Keyed by the feedback counts themselves, so any new reward gives a new entry: the posteriors,
    and the quadrature behind the propensities, are built once per change, not once per request.
    """
    arms = model.bundle.arms
    seen = tuple(counts.get((seg, a), (0, 0)) for a in arms)
    key = (seg, seen, pol.value_per_conversion, pol.cost_per_treatment)
    cache = model.arms_cache
    tarms = cache.get(key)
    if tarms is None:
        posts = []
        for a, (succ, fail) in zip(arms, seen, strict=True):
            prior_a, prior_b = model.priors[(seg, a)]
            posts.append(BetaPosterior(prior_a + succ, prior_b + fail))
        values = (pol.value_per_conversion,) * len(arms)
        costs = (0.0,) + (pol.cost_per_treatment,) * (len(arms) - 1)
        tarms = thompson_arms(posts, values, costs)
        if len(cache) >= ARMS_CACHE_SIZE:
            cache.clear()  # feedback keeps changing the keys; old ones are never asked for again
        cache[key] = tarms
    return tarms


def _apply_budget(picked: list[int], props: list[float], arm_effect: list[float], pol: Policy) -> None:
    """The budget is a hard cap: treated users beyond it, lowest expected effect first, get control."""
    n = len(picked)
    capacity = n if pol.cost_per_treatment == 0 else int(pol.budget // pol.cost_per_treatment)
    if n <= capacity:
        return
    wanting = [i for i, c in enumerate(picked) if c > 0]
    if len(wanting) <= capacity:
        return
    # Highest expected effect first; ties in user order (sorted is stable).
    for i in sorted(wanting, key=lambda i: -arm_effect[i])[capacity:]:
        picked[i], props[i] = 0, 1.0


def _items(bundle: ModelBundle, X: np.ndarray, treated: list[int], top_k: int) -> list[list[str]]:
    """The ranker's items for the treated users (indices), top sellers for control."""
    if bundle.catalog is None:
        return [[] for _ in range(len(X))]
    control = bundle.catalog.top_sellers[:top_k]
    out = [control for _ in range(len(X))]
    if treated:
        for i, ranked in zip(treated, top_items(bundle, X[treated], top_k), strict=True):
            out[i] = ranked
    return out


# --- campaigns (services.api.campaign_gate): reserve before deciding, pace, cap, settle after ---


async def _campaign_grants(state: AppState, jobs: Sequence[OptimizeJob]) -> list[Grant | Exception | None]:
    """Per job: its campaign's grant, None without a campaign, or the exception that is its answer."""

    async def one(job: OptimizeJob) -> Grant | None:
        if job.body.campaign_id is None:
            if job.body.policy is None:
                raise SchemaError("policy", "required unless campaign_id is given")
            return None
        return await campaign_gate.reserve(state, job.body.campaign_id, len(job.body.users))

    got = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
    for g in got:
        if isinstance(g, BaseException) and not isinstance(g, Exception):
            raise g
    return got  # type: ignore[return-value]  # BaseExceptions re-raised just above


async def _settle_campaigns(
    state: AppState,
    jobs: Sequence[OptimizeJob],
    grants: Sequence[Grant | Exception | None],
    decided: Sequence[tuple[dict[str, Any], list[Assignment]] | Exception],
) -> None:
    """Spend what each answered request treated; give back the rest (the gate retries a failed one)."""
    for i, (job, grant) in enumerate(zip(jobs, grants, strict=True)):
        if not isinstance(grant, Grant):
            continue
        d = decided[i] if i < len(decided) else None
        treated, users = 0, 0
        if d is not None and not isinstance(d, Exception):
            control = job.model.bundle.arms[0]
            treated = sum(1 for x in d[0]["decisions"] if x["arm"] != control)
            users = len(d[0]["decisions"])
        await campaign_gate.settle(state, grant, treated, users)


def _campaign_policy(given: Policy | None, grant: Grant) -> Policy:
    """The campaign's value and cost, its grant as the budget; seed and top_k from the request."""
    return Policy.model_construct(
        budget=grant.units * grant.cost_per_treatment,
        cost_per_treatment=grant.cost_per_treatment,
        value_per_conversion=grant.value_per_conversion,
        seed=None if given is None else given.seed,
        top_k=None if given is None else given.top_k,
    )


def _campaign_terms(
    model: LoadedModel,
    segments: list[str],
    counts: dict[tuple[str, str], tuple[int, int]],
    pol: Policy,
    picked: list[int],
    props: list[float],
    grant: Grant,
    rng: np.random.Generator,
) -> None:
    """Pacing, then the grant's cap, with each user's propensity kept exact.

    Pacing moves a share ``throttle`` of every user's treatment probability to control: a user
    the draw treated stays treated with probability 1 − θ (propensity × (1 − θ)); control's
    probability becomes p0 + θ(1 − p0). One uniform is drawn per user whatever the arm, so the
    seed fixes every outcome. Then users past the grant's units, in order, get control.
    """
    theta = grant.throttle
    if theta > 0:
        for i, (seg, u) in enumerate(zip(segments, rng.random(len(picked)).tolist(), strict=True)):
            p0 = float(_arms(model, seg, counts, pol).probabilities[0])
            if picked[i] > 0 and u >= theta:
                props[i] *= 1.0 - theta
            else:
                picked[i], props[i] = 0, p0 + theta * (1.0 - p0)
    left = grant.units
    for i, c in enumerate(picked):
        if c > 0:
            if left > 0:
                left -= 1
            else:
                picked[i], props[i] = 0, 1.0
