"""Estimators with the scikit-learn contract.

The constructor stores arguments, ``fit`` learns, ``predict`` answers. Every uplift learner is a
``MetaLearner``; all but the T-Learner hand over their per-arm effect as ``EffectFunction`` objects
(``effect_functions_``), the form that is saved and served.
"""

from shared.estimators.base import MetaLearner, OutcomeKind
from shared.estimators.boosting import DEFAULT_PARAMS, fit_booster
from shared.estimators.classtransform import ClassTransformation
from shared.estimators.direct import EffectLearner
from shared.estimators.drlearner import DRLearner, dr_pseudo_outcomes
from shared.estimators.effect import EffectFunction
from shared.estimators.ranker import ItemRanker
from shared.estimators.registry import LEARNERS, supports
from shared.estimators.rlearner import RLearner
from shared.estimators.slearner import SLearner
from shared.estimators.tlearner import TLearner
from shared.estimators.xlearner import XLearner

__all__ = [
    "DEFAULT_PARAMS",
    "LEARNERS",
    "ClassTransformation",
    "DRLearner",
    "EffectFunction",
    "EffectLearner",
    "ItemRanker",
    "MetaLearner",
    "OutcomeKind",
    "RLearner",
    "SLearner",
    "TLearner",
    "XLearner",
    "dr_pseudo_outcomes",
    "fit_booster",
    "supports",
]
