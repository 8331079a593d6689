from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.api.deps import ModelDep, StateDep
from services.api.schemas import ArmPosterior, BanditResponse
from services.api.state import AppState, LoadedModel
from shared.bandit import BetaPosterior, Counts, expected_loss, prob_best
from shared.segments import SEGMENTS

router = APIRouter(tags=["bandit"])


@router.get("/bandit", response_model=BanditResponse)
async def bandit(model: ModelDep, state: StateDep) -> BanditResponse:
    """Per segment × arm: Beta posterior (model prior + feedback), mean, 95% interval, P(best), expected loss."""
    counts = await state.guard.call(state.store.counts, "counts")
    # The posteriors' quadrature is CPU work of milliseconds: off the loop too.
    return await run_in_threadpool(_report, model, state, counts)


def _report(model: LoadedModel, state: AppState, counts: Counts) -> BanditResponse:
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
