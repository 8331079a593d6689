"""Per-user Thompson sampling over the model's own effect samples, with exact propensities.

For each user the model gives M plausible effects per treatment arm (``shared.effect_form``:
the served effect plus the members' centred spread). Feedback teaches a per-(segment, arm)
calibration: how far the observed outcomes of treated users sit from the model's predictions
(``Calibration``, a normal posterior). One decision is:

1. draw a member j uniformly (the model's uncertainty about this user),
2. draw a calibration shift c_a ~ N(m_a, s_a²) per treatment arm (what feedback says about the
   model in this user's segment),
3. value each treatment arm at value · (effect_aj + c_a) − cost and control at 0; choose the best,
4. with probability ``epsilon`` choose uniformly instead (an exploration floor, so every arm keeps a
   positive propensity and off-policy estimates stay defined),
5. with probability ``throttle`` a treatment is replaced by control (budget pacing).

The probability of the chosen arm is computed, not estimated: for member j the winning probability
of an arm is a one-dimensional integral over that arm's normal draw of the product of the others'
normal CDFs over the region where it beats control, evaluated by Gauss–Legendre quadrature in the
arm's own quantile (accurate to ~1e-9; closed form with one treatment arm);
averaging over the M members and folding in steps 4 and 5 gives the logged propensity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

# Gauss–Legendre nodes on (0, 1): the integral runs over the arm's own normal quantile u = Φ(z).
_X, _W = np.polynomial.legendre.leggauss(64)
_U, _UW = (_X + 1.0) / 2.0, _W / 2.0
# Below this sd a calibration draw is a point mass: the decision for that member is deterministic.
_MIN_SD = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Per treatment arm: the posterior mean and sd of the shift to add to the model's effect."""

    mean: np.ndarray  # (arms − 1,)
    sd: np.ndarray  # (arms − 1,)

    @classmethod
    def none(cls, n_effects: int) -> Calibration:
        return cls(np.zeros(n_effects), np.zeros(n_effects))


def calibration_posterior(
    n: np.ndarray, residual_sum: np.ndarray, noise_var: np.ndarray, prior_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normal posterior of a mean residual (observed − predicted outcome) per arm, prior N(0, prior_sd²).

    ``n``, ``residual_sum`` and ``noise_var`` are per arm, control first; the shift of treatment arm
    a is residual_a − residual_control, so its posterior is the difference of the two.
    """
    if prior_sd <= 0:
        raise ValueError(f"prior_sd: must be positive, got {prior_sd}")
    precision = 1.0 / prior_sd**2 + n / np.maximum(noise_var, 1e-12)
    mean = (residual_sum / np.maximum(noise_var, 1e-12)) / precision
    var = 1.0 / precision
    return mean[1:] - mean[0], np.sqrt(var[1:] + var[0])


def win_probabilities(values: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """P(each option is the largest) for independent normals; option 0 is control, fixed at 0.

    ``values``/``sds``: (n, K) for the K treatment options (means and sds of their values).
    Returns (n, K + 1), control first; rows sum to 1.
    """
    n, k = values.shape
    sd = np.maximum(sds, _MIN_SD)
    out = np.empty((n, k + 1))
    # Control wins when every treatment value is below 0.
    out[:, 0] = np.prod(ndtr(-values / sd), axis=1)
    for a in range(k):
        # Arm a beats control only above its quantile u0 = P(value_a < 0): integrate the chance that
        # every rival is below it over u in (u0, 1), where the integrand is smooth.
        u0 = ndtr(-values[:, a] / sd[:, a])
        u = u0[:, None] + (1.0 - u0[:, None]) * _U[None, :]
        va = values[:, a, None] + sd[:, a, None] * ndtri(u)
        inside = np.ones_like(va)
        for b in range(k):
            if b != a:
                inside *= ndtr((va - values[:, b, None]) / sd[:, b, None])
        out[:, a + 1] = (1.0 - u0) * (inside @ _UW)
    # Quadrature leaves ~1e-12 of slack; renormalizing keeps the logged propensities a distribution.
    return out / out.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Decisions:
    arm: np.ndarray  # index into arms, control = 0
    propensity: np.ndarray  # exact probability of the chosen arm
    probabilities: np.ndarray  # (n, arms): the whole distribution each user was drawn from
    sampled_effect: np.ndarray  # (n, arms − 1): the effects the draw valued (member + calibration)


def decide(
    samples: np.ndarray,
    calibration: Calibration,
    *,
    value: float,
    cost: float,
    rng: np.random.Generator,
    epsilon: float = 0.0,
    throttle: float = 0.0,
) -> Decisions:
    """One arm per user from ``samples`` (n, arms − 1, M): see the module docstring for the steps."""
    if samples.ndim != 3:
        raise ValueError(f"samples: must be (users, treatment arms, members), got shape {samples.shape}")
    if not (np.isfinite(value) and value > 0 and np.isfinite(cost) and cost >= 0):
        raise ValueError("value/cost: value must be finite and > 0, cost finite and >= 0")
    for name, p in (("epsilon", epsilon), ("throttle", throttle)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name}: must be a probability in [0, 1], got {p}")
    n, k, m = samples.shape
    sds = np.broadcast_to(value * calibration.sd, (n, k))
    probs = np.zeros((n, k + 1))
    for j in range(m):
        probs += win_probabilities(value * (samples[:, :, j] + calibration.mean) - cost, sds)
    probs /= m
    probs = (1.0 - epsilon) * probs + epsilon / (k + 1)
    # Pacing moves a share `throttle` of every treatment's probability to control.
    probs[:, 0] += throttle * probs[:, 1:].sum(axis=1)
    probs[:, 1:] *= 1.0 - throttle
    # The draw follows the same steps as the formula above, so the propensity is the probability of
    # exactly how the arm was drawn.
    member = rng.integers(0, m, size=n)
    shift = calibration.mean + calibration.sd * rng.standard_normal((n, k))
    sampled = samples[np.arange(n), :, member] + shift
    values = value * sampled - cost
    greedy = np.where(values.max(axis=1) > 0, values.argmax(axis=1) + 1, 0)
    explore = rng.random(n) < epsilon
    arm = np.where(explore, rng.integers(0, k + 1, size=n), greedy)
    paced = (arm > 0) & (rng.random(n) < throttle)
    arm = np.where(paced, 0, arm)
    return Decisions(
        arm=arm,
        propensity=probs[np.arange(n), arm],
        probabilities=probs,
        sampled_effect=sampled,
    )
