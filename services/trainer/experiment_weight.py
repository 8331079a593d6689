"""How much the experiment counts beside the log (`uplift train --data ... --log ...`): chosen on logged rows.

The experiment was run before the traffic was logged, and the market may have changed since (a group
whose response to the treatment drifted): then its rows teach an effect that no longer holds, and with
more experiment rows than logged rows they outweigh the log. The logged rows are the recent traffic
with known propensities, so they can judge. For each candidate weight w of the experiment's rows
(logged rows weigh 1), inverse-propensity-weighted T-learners are fitted on the experiment plus half of
the logged rows and score the other half (two folds, swapped) by the transformed-outcome risk of their
effects: the mean of (psi_i - effect_i)^2 with psi_i = y_i (t_i - e_i) / (e_i (1 - e_i)), whose
expectation given x is the true effect, so the risk ranks candidates by their effects' squared error
on the current traffic (up to a constant the candidates share). The rule leans towards more data
(Breiman's one-standard-error rule): the largest w whose risk is within one paired standard error of
the lowest, so an unchanged market keeps w = 1 unless the log clearly says otherwise. The weights are
powers of two, not tuned to any data set.

Two guards keep the judge honest. Only logged rows whose propensity was not clipped judge: psi's
expectation is the true effect only with the policy's exact e(x), and a serving policy that almost
never treats most users logs e(x) near 0 there, so clipped to the floor their psi is biased (in the
policy benchmark's drift scenario 45,020 of 50,000 logged rows were such; judged by them, the rule located
a "change" where the policy treats, not where the market moved). They still train. And every
candidate's weights are rescaled to sum to their effective sample size (``kish_scaled``): XGBoost
regularizes in units of summed weight, so an unscaled lower weight also means a smoother model,
which can win a noisy risk without any change in the market.

The same candidate fits then locate a change (services/trainer/drift_regions.py), judged by another
held-out risk: the squared error on the outcome of the arm each logged user got, (y_i - mu_t_i(x_i))^2.
Given x the policy's draw is independent of the outcome, so that error needs no propensity and every
logged row judges, the clipped ones included: a near-greedy policy's log is mostly users it treats (or
spares) almost surely, and a changed group it keeps treating shows there first. When one region of the
feature space is judged changed, each region of the experiment gets its own weight, so the stale group
is dropped without discarding the rest of the experiment. (Judged by the transformed outcome on the
unclipped rows alone, the policy benchmark's changed group was an eighth of about 5,000 rows and was
located in about half of the runs.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.trainer.drift_regions import RULE as REGION_RULE
from services.trainer.drift_regions import Regions, locate
from services.trainer.one_se_rule import one_se_choice

CANDIDATES = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)  # 0: the log alone
# Fewer logged rows per arm than this and the held-out halves cannot judge: the experiment keeps w = 1.
MIN_LOGGED_PER_ARM = 100
RULE = (
    "largest weight of the experiment's rows (logged rows weigh 1) whose held-out transformed-outcome risk of "
    "the effect on logged rows (2 folds of the log, T-learners) is within one paired standard error of the lowest"
)


@dataclass(frozen=True)
class WeightChoice:
    chosen: float
    # Per candidate: mean held-out risk, and the standard error of its difference to the lowest.
    risks: dict[float, tuple[float, float]]
    reason: str
    # Per-region weights, when the log was large enough to grow a tree (used only if some region changed).
    regions: Regions | None = None
    judged_rows: int = 0

    @property
    def by_region(self) -> bool:
        return self.regions is not None and self.regions.changed

    def experiment_weights(self, X: np.ndarray) -> np.ndarray | float:
        """The weight of each experiment row (its region's), or the global weight for all of them."""
        if self.by_region:
            assert self.regions is not None
            return self.regions.weights(X)
        return self.chosen

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chosen": self.chosen,
            "rule": RULE,
            "reason": self.reason,
            "judged_logged_rows": self.judged_rows,
            "candidates": [
                {"weight": w, "held_out_effect_risk": round(m, 6), "se_vs_lowest": round(s, 6)}
                for w, (m, s) in self.risks.items()
            ],
        }
        if self.regions is not None:
            out["regions"] = {
                "rule": REGION_RULE,
                "used": self.regions.changed,
                "z": round(self.regions.z, 4),
                "leaves": [r.to_dict() for r in self.regions.regions],
            }
        return out


def kish_scaled(weight: np.ndarray) -> np.ndarray:
    """``weight`` rescaled to sum to Kish's effective sample size (sum w)^2 / sum w^2.

    XGBoost's regularization (min_child_weight, lambda) is in units of summed weight: down-weighting
    the experiment without rescaling regularizes harder, which alone can lower a noisy held-out risk
    and pass for evidence of change. Rescaled, the fit sees as much weight as the rows are worth.
    """
    total, squares = float(weight.sum()), float(np.square(weight).sum())
    return weight * (total / squares) if squares > 0 else weight


def choose_experiment_weight(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    from_log: np.ndarray,
    control: Any,
    fit_t: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], Any],
    seed: int,
    candidates: tuple[float, ...] = CANDIDATES,
    names: list[str] | None = None,
    supported: np.ndarray | None = None,
) -> WeightChoice:
    """The experiment's weight by the module's rule. ``e`` is P(treatment | x) per row (two arms, clipped
    away from 0 and 1); ``fit_t(X, t, y, propensity, sample_weight)`` returns a fitted T-learner, called
    with a per-row ``sample_weight``. ``names``: the columns of ``X``, to describe the regions.
    ``supported``: False on rows whose propensity was clipped; only the others judge (all when None)."""
    logged = np.flatnonzero(from_log)
    experiment = np.flatnonzero(~from_log)
    judged = np.ones(len(logged), dtype=bool) if supported is None else np.asarray(supported)[logged]
    arms, counts = np.unique(t[logged], return_counts=True)
    if len(arms) < 2 or counts.min() < MIN_LOGGED_PER_ARM:
        reason = f"fewer than {MIN_LOGGED_PER_ARM} logged rows in an arm: not judged"
        return WeightChoice(1.0, {}, reason, judged_rows=int(judged.sum()))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(logged), dtype=np.int8)
    for arm in arms:  # each arm split in two halves, so both folds hold both arms
        rows = np.flatnonzero(t[logged] == arm)
        fold[rows] = rng.permutation(len(rows)) % 2
    treated = (t[logged] != control).astype(np.float64)
    p = e[logged]
    psi = y[logged] * (treated - p) / (p * (1.0 - p))
    own = treated.astype(np.intp)  # the column of each row's own arm: arms_ puts control first
    risk = np.empty((len(candidates), len(logged)))
    outcome_risk = np.empty((len(candidates), len(logged)))
    residual = np.empty(len(logged))  # under the full-weight candidate
    full = candidates.index(1.0)
    for k in (0, 1):
        train = np.concatenate([experiment, logged[fold != k]])
        held = np.flatnonzero(fold == k)
        for c, w in enumerate(candidates):
            weight = kish_scaled(np.where(from_log[train], 1.0, w))
            model = fit_t(X[train], t[train], y[train], e[train], weight)
            mu = np.asarray(model.predict_outcomes(X[logged[held]]), dtype=np.float64)
            risk[c, held] = (psi[held] - (mu[:, 1] - mu[:, 0])) ** 2
            error = y[logged[held]] - mu[np.arange(len(held)), own[held]]
            outcome_risk[c, held] = error**2
            if c == full:
                residual[held] = error
    # Regions are located by the error on the outcome of the arm each logged user got, on every logged
    # row: given x the policy's draw is independent of the outcome, so that error is unbiased whatever
    # the propensity, clipped rows included. Those are most of a near-greedy policy's log and exactly
    # the users it keeps treating, where a stale experiment costs the most.
    regions = locate(
        X[logged], fold, outcome_risk, candidates, residual=residual, treated=treated > 0,
        min_rows=2 * MIN_LOGGED_PER_ARM, seed=seed, names=names,
    )  # fmt: skip
    # The global weight is judged by the effect itself, through psi, which is unbiased only with the
    # policy's exact propensity: a clipped row trains, it does not judge.
    judged_arms, judged_counts = np.unique(t[logged[judged]], return_counts=True)
    risks: dict[float, tuple[float, float]] = {}
    if len(judged_arms) < 2 or judged_counts.min() < MIN_LOGGED_PER_ARM:
        chosen = 1.0
        reason = (
            f"fewer than {MIN_LOGGED_PER_ARM} logged rows with an unclipped propensity in an arm: "
            "the global weight is not judged"
        )
    else:
        chosen, means, se = one_se_choice(risk[:, judged], candidates)
        risks = {w: (float(means[c]), float(se[c])) for c, w in enumerate(candidates)}
        if chosen == max(candidates):
            reason = "the log agrees with the experiment within its noise"
        elif chosen == 0:
            reason = "the effects of held-out logged rows are predicted better by the log alone"
        else:
            reason = f"the effects of held-out logged rows are predicted better with the experiment at weight {chosen:g}"
    if regions is not None and regions.changed:
        located = "; ".join(f"{rule} at weight {w:g}" for rule, w in regions.changed_rules)
        reason = (
            f"changed regions located: {located}, every other region at 1 "
            f"(the global test alone: {reason}, weight {chosen:g})"
        )
    return WeightChoice(float(chosen), risks, reason, regions, judged_rows=int(judged.sum()))
