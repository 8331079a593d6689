"""A campaign: what it may spend and on whom, validated; its counters; the reservation rule.

Money is counted in treatment units: a budget buys ``floor(budget / cost)`` treatments, computed on
the decimal values the client sent (0.3 / 0.1 is 3 treatments, not 2.999...), so "spent + reserved
≤ budget" is an integer comparison every backend makes the same way, with no float drift.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "MAX_UNITS",
    "Campaign",
    "CampaignClosed",
    "CampaignSpec",
    "CampaignView",
    "Counters",
    "UnknownCampaign",
    "new_campaign_id",
    "share_cap_units",
    "units_to_reserve",
]

Status = Literal["open", "closed"]

# Above 2**53 a count is no longer exact in a double (Redis' Lua numbers): a budget buying more
# treatments than that cannot bind in practice, so it is held as "no budget cap".
MAX_UNITS = 2**53


class UnknownCampaign(KeyError):  # noqa: N818 - the API answers it as a 404
    """No campaign has this id."""


class CampaignClosed(Exception):  # noqa: N818 - a condition, answered as a 409
    """The campaign takes no new assignments: it was closed, or its end time has passed."""

    def __init__(self, campaign_id: str, reason: Literal["closed", "ended"]) -> None:
        super().__init__(f"campaign {campaign_id} is {reason}")
        self.reason = reason


def _money(value: Any, name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CampaignSpec:
    """What a client asks for. Every rule broken raises ``ValueError("field: rule")``."""

    name: str
    cost_per_treatment: float
    value_per_conversion: float
    budget: float | None = None
    max_treated_share: float | None = None
    ends_at: datetime | None = None
    expected_users: int | None = None
    sandbox: bool = False
    # Share of decisions drawn uniformly among the arms (an exploration floor); stored in the spec's
    # JSON, so a campaign created before the field existed reads as 0.
    exploration: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 200:
            raise ValueError(f"name: must be a string of 1 to 200 characters, got {self.name!r}")
        _money(self.cost_per_treatment, "cost_per_treatment")
        _money(self.value_per_conversion, "value_per_conversion")
        _money(self.budget, "budget", optional=True)
        s = self.max_treated_share
        if s is not None and (
            isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or not 0 <= s <= 1
        ):
            raise ValueError(f"max_treated_share: must be a number in [0, 1], got {s!r}")
        if self.budget is None and s is None:
            raise ValueError("budget: a campaign needs a budget, a max_treated_share, or both")
        if self.ends_at is not None and (
            not isinstance(self.ends_at, datetime) or self.ends_at.tzinfo is None
        ):
            raise ValueError(f"ends_at: must be a timezone-aware time, got {self.ends_at!r}")
        u = self.expected_users
        if u is not None and (isinstance(u, bool) or not isinstance(u, int) or u < 1):
            raise ValueError(f"expected_users: must be a whole number >= 1, got {u!r}")
        if not isinstance(self.sandbox, bool):
            raise ValueError(f"sandbox: must be true or false, got {self.sandbox!r}")
        x = self.exploration
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or not 0 <= x <= 1:
            raise ValueError(f"exploration: must be a share in [0, 1], got {x!r}")

    @property
    def budget_units(self) -> int | None:
        """Treatments the budget buys; None when it cannot bind (no budget, free treatments, > 2**53)."""
        if self.budget is None or self.cost_per_treatment == 0:
            return None
        units = int(Decimal(repr(self.budget)) // Decimal(repr(self.cost_per_treatment)))
        return None if units > MAX_UNITS else units

    def cost_of(self, units: int) -> float:
        """The money ``units`` treatments cost, exact to the decimals the client gave."""
        return float(Decimal(repr(self.cost_per_treatment)) * units)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cost_per_treatment": self.cost_per_treatment,
            "value_per_conversion": self.value_per_conversion,
            "budget": self.budget,
            "max_treated_share": self.max_treated_share,
            "ends_at": None if self.ends_at is None else self.ends_at.astimezone(UTC).isoformat(),
            "expected_users": self.expected_users,
            "sandbox": self.sandbox,
            "exploration": self.exploration,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CampaignSpec:
        ends = raw.get("ends_at")
        return cls(**{**raw, "ends_at": None if ends is None else datetime.fromisoformat(ends)})


def new_campaign_id() -> str:
    return f"cmp_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    spec: CampaignSpec
    created_at: datetime
    status: Status = "open"
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Counters:
    """The ledger's running totals: treatments given (spent) and held by requests in flight, users served."""

    treated: int = 0
    reserved: int = 0
    users: int = 0


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    counters: Counters = field(default_factory=Counters)

    @property
    def spend(self) -> float:
        return self.campaign.spec.cost_of(self.counters.treated)

    @property
    def reserved_spend(self) -> float:
        return self.campaign.spec.cost_of(self.counters.reserved)

    @property
    def remaining(self) -> float | None:
        """Budget neither spent nor reserved; None without a budget."""
        budget = self.campaign.spec.budget
        if budget is None:
            return None
        left = Decimal(repr(budget)) - Decimal(repr(self.campaign.spec.cost_per_treatment)) * (
            self.counters.treated + self.counters.reserved
        )
        return float(left)


def share_cap_units(share: float, users: int) -> int:
    """Treatments a share allows among ``users``; the tiny slack absorbs 0.3 × 10 = 2.9999999999999996.

    The Redis script computes the same expression on the same doubles.
    """
    return math.floor(share * users + 1e-9)


def units_to_reserve(n_users: int, budget_units: int | None, share: float | None, counters: Counters) -> int:
    """How many treatments a request for ``n_users`` users may hold, never breaking either cap.

    Budget: treated + reserved + units ≤ budget_units. Share: treated + reserved + units ≤
    share × (users served + this request's users). Users of other requests in flight are not
    counted yet while their reservations are, so concurrent requests only ever get less.
    """
    units = n_users
    held = counters.treated + counters.reserved
    if budget_units is not None:
        units = min(units, budget_units - held)
    if share is not None:
        units = min(units, share_cap_units(share, counters.users + n_users) - held)
    return max(units, 0)
