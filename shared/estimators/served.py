"""The one serving form of every learner, and the single function that evaluates it.

Whatever the selection chose (one learner or an average of several), the served model is:

    outcomes: the T-learner's outcome models mu_0 .. mu_K on the features (p_control, the response
              model, the bandit's priors), always present;
    effect_k(x) = outcome_weight · (mu_k(x) − mu_0(x)) + offset_k + Σ_j weight_kj · b_j(x)
    served_k(x) = intercept_k + slope_k · effect_k(x)      (the out-of-fold calibration, when applied)

where the b_j are squared-error regression boosters (the direct effect models of the S/X/DR/R/CT
learners, see ``EffectFunction``). A plain T-learner is ``outcome_weight = 1`` with no terms; an
average of the T-learner and an X-learner is ``outcome_weight = 1/2`` plus the X-learner's two
stage-2 boosters at half their weight. The expected outcome served under arm k is
mu_0(x) + effect_k(x), so the API's CATE (outcome under the arm minus under control) is exactly the
evaluated effect. ``combine`` is used by the trainer's evaluation and by the serving bundle alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from shared.effect_form import EffectForm, combine

if TYPE_CHECKING:
    import xgboost as xgb

    from shared.estimators.base import MetaLearner
    from shared.estimators.tlearner import TLearner


@dataclass
class ServedModel:
    """A fitted baseline T-learner plus the chosen learners, in the serving form (equal-weight average)."""

    baseline: TLearner
    members: list[MetaLearner]
    codes: list[str]
    # (intercept, slope) per treatment arm the effect goes through last (out-of-fold calibration).
    calibration: tuple[tuple[float, float], ...] = ()
    form: EffectForm = field(init=False)
    effect_boosters: list[xgb.Booster] = field(init=False)

    def __post_init__(self) -> None:
        share = 1.0 / len(self.members)
        n_effects = len(self.baseline.arms_) - 1
        boosters: list[xgb.Booster] = []
        terms: list[list[tuple[int, float]]] = [[] for _ in range(n_effects)]
        offsets = [0.0] * n_effects
        outcome_weight = 0.0
        for code, member in zip(self.codes, self.members, strict=True):
            if code == "t":
                # The T-learner member is the baseline itself: its effect is read from the outcome models.
                outcome_weight += share
                continue
            for k, fn in enumerate(member.effect_functions_):
                offsets[k] += share * fn.offset
                for booster, weight in zip(fn.boosters, fn.weights, strict=True):
                    terms[k].append((len(boosters), share * weight))
                    boosters.append(booster)
        self.effect_boosters = boosters
        self.form = EffectForm(
            outcome_weight=outcome_weight,
            terms=tuple(tuple(t) for t in terms) if boosters else (),
            offsets=tuple(offsets) if boosters else (),
            calibration=() if all(c == (0.0, 1.0) for c in self.calibration) else self.calibration,
        )

    @property
    def name(self) -> str:
        return "+".join(self.codes)

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """What the served bundle answers: mu_0 and mu_0 + effect_k per arm."""
        raw = self.baseline.predict_outcomes(X)
        effect_raw = (
            np.column_stack([b.inplace_predict(X) for b in self.effect_boosters]).astype(np.float64)
            if self.effect_boosters
            else None
        )
        return combine(raw, effect_raw, self.form)

    def predict(self, X: np.ndarray) -> np.ndarray:
        mu = self.predict_outcomes(X)
        return mu[:, 1:] - mu[:, :1]
