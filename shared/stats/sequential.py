"""Sequential stopping: an always-valid frequentist test and a Bayesian expected-loss rule.

Frequentist: the mixture sequential probability ratio test (mSPRT, Johari et al. 2017). With Δ̂
the observed difference, s² its variance and a N(0, τ²) mixture over the true difference,
    Λ = √(s² / (s² + τ²)) · exp(τ² Δ̂² / (2 s² (s² + τ²))).
Under H0, Λ is a nonnegative martingale, so by Ville's inequality P(Λ ever ≥ 1/α) ≤ α: the test
may be looked at after every user and stopped at the first crossing. The always-valid p-value
is the running minimum of 1/Λ. τ is the size of effect the test is tuned for.

Bayesian: stop as soon as the expected loss of the best-looking arm falls below a threshold of
caring ε, and choose that arm. It bounds the expected regret of the choice, not the error rate.

Everything here is vectorized over runs and looks, which the simulation in
``loadtests/bench_sequential.py`` relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


@dataclass(frozen=True)
class SequentialResult:
    variant: str
    control: str
    tau: float
    log_likelihood_ratio: float
    p_value_always_valid: float
    reject: bool


def msprt_log_lr(diff: np.ndarray | float, se2: np.ndarray | float, tau: float) -> np.ndarray:
    """log Λ of the mSPRT for an observed difference with variance ``se2`` (element-wise)."""
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau: must be finite and positive, got {tau!r}")
    d, s2 = np.asarray(diff, dtype=np.float64), np.asarray(se2, dtype=np.float64)
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lr = 0.5 * np.log(s2 / (s2 + t2)) + t2 * d * d / (2.0 * s2 * (s2 + t2))
    # No variance yet (too few users, or no conversions in either arm): no evidence either way.
    return np.where(s2 > 0, log_lr, 0.0)


def always_valid_p(log_lr: np.ndarray) -> np.ndarray:
    """Running minimum of min(1, 1/Λ) along the last axis (the looks)."""
    p = np.minimum(1.0, np.exp(-np.asarray(log_lr, dtype=np.float64)))
    return np.minimum.accumulate(p, axis=-1)


def msprt_test(
    variant: str, control: str, diff: float, se2: float, tau: float, alpha: float = 0.05
) -> SequentialResult:
    """One look at the data (the current totals). Valid at any stopping time, hence also now."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")
    log_lr = float(msprt_log_lr(diff, se2, tau))
    p = float(min(1.0, math.exp(-log_lr)))
    return SequentialResult(variant, control, tau, log_lr, p, bool(log_lr >= math.log(1.0 / alpha)))


def beta_pair_loss(
    conv_c: np.ndarray, n_c: np.ndarray, conv_t: np.ndarray, n_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected loss of choosing control / treatment, Beta(1, 1) priors, element-wise over arrays.

    E[max(θc, θt)] = lo + ∫_lo^hi (1 − Fc·Ft) dx with [lo, hi] covering both posteriors (±9 sd),
    by 96-point Gauss–Legendre; the loss of an arm is E[max] minus its mean.
    """
    a_c, b_c = 1.0 + np.asarray(conv_c, float), 1.0 + np.asarray(n_c, float) - np.asarray(conv_c, float)
    a_t, b_t = 1.0 + np.asarray(conv_t, float), 1.0 + np.asarray(n_t, float) - np.asarray(conv_t, float)
    m_c, m_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    sd_c = np.sqrt(m_c * (1 - m_c) / (a_c + b_c + 1))
    sd_t = np.sqrt(m_t * (1 - m_t) / (a_t + b_t + 1))
    lo = np.clip(np.minimum(m_c - 9 * sd_c, m_t - 9 * sd_t), 0.0, 1.0)
    hi = np.clip(np.maximum(m_c + 9 * sd_c, m_t + 9 * sd_t), 0.0, 1.0)
    half = (hi - lo)[..., None] / 2.0
    x = (lo + hi)[..., None] / 2.0 + half * _NODES
    cdf = betainc(a_c[..., None], b_c[..., None], x) * betainc(a_t[..., None], b_t[..., None], x)
    e_max = lo + np.sum(half * _WEIGHTS * (1.0 - cdf), axis=-1)
    return np.maximum(e_max - m_c, 0.0), np.maximum(e_max - m_t, 0.0)


def first_crossing(hit: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis, or −1 where there is none."""
    h = np.asarray(hit, dtype=bool)
    return np.where(h.any(axis=-1), np.argmax(h, axis=-1), -1)


__all__ = [
    "SequentialResult",
    "always_valid_p",
    "beta_pair_loss",
    "first_crossing",
    "msprt_log_lr",
    "msprt_test",
]
