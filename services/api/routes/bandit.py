from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import ModelDep, StateDep
from services.api.schemas import ArmPosterior, BanditResponse
from shared.bandit import BetaPosterior, expected_loss, prob_best
from shared.segments import SEGMENTS

router = APIRouter(tags=["bandit"])


@router.get("/bandit", response_model=BanditResponse)
def bandit(model: ModelDep, state: StateDep) -> BanditResponse:
    """Per segment × arm: Beta posterior (model prior + feedback), mean, 95% interval, P(best), expected loss."""
    counts = state.store.counts()
    out: list[ArmPosterior] = []
    for seg in SEGMENTS:
        arms = model.bundle.arms
        obs = [counts.get((seg, a), (0, 0)) for a in arms]
        posts = [
            BetaPosterior(model.priors[(seg, a)][0] + s, model.priors[(seg, a)][1] + f)
            for a, (s, f) in zip(arms, obs, strict=True)
        ]
        best, loss = prob_best(posts), expected_loss(posts)
        for k, (a, p) in enumerate(zip(arms, posts, strict=True)):
            lo, hi = p.interval()
            out.append(
                ArmPosterior(
                    segment=seg, arm=a, alpha=p.alpha, beta=p.beta, successes=obs[k][0], failures=obs[k][1],
                    mean=p.mean, ci_low=lo, ci_high=hi, prob_best=float(best[k]), expected_loss=float(loss[k]),
                )
            )  # fmt: skip
    return BanditResponse(backend=state.store.backend, prior_strength=state.settings.prior_strength, arms=out)
