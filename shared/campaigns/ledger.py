"""The ledger interface: create, read, reserve, settle, close. Backends: SQLite and Redis.

Reserve and settle are each one atomic step in the store (a ``BEGIN IMMEDIATE`` transaction, a Lua
script), so any number of threads, workers and replicas sharing the store can never reserve more
than the budget: at every moment treated + reserved ≤ budget units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.campaigns.record import Campaign, CampaignSpec, CampaignView

__all__ = ["CampaignLedger", "Reservation", "check_settle"]


@dataclass(frozen=True)
class Reservation:
    """Units taken for one request, and the campaign as it stood just before (what pacing reads)."""

    units: int
    before: CampaignView


class CampaignLedger(Protocol):
    backend: str

    def create(self, spec: CampaignSpec, now: datetime) -> Campaign: ...

    def get(self, campaign_id: str) -> CampaignView:
        """The campaign and its counters; ``UnknownCampaign`` when no campaign has this id."""
        ...

    def list(self) -> list[CampaignView]:
        """Every campaign, oldest first."""
        ...

    def reserve(self, campaign_id: str, n_users: int, now: datetime) -> Reservation:
        """Atomically hold up to ``n_users`` treatments; ``UnknownCampaign`` / ``CampaignClosed``."""
        ...

    def settle(self, campaign_id: str, units: int, treated: int, users: int) -> None:
        """Atomically turn a reservation of ``units`` into ``treated`` spent (giving back the rest)
        and count ``users`` served. Accepted after the campaign closed: those requests were in flight."""
        ...

    def close_campaign(self, campaign_id: str, now: datetime) -> CampaignView:
        """Stop new reservations (idempotent); ``UnknownCampaign``."""
        ...

    def close(self) -> None: ...


def check_settle(units: int, treated: int, users: int) -> None:
    for name, v in (("units", units), ("treated", treated), ("users", users)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name}: must be a whole number >= 0, got {v!r}")
    if treated > units:
        raise ValueError(f"treated: at most the {units} units reserved, got {treated}")
