"""One logged assignment and its reward, as the log stores them; the features' canonical hash."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "LogEntry",
    "LogRow",
    "RewardStatus",
    "canonical_json",
    "check_days",
    "check_reward",
    "check_since",
    "features_hash",
    "make_row",
    "reward_status",
]

# applied: stored now; duplicate: the same reward was stored before; conflict: a different reward
# was stored before (the first one stands); not_found: no assignment has that id (never or purged).
RewardStatus = Literal["applied", "duplicate", "conflict", "not_found"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def canonical_json(features: Mapping[str, Any]) -> str:
    """Keys sorted, no spaces, no NaN: the same features always give the same text and hash."""
    try:
        return json.dumps(
            features, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:
        raise ValueError(f"features: must be JSON without NaN or infinity ({exc})") from exc
    except TypeError as exc:
        raise ValueError(f"features: must be JSON-serialisable ({exc})") from exc


def features_hash(features: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the features, 64 lowercase hex digits."""
    return hashlib.sha256(canonical_json(features).encode()).hexdigest()


def _text(value: Any, name: str, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str) or (not empty_ok and not value):
        raise ValueError(f"{name}: must be a {'' if empty_ok else 'non-empty '}string, got {value!r}")


@dataclass(frozen=True)
class LogRow:
    """One assignment: who got which arm, with what probability, under which model and policy."""

    assignment_id: str
    assigned_at: datetime
    campaign_id: str | None
    model_version: str
    user_id: str
    features_hash: str
    arm: str
    propensity: float
    segment: str
    policy: str
    features_json: str | None = None

    def __post_init__(self) -> None:
        for name in ("assignment_id", "model_version", "user_id", "arm", "policy"):
            _text(getattr(self, name), name)
        _text(self.segment, "segment", empty_ok=True)
        if self.campaign_id is not None:
            _text(self.campaign_id, "campaign_id")
        if not isinstance(self.assigned_at, datetime) or self.assigned_at.tzinfo is None:
            raise ValueError(f"assigned_at: must be a timezone-aware datetime, got {self.assigned_at!r}")
        object.__setattr__(self, "assigned_at", self.assigned_at.astimezone(UTC))
        p = self.propensity
        if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) or not 0 < p <= 1:
            raise ValueError(f"propensity: must be a probability in (0, 1], got {p!r}")
        object.__setattr__(self, "propensity", float(p))
        if not isinstance(self.features_hash, str) or not _HEX64.fullmatch(self.features_hash):
            raise ValueError("features_hash: must be 64 lowercase hex digits (sha256 of the canonical JSON)")
        if self.features_json is not None:
            _text(self.features_json, "features_json")
            digest = hashlib.sha256(self.features_json.encode()).hexdigest()
            if digest != self.features_hash:
                raise ValueError("features_json: its sha256 does not match features_hash")


@dataclass(frozen=True)
class LogEntry:
    """A logged assignment joined with its reward (None until feedback arrives)."""

    row: LogRow
    reward: float | None = None
    rewarded_at: datetime | None = field(default=None)


def make_row(
    *,
    assignment_id: str,
    user_id: str,
    features: Mapping[str, Any],
    arm: str,
    propensity: float,
    segment: str,
    model_version: str,
    policy: str,
    campaign_id: str | None = None,
    keep_features: bool = True,
    assigned_at: datetime | None = None,
) -> LogRow:
    """A row from the raw features: hashed always, kept as JSON when ``keep_features``."""
    text = canonical_json(features)
    return LogRow(
        assignment_id=assignment_id,
        assigned_at=assigned_at or datetime.now(UTC),
        campaign_id=campaign_id,
        model_version=model_version,
        user_id=user_id,
        features_hash=hashlib.sha256(text.encode()).hexdigest(),
        arm=arm,
        propensity=propensity,
        segment=segment,
        policy=policy,
        features_json=text if keep_features else None,
    )


def check_reward(reward: Any) -> float:
    if isinstance(reward, bool) or not isinstance(reward, int | float) or not math.isfinite(reward):
        raise ValueError(f"reward: must be a finite number, got {reward!r}")
    return float(reward)


def check_days(older_than_days: Any) -> float:
    d = older_than_days
    if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d <= 0:
        raise ValueError(f"older_than_days: must be a positive number of days, got {d!r}")
    return float(d)


def check_since(since: datetime | None) -> datetime | None:
    if since is None:
        return None
    if not isinstance(since, datetime) or since.tzinfo is None:
        raise ValueError(f"since: must be a timezone-aware datetime, got {since!r}")
    return since.astimezone(UTC)


def reward_status(stored: float | None, reward: float) -> RewardStatus:
    """What a second reward for an assignment means, given the one stored before it."""
    if stored is None:
        return "applied"
    return "duplicate" if stored == reward else "conflict"
