"""Per-user Thompson sampling over plausible effects and a normal shift, with exact propensities.

For each user the caller gives M plausible effects per treatment arm and a normal shift per
treatment arm (``Calibration``). The API passes the served effect as the one member and, as the
shift, the posterior of its segment's effect error (``shared.bandit.calibration.user_shift``: prior
N(0, calibration_prior_sd²), likelihood what feedback taught), so its exploration narrows as feedback
accumulates; the policy replay (loadtests/bench_policy_replay.py) also passes the model's members.
One decision is:

1. draw a member j uniformly,
2. draw a calibration shift c_a ~ N(m_a, s_a²) per treatment arm,
3. value each treatment arm at value · (effect_aj + c_a) − cost and control at 0; choose the best,
4. with probability ``epsilon`` choose uniformly instead (an exploration floor, so every arm keeps a
   positive propensity and off-policy estimates stay defined),
5. with probability ``throttle`` (per user) a treatment is replaced by control (budget pacing),
6. once ``capacity`` treatments have been given in this batch (users walked in order), every later
   user gets control with propensity 1: that is settled before their draw, so it is exact too.

The probability of the chosen arm is computed, not estimated: for member j the winning probability
of an arm is a one-dimensional integral over that arm's normal draw of the product of the others'
normal CDFs over the region where it beats control, evaluated by Gauss–Legendre quadrature in the
arm's own quantile (accurate to ~1e-9; closed form with one treatment arm);
averaging over the M members and folding in steps 4 and 5 gives the logged propensity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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


def win_probabilities(values: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """P(each option is the largest) for independent normals; option 0 is control, fixed at 0.

    ``values``/``sds``: (n, K) for the K treatment options (means and sds of their values).
    Returns (n, K + 1), control first; rows sum to 1.
    """
    # scipy.special costs ~0.35 s to import: the API starts without it (one-user requests take
    # decide_one's closed form; the warm-up thread imports it before a batch needs it).
    from scipy.special import ndtr, ndtri

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
    throttle: float | np.ndarray = 0.0,
    capacity: int | None = None,
) -> Decisions:
    """One arm per user from ``samples`` (n, arms − 1, M): see the module docstring for the steps.

    ``throttle`` is one probability or one per user; ``capacity`` the most treatments this batch
    may give (None: no limit).
    """
    if samples.ndim != 3:
        raise ValueError(f"samples: must be (users, treatment arms, members), got shape {samples.shape}")
    _check(value, cost, epsilon, capacity)
    n, k, m = samples.shape
    th = np.broadcast_to(np.asarray(throttle, dtype=np.float64), (n,))
    if not (np.all(th >= 0.0) and np.all(th <= 1.0)):
        raise ValueError("throttle: must be a probability in [0, 1] (one, or one per user)")
    sds = np.broadcast_to(value * calibration.sd, (n, k))
    probs = np.zeros((n, k + 1))
    for j in range(m):
        probs += win_probabilities(value * (samples[:, :, j] + calibration.mean) - cost, sds)
    probs /= m
    probs = (1.0 - epsilon) * probs + epsilon / (k + 1)
    # Pacing moves a share `throttle` of every treatment's probability to control.
    # Control takes the rest, so a full throttle gives it exactly 1 (not 1 − rounding).
    probs[:, 1:] *= (1.0 - th)[:, None]
    probs[:, 0] = 1.0 - probs[:, 1:].sum(axis=1)
    # The draw follows the same steps as the formula above, so the propensity is the probability of
    # exactly how the arm was drawn.
    member = rng.integers(0, m, size=n)
    shift = calibration.mean + calibration.sd * rng.standard_normal((n, k))
    sampled = samples[np.arange(n), :, member] + shift
    values = value * sampled - cost
    greedy = np.where(values.max(axis=1) > 0, values.argmax(axis=1) + 1, 0)
    explore = rng.random(n) < epsilon
    arm = np.where(explore, rng.integers(0, k + 1, size=n), greedy)
    paced = (arm > 0) & (rng.random(n) < th)
    arm = np.where(paced, 0, arm)
    if capacity is not None:
        # Treatments drawn before each user; users walked in order, so while the capacity lasts every
        # draw stands, and from the user who would exceed it on, control is certain.
        treated = arm > 0
        out = np.asarray(np.cumsum(treated) - treated >= capacity)
        if out.any():
            arm = np.where(out, 0, arm)
            probs[out] = 0.0
            probs[out, 0] = 1.0
    return Decisions(
        arm=arm,
        propensity=probs[np.arange(n), arm],
        probabilities=probs,
        sampled_effect=sampled,
    )


def _check(value: float, cost: float, epsilon: float, capacity: int | None) -> None:
    if not (math.isfinite(value) and value > 0 and math.isfinite(cost) and cost >= 0):
        raise ValueError("value/cost: value must be finite and > 0, cost finite and >= 0")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: must be a probability in [0, 1], got {epsilon}")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0):
        raise ValueError(f"capacity: must be a whole number >= 0 or None, got {capacity!r}")


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def decide_one(
    members: list[float],
    cal_mean: float,
    cal_sd: float,
    *,
    value: float,
    cost: float,
    rng: np.random.Generator,
    epsilon: float = 0.0,
    throttle: float = 0.0,
    capacity: int | None = None,
) -> tuple[int, float]:
    """``decide`` for one user and one treatment arm, in closed form on Python floats.

    The same steps and the same draws from ``rng`` in the same order, so a seed gives the arm
    ``decide`` would; it exists because a dozen numpy calls on one-element arrays cost more than the
    decision (the one-user /optimize call). Returns (arm index, propensity).
    """
    _check(value, cost, epsilon, capacity)
    if not 0.0 <= throttle <= 1.0:
        raise ValueError(f"throttle: must be a probability in [0, 1], got {throttle}")
    m = len(members)
    sd = max(value * cal_sd, _MIN_SD)
    treat = math.fsum(_phi((value * (e + cal_mean) - cost) / sd) for e in members) / m
    treat = ((1.0 - epsilon) * treat + epsilon / 2.0) * (1.0 - throttle)
    member = int(rng.integers(0, m))
    sampled = members[member] + cal_mean + cal_sd * float(rng.standard_normal())
    arm = 1 if value * sampled - cost > 0 else 0
    if float(rng.random()) < epsilon:
        arm = int(rng.integers(0, 2))
    else:
        rng.integers(0, 2)  # drawn either way, as in ``decide``
    if arm and float(rng.random()) < throttle:
        arm = 0
    elif not arm:
        rng.random()
    if capacity is not None and capacity < 1:
        return 0, 1.0
    return arm, treat if arm else 1.0 - treat
