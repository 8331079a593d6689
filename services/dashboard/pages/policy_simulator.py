"""Policy simulator: budget and economics in, the API's targeting policy and its profit curve out."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import charts, client

POLICIES = {"policy": "uplift policy", "treat_all": "treat everyone", "random": "random targeting"}


def _controls(segments: dict[str, Any]) -> dict[str, float]:
    c1, c2, c3 = st.columns(3)
    budget = c1.number_input(
        "Budget (spend cap over the simulated users)", min_value=0.0, value=1000.0, step=100.0, key="budget"
    )
    cost = c2.number_input("Cost per treatment", min_value=0.0, value=1.0, step=0.25, key="cost")
    value = c3.number_input("Value per conversion", min_value=0.01, value=20.0, step=1.0, key="value")
    lo, hi = float(segments["lower"]), float(segments["upper"])
    bound = max(0.5, abs(lo), abs(hi))
    lower, upper = st.slider(
        "Segment thresholds on the predicted effect (Sleeping Dog below, Persuadable above)",
        min_value=-bound,
        max_value=bound,
        value=(lo, hi),
        step=0.005,
        format="%.3f",
        key="thresholds",
        help=f"The model's thresholds are {lo:.4f} / {hi:.4f} ({segments.get('rule', 'set at training')}).",
    )
    return {"budget": budget, "cost": cost, "value": value, "lower": lower, "upper": upper}


def _totals_table(chosen: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for key, name in POLICIES.items():
        t = chosen[key]
        rows.append(
            {
                "": name,
                "users treated": f"{t['treated']:,}",
                "incremental conversions": f"{t['incremental_conversions']:,.2f}",
                "cost": f"{t['cost']:,.2f}",
                "profit": f"{t['profit']:,.2f}",
                "ROI": "n/a" if t["roi"] is None else f"{t['roi']:.3f}",
            }
        )
    return pd.DataFrame(rows).set_index("")


def _headline(curve: dict[str, Any]) -> None:
    chosen = curve["chosen"]
    pol, everyone, rand = chosen["policy"], chosen["treat_all"], chosen["random"]
    st.subheader(f"Cut-off: treat the top {chosen['share']:.1%} of {curve['n_users']:,} held-out users")
    m = st.columns(4)
    m[0].metric("Users treated", f"{pol['treated']:,}")
    m[1].metric(
        "Expected profit",
        f"{pol['profit']:,.2f}",
        delta=f"{pol['profit'] - everyone['profit']:,.2f} vs everyone",
    )
    m[2].metric(
        "Profit vs random", f"{pol['profit'] - rand['profit']:,.2f}", help="Same number of users, at random."
    )
    m[3].metric("ROI", "n/a" if pol["roi"] is None else f"{pol['roi']:.2f}")


def render() -> None:
    st.title("Policy simulator")
    st.caption(
        "Whom to treat under a budget. The API scores its held-out users, ranks them by expected profit "
        "(effect × value − cost) and treats the best while profit is positive and the budget lasts."
    )
    with client.shown_errors():
        info = client.fetch("/model")
    c = _controls(info["segments"])
    with client.shown_errors():
        curve = client.fetch(
            "/model/policy-curve",
            value_per_conversion=c["value"],
            cost_per_treatment=c["cost"],
            lower=c["lower"],
            upper=c["upper"],
            budget=c["budget"],
            points=101,
        )
    if curve["n_users"] == 0:
        st.info("This model version has no held-out sample to simulate on; retrain with a sample.")
        return
    _headline(curve)
    left, right = st.columns(2)
    charts.show(charts.policy_chart(curve, "profit", "Profit by share targeted"), left)
    charts.show(charts.policy_chart(curve, "roi", "ROI by share targeted"), right)
    st.table(_totals_table(curve["chosen"]))
    left, right = st.columns([1, 2])
    charts.show(charts.chosen_mix_chart(curve["chosen"]["segment_mix"]), left)
    charts.show(charts.segment_mix_chart(curve), right)
    st.caption(
        f"Model {info['version']}; figures are expectations over the model's held-out sample of "
        f"{curve['n_users']:,} users. Random targeting treats as many users as the policy, chosen at random."
    )


render()
