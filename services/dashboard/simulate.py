"""Simulated visitors for the live-bandit page: real /optimize and /feedback calls, rewards from the truth.

Held-out users of the synthetic market carry their true conversion probability under control
(``p_control``) and under treatment (``p_treated`` with one treatment arm; ``true_cate_<arm>``, the
true effect of each arm, with several). A round sends N of them through the API, draws each reward
as Bernoulli(true probability of the arm the API chose) from a seeded Generator, and posts it back,
so the API's posteriors learn from outcomes the dashboard did not make up.

Every call names a sandbox (``sandbox``): the API decides from and records into that sandbox's
bandit state only, never production's, and needs no API key for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# /optimize takes a bounded batch; 500 stays under the API's default max_batch of 1000.
CHUNK = 500

Post = Callable[[str, Any], Any]
_SANDBOX = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True)
class RoundResult:
    users: int
    rewards: int
    regret: float
    random_regret: float
    treated: int
    thompson_seed: int


def true_rates(rows: pd.DataFrame, arms: list[str], control: str) -> np.ndarray | None:
    """(n, arms) true conversion probability per arm, or None when the rows do not carry the truth."""
    if "p_control" not in rows.columns:
        return None
    p0 = rows["p_control"].to_numpy(dtype=np.float64)
    cols = []
    for arm in arms:
        if arm == control:
            cols.append(p0)
        elif f"true_cate_{arm}" in rows.columns:
            cols.append(p0 + rows[f"true_cate_{arm}"].to_numpy(dtype=np.float64))
        elif "p_treated" in rows.columns and len(arms) == 2:
            cols.append(rows["p_treated"].to_numpy(dtype=np.float64))
        else:
            return None
    return np.column_stack(cols)


def has_truth(frame: pd.DataFrame, arms: list[str], control: str) -> bool:
    return true_rates(frame.head(1), arms, control) is not None


def regret(rates: np.ndarray, chosen: np.ndarray) -> tuple[float, float]:
    """Expected conversions lost against the oracle (best true arm per user): chosen arms, uniform arm."""
    best = rates.max(axis=1)
    got = rates[np.arange(len(rates)), chosen]
    return float((best - got).sum()), float((best - rates.mean(axis=1)).sum())


def users_payload(rows: pd.DataFrame, features: list[str], offset: int) -> list[dict[str, Any]]:
    records = json.loads(rows[features].to_json(orient="records"))
    return [{"user_id": f"sim-{offset + i}", "features": r} for i, r in enumerate(records)]


def run_round(
    frame: pd.DataFrame,
    features: list[str],
    arms: list[str],
    control: str,
    n: int,
    rng: np.random.Generator,
    post: Post,
    offset: int = 0,
    *,
    sandbox: str,
) -> RoundResult:
    """Send ``n`` sampled users through /optimize, reward each from the truth via /feedback, in ``sandbox``."""
    if not _SANDBOX.fullmatch(sandbox):
        raise ValueError(f"sandbox: must be 1-40 letters, digits, _ or -, got {sandbox!r}")
    if not has_truth(frame, arms, control):
        raise ValueError("frame: needs p_control and each arm's truth (only the synthetic market has them)")
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    rows = frame.iloc[rng.integers(0, len(frame), size=n)].reset_index(drop=True)
    thompson_seed = int(rng.integers(0, 2**31 - 1))
    # Value 1 and cost 0: the bandit picks the arm it believes converts more, which is what regret measures.
    policy = {
        "budget": float(n),
        "cost_per_treatment": 0.0,
        "value_per_conversion": 1.0,
        "seed": thompson_seed,
    }
    decisions: list[dict[str, Any]] = []
    for start in range(0, n, CHUNK):
        users = users_payload(rows.iloc[start : start + CHUNK], features, offset + start)
        decisions += post("/optimize", {"users": users, "policy": policy, "sandbox": sandbox})["decisions"]
    index = {arm: k for k, arm in enumerate(arms)}
    chosen = np.array([index[d["arm"]] for d in decisions])
    rates = true_rates(rows, arms, control)
    assert rates is not None  # checked above
    rewards = rng.random(n) < rates[np.arange(n), chosen]
    for d, r in zip(decisions, rewards, strict=True):
        post("/feedback", {"assignment_id": d["assignment_id"], "reward": int(r), "sandbox": sandbox})
    lost, lost_random = regret(rates, chosen)
    return RoundResult(
        users=n,
        rewards=int(rewards.sum()),
        regret=lost,
        random_regret=lost_random,
        treated=int((chosen != index[control]).sum()),
        thompson_seed=thompson_seed,
    )
