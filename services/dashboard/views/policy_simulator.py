"""Policy simulator: budget and economics in, the API's targeting policy and its profit curve out.

Every predicted figure stands beside what the held-out users observed for the same targeting
(``chosen.observed`` of ``/model/policy-curve``): the model's expectation is not evidence.
"""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from services.api.model_schemas import Interval, ModelInfo, PolicyCurve, SegmentThresholds
from services.dashboard import charts, client, glossary, verdict
from services.dashboard import formatting as fmt

POLICIES = {"policy": "uplift policy", "treat_all": "treat everyone", "random": "random targeting"}


def _controls(segments: SegmentThresholds, currency: str, n_sample: int) -> dict[str, float]:
    c0, c1, c2, c3 = st.columns(4)
    audience = c0.number_input(
        "Audience size (users)",
        min_value=1,
        max_value=10**10,
        value=n_sample,
        step=1000,
        key="audience",
        help=glossary.TERMS["Audience"],
    )
    budget = c1.number_input(
        f"Budget ({currency}, spend cap over the audience)",
        min_value=0.0,
        value=1000.0,
        step=100.0,
        key="budget",
    )
    cost = c2.number_input(
        f"Cost per treatment ({currency})", min_value=0.0, value=1.0, step=0.25, key="cost"
    )
    value = c3.number_input(
        f"Value per conversion ({currency})", min_value=0.01, value=20.0, step=1.0, key="value"
    )
    lower, upper = _thresholds(segments)
    return {
        "audience": audience,
        "budget": budget,
        "cost": cost,
        "value": value,
        "lower": lower,
        "upper": upper,
    }


def _thresholds(segments: SegmentThresholds) -> tuple[float, float]:
    """Two number inputs, not a range slider: a slider's step rounded the model's own thresholds and
    moving one end re-snapped the other (0.0955 → 0.095)."""
    left, right = st.columns(2)
    lower = left.number_input(
        "Sleeping Dog below (predicted effect)",
        value=float(segments.lower),
        step=0.005,
        format="%.4f",
        key="th_lower",
        help=f"The model's threshold: {segments.lower:.4f} ({segments.rule}).",
    )
    upper = right.number_input(
        "Persuadable above (predicted effect)",
        value=float(segments.upper),
        step=0.005,
        format="%.4f",
        key="th_upper",
        help=f"The model's threshold: {segments.upper:.4f}.",
    )
    if lower > upper:
        left.error("Sleeping Dog threshold: must not exceed the Persuadable threshold; using the model's.")
        return float(segments.lower), float(segments.upper)
    return float(lower), float(upper)


def _money_interval(iv: Interval, currency: str) -> str:
    return (
        f"{fmt.money(iv.value, currency)} ({fmt.interval(iv.low, iv.high, lambda x: fmt.money(x, currency))})"
    )


def _totals_table(curve: PolicyCurve, currency: str) -> pd.DataFrame:
    chosen = curve.chosen
    assert chosen is not None
    obs = chosen.observed
    observed_profit = {"policy": obs.profit, "treat_all": obs.profit_treat_all, "random": obs.profit_random}
    rows = []
    for key, name in POLICIES.items():
        t = getattr(chosen, key)
        seen = observed_profit[key]
        rows.append(
            {
                "": name,
                "users treated": fmt.count(t.treated),
                "predicted incremental conversions": f"{t.incremental_conversions:,.1f}",
                "cost": fmt.money(t.cost, currency),
                "predicted profit": fmt.money(t.profit, currency),
                f"observed profit ({seen.level:.0%} interval)": _money_interval(seen, currency),
                "predicted ROI": fmt.pct(t.roi, 0),
                "observed ROI": fmt.pct(seen.value / t.cost if t.cost else None, 0),
            }
        )
    return pd.DataFrame(rows).set_index("")


def _headline(curve: PolicyCurve, info: ModelInfo, currency: str) -> None:
    chosen = curve.chosen
    assert chosen is not None
    pol, everyone, rand, obs = chosen.policy, chosen.treat_all, chosen.random, chosen.observed
    kind = info.data.outcome_kind
    st.subheader(
        f"Cut-off: treat the top {fmt.pct(chosen.share)} — {fmt.count(pol.treated)} of "
        f"{fmt.count(curve.audience or curve.n_users)} users"
    )
    if curve.scale != 1.0:
        st.caption(
            f"The {fmt.count(curve.n_users)} held-out users stand for your audience of "
            f"{fmt.count(curve.audience or 0)}: counts and amounts are scaled by {curve.scale:,.2f}."
        )
    st.markdown("**Predicted by the model**")
    m = st.columns(4)
    m[0].metric("Users treated", fmt.count(pol.treated))
    m[1].metric(
        "Predicted profit",
        fmt.money(pol.profit, currency),
        delta=f"{fmt.money(pol.profit - everyone.profit, currency, signed=True)} vs everyone",
    )
    m[2].metric(
        "Predicted profit vs random",
        fmt.money(pol.profit - rand.profit, currency, signed=True),
        help="Same number of users, chosen at random.",
    )
    m[3].metric("Predicted ROI", fmt.pct(pol.roi, 0), help="Profit / spend.")
    st.markdown(f"**Observed on held-out users** ({obs.uplift.level:.0%} bootstrap intervals)")
    o = st.columns(4)

    def eff(x: float | None) -> str:
        return fmt.effect(x, kind, currency)

    o[0].metric(
        "Observed uplift of the targeted",
        eff(obs.uplift.value),
        help=f"{fmt.interval(obs.uplift.low, obs.uplift.high, eff)}; from {fmt.count(obs.n_treated_arm)} "
        f"targeted users who got their arm and {fmt.count(obs.n_control)} who got control.",
    )
    o[0].caption(
        f"{fmt.interval(obs.uplift.low, obs.uplift.high, eff)}; everyone: {eff(obs.uplift_everyone.value)}"
    )
    o[1].metric("Observed profit", fmt.money(obs.profit.value, currency))
    o[1].caption(fmt.interval(obs.profit.low, obs.profit.high, lambda x: fmt.money(x, currency)))
    o[2].metric("Observed profit vs random", fmt.money(obs.profit_vs_random.value, currency, signed=True))
    o[2].caption(
        fmt.interval(
            obs.profit_vs_random.low, obs.profit_vs_random.high, lambda x: fmt.money(x, currency, signed=True)
        )
    )
    o[3].metric("Observed ROI", fmt.pct(obs.profit.value / pol.cost if pol.cost else None, 0))
    if obs.profit_vs_random.low <= 0 <= obs.profit_vs_random.high:
        st.warning(
            "On held-out users the targeted group's uplift is not distinguishable from everyone's "
            f"({eff(obs.uplift.value)} against {eff(obs.uplift_everyone.value)}): the predicted gain over "
            "random targeting is not confirmed by the data.",
            icon=":material/help:",
        )


def _target_preview(frame: pd.DataFrame, kind: str, currency: str) -> pd.DataFrame:
    def eff(x: float) -> str:
        return fmt.effect(x, kind, currency)

    return pd.DataFrame(
        {
            "User": frame["user"],
            "Recommended arm": frame["recommended_arm"].map(lambda a: f"arm {a}"),
            "Expected effect": frame["expected_effect"].map(eff),
            "90% interval": [
                fmt.interval(lo, hi, eff)
                for lo, hi in zip(frame["effect_low"], frame["effect_high"], strict=True)
            ],
            "Expected profit": frame["expected_profit"].map(lambda x: fmt.money(x, currency)),
            "Segment": frame["segment"],
            "Treat": frame["target"].map({True: "yes", False: "no"}),
        }
    )


def _target_list(c: dict[str, float], currency: str, kind: str) -> None:
    """Upload users, get the API's target list as a CSV (streamed, bounded to 100,000 users)."""
    st.subheader("Target list for your users")
    st.caption(
        "Upload a CSV with the model's feature columns (and `user_id`): the API returns, best first, each "
        "user's recommended arm, expected effect with its 90% interval, expected profit at the value and "
        f"cost above ({currency}), and whether the budget above treats them. At most 100,000 users."
    )
    upload = st.file_uploader("Users (CSV)", type=["csv"], key="targets_file")
    if upload is None:
        return
    if st.button("Build the target list", key="targets_go", type="primary"):
        params = {"value_per_conversion": c["value"], "cost_per_treatment": c["cost"], "budget": c["budget"]}
        try:
            with st.spinner("Scoring the uploaded users..."):
                st.session_state["targets_csv"] = client.target_list(upload.getvalue(), params)
        except client.ApiError as exc:
            st.error(f"**Users (CSV)**: {exc.message}", icon=":material/error:")
            return
    answer = st.session_state.get("targets_csv")
    if answer:
        frame = pd.read_csv(io.BytesIO(answer), dtype={"user": str, "recommended_arm": str})
        chosen = frame[frame["target"]]
        by_arm = chosen["recommended_arm"].value_counts()
        st.success(
            f"{fmt.count(len(chosen))} of {fmt.count(len(frame))} users to treat, expected profit "
            f"{fmt.money(chosen['expected_profit'].sum(), currency)}; "
            + ", ".join(f"arm {arm}: {fmt.count(k)} users" for arm, k in by_arm.items())
        )
        st.caption("The 20 best users (the download holds them all, in the API's raw units):")
        st.dataframe(_target_preview(frame.head(20), kind, currency), hide_index=True, width="stretch")
        st.download_button(
            "Download the target list (CSV)", answer, "target-list.csv", "text/csv", key="targets_download"
        )


def render() -> None:
    st.title("Policy simulator")
    st.caption(
        "Whom to treat under a budget. The API scores its held-out users, ranks them by expected profit "
        "(effect × value − cost) and treats the best while profit is positive and the budget lasts."
    )
    currency = client.get_settings().currency
    with client.shown_errors():
        info = client.model_info()
        evaluation = client.evaluation()
    verdict.banner(info, evaluation)
    with client.shown_errors():
        n_sample = client.policy_curve(points=2).n_users
    c = _controls(info.segments, currency, max(n_sample, 1))
    with client.shown_errors(), st.spinner("Simulating the policy on the held-out users..."):
        curve = client.policy_curve(
            audience=int(c["audience"]),
            value_per_conversion=c["value"],
            cost_per_treatment=c["cost"],
            lower=c["lower"],
            upper=c["upper"],
            budget=c["budget"],
            points=101,
        )
    if curve.n_users == 0 or curve.chosen is None:
        st.info("This model version has no held-out sample to simulate on; retrain with a sample.")
        return
    _headline(curve, info, currency)
    if curve.chosen.policy.treated == 0:
        st.info(
            "The policy treats nobody: the budget is below one treatment's cost or no user has a positive "
            "expected profit at this value and cost. Raise the budget or the value per conversion."
        )
    left, right = st.columns(2)
    charts.show(charts.policy_chart(curve, "profit", "Profit by share targeted", currency), left)
    charts.show(charts.policy_chart(curve, "roi", "ROI by share targeted", currency), right)
    st.table(_totals_table(curve, currency))
    if curve.chosen.policy.treated:
        left, right = st.columns([1, 2])
        charts.show(charts.chosen_mix_chart(curve.chosen.segment_mix), left)
        charts.show(charts.segment_mix_chart(curve), right)
    else:  # nobody targeted: a bar chart of zeros says nothing
        charts.show(charts.segment_mix_chart(curve))
    _target_list(c, currency, info.data.outcome_kind)
    st.caption(
        f"Model {info.version}. Predicted figures are the model's expectations over its held-out sample of "
        f"{fmt.count(curve.n_users)} users; observed figures compare, among the same targeted users, those "
        f"randomised to their arm with those randomised to control (bootstrap of {curve.chosen.observed.n_boot} "
        f"resamples, seed {curve.chosen.observed.seed}). Random targeting treats as many users as the policy."
    )


render()
