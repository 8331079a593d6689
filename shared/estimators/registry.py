"""The learners the trainer can choose by code, and which data each one accepts."""

from __future__ import annotations

from typing import Any

from sklearn.frozen import FrozenEstimator

from shared.estimators.base import MetaLearner
from shared.estimators.classtransform import ClassTransformation
from shared.estimators.drlearner import DRLearner
from shared.estimators.rlearner import RLearner
from shared.estimators.slearner import SLearner
from shared.estimators.tlearner import TLearner
from shared.estimators.xlearner import XLearner

LEARNERS: dict[str, type[MetaLearner]] = {
    "t": TLearner,
    "s": SLearner,
    "x": XLearner,
    "dr": DRLearner,
    "r": RLearner,
    "ct": ClassTransformation,
}

_OUTCOME_KINDS = ("binary", "continuous")


def supports(code: str, outcome_kind: str, n_arms: int) -> str | None:
    """None if learner ``code`` can fit this outcome kind and number of arms, else the rule it breaks."""
    if code not in LEARNERS:
        return f"learner: unknown code {code!r}; choose one of {', '.join(LEARNERS)}"
    if outcome_kind not in _OUTCOME_KINDS:
        return f"outcome kind must be one of {', '.join(_OUTCOME_KINDS)}, got {outcome_kind!r}"
    if n_arms < 2:
        return f"{code} needs at least two arms (control and one treatment), got {n_arms}"
    if code == "ct" and (outcome_kind != "binary" or n_arms != 2):
        return "ct needs a binary outcome and exactly two arms"
    return None


def sharing_outcomes(learner: MetaLearner, fitted_t: TLearner | None) -> MetaLearner:
    """``learner`` reusing ``fitted_t``'s outcome models (fitted on the rows it is about to see) when it
    has a stage that fits exactly those (the X-learner); otherwise ``learner`` unchanged."""
    params: dict[str, Any] = learner.get_params(deep=False)
    if fitted_t is None or "outcome_models" not in params:
        return learner
    return learner.set_params(outcome_models=FrozenEstimator(fitted_t))
