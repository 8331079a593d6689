"""Estimators with the scikit-learn contract.

The constructor stores arguments, ``fit`` learns, ``predict`` answers."""

from shared.estimators.base import MetaLearner, OutcomeKind
from shared.estimators.ranker import ItemRanker
from shared.estimators.tlearner import TLearner

__all__ = ["ItemRanker", "MetaLearner", "OutcomeKind", "TLearner"]
