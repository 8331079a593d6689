"""What /optimize asks of a campaign: a grant of treatments for one request, then its settlement.

``reserve`` takes the units atomically in the ledger (never more than the budget and the share
allow, across every worker and replica) and reads the pacing throttle from the campaign as it stood
just before, so the throttle is known before any draw. ``settle`` gives back what was not used.
Both go through ``state.guard`` (off the loop, bounded in time, 503 while the store is out).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import HTTPException

from shared.campaigns import CampaignClosed, CampaignLedger, UnknownCampaign, open_ledger, throttle

if TYPE_CHECKING:
    from services.api.settings import ApiSettings
    from services.api.state import AppState
    from shared.assignment_log import AssignmentLog

__all__ = ["Grant", "closed", "open_campaign_parts", "reserve", "settle", "unknown"]

log = logging.getLogger("uplift.api")


@dataclass(frozen=True)
class Grant:
    campaign_id: str
    value_per_conversion: float
    cost_per_treatment: float
    throttle: float  # share of treatment probability pacing moves to control, known BEFORE drawing
    units: int  # treatments this batch may give: reserved atomically, 0 <= units <= n_users
    sandbox: bool


def unknown(campaign_id: str) -> HTTPException:
    return HTTPException(
        404, detail=[{"field": "campaign_id", "rule": f"no campaign has id {campaign_id!r}"}]
    )


def closed(exc: CampaignClosed) -> HTTPException:
    why = "was closed" if exc.reason == "closed" else "has passed its ends_at"
    return HTTPException(
        409, detail=[{"field": "campaign_id", "rule": f"the campaign {why}: it takes no new assignments"}]
    )


async def reserve(state: AppState, campaign_id: str, n_users: int) -> Grant:
    ledger: CampaignLedger = state.campaigns
    now = datetime.now(UTC)
    try:
        got = await state.guard.call(
            lambda: ledger.reserve(campaign_id, n_users, now), "reserve", writes=True
        )
    except UnknownCampaign:
        raise unknown(campaign_id) from None
    except CampaignClosed as exc:
        raise closed(exc) from None
    spec = got.before.campaign.spec
    return Grant(
        campaign_id=campaign_id,
        value_per_conversion=spec.value_per_conversion,
        cost_per_treatment=spec.cost_per_treatment,
        throttle=throttle(got.before, now),
        units=got.units,
        sandbox=spec.sandbox,
    )


async def settle(state: AppState, grant: Grant, treated: int, users: int) -> None:
    ledger: CampaignLedger = state.campaigns
    await state.guard.call(
        lambda: ledger.settle(grant.campaign_id, grant.units, treated, users), "settle", writes=True
    )


def open_campaign_parts(settings: ApiSettings, timeout_s: float) -> tuple[CampaignLedger, AssignmentLog]:
    """The ledger (beside the bandit store: its Redis, or campaigns.db in data_dir) and the assignment
    log (UPLIFT_LOG_URL, else assignments.db in data_dir) the campaign routes read."""
    from shared.assignment_log import open_log

    ledger = open_ledger(
        settings.resolved_bandit_url(),
        namespace=settings.bandit_namespace,
        timeout_s=timeout_s,
        sqlite_dir=settings.data_dir,
    )
    url = os.environ.get("UPLIFT_LOG_URL") or f"sqlite:///{settings.data_dir / 'assignments.db'}"
    return ledger, open_log(url)
