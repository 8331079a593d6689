"""Refutations: re-run the same estimator on altered data where theory says how the estimate must move.

- Placebo treatment: the arm labels are permuted, so no row's label carries any effect or confounding;
  the estimate must fall to about 0. Pass: the placebo's interval contains 0.
- Random common cause: an independent standard-normal column is added to the features; it is neither
  a confounder nor a cause, so the estimate must stay put. Pass: the new estimate lies inside the
  original's interval.
- Data subsets: the estimator is re-run on random halves of the rows. A half-sample estimate differs
  from the full one by about one standard error of the full estimate (var(half) - var(full) = se^2),
  so pass: every subset's estimate lies within z * se of the original, z the two-sided normal quantile
  at the original's level Bonferroni-corrected over the subsets (so the family errs at that level).

These catch an estimator that finds effects in noise, depends on irrelevant inputs or on a few rows.
They cannot detect an unmeasured confounder: that is what the sensitivity analysis is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from shared.causal.aipw import AverageEffect, Estimator

SUBSET_FRACTION = 0.5
N_SUBSETS = 3


@dataclass(frozen=True)
class Refutation:
    name: str
    original: float
    estimates: list[AverageEffect]
    passed: bool
    rule: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "original": self.original}
        if len(self.estimates) == 1:
            e = self.estimates[0]
            out |= {"estimate": e.value, "low": e.low, "high": e.high}
        else:
            out["estimates"] = [e.value for e in self.estimates]
            out["estimate"] = float(np.mean(out["estimates"]))
        return out | {"passed": self.passed, "rule": self.rule}

    def line(self) -> str:
        """One line for the CLI printout."""
        shown = ", ".join(f"{e.value:.4g}" for e in self.estimates)
        return (
            f"{self.name}: {'PASS' if self.passed else 'FAIL'} new {shown} vs original {self.original:.4g} "
            f"({self.rule})"
        )


def placebo_treatment(
    estimate: Estimator, X: np.ndarray, treated: np.ndarray, y: np.ndarray, rng: np.random.Generator,
    original: AverageEffect,
) -> Refutation:  # fmt: skip
    placebo = estimate(X, rng.permutation(treated), y)
    return Refutation(
        name="placebo treatment",
        original=original.value,
        estimates=[placebo],
        passed=placebo.covers(0.0),
        rule=f"permuted arm labels; pass when the placebo's {placebo.level:.0%} interval contains 0",
    )


def random_common_cause(
    estimate: Estimator, X: np.ndarray, treated: np.ndarray, y: np.ndarray, rng: np.random.Generator,
    original: AverageEffect,
) -> Refutation:  # fmt: skip
    extra = rng.standard_normal((len(X), 1)).astype(X.dtype)
    new = estimate(np.hstack([X, extra]), treated, y)
    return Refutation(
        name="random common cause",
        original=original.value,
        estimates=[new],
        passed=original.covers(new.value),
        rule=f"added a standard-normal feature; pass when the new estimate is inside the original's "
        f"{original.level:.0%} interval [{original.low:.4g}, {original.high:.4g}]",
    )


def data_subsets(
    estimate: Estimator, X: np.ndarray, treated: np.ndarray, y: np.ndarray, rng: np.random.Generator,
    original: AverageEffect, n_subsets: int = N_SUBSETS,
) -> Refutation:  # fmt: skip
    news = []
    for _ in range(n_subsets):
        rows = rng.random(len(X)) < SUBSET_FRACTION
        news.append(estimate(X[rows], treated[rows], y[rows]))
    z = float(stats.norm.ppf(1.0 - (1.0 - original.level) / (2.0 * n_subsets)))
    tolerance = z * original.se
    return Refutation(
        name="data subsets",
        original=original.value,
        estimates=news,
        passed=all(abs(e.value - original.value) <= tolerance for e in news),
        rule=f"{n_subsets} random {SUBSET_FRACTION:.0%} subsets; pass when each estimate is within "
        f"{z:.2f} x se = {tolerance:.4g} of the original (Bonferroni over subsets at {original.level:.0%})",
    )


def refute(
    estimate: Estimator,
    X: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    original: AverageEffect,
    rng: np.random.Generator,
) -> list[Refutation]:
    """All three refutations, in a fixed order, drawing from one seeded generator."""
    return [
        placebo_treatment(estimate, X, treated, y, rng, original),
        random_common_cause(estimate, X, treated, y, rng, original),
        data_subsets(estimate, X, treated, y, rng, original),
    ]
