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
    PRODUCTION,
    ArmFeedback,
    Assignment,
    BanditStore,
    Counts,
    Feedback,
    RewardResult,
    RewardStatus,
    UnknownAssignment,
    apply_prior,
    check_reward,
    check_space,
    new_assignment_ids,
)

__all__ = [
    "PRODUCTION",
    "ArmFeedback",
    "Assignment",
    "BanditStore",
    "BetaPosterior",
    "Counts",
    "Feedback",
    "Prior",
    "RewardResult",
    "RewardStatus",
    "ThompsonArms",
    "UnknownAssignment",
    "apply_prior",
    "check_reward",
    "check_space",
    "choice_probabilities",
    "expected_loss",
    "new_assignment_ids",
    "open_store",
    "prob_best",
    "thompson_arms",
    "thompson_choose",
]

_URL_RULE = "must be sqlite:///<file path> (four slashes for an absolute path) or redis://host:port/db"


def open_store(
    url: str,
    namespace: str = "uplift",
    timeout_s: float | None = None,
    assignment_retention_days: float | None = None,
    sandbox_retention_s: float = 24 * 3600.0,
) -> BanditStore:
    """The store a URL names: ``sqlite:///var/bandit.db`` (embedded default) or ``redis://host:6379/0``.

    ``namespace`` prefixes the Redis keys, so several deployments or test runs can share one server;
    a SQLite file is its own namespace. ``timeout_s`` bounds one blocked call (Redis socket timeout,
    SQLite busy timeout) so that a thread parked on a stopped store comes back; None keeps each
    store's own default. ``assignment_retention_days`` is how long an assignment (and so feedback
    for it) is kept; None keeps each store's default.
    """
    if not isinstance(url, str):
        raise ValueError(f"bandit url: {_URL_RULE}, got {url!r}")
    if url.startswith("sqlite:///"):
        from shared.bandit.sqlite_store import SqliteBanditStore

        path = url[len("sqlite:///") :]
        if not path or path.endswith("/"):
            raise ValueError(f"bandit url: {_URL_RULE}; {url!r} names no file")
        return SqliteBanditStore(
            path,
            busy_timeout_s=30.0 if timeout_s is None else timeout_s,
            retention_s=None if assignment_retention_days is None else assignment_retention_days * 86400.0,
            sandbox_retention_s=sandbox_retention_s,
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        from shared.bandit.redis_store import RedisBanditStore

        return RedisBanditStore(
            url,
            namespace=namespace,
            socket_timeout_s=5.0 if timeout_s is None else timeout_s,
            assignment_ttl_s=(
                30 * 24 * 3600
                if assignment_retention_days is None
                else max(1, round(assignment_retention_days * 86400))
            ),
            sandbox_ttl_s=max(1, round(sandbox_retention_s)),
        )
    raise ValueError(f"bandit url: {_URL_RULE}, got {url!r}")
