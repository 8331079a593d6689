"""Answering /optimize: score, decide per user, store and log, rank items.

Small requests are answered in batches (``answer`` takes every job a loop turn collected): one
model call, one store commit and one log commit for all of them. Each job keeps its own seed,
terms and model, and a user's scores depend on that user's row alone, so a batch gives every
request exactly what it would have got on its own.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import orjson
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api import campaign_gate
from services.api.campaign_gate import Grant
from services.api.deciding import Decided, Terms, decide_request
from services.api.metrics import ASSIGNMENTS, OPTIMIZE_BATCH
from services.api.schemas import OptimizeRequest
from services.api.scoring import Scores, score_jobs
from services.api.state import AppState, LoadedModel
from shared.bandit import PRODUCTION, Feedback
from shared.bandit.contexts import segment_of
from shared.schema import SchemaError

log = logging.getLogger("uplift.api")


@dataclass(frozen=True, eq=False)
class OptimizeJob:
    body: OptimizeRequest
    model: LoadedModel
    X: np.ndarray  # the users, encoded (bad input was refused before the job existed)


@dataclass(frozen=True)
class Prepared:
    """A job's terms, and the campaign grant they came from (settled once the batch is answered)."""

    terms: Terms
    grant: Grant | None = None  # for a campaign request


async def answer(
    state: AppState, jobs: Sequence[OptimizeJob], inline: bool = True
) -> list[Response | Exception]:
    """One response per job: users scored together per model, every assignment committed at once.

    The store and the log are read and written through the guard (off the loop, bounded in time);
    the decisions run on the loop for the small batched requests (``inline``) and in the pool for a
    large one. A job whose terms or decision fail gets its exception as its result: it never fails
    the others. Every campaign grant reserved here is settled, with 0 treated when nothing was
    answered.
    """
    prepared: list[Prepared | Exception] = [await _prepare(state, job) for job in jobs]
    results: list[Decided | Exception] = list(prepared)  # type: ignore[arg-type]
    answered = False
    try:
        live = [(job, p) for job, p in zip(jobs, prepared, strict=True) if isinstance(p, Prepared)]
        feedback = await _feedback(state, {p.terms.space for _, p in live})
        prior_sd = state.settings.calibration_prior_sd

        def decide_all() -> list[Decided | Exception]:
            scored = score_jobs([job for job, _ in live])
            return [
                _decide_alone(job, s, feedback[p.terms.space], p.terms, prior_sd)
                for (job, s), (_, p) in zip(scored, live, strict=True)
            ]

        decided = iter(decide_all() if inline else await run_in_threadpool(decide_all))
        results = [p if isinstance(p, Exception) else next(decided) for p in prepared]
        await _persist(state, [d for d in results if isinstance(d, Decided)])
        answered = True
    finally:
        for job, p, d in zip(jobs, prepared, results, strict=True):
            if isinstance(p, Prepared) and p.grant is not None:
                ok = answered and isinstance(d, Decided)
                await _settle(state, p.grant, d.treated if ok else 0, len(job.body.users) if ok else 0)  # type: ignore[union-attr]
    OPTIMIZE_BATCH.observe(len(jobs))
    # Plain JSON, like /predict: OptimizeResponse documents the shape; re-validating our own numbers
    # would cost more than the scoring.
    return [
        d if isinstance(d, Exception) else Response(orjson.dumps(d.payload), media_type="application/json")
        for d in results
    ]


async def _persist(state: AppState, done: list[Decided]) -> None:
    """Store and log every assignment in one guarded call, before any answer leaves.

    So feedback for any returned id is always found, and every answered assignment is in the log.
    """
    records = [r for d in done for r in d.assignments]
    rows = [r for d in done for r in d.log_rows]
    if not records:
        return
    store, assignment_log = state.store, state.assignment_log

    def write() -> None:
        store.record_assignments(records)
        if rows:
            assignment_log.record(rows)

    await state.guard.call(write, "record_assignments", writes=True)
    for r in records:
        ASSIGNMENTS.labels(segment_of(r.context), r.arm).inc()


def _decide_alone(
    job: OptimizeJob, s: Scores, feedback: Feedback, terms: Terms, prior_sd: float
) -> Decided | Exception:
    try:
        return decide_request(job.model, job.body.users, s, feedback, terms, prior_sd)
    except Exception as exc:  # this request's own failure: the batch's other requests go on
        log.exception("an /optimize request failed while deciding (its batch was not affected)")
        return exc


async def _feedback(state: AppState, spaces: set[str]) -> dict[str, Feedback]:
    """Each space's feedback: this process's fresh copy, else read through the guard."""
    store = state.store
    out: dict[str, Feedback] = {}
    for space in spaces:
        fb = store.cached_feedback(space)
        if fb is None:
            fb = await state.guard.call(partial(store.feedback, space), "feedback")
        out[space] = fb
    return out


def check_source(body: OptimizeRequest) -> None:
    """Exactly one of policy and campaign_id; seed beside campaign_id only; sandbox with a policy only."""
    if (body.policy is None) == (body.campaign_id is None):
        raise SchemaError("policy", "give exactly one of policy (a per-request policy) and campaign_id")
    if body.policy is not None and body.seed is not None:
        raise SchemaError("seed", "with a policy, give the seed inside policy")
    if body.campaign_id is not None and body.sandbox is not None:
        raise SchemaError("sandbox", "a campaign decides in its own state; a sandbox takes a policy")


async def _prepare(state: AppState, job: OptimizeJob) -> Prepared | Exception:
    body = job.body
    if body.policy is None:
        try:
            return await _campaign_terms(state, job)
        except Exception as exc:  # unknown (404) or closed (409) campaign, store out: this job alone
            return exc
    pol = body.policy
    n = len(body.users)
    # The budget is a hard cap on this request's treatments, walked in user order.
    capacity = n if pol.cost_per_treatment == 0 else min(n, int(pol.budget // pol.cost_per_treatment))
    sandboxed = body.sandbox is not None
    terms = Terms(
        value=pol.value_per_conversion,
        cost=pol.cost_per_treatment,
        throttle=0.0,
        capacity=capacity,
        seed=pol.seed if pol.seed is not None else secrets.randbits(63),
        top_k=pol.top_k or state.settings.top_k,
        policy="request",
        space=f"sandbox:{body.sandbox}" if sandboxed else PRODUCTION,
        # Sandbox traffic (the dashboard's simulated visitors, rewarded from the synthetic truth) stays
        # out of the log: off-policy estimates and retraining read the log as real traffic.
        logged=not sandboxed,
        exploration=pol.exploration,
    )
    return Prepared(terms)


async def _campaign_terms(state: AppState, job: OptimizeJob) -> Prepared:
    """The campaign's terms for this request: units reserved now, settled after the answer.

    The campaigns part (services.api.campaign_gate) reserves atomically across workers and replicas;
    capacity = the units granted, so the request can never treat more than it reserved.
    """

    body = job.body
    assert body.campaign_id is not None
    grant = await campaign_gate.reserve(state, body.campaign_id, len(body.users))
    terms = Terms(
        value=grant.value_per_conversion,
        cost=grant.cost_per_treatment,
        throttle=grant.throttle,
        capacity=grant.units,
        seed=body.seed if body.seed is not None else secrets.randbits(63),
        top_k=state.settings.top_k,
        policy="campaign",
        space=_campaign_sandbox(body.campaign_id) if grant.sandbox else PRODUCTION,
        campaign_id=body.campaign_id,
        logged=not grant.sandbox,
        exploration=grant.exploration,
    )
    return Prepared(terms, grant)


async def _settle(state: AppState, grant: Grant, treated: int, users: int) -> None:
    try:
        await campaign_gate.settle(state, grant, treated=treated, users=users)
    except Exception:  # units left reserved under-spend the campaign; they never overspend it
        log.warning("campaign %s: settling a grant failed", grant.campaign_id, exc_info=True)


def _campaign_sandbox(campaign_id: str) -> str:
    """A sandbox campaign's own space (its id may hold characters a space name may not)."""
    return "sandbox:c-" + hashlib.sha256(campaign_id.encode()).hexdigest()[:16]
