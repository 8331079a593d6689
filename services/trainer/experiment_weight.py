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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "rule": RULE,
            "reason": self.reason,
            "candidates": [
                {"weight": w, "held_out_effect_risk": round(m, 6), "se_vs_lowest": round(s, 6)}
                for w, (m, s) in self.risks.items()
            ],
        }


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
) -> WeightChoice:
    """The experiment's weight by the module's rule. ``e`` is P(treatment | x) per row (two arms, clipped
    away from 0 and 1); ``fit_t(X, t, y, propensity, sample_weight)`` returns a fitted T-learner."""
    logged = np.flatnonzero(from_log)
    experiment = np.flatnonzero(~from_log)
    arms, counts = np.unique(t[logged], return_counts=True)
    if len(arms) < 2 or counts.min() < MIN_LOGGED_PER_ARM:
        return WeightChoice(1.0, {}, f"fewer than {MIN_LOGGED_PER_ARM} logged rows in an arm: not judged")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(logged), dtype=np.int8)
    for arm in arms:  # each arm split in two halves, so both folds hold both arms
        rows = np.flatnonzero(t[logged] == arm)
        fold[rows] = rng.permutation(len(rows)) % 2
    treated = (t[logged] != control).astype(np.float64)
    p = e[logged]
    psi = y[logged] * (treated - p) / (p * (1.0 - p))
    risk = np.empty((len(candidates), len(logged)))
    for k in (0, 1):
        train = np.concatenate([experiment, logged[fold != k]])
        held = fold == k
        for c, w in enumerate(candidates):
            weight = np.where(from_log[train], 1.0, w)
            model = fit_t(X[train], t[train], y[train], e[train], weight)
            effect = np.asarray(model.predict(X[logged[held]])).reshape(-1)
            risk[c, held] = (psi[held] - effect) ** 2
    means = risk.mean(axis=1)
    best = int(np.argmin(means))
    se = (risk - risk[best]).std(axis=1, ddof=1) / np.sqrt(len(logged))
    chosen = max(candidates[c] for c in range(len(candidates)) if means[c] <= means[best] + se[c])
    if chosen == max(candidates):
        reason = "the log agrees with the experiment within its noise"
    elif chosen == 0:
        reason = "the effects of held-out logged rows are predicted better by the log alone"
    else:
        reason = f"the effects of held-out logged rows are predicted better with the experiment at weight {chosen:g}"
    risks = {w: (float(means[c]), float(se[c])) for c, w in enumerate(candidates)}
    return WeightChoice(float(chosen), risks, reason)
