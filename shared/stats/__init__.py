"""Experiment analysis: Bayesian and frequentist effects, sample-ratio check, CUPED, sequential tests, power."""

from __future__ import annotations

from shared.stats.bayesian import BayesianLift, BayesianResult, Interval, VariantPosterior, bayesian_compare
from shared.stats.cuped import CupedResult, cuped
from shared.stats.frequentist import Comparison, compare_to_control, holm, two_proportion_ztest, welch_ttest
from shared.stats.inputs import ContinuousVariant, ConversionVariant, Variant, check_variants
from shared.stats.power import (
    SampleSize,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from shared.stats.report import Decision, DecisionReport, analyze
from shared.stats.rows import analyze_rows, summarize
from shared.stats.sequential import SequentialResult, always_valid_p, beta_pair_loss, msprt_log_lr, msprt_test
from shared.stats.srm import SRM_THRESHOLD, SrmResult, sample_ratio_test

__all__ = [
    "SRM_THRESHOLD",
    "BayesianLift",
    "BayesianResult",
    "Comparison",
    "ContinuousVariant",
    "ConversionVariant",
    "CupedResult",
    "Decision",
    "DecisionReport",
    "Interval",
    "SampleSize",
    "SequentialResult",
    "SrmResult",
    "Variant",
    "VariantPosterior",
    "always_valid_p",
    "analyze",
    "analyze_rows",
    "bayesian_compare",
    "beta_pair_loss",
    "check_variants",
    "compare_to_control",
    "cuped",
    "holm",
    "mde_means",
    "mde_proportions",
    "msprt_log_lr",
    "msprt_test",
    "power_means",
    "power_proportions",
    "sample_ratio_test",
    "sample_size_means",
    "sample_size_proportions",
    "summarize",
    "two_proportion_ztest",
    "welch_ttest",
]
