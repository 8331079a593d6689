"""Funnel and daily trend numbers against hand computations (and scipy / statsmodels where a formula is involved)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from shared.events.daily import daily, daily_cells
from shared.events.funnel import FunnelCounts, funnel, funnel_counts

# 10 users: 6 in A, 4 in B. Columns: viewed, clicked, added_to_cart, purchased.
TABLE = pd.DataFrame(
    [
        ("A", 1, 1, 1, 1, "2024-01-01"),
        ("A", 1, 1, 0, 0, "2024-01-01"),
        ("A", 1, 0, 0, 0, "2024-01-02"),
        ("A", 0, 1, 1, 1, "2024-01-02"),  # bought without a view: not in the funnel past step 0
        ("A", 0, 0, 0, 0, "2024-01-02"),
        ("A", 1, 1, 1, 0, "2024-01-02"),
        ("B", 1, 1, 1, 1, "2024-01-01"),
        ("B", 1, 1, 1, 1, "2024-01-01"),
        ("B", 1, 0, 1, 1, "2024-01-02"),  # no click: stops after the view
        ("B", 0, 0, 0, 0, "2024-01-02"),
    ],
    columns=["variant", "viewed", "clicked", "added_to_cart", "purchased", "exposure_day"],
)


def test_counts_by_hand():
    counts = {c.variant: c for c in funnel_counts(TABLE)}
    # A: viewed 4 (rows 1,2,3,6); clicked among them 3 (1,2,6); cart 2 (1,6); purchase 1 (1)
    assert counts["A"] == FunnelCounts("A", 6, (4, 3, 2, 1))
    # B: viewed 3; clicked 2; cart 2; purchase 2
    assert counts["B"] == FunnelCounts("B", 4, (3, 2, 2, 2))


def test_rates_intervals_and_lifts():
    rep = funnel(funnel_counts(TABLE), control="A", alpha=0.05)
    rows = {(r.step, r.variant): r for r in rep.rows}
    click_b = rows[("clicked", "B")]
    assert click_b.rate == pytest.approx(2 / 4) and click_b.step_rate == pytest.approx(2 / 3)
    assert click_b.ci_step_rate == pytest.approx(proportion_confint(2, 3, alpha=0.05, method="wilson"))
    assert rows[("viewed", "A")].step_rate == pytest.approx(4 / 6)
    lift = next(x for x in rep.lifts if x.step == "purchased")
    # step rate: purchase among cart adds, B 2/2 vs A 1/2; overall: 2/4 vs 1/6
    assert lift.step_rate.difference == pytest.approx(1.0 - 0.5)
    assert lift.rate.difference == pytest.approx(2 / 4 - 1 / 6)
    se = math.sqrt((1 / 6) * (5 / 6) / 6 + 0.5 * 0.5 / 4)
    z = stats.norm.ppf(0.975)
    assert lift.rate.ci_difference == pytest.approx((2 / 4 - 1 / 6 - z * se, 2 / 4 - 1 / 6 + z * se))
    assert lift.rate.relative_lift == pytest.approx((2 / 4) / (1 / 6) - 1)
    assert len(rep.lifts) == 4 and all(x.control == "A" and x.variant == "B" for x in rep.lifts)
    md = rep.to_markdown()
    assert "| purchased | B | 2 | 50.00%" in md
    assert rep.to_dict()["lifts"][0]["step"] == "viewed"


def test_empty_step_gives_a_note_not_a_crash():
    rep = funnel([FunnelCounts("A", 5, (0, 0, 0, 0)), FunnelCounts("B", 5, (2, 1, 0, 0))], control="A")
    click = next(x for x in rep.lifts if x.step == "clicked")
    assert click.step_rate is None and "no users reached" in click.note
    assert click.rate is not None and click.rate.difference == pytest.approx(0.2)


def test_bad_funnel_input():
    with pytest.raises(ValueError, match=r"A.clicked: must lie in \[0, viewed=2\]"):
        FunnelCounts("A", 5, (2, 3, 0, 0))
    with pytest.raises(ValueError, match="control: 'C'"):
        funnel([FunnelCounts("A", 5, (2, 1, 0, 0))], control="C")
    with pytest.raises(ValueError, match="purchased: column is missing"):
        funnel_counts(TABLE.drop(columns="purchased"))


def test_daily_binary_by_hand():
    rep = daily(daily_cells(TABLE, "purchased"), control="A", metric="purchased", metric_type="binary")
    points = {(p.day, p.variant): p for p in rep.points}
    # 2024-01-01: A 1/2, B 2/2; 2024-01-02: A 1/4, B 1/2
    assert points[("2024-01-01", "A")].mean == 0.5 and points[("2024-01-01", "B")].mean == 1.0
    assert points[("2024-01-02", "A")].users == 4 and points[("2024-01-02", "A")].mean == 0.25
    assert points[("2024-01-02", "B")].vs_control.difference == pytest.approx(0.5 - 0.25)
    assert points[("2024-01-02", "A")].ci == pytest.approx(proportion_confint(1, 4, method="wilson"))
    assert [p.day for p in rep.points] == ["2024-01-01"] * 2 + ["2024-01-02"] * 2


def test_daily_continuous_matches_scipy():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "variant": np.repeat(["A", "B"], 50),
            "revenue": rng.gamma(2.0, 10.0, size=100),
            "exposure_day": np.tile(["2024-03-01", "2024-03-02"], 50),
        }
    )
    rep = daily(daily_cells(frame, "revenue"), control="A", metric="revenue", metric_type="continuous")
    p = next(p for p in rep.points if p.day == "2024-03-02" and p.variant == "B")
    a = frame[(frame.variant == "A") & (frame.exposure_day == "2024-03-02")]["revenue"]
    b = frame[(frame.variant == "B") & (frame.exposure_day == "2024-03-02")]["revenue"]
    assert p.mean == pytest.approx(b.mean())
    assert p.ci == pytest.approx(stats.t.interval(0.95, len(b) - 1, loc=b.mean(), scale=stats.sem(b)))
    assert p.vs_control.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert "## Daily revenue per variant" in rep.to_markdown()
