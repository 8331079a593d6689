"""A campaign's figures from its logged assignments: rewards, off-policy estimates, incremental conversions.

Plain functions, run in the thread pool by the campaign routes (the bootstrap is CPU work). The
estimates are shared.ope.policies' (the same function as `uplift evaluate-policy`); the direct
method of DR is the served model's predicted outcome per arm when the log kept the features, else
each arm's mean logged reward (DR stays unbiased with exact propensities either way).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.ope.policies import (
    LoggedData,
    evaluate_log,
    logged_from_entries,
    mean_reward_per_arm,
    model_outcomes,
    served_minus_none,
)

if TYPE_CHECKING:
    from services.api.state import LoadedModel
    from shared.assignment_log import LogEntry

__all__ = ["evaluation", "incremental", "rewards"]

_CLI_FLAG = re.compile(r"^--[a-z-]+: ")


def _plain(message: str) -> str:
    """A shared message without the CLI option it names (``--log: ...``): here it is about the campaign."""
    return _CLI_FLAG.sub("", message)


def rewards(entries: Sequence[LogEntry]) -> dict[str, Any]:
    got = [e.reward for e in entries if e.reward is not None]
    return {"received": len(got), "total": float(sum(got))}


def _control(model: LoadedModel | None) -> str:
    return model.bundle.arms[0] if model is not None else "control"


def _logged(entries: Sequence[LogEntry], model: LoadedModel | None, cid: str) -> LoggedData:
    if all(e.reward is None for e in entries):  # said before pandas is imported for nothing
        raise ValueError(f"campaign {cid} has no rewarded assignment to evaluate from")
    return logged_from_entries(entries, _control(model), f"campaign {cid}")


def _direct_method(data: LoggedData, model: LoadedModel | None) -> tuple[np.ndarray, str | None, list[str]]:
    """The served model's outcomes per arm and its version, or the arm means with the reason why."""
    if model is None:
        return (
            mean_reward_per_arm(data),
            None,
            ["no model loaded: the direct method is each arm's mean reward"],
        )
    try:
        return model_outcomes(model.bundle, data), model.bundle.version, []
    except ValueError as exc:
        return (
            mean_reward_per_arm(data),
            None,
            [f"direct method is each arm's mean reward: {_plain(str(exc))}"],
        )


def _interval(
    data: LoggedData, q: np.ndarray, users: int, level: float, n_bootstrap: int, seed: int
) -> dict[str, Any]:
    diff = served_minus_none(data, q, n_bootstrap=n_bootstrap, level=level, seed=seed)
    return {
        "value": diff.value * users,
        "low": diff.low * users,
        "high": diff.high * users,
        "level": level,
        "rows": diff.n,
    }


def incremental(
    entries: Sequence[LogEntry],
    model: LoadedModel | None,
    cid: str,
    users: int,
    level: float,
    n_bootstrap: int,
    seed: int,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Estimated incremental conversions of the served policy over treat-none for ``users`` users."""
    try:
        data = _logged(entries, model, cid)
        q, _, notes = _direct_method(data, model)
        return _interval(data, q, users, level, n_bootstrap, seed), notes
    except ValueError as exc:
        return None, [_plain(str(exc))]


def evaluation(
    entries: Sequence[LogEntry],
    model: LoadedModel | None,
    cid: str,
    users: int,
    *,
    value: float,
    cost: float,
    level: float,
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """The body of GET /campaigns/{id}/evaluation (CampaignEvaluation); ``value`` and ``cost`` are the
    campaign's, for the served model's greedy policy."""
    out: dict[str, Any] = {
        "campaign_id": cid,
        "model_version": None,
        "rows": 0,
        "unrewarded_rows": len(entries),
        "arms": [],
        "seed": seed,
        "level": level,
        "policies": [],
        "incremental_conversions": None,
        "notes": [],
    }
    try:
        data = _logged(entries, model, cid)
    except ValueError as exc:
        out["notes"].append(_plain(str(exc)))
        return out
    q, version, notes = _direct_method(data, model)
    # The served model's greedy policy (effect × value > cost) is a candidate too, at the campaign's terms.
    models = [(version, q)] if version is not None else []
    reports = evaluate_log(
        data, models, value=value, cost=cost, n_bootstrap=n_bootstrap, level=level, seed=seed
    )
    out.update(
        model_version=version,
        rows=len(data.frame),
        unrewarded_rows=data.dropped_unrewarded,
        arms=data.arms,
        policies=[r.to_dict() for r in reports],
        incremental_conversions=_interval(data, q, users, level, n_bootstrap, seed),
        notes=notes,
    )
    return out
