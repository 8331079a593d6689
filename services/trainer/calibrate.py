"""The served effect's scale, checked (and corrected when it is off) on the held-out rows.

Ranking figures need only the order of the effects; a decision at a cost needs their level
(``shared.estimators.effect_calibration``). The fit is made on the held-out split with the final
model's own effects, because the scale is a property of that one fitted model: refits of the same
learner on the same rows (early stopping on another validation draw) moved the slope of the truth
on the effect by ±0.1 in the hard market, so a slope read off the selection's fold models did not
carry over (docs/learners.md, "The effect's scale"). One number (the slope) is fitted per arm on
tens of thousands of rows; the level stays the model's own average effect (from the training rows),
and a positive linear map leaves every ranking figure of the evaluation unchanged.

Not run for observational data (the arm shares are not the propensity), for a retrain from a log
(the held-out rows are the experiment's, before any drift the log saw) or for models trained on a
cluster or out of core (their evaluation runs there).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from services.trainer.learning import Learned
from shared.estimators.drlearner import dr_pseudo_outcomes
from shared.estimators.effect_calibration import Z_95, calibrate_arm
from shared.estimators.served import ServedModel

RULE = (
    "per treatment arm, OLS of doubly robust pseudo-outcomes on the served effect (centred on its mean) "
    f"over the held-out rows, HC0 standard error; the spread around the model's average effect is scaled "
    f"by the slope when the slope is positive and more than {Z_95:.2f} standard errors from 1"
)


def calibrate_on_held_out(
    learned: Learned, X: np.ndarray, t: np.ndarray, y: np.ndarray, control: Any
) -> tuple[Learned, dict[str, Any]]:
    """The learned models with the held-out calibration folded in (when any arm's applies), and its report."""
    served = learned.served
    mu = served.predict_outcomes(X)
    fits = []
    for k, arm in enumerate(served.baseline.treatment_arms):
        rows = (t == arm) | (t == control)
        treated = (t[rows] == arm).astype(np.float64)
        if treated.size == 0 or treated.min() == treated.max():
            phi, effect = np.zeros(0), np.zeros(0)  # one arm only among the held-out rows: too few
        else:
            share = np.full(len(treated), treated.mean())
            phi = dr_pseudo_outcomes(y[rows], treated, mu[rows, 0], mu[rows, k + 1], share)
            effect = mu[rows, k + 1] - mu[rows, 0]
        fits.append(calibrate_arm(str(arm), phi, effect))
    report = {"fitted_on": "held-out rows", "rule": RULE, "arms": [f.model_dump() for f in fits]}
    if not any(f.applied for f in fits):
        return learned, report
    maps = tuple(f.map for f in fits)
    calibrated = ServedModel(
        baseline=served.baseline, members=served.members, codes=served.codes, calibration=maps
    )
    # The placebo is scaled, not shifted: its band sits around 0 and sets the segments' thresholds
    # in the served effect's units.
    p = learned.placebo
    placebo = ServedModel(
        baseline=p.baseline, members=p.members, codes=p.codes, calibration=tuple((0.0, b) for _, b in maps)
    )
    return replace(learned, served=calibrated, placebo=placebo), report
