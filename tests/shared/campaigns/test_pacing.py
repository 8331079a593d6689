from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.campaigns import PACING_BAND, Campaign, CampaignSpec, CampaignView, Counters, progress, throttle

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def view(treated: int, users: int = 0, reserved: int = 0, **kw: object) -> CampaignView:
    base: dict[str, object] = {
        "name": "c",
        "cost_per_treatment": 1.0,
        "value_per_conversion": 2.0,
        "budget": 1000.0,
    }
    base.update(kw)
    return CampaignView(Campaign("cmp_x", CampaignSpec(**base), T0), Counters(treated, reserved, users))  # type: ignore[arg-type]


def test_progress_by_time_users_and_the_earlier_end() -> None:
    ends = T0 + timedelta(hours=10)
    assert progress(view(0, ends_at=ends), T0 + timedelta(hours=4)) == pytest.approx(0.4)
    assert progress(view(0, users=250, expected_users=1000), T0) == pytest.approx(0.25)
    both = view(0, users=500, expected_users=1000, ends_at=ends)
    assert progress(both, T0 + timedelta(hours=2)) == pytest.approx(0.5)  # users are further along
    assert progress(view(0, users=5000, expected_users=1000), T0) == 1.0
    assert progress(view(0), T0) is None


def test_behind_or_on_target_is_not_throttled() -> None:
    assert throttle(view(treated=100, users=500, expected_users=1000), T0) == 0.0  # target 500
    assert throttle(view(treated=500, users=500, expected_users=1000), T0) == 0.0


def test_ahead_throttles_in_proportion_up_to_one() -> None:
    band = PACING_BAND * 1000
    half = throttle(view(treated=500 + int(band / 2), users=500, expected_users=1000), T0)
    assert half == pytest.approx(0.5)
    # What other requests hold in reserve counts as committed.
    assert throttle(view(treated=500, reserved=int(band / 2), users=500, expected_users=1000), T0) == half
    assert throttle(view(treated=900, users=500, expected_users=1000), T0) == 1.0
    ends = T0 + timedelta(days=1)
    assert throttle(view(treated=600, ends_at=ends), T0 + timedelta(hours=12)) == 1.0
    assert throttle(view(treated=400, ends_at=ends), T0 + timedelta(hours=12)) == 0.0


def test_near_the_end_the_rest_of_the_budget_may_be_spent() -> None:
    # 99% through with 99.5% committed: a quarter of a band ahead, lightly throttled; at the end none.
    assert 0 < throttle(view(treated=995, users=990, expected_users=1000), T0) < 0.5
    assert throttle(view(treated=999, users=1000, expected_users=1000), T0) == 0.0


def test_nothing_to_pace_against() -> None:
    assert throttle(view(treated=999), T0) == 0.0  # no end, no expected users
    assert (
        throttle(view(treated=5, users=5, expected_users=10, budget=None, max_treated_share=0.5), T0) == 0.0
    )
