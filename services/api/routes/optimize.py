from __future__ import annotations

import secrets
import time
import uuid

import numpy as np
from fastapi import APIRouter

from services.api.deps import StateDep, require_model
from services.api.metrics import ASSIGNMENTS
from services.api.routes.predict import check_batch
from services.api.schemas import Decision, OptimizeRequest, OptimizeResponse, Policy, PolicyTotals
from services.api.scoring import Scores, effects_dict, off_loop_if_large, score
from services.api.state import AppState, LoadedModel
from shared.bandit import Assignment, BetaPosterior, choice_probabilities, thompson_choose
from shared.bundle import ModelBundle
from shared.policy import evaluate_policy, totals

router = APIRouter(tags=["policy"])


def _thompson(
    model: LoadedModel,
    s: Scores,
    counts: dict[tuple[str, str], tuple[int, int]],
    pol: Policy,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Arm index (0 = control) and its choice probability per user, drawn per segment."""
    arms = model.bundle.arms
    costs = np.array([0.0] + [pol.cost_per_treatment] * (len(arms) - 1))
    values = np.full(len(arms), pol.value_per_conversion)
    chosen = np.zeros(len(s.segments), dtype=np.int64)
    propensity = np.ones(len(s.segments))
    for seg in np.unique(s.segments):
        rows = np.flatnonzero(s.segments == seg)
        posts = []
        for a in arms:
            prior_a, prior_b = model.priors[(seg, a)]
            succ, fail = counts.get((seg, a), (0, 0))
            posts.append(BetaPosterior(prior_a + succ, prior_b + fail))
        chosen[rows] = thompson_choose(posts, rng, len(rows), values, costs)
        propensity[rows] = choice_probabilities(posts, values, costs)[chosen[rows]]
    return chosen, propensity


def _apply_budget(
    chosen: np.ndarray, propensity: np.ndarray, effect_of_choice: np.ndarray, pol: Policy
) -> None:
    """The budget is a hard cap: treated users beyond it, lowest expected effect first, get control."""
    wants = chosen > 0
    capacity = len(chosen) if pol.cost_per_treatment == 0 else int(pol.budget // pol.cost_per_treatment)
    if wants.sum() <= capacity:
        return
    order = np.argsort(-np.where(wants, effect_of_choice, -np.inf), kind="stable")
    forced = np.zeros(len(chosen), dtype=bool)
    forced[order[capacity : int(wants.sum())]] = True
    chosen[forced] = 0
    propensity[forced] = 1.0


def _items(bundle: ModelBundle, user_row: np.ndarray, treated: bool, top_k: int) -> list[str]:
    if bundle.catalog is None:
        return []
    if not treated:
        return bundle.catalog.top_sellers[:top_k]
    ids, _ = bundle.rank_items(user_row)
    return [str(i) for i in ids[:top_k]]


@router.post("/optimize", response_model=OptimizeResponse)
async def optimize(body: OptimizeRequest, state: StateDep) -> OptimizeResponse:
    """Budgeted targeting plus a Thompson-sampled arm per user (context = segment).

    Each segment's posterior per arm starts from the model's own prediction (worth
    `prior_strength` observations) and learns from /feedback. An arm is drawn per user by
    θ·value − cost; users the budget cannot cover get control with propensity 1. The ranker's
    items go with the recommendation arm, top sellers with control.
    """
    check_batch(len(body.users), state.settings.max_batch)
    model = require_model(state)
    # Small batches inline (SQLite's WAL commit without fsync is tens of µs); large ones off the loop.
    return await off_loop_if_large(len(body.users), lambda: _optimize(body, model, state))


def _optimize(body: OptimizeRequest, model: LoadedModel, state: AppState) -> OptimizeResponse:
    bundle, pol = model.bundle, body.policy
    seed = pol.seed if pol.seed is not None else secrets.randbits(63)
    s = score(bundle, [u.features for u in body.users])
    chosen, propensity = _thompson(model, s, state.store.counts(), pol, np.random.default_rng(seed))
    rows = np.arange(len(chosen))
    _apply_budget(chosen, propensity, s.effects[rows, np.maximum(chosen - 1, 0)], pol)
    treated = chosen > 0
    effect_of_choice = np.where(treated, s.effects[rows, np.maximum(chosen - 1, 0)], 0.0)
    top_k = pol.top_k or state.settings.top_k
    now = time.time()
    decisions: list[Decision] = []
    records: list[Assignment] = []
    for i, user in enumerate(body.users):
        aid = uuid.uuid4().hex
        arm, seg = bundle.arms[chosen[i]], str(s.segments[i])
        records.append(Assignment(aid, seg, arm, float(propensity[i]), now))
        decisions.append(
            Decision(
                user_id=user.user_id,
                arm=arm,
                assignment_id=aid,
                propensity=float(propensity[i]),
                cate=float(s.effects[i, s.best[i]]),
                effects=effects_dict(bundle, s.effects[i]),
                segment=seg,
                items=_items(bundle, s.X[i], bool(treated[i]), top_k),
            )
        )
    # Persist before answering, so feedback for any returned id is always found.
    state.store.record_assignments(records)
    for r in records:
        ASSIGNMENTS.labels(r.context, r.arm).inc()
    baselines = evaluate_policy(s.effects, treated, pol.value_per_conversion, pol.cost_per_treatment)
    # The policy's own total counts the arm Thompson actually chose, not the best arm.
    own = totals(
        float(effect_of_choice.sum()), int(treated.sum()), pol.value_per_conversion, pol.cost_per_treatment
    )
    return OptimizeResponse(
        model_version=bundle.version,
        seed=seed,
        decisions=decisions,
        policy=PolicyTotals.model_validate(own.to_dict()),
        treat_all=PolicyTotals.model_validate(baselines["treat_all"].to_dict()),
        random=PolicyTotals.model_validate(baselines["random"].to_dict()),
    )
