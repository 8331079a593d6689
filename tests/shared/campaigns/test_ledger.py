"""The ledger contract, run against SQLite and Redis: caps hold under concurrency, close, settle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.campaigns import CampaignClosed, CampaignLedger, CampaignSpec, UnknownCampaign

NOW = datetime.now(UTC)


def make(ledger: CampaignLedger, at: datetime = NOW, **kw: object) -> str:
    base: dict[str, object] = {"name": "c", "cost_per_treatment": 0.5, "value_per_conversion": 3.0}
    base.update(kw)
    return ledger.create(CampaignSpec(**base), at).campaign_id  # type: ignore[arg-type]


def test_create_get_list(ledger: CampaignLedger) -> None:
    first = make(ledger, budget=10.0, name="a")
    second = make(ledger, NOW + timedelta(seconds=1), max_treated_share=0.25, name="b", sandbox=True)
    got = ledger.get(first)
    assert got.campaign.spec.name == "a" and got.campaign.status == "open"
    assert got.spend == 0 and got.remaining == 10.0
    assert [v.campaign.campaign_id for v in ledger.list()] == [first, second]
    assert ledger.get(second).campaign.spec.sandbox is True
    with pytest.raises(UnknownCampaign):
        ledger.get("cmp_missing")


def test_reserve_then_settle_gives_back_the_unused(ledger: CampaignLedger) -> None:
    cid = make(ledger, budget=3.0)  # 6 treatments
    r = ledger.reserve(cid, 4, NOW)
    assert r.units == 4 and r.before.counters.reserved == 0
    assert ledger.reserve(cid, 4, NOW).units == 2  # only 2 left while the first is in flight
    assert ledger.reserve(cid, 4, NOW).units == 0  # exhausted
    ledger.settle(cid, 4, 1, 4)
    view = ledger.get(cid)
    assert (view.counters.treated, view.counters.reserved, view.counters.users) == (1, 2, 4)
    assert view.spend == 0.5 and view.remaining == 3.0 - 0.5 * 3
    assert ledger.reserve(cid, 10, NOW).units == 3
    with pytest.raises(ValueError, match="^treated:"):
        ledger.settle(cid, 1, 2, 1)


def test_share_cap(ledger: CampaignLedger) -> None:
    cid = make(ledger, max_treated_share=0.3)
    assert ledger.reserve(cid, 10, NOW).units == 3
    ledger.settle(cid, 3, 3, 10)
    assert ledger.reserve(cid, 10, NOW).units == 3  # floor(0.3 * 20) - 3


def test_closed_and_ended_refuse_but_settle(ledger: CampaignLedger) -> None:
    cid = make(ledger, budget=10.0)
    r = ledger.reserve(cid, 2, NOW)
    closed = ledger.close_campaign(cid, NOW)
    assert closed.campaign.status == "closed" and closed.campaign.closed_at is not None
    assert ledger.close_campaign(cid, NOW).campaign.status == "closed"  # idempotent
    with pytest.raises(CampaignClosed) as info:
        ledger.reserve(cid, 1, NOW)
    assert info.value.reason == "closed"
    ledger.settle(cid, r.units, 1, 2)  # a request that was in flight still settles
    assert ledger.get(cid).counters.treated == 1
    ended = make(ledger, budget=10.0, ends_at=NOW + timedelta(minutes=1))
    with pytest.raises(CampaignClosed) as info:
        ledger.reserve(ended, 1, NOW + timedelta(minutes=2))
    assert info.value.reason == "ended"
    with pytest.raises(UnknownCampaign):
        ledger.reserve("cmp_missing", 1, NOW)
    with pytest.raises(UnknownCampaign):
        ledger.close_campaign("cmp_missing", NOW)


def test_concurrent_reservations_never_overspend(ledger: CampaignLedger) -> None:
    """16 threads race for a budget of 150 treatments, each treating every unit it got."""
    cid = make(ledger, budget=75.0)

    def client(_: int) -> int:
        got = 0
        for _ in range(25):
            units = ledger.reserve(cid, 1, NOW).units
            counters = ledger.get(cid).counters
            assert counters.treated + counters.reserved <= 150
            ledger.settle(cid, units, units, 1)
            got += units
        return got

    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(client, range(16)))
    view = ledger.get(cid)
    assert total == view.counters.treated == 150
    assert view.counters.reserved == 0 and view.counters.users == 400
    assert view.spend == 75.0 and view.remaining == 0.0
