"""Expected outcomes of treat-or-not policies from the market's true probabilities (not realized draws).

Every figure is incremental over treating nobody: a policy that treats the users in ``treat`` gains
Σ true_cate over them in expected conversions, worth ``value`` each, and pays ``cost`` per treatment.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

VALUE_PER_CONVERSION = 10.0  # the currency unit; the settings vary the cost against it
POLICIES = ("served", "oracle", "greedy", "treat_all", "treat_none", "random")


def value_of(treat: np.ndarray, true_cate: np.ndarray, value: float, cost: float) -> dict[str, float]:
    """Expected incremental conversions, treatments, cost and profit of treating the users in ``treat``."""
    conversions = math.fsum(true_cate[treat].tolist())
    treated = int(treat.sum())
    return _totals(conversions, treated, len(treat), value, cost)


def random_value(share: float, true_cate: np.ndarray, value: float, cost: float) -> dict[str, float]:
    """Treating each user with probability ``share``: the expectation over the coin flips too."""
    conversions = share * math.fsum(true_cate.tolist())
    return _totals(conversions, share * len(true_cate), len(true_cate), value, cost)


def _totals(conversions: float, treated: float, n: int, value: float, cost: float) -> dict[str, float]:
    spend = cost * treated
    return {
        "incremental_conversions": round(conversions, 4),
        "treated": round(treated, 2),
        "treated_share": round(treated / n, 5) if n else 0.0,
        "cost": round(spend, 4),
        "profit": round(value * conversions - spend, 4),
    }


def ratio(a: float, b: float) -> float | None:
    """a / b when b is a positive profit; None when the baseline earns nothing (no ratio to speak of)."""
    return round(a / b, 4) if b > 1e-12 else None


def compare(
    served_treat: np.ndarray,
    model_cate: np.ndarray,
    true_cate: np.ndarray,
    value: float,
    cost: float,
) -> dict[str, Any]:
    """The served policy beside the oracle, greedy-on-model, treat-all, treat-none and random."""
    n = len(true_cate)
    policies = {
        "served": value_of(served_treat, true_cate, value, cost),
        "oracle": value_of(true_cate * value > cost, true_cate, value, cost),
        "greedy": value_of(model_cate * value > cost, true_cate, value, cost),
        "treat_all": value_of(np.ones(n, dtype=bool), true_cate, value, cost),
        "treat_none": value_of(np.zeros(n, dtype=bool), true_cate, value, cost),
        "random": random_value(float(served_treat.mean()), true_cate, value, cost),
    }
    served = policies["served"]["profit"]
    return {
        "users": n,
        "policies": policies,
        "served_over_greedy": ratio(served, policies["greedy"]["profit"]),
        "served_over_oracle": ratio(served, policies["oracle"]["profit"]),
    }


def by_fifths(
    served_treat: np.ndarray, model_cate: np.ndarray, true_cate: np.ndarray, value: float, cost: float
) -> list[dict[str, Any]]:
    """``compare`` over each fifth of the stream, in stream order (learning shows as a rising ratio)."""
    edges = np.linspace(0, len(true_cate), 6).astype(int)
    return [
        {"fifth": k + 1, **compare(served_treat[a:b], model_cate[a:b], true_cate[a:b], value, cost)}
        for k, (a, b) in enumerate(itertools.pairwise(edges.tolist()))
    ]


def choose_settings(true_cate: np.ndarray, value: float, count: int = 3) -> list[dict[str, float]]:
    """``count`` costs at which the oracle treats between 8% and 40% of users (at most 90% of those it helps).

    Read from this market's effect quantiles: the cost that makes a share q worth treating is
    value × the (1 − q) quantile of the true effect. A market that helps fewer than 9% of users
    cannot give three distinct settings inside the 5-50% band, and says so.
    """
    helped = float((true_cate > 0).mean())
    high = min(0.40, 0.9 * helped)
    if high <= 0.08:
        raise ValueError(f"market: only {helped:.1%} of users gain from treatment; need more than 9%")
    out = []
    for share in np.linspace(0.08, high, count):
        cost = value * float(np.quantile(true_cate, 1.0 - share))
        out.append(
            {
                "target_share": round(float(share), 4),
                "value_per_conversion": value,
                "cost_per_treatment": round(cost, 6),
                "oracle_share_training_market": round(float((true_cate * value > cost).mean()), 5),
            }
        )
    return out


def logged_truth(
    arm: list[str], propensity: np.ndarray, p_control: np.ndarray, p_treated: np.ndarray, control: str
) -> float:
    """True mean reward per user of the logging policy: Σ over both arms of π(arm | user) × p(arm | user).

    The log holds the probability of the chosen arm; with two arms the other one's is its complement.
    """
    chosen_treated = np.array([a != control for a in arm])
    p_treat = np.where(chosen_treated, propensity, 1.0 - propensity)
    return float(np.mean(p_treat * p_treated + (1.0 - p_treat) * p_control))
