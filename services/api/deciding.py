"""One /optimize request's decisions: per-user Thompson sampling on what feedback can change.

Each user's arm is drawn by ``shared.bandit.per_user`` from the user's served effect plus a shift
drawn from the posterior of the model's effect error in the user's segment
(``shared.bandit.calibration``; the request's space: production, or its sandbox), under the request's
terms (value, cost, pacing throttle and the capacity its budget or campaign grant allows). The
propensity returned is the exact probability of the arm given, capacity included.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.api.scoring import Scores, top_items
from services.api.state import LoadedModel
from shared.assignment_log import LogRow, make_row
from shared.bandit import Assignment, Feedback, new_assignment_ids
from shared.bandit.calibration import SegmentCalibration, segment_calibration, user_shift, user_shift_one
from shared.bandit.per_user import decide, decide_one
from shared.bundle import ModelBundle
from shared.policy import totals

# Distinct (space, segment, feedback) keys kept per model before starting over.
CALIBRATION_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Terms:
    """What one request decides under, whether its policy came with it or from a campaign."""

    value: float
    cost: float
    throttle: float  # share of every treatment probability moved to control (campaign pacing)
    capacity: int | None  # most treatments this request may give
    seed: int
    top_k: int
    policy: str  # the log's name for who decided: "request", "campaign"
    space: str  # the bandit state's space: "" (production) or "sandbox:<name>"
    campaign_id: str | None = None
    logged: bool = True  # sandbox decisions stay out of the production log
    exploration: float = 0.0  # share of decisions drawn uniformly among the arms (an exploration floor)


@dataclass(frozen=True)
class Decided:
    payload: dict[str, Any]
    assignments: list[Assignment]
    log_rows: list[LogRow]
    treated: int


def calibration_of(model: LoadedModel, feedback: Feedback, space: str, segment: str) -> SegmentCalibration:
    """The segment's effect error under this model version (shared.bandit.contexts), estimated once
    per change of its feedback (the key is the feedback)."""
    arms = model.bundle.arms
    context = model.contexts[segment]
    key = (space, context, tuple(feedback.get((context, a)) for a in arms))
    cache = model.calibration_cache
    cal = cache.get(key)
    if cal is None:
        cal = segment_calibration(feedback, context, arms)
        if len(cache) >= CALIBRATION_CACHE_SIZE:
            cache.clear()  # feedback keeps changing the keys; old ones are never asked for again
        cache[key] = cal
    return cal


def decide_request(
    model: LoadedModel,
    users: list[Any],
    s: Scores,
    feedback: Feedback,
    terms: Terms,
    prior_sd: float,
) -> Decided:
    """One request's answer (as plain JSON data), the assignments to store and the rows to log."""
    bundle = model.bundle
    # Generator(PCG64(seed)) is default_rng(seed), without the dispatch (~15 µs of a one-user call).
    rng = np.random.Generator(np.random.PCG64(terms.seed))
    segments = s.segments.tolist()
    picked, props = _draw(model, s.effects, segments, feedback, terms, prior_sd, rng)
    effects = s.effects.tolist()
    arm_effect = [e[max(c - 1, 0)] for e, c in zip(effects, picked, strict=True)]
    treated = [i for i, c in enumerate(picked) if c > 0]
    items = _items(bundle, s.X, treated, terms.top_k)
    now = time.time()
    arms = bundle.arms
    best = s.best.tolist()
    outcomes = s.outcomes.tolist()
    ids = new_assignment_ids(len(picked))
    decisions: list[dict[str, Any]] = []
    records: list[Assignment] = []
    rows: list[LogRow] = []
    for i, user in enumerate(users):
        aid, arm, seg = ids[i], arms[picked[i]], segments[i]
        context = model.contexts[seg]
        records.append(Assignment(aid, context, arm, props[i], now, outcomes[i][picked[i]], terms.space))
        if terms.logged:
            rows.append(_log_row(aid, user, arm, props[i], seg, bundle.version, terms))
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
    value, cost = terms.value, terms.cost
    best_effects = [e[b] for e, b in zip(effects, best, strict=True)]
    # The policy's own total counts the arm actually chosen; the baselines (what
    # shared.policy.evaluate_policy reports) give every user, or a random len(treated), their best arm.
    own = totals(math.fsum(arm_effect[i] for i in treated), len(treated), value, cost)
    treat_all = totals(math.fsum(best_effects), len(effects), value, cost)
    at_random = totals(math.fsum(best_effects) / len(effects) * len(treated), len(treated), value, cost)
    payload = {
        "model_version": bundle.version,
        "seed": terms.seed,
        "campaign_id": terms.campaign_id,
        "sandbox": terms.space.removeprefix("sandbox:") or None,
        "decisions": decisions,
        "policy": own.to_dict(),
        "treat_all": treat_all.to_dict(),
        "random": at_random.to_dict(),
    }
    return Decided(payload, records, rows, len(treated))


def _draw(
    model: LoadedModel,
    effects: np.ndarray,
    segments: list[str],
    feedback: Feedback,
    terms: Terms,
    prior_sd: float,
    rng: np.random.Generator,
) -> tuple[list[int], list[float]]:
    """Arm index (0 = control) and its exact probability per user.

    The draw is the served effect plus the segment's shift, prior N(0, ``prior_sd``²). The model's
    members are not drawn per user: one reward says nothing about one user's own effect, so that
    draw would explore for ever at the same rate and never learn (it cost 3-22% of greedy's profit
    in the policy replay, loadtests/bench_policy_replay.py); the segment's shift is what feedback
    narrows.
    """
    n, k = effects.shape
    if n == 1 and k == 1:
        # The one-user call: closed form on floats (numpy on one-element arrays costs more than it).
        cal = calibration_of(model, feedback, terms.space, segments[0])
        shift_mean, shift_sd = user_shift_one(prior_sd**2, cal.mean[0], cal.var[0])
        arm, prop = decide_one(
            [float(effects[0, 0])],
            shift_mean,
            shift_sd,
            value=terms.value,
            cost=terms.cost,
            rng=rng,
            epsilon=terms.exploration,
            throttle=terms.throttle,
            capacity=terms.capacity,
        )
        return [arm], [prop]
    per_segment = {g: calibration_of(model, feedback, terms.space, g) for g in set(segments)}
    mean = np.array([per_segment[g].mean for g in segments])
    var = np.array([per_segment[g].var for g in segments])
    d = decide(
        effects[:, :, None],
        user_shift(np.full((n, k), prior_sd**2), mean, var),
        value=terms.value,
        cost=terms.cost,
        rng=rng,
        epsilon=terms.exploration,
        throttle=terms.throttle,
        capacity=terms.capacity,
    )
    return d.arm.tolist(), d.propensity.tolist()


def _log_row(
    aid: str, user: Any, arm: str, propensity: float, segment: str, version: str, terms: Terms
) -> LogRow:
    return make_row(
        assignment_id=aid,
        user_id=user.user_id,
        features=user.features,
        arm=arm,
        propensity=propensity,
        segment=segment,
        model_version=version,
        policy=terms.policy,
        campaign_id=terms.campaign_id,
    )


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
