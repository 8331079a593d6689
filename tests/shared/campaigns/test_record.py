from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from shared.campaigns import CampaignSpec, Counters, units_to_reserve


def spec(**kw: object) -> CampaignSpec:
    base: dict[str, object] = {"name": "spring", "cost_per_treatment": 0.1, "value_per_conversion": 5.0}
    base.update(kw)
    if "budget" not in kw and "max_treated_share" not in kw:
        base["budget"] = 10.0
    return CampaignSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["budget", "cost_per_treatment", "value_per_conversion"])
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, -math.inf, True])
def test_bad_money_names_the_field(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: must be a finite number >= 0"):
        spec(**{name: bad})


def test_other_rules_name_their_field() -> None:
    with pytest.raises(ValueError, match="^max_treated_share:"):
        spec(max_treated_share=1.5)
    with pytest.raises(ValueError, match="^budget: a campaign needs"):
        CampaignSpec(name="x", cost_per_treatment=1.0, value_per_conversion=1.0)
    with pytest.raises(ValueError, match="^ends_at:"):
        spec(ends_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="^expected_users:"):
        spec(expected_users=0)
    with pytest.raises(ValueError, match="^name:"):
        spec(name="")
    for bad in (-0.1, 1.5, math.nan, True):
        with pytest.raises(ValueError, match="^exploration: must be a share in"):
            spec(exploration=bad)


def test_a_spec_stored_before_exploration_existed_reads_as_none() -> None:
    raw = spec().to_dict()
    del raw["exploration"]
    assert CampaignSpec.from_dict(raw).exploration == 0.0


def test_budget_units_use_the_decimals_given() -> None:
    # 0.3 / 0.1 is 2.9999999999999996 in floats: the ledger must still allow 3 treatments.
    assert spec(budget=0.3, cost_per_treatment=0.1).budget_units == 3
    assert spec(budget=0.3, cost_per_treatment=0.1).cost_of(3) == 0.3
    assert spec(budget=1.0, cost_per_treatment=0.3).budget_units == 3
    assert spec(budget=5.0, cost_per_treatment=0.0).budget_units is None  # free: cannot bind
    assert spec(max_treated_share=0.5).budget_units is None
    assert spec(budget=1e15, cost_per_treatment=1e-6).budget_units is None  # past 2**53


def test_round_trip_through_dict() -> None:
    s = spec(
        ends_at=datetime(2030, 1, 1, tzinfo=UTC),
        expected_users=10,
        sandbox=True,
        max_treated_share=0.2,
        exploration=0.1,
    )
    assert CampaignSpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    ("n", "budget_units", "share", "counters", "expected"),
    [
        (10, 100, None, Counters(), 10),
        (10, 5, None, Counters(), 5),
        (10, 5, None, Counters(treated=3, reserved=2), 0),
        (10, 5, None, Counters(treated=6), 0),  # never negative
        (10, None, 0.3, Counters(), 3),
        (10, None, 0.3, Counters(treated=2, users=10), 4),  # floor(0.3 * 20) - 2
        (10, 4, 0.3, Counters(treated=2, users=10), 2),  # the tighter cap wins
        (0, 100, 0.5, Counters(), 0),
    ],
)
def test_units_to_reserve(
    n: int, budget_units: int | None, share: float | None, counters: Counters, expected: int
) -> None:
    assert units_to_reserve(n, budget_units, share, counters) == expected
