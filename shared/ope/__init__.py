"""Off-policy evaluation of targeting policies from a log with exact propensities."""

from shared.ope.diagnostics import (
    MAX_WEIGHT_SHARE,
    MIN_ESS_SHARE,
    MIN_PROPENSITY,
    effective_sample_size,
    overlap_warnings,
    weight_warnings,
)
from shared.ope.estimators import PolicyEstimate, doubly_robust, ips, snips

__all__ = [
    "MAX_WEIGHT_SHARE",
    "MIN_ESS_SHARE",
    "MIN_PROPENSITY",
    "PolicyEstimate",
    "doubly_robust",
    "effective_sample_size",
    "ips",
    "overlap_warnings",
    "snips",
    "weight_warnings",
]
