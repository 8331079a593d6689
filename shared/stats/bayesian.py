"""Bayesian A/B/n: posteriors per variant, P(best), expected loss, credible intervals of the lift.

Binary metrics: Beta-Bernoulli with a Beta(1, 1) prior; P(best) and expected loss come from
``shared.bandit`` (numerical integration that matches Evan Miller's closed form to 1e-6).
Continuous metrics: the posterior of each variant's mean under a flat prior, which for the sample
sizes of an experiment is Normal(x̄, s²/n); P(best) and expected loss are 1-D integrals on a grid.

Lift intervals are deterministic too. With C the control's and T a treatment's posterior,
P(T − C ≤ d) = E_C[F_T(C + d)] and P(T / C − 1 ≤ r) = E_C[F_T((1 + r)·C)] (for C > 0), each a
1-D integral over C's density (composite Gauss–Legendre); a root finder inverts them. No random draws are involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from shared.bandit import BetaPosterior, Prior, expected_loss, prob_best
from shared.stats.inputs import ContinuousVariant, ConversionVariant, Variant, check_variants

_PANELS = 64  # Gauss–Legendre panels (16 nodes each) over the control's posterior in the lift integrals
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_GRID_POINTS = 800  # grid points per variant for P(best) / expected loss of Normal posteriors
_EDGE = 1e-12
_Frozen = Any  # a frozen scipy.stats distribution (scipy ships no type for it)


@dataclass(frozen=True)
class VariantPosterior:
    name: str
    distribution: str
    # The same posterior in numbers, so a client can draw it without parsing ``distribution``:
    # family "beta" with alpha/beta, or "normal" with mean/sd.
    family: str
    params: dict[str, float]
    mean: float
    ci: tuple[float, float]
    prob_best: float
    expected_loss: float


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class BayesianLift:
    variant: str
    control: str
    prob_beats_control: float
    absolute: Interval
    relative: Interval | None


@dataclass(frozen=True)
class BayesianResult:
    model: str
    prior: str
    level: float
    variants: list[VariantPosterior]
    lifts: list[BayesianLift]
    note: str | None = None


def _normal_sd(v: ContinuousVariant) -> float:
    # A variant whose values are all equal has zero sample variance; a floor far below any
    # meaningful difference keeps the integrals defined (and the report says so).
    return max(math.sqrt(v.variance / v.users), 1e-9 * max(1.0, abs(v.mean)))


def _posteriors(variants: Sequence[Variant]) -> list[_Frozen]:
    if isinstance(variants[0], ConversionVariant):
        return [stats.beta(1 + v.conversions, 1 + v.users - v.conversions) for v in variants]  # type: ignore[union-attr]
    return [stats.norm(v.mean, _normal_sd(v)) for v in variants]  # type: ignore[arg-type]


def _grid(dists: Sequence[_Frozen]) -> np.ndarray:
    levels = np.concatenate([[_EDGE, 1e-9, 1e-6, 1e-4], np.linspace(1e-3, 1 - 1e-3, _GRID_POINTS)])
    levels = np.concatenate([levels, 1 - levels[:4]])
    pts = [d.ppf(levels) for d in dists]
    inner = [np.linspace(p.min(), p.max(), _GRID_POINTS) for p in pts]
    return np.unique(np.concatenate([*pts, *inner]))


def normal_prob_best(dists: Sequence[_Frozen]) -> np.ndarray:
    """P(variant i has the largest mean) = ∫ Π_{j≠i} F_j dF_i, cell mass × the others' CDF mid-cell."""
    x = _grid(dists)
    cdf = np.array([d.cdf(x) for d in dists])
    mass = np.diff(cdf, axis=1)
    mid_cdf = np.array([d.cdf(0.5 * (x[1:] + x[:-1])) for d in dists])
    out = np.array(
        [np.sum(mass[i] * np.prod(np.delete(mid_cdf, i, axis=0), axis=0)) for i in range(len(dists))]
    )
    return out / out.sum()


def normal_expected_loss(dists: Sequence[_Frozen]) -> np.ndarray:
    """E[max_j μ_j − μ_i]: E[max] = L + ∫_L^U (1 − Π_j F_j) with L, U beyond every posterior's mass."""
    x = _grid(dists)
    edge = 1.0 - np.prod([d.cdf(x) for d in dists], axis=0)
    mid = 1.0 - np.prod([d.cdf(0.5 * (x[1:] + x[:-1])) for d in dists], axis=0)
    e_max = x[0] + float(np.sum(np.diff(x) * (edge[:-1] + 4.0 * mid + edge[1:]) / 6.0))
    means = np.array([d.mean() for d in dists])
    return np.maximum(e_max - means, 0.0)


def _invert(cdf: Callable[[float], float], lo: float, hi: float, q: float) -> float:
    return float(optimize.brentq(lambda z: cdf(z) - q, lo, hi, xtol=1e-12, rtol=1e-10))


def _control_nodes(control: _Frozen) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes over the control's mass, weights ∝ its density (summing to 1)."""
    lo, hi = control.ppf([_EDGE, 1 - _EDGE])
    edges = np.linspace(lo, hi, _PANELS + 1)
    half = np.diff(edges)[:, None] / 2.0
    x = ((edges[:-1] + edges[1:])[:, None] / 2.0 + half * _GL_NODES).ravel()
    w = (half * _GL_WEIGHTS).ravel() * control.pdf(x)
    return x, w / w.sum()


def lift_intervals(
    control: _Frozen, treatment: _Frozen, level: float = 0.95
) -> tuple[Interval, Interval | None]:
    """Credible intervals of T − C (estimate: posterior mean) and T / C − 1 (estimate: median)."""
    tail = (1.0 - level) / 2.0
    xc, wc = _control_nodes(control)
    c_lo, c_hi = control.ppf([_EDGE, 1 - _EDGE])
    t_lo, t_hi = treatment.ppf([_EDGE, 1 - _EDGE])

    def diff_cdf(d: float) -> float:
        return float(np.dot(wc, treatment.cdf(xc + d)))

    lo, hi = t_lo - c_hi, t_hi - c_lo
    absolute = Interval(
        float(treatment.mean() - control.mean()),
        _invert(diff_cdf, lo, hi, tail),
        _invert(diff_cdf, lo, hi, 1 - tail),
    )
    if c_lo <= 0:
        return absolute, None  # the control's mean may be <= 0: a relative lift is undefined

    def ratio_cdf(r: float) -> float:
        return float(np.dot(wc, treatment.cdf((1.0 + r) * xc)))

    lo, hi = min(t_lo / c_hi, 1.0) - 1.0 - 1e-9, t_hi / c_lo - 1.0 + 1e-9
    relative = Interval(*(_invert(ratio_cdf, lo, hi, q) for q in (0.5, tail, 1 - tail)))
    return absolute, relative


def prob_beats(control: _Frozen, treatment: _Frozen, binary: bool) -> float:
    """P(T > C): Beta pairs through shared.bandit's P(best), Normal pairs in closed form."""
    if binary:
        a = [BetaPosterior(*d.args) for d in (control, treatment)]
        return float(prob_best(a)[1])
    sd = math.hypot(control.std(), treatment.std())
    return float(stats.norm.cdf((treatment.mean() - control.mean()) / sd))


def bayesian_compare(
    variants: Sequence[Variant], control: str | None = None, level: float = 0.95
) -> BayesianResult:
    """Posteriors, P(best), expected loss for all variants; lift intervals of each treatment vs control."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be strictly between 0 and 1, got {level!r}")
    name = check_variants(variants, control)
    binary = isinstance(variants[0], ConversionVariant)
    dists = _posteriors(variants)
    if binary:
        prior = Prior()
        betas = [prior.posterior(v.conversions, v.users - v.conversions) for v in variants]  # type: ignore[union-attr]
        best, loss = prob_best(betas), expected_loss(betas)
    else:
        best, loss = normal_prob_best(dists), normal_expected_loss(dists)
    tail = (1 - level) / 2
    posts = [
        VariantPosterior(
            name=v.name, distribution=_describe(d, binary), family="beta" if binary else "normal",
            params=_params(d, binary), mean=float(d.mean()),
            ci=(float(d.ppf(tail)), float(d.ppf(1 - tail))), prob_best=float(b), expected_loss=float(el),
        )
        for v, d, b, el in zip(variants, dists, best, loss, strict=True)
    ]  # fmt: skip
    i_c = [v.name for v in variants].index(name)
    lifts = []
    for i, v in enumerate(variants):
        if i == i_c:
            continue
        absolute, relative = lift_intervals(dists[i_c], dists[i], level)
        lifts.append(BayesianLift(v.name, name, prob_beats(dists[i_c], dists[i], binary), absolute, relative))
    flat = [v.name for v in variants if isinstance(v, ContinuousVariant) and v.variance == 0]
    return BayesianResult(
        model="Beta-Bernoulli" if binary else "Normal (posterior of the mean, flat prior)",
        prior="Beta(1, 1)" if binary else "flat", level=level, variants=posts, lifts=lifts,
        note=f"no variation in {flat}: their posteriors are near point masses" if flat else None,
    )  # fmt: skip


def _params(d: _Frozen, binary: bool) -> dict[str, float]:
    if binary:
        return {"alpha": float(d.args[0]), "beta": float(d.args[1])}
    return {"mean": float(d.mean()), "sd": float(d.std())}


def _describe(d: _Frozen, binary: bool) -> str:
    if binary:
        return f"Beta({d.args[0]:g}, {d.args[1]:g})"
    return f"Normal({d.mean():.6g}, sd={d.std():.6g})"


__all__ = [
    "BayesianLift",
    "BayesianResult",
    "Interval",
    "VariantPosterior",
    "bayesian_compare",
    "lift_intervals",
    "normal_expected_loss",
    "normal_prob_best",
    "prob_beats",
]
