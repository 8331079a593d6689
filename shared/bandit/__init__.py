"""Contextual Thompson sampling: Beta posteriors per (context, arm) and where their counts live."""

from __future__ import annotations

from shared.bandit.posterior import (
    BetaPosterior,
    Prior,
    ThompsonArms,
    choice_probabilities,
    expected_loss,
    prob_best,
    thompson_arms,
    thompson_choose,
)
from shared.bandit.store import (
    Assignment,
    BanditStore,
    Counts,
    RewardResult,
    RewardStatus,
    UnknownAssignment,
    apply_prior,
    check_reward,
    new_assignment_ids,
)

__all__ = [
    "Assignment",
    "BanditStore",
    "BetaPosterior",
    "Counts",
    "Prior",
    "RewardResult",
    "RewardStatus",
    "ThompsonArms",
    "UnknownAssignment",
    "apply_prior",
    "check_reward",
    "choice_probabilities",
    "expected_loss",
    "new_assignment_ids",
    "open_store",
    "prob_best",
    "thompson_arms",
    "thompson_choose",
]

_URL_RULE = "must be sqlite:///<file path> (four slashes for an absolute path) or redis://host:port/db"


def open_store(url: str, namespace: str = "uplift") -> BanditStore:
    """The store a URL names: ``sqlite:///var/bandit.db`` (embedded default) or ``redis://host:6379/0``.

    ``namespace`` prefixes the Redis keys, so several deployments or test runs can share one server;
    a SQLite file is its own namespace.
    """
    if not isinstance(url, str):
        raise ValueError(f"bandit url: {_URL_RULE}, got {url!r}")
    if url.startswith("sqlite:///"):
        from shared.bandit.sqlite_store import SqliteBanditStore

        path = url[len("sqlite:///") :]
        if not path or path.endswith("/"):
            raise ValueError(f"bandit url: {_URL_RULE}; {url!r} names no file")
        return SqliteBanditStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from shared.bandit.redis_store import RedisBanditStore

        return RedisBanditStore(url, namespace=namespace)
    raise ValueError(f"bandit url: {_URL_RULE}, got {url!r}")
