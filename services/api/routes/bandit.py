from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from services.api.deps import ModelDep, StateDep
from services.api.schemas import ArmCalibrationOut, ArmPosterior, BanditResponse
from services.api.state import AppState, LoadedModel
from shared.bandit import PRODUCTION, ArmFeedback, BetaPosterior, Feedback, expected_loss, prob_best
from shared.bandit.calibration import arm_calibration, segment_calibration
from shared.segments import SEGMENTS

router = APIRouter(tags=["bandit"])

SandboxQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Show this sandbox's state instead of production's.",
    ),
]


@router.get("/bandit", response_model=BanditResponse)
async def bandit(model: ModelDep, state: StateDep, sandbox: SandboxQuery = None) -> BanditResponse:
    """Per segment × arm: what feedback taught about the serving model version, in production or in
    one sandbox (a reload to a new version starts from its prior; see shared.bandit.contexts).

    `calibration`: rewards with a prediction (n), their mean observed − predicted outcome with a
    95% interval, and for treatment arms the shift /optimize adds to every sampled effect (its
    posterior mean and sd). `arms`: Beta posterior of the conversion rate (model prior + rewards),
    mean, 95% interval, P(best), expected loss.
    """
    space = PRODUCTION if sandbox is None else f"sandbox:{sandbox}"
    feedback = await state.guard.call(partial(state.store.feedback, space), "feedback")
    # The posteriors' quadrature is CPU work of milliseconds: off the loop too.
    return await run_in_threadpool(_report, model, state, feedback, sandbox)


_NONE = ArmFeedback(0, 0)


def _report(model: LoadedModel, state: AppState, feedback: Feedback, sandbox: str | None) -> BanditResponse:
    arms = model.bundle.arms
    prior_sd = state.settings.calibration_prior_sd
    out: list[ArmPosterior] = []
    calibration: list[ArmCalibrationOut] = []
    for seg in SEGMENTS:
        context = model.contexts[seg]
        obs = [feedback.get((context, a), _NONE) for a in arms]
        posts = [
            BetaPosterior(model.priors[(seg, a)][0] + f.successes, model.priors[(seg, a)][1] + f.failures)
            for a, f in zip(arms, obs, strict=True)
        ]
        best, loss = prob_best(posts), expected_loss(posts)
        shift = segment_calibration(feedback, context, arms)
        for k, (a, p) in enumerate(zip(arms, posts, strict=True)):
            lo, hi = p.interval()
            out.append(
                ArmPosterior(
                    segment=seg, arm=a, alpha=p.alpha, beta=p.beta, successes=obs[k].successes,
                    failures=obs[k].failures, mean=p.mean, ci_low=lo, ci_high=hi, prob_best=float(best[k]),
                    expected_loss=float(loss[k]),
                )
            )  # fmt: skip
            c = arm_calibration(obs[k])
            calibration.append(
                ArmCalibrationOut(
                    segment=seg, arm=a, n=c.n, observed_minus_predicted=c.observed_minus_predicted,
                    ci_low=c.ci_low, ci_high=c.ci_high,
                    shift_mean=shift.mean[k - 1] if k and shift.n else None,
                    shift_sd=shift.sd[k - 1] if k else None,
                )
            )  # fmt: skip
    return BanditResponse(
        backend=state.store.backend,
        prior_strength=state.settings.prior_strength,
        sandbox=sandbox,
        calibration_prior_sd=prior_sd,
        arms=out,
        calibration=calibration,
    )
