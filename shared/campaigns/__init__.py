"""Campaigns: budgets and treated-share caps spent across requests, workers and replicas, with pacing."""

from shared.campaigns.ledger import CampaignLedger, Reservation
from shared.campaigns.open import open_ledger
from shared.campaigns.pacing import PACING_BAND, progress, throttle
from shared.campaigns.record import (
    Campaign,
    CampaignClosed,
    CampaignSpec,
    CampaignView,
    Counters,
    UnknownCampaign,
    units_to_reserve,
)

__all__ = [
    "PACING_BAND",
    "Campaign",
    "CampaignClosed",
    "CampaignLedger",
    "CampaignSpec",
    "CampaignView",
    "Counters",
    "Reservation",
    "UnknownCampaign",
    "open_ledger",
    "progress",
    "throttle",
    "units_to_reserve",
]
