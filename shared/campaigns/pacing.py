"""Pacing: how much of the treatment probability to move to control so the budget lasts to the end.

The rule. A campaign's progress p in [0, 1] is the share of its time elapsed (``ends_at``: from
creation to the end) or of its expected users seen (``expected_users``), the larger when it has
both (the budget must last to whichever end comes first). The target commitment is
``budget_units × p``; what it has committed is treated + reserved. Then

    throttle = clip((committed − target) / band, 0, 1),   band = max(PACING_BAND × budget_units, 1)

Behind or on target: 0, every user keeps the probability the policy gave. Ahead: the throttle grows
with the lead, reaching 1 (treat no one) when a whole band ahead. It is a proportional controller:
with more demand than budget, spend settles a fraction of a band above the target line and follows
it; as p → 1 the target reaches the whole budget, so the throttle falls to 0 and what is left is
spent (only the ledger's hard cap, never pacing, stops the last treatments). Past the end of the
expected traffic (p = 1) nothing is throttled. Without a budget, an end time or expected users
there is nothing to pace against: 0.

The throttle is read before the request's draws and applied to each user's probabilities, so the
logged propensities stay exact.
"""

from __future__ import annotations

from datetime import datetime

from shared.campaigns.record import CampaignView

__all__ = ["PACING_BAND", "progress", "throttle"]

# Width of the band, as a share of the budget, over which the throttle goes from 0 to 1.
PACING_BAND = 0.02


def progress(view: CampaignView, now: datetime) -> float | None:
    """Share of the campaign done, in [0, 1]; None when it has neither an end time nor expected users."""
    spec = view.campaign.spec
    parts = []
    if spec.ends_at is not None:
        total = (spec.ends_at - view.campaign.created_at).total_seconds()
        done = (now - view.campaign.created_at).total_seconds()
        parts.append(1.0 if total <= 0 else done / total)
    if spec.expected_users is not None:
        parts.append(view.counters.users / spec.expected_users)
    if not parts:
        return None
    return min(max(*parts, 0.0), 1.0)


def throttle(view: CampaignView, now: datetime) -> float:
    """Share of treatment probability to move to control, in [0, 1] (the rule is the module's doc)."""
    budget_units = view.campaign.spec.budget_units
    p = progress(view, now)
    if budget_units is None or p is None:
        return 0.0
    committed = view.counters.treated + view.counters.reserved
    band = max(PACING_BAND * budget_units, 1.0)
    return min(max((committed - budget_units * p) / band, 0.0), 1.0)
