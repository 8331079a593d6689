"""What /optimize asks of a campaign: a grant of treatments for one request, then its settlement.

``reserve`` takes the units atomically in the ledger (never more than the budget and the share
allow, across every worker and replica) and reads the pacing throttle from the campaign as it stood
just before, so the throttle is known before any draw. ``settle`` gives back what was not used.
Both go through ``state.guard`` (off the loop, bounded in time, 503 while the store is out).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
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

# Settlements that failed once and are being retried in the background. Only the event loop touches
# it; asyncio keeps weak references to tasks, so this keeps them alive until they finish.
_RETRIES: set[asyncio.Task[None]] = set()
RETRY_DELAYS_S = (0.2, 0.5, 1, 2, 5, 5, 10, 10, 30, 30, 60, 60)


@dataclass(frozen=True)
class Grant:
    campaign_id: str
    value_per_conversion: float
    cost_per_treatment: float
    throttle: float  # share of treatment probability pacing moves to control, known BEFORE drawing
    units: int  # treatments this batch may give: reserved atomically, 0 <= units <= n_users
    sandbox: bool
    exploration: float  # share of decisions drawn uniformly among the arms (the campaign's floor)


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
        exploration=spec.exploration,
    )


async def settle(state: AppState, grant: Grant, treated: int, users: int) -> None:
    """Spend ``treated`` of the grant, give back the rest. Never raises for a slow or absent store:
    the assignments were already answered, so the settlement is retried in the background until
    the store takes it (meanwhile the units stay reserved: the campaign under-spends, never over)."""
    ledger: CampaignLedger = state.campaigns

    def call() -> None:
        ledger.settle(grant.campaign_id, grant.units, treated, users)

    try:
        await state.guard.call(call, "settle", writes=True)
    except Exception as exc:
        log.warning("campaign %s: settle failed (%s); retrying in the background", grant.campaign_id, exc)
        task = asyncio.create_task(_retry(call, grant), name=f"settle-{grant.campaign_id}")
        _RETRIES.add(task)
        task.add_done_callback(_RETRIES.discard)


async def _retry(call: Callable[[], None], grant: Grant) -> None:
    # Straight to a thread, not through the guard: during an outage the guard refuses at once, and
    # the ledger's own timeout (2 × store_timeout_s) already bounds a call to a stopped store.
    for delay in RETRY_DELAYS_S:
        await asyncio.sleep(delay)
        try:
            await asyncio.to_thread(call)
        except Exception as exc:
            log.warning("campaign %s: settle retry failed: %s", grant.campaign_id, exc)
            continue
        log.info("campaign %s: settled %d units after a retry", grant.campaign_id, grant.units)
        return
    log.error("campaign %s: gave up settling %d units; they stay reserved", grant.campaign_id, grant.units)


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
