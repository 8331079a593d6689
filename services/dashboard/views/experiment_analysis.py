"""Experiment analysis: counts per variant in, the API's decision report out (`POST /experiments/analyze`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import charts, client

# The form opens on an example A/B test (inputs, not results): the visitor edits it.
EXAMPLE = [("A", 10_000, 1_000), ("B", 10_050, 1_100), ("C", 9_980, 1_020)]
OUTCOME_STYLE = {
    "ship": st.success,
    "keep control": st.info,
    "keep running": st.warning,
    "withheld": st.error,
}


def _variant_inputs(i: int) -> dict[str, Any]:
    name0, users0, conv0 = EXAMPLE[i] if i < len(EXAMPLE) else (chr(ord("A") + i), 10_000, 1_000)
    c = st.columns(4)
    name = c[0].text_input("Variant name", value=name0, key=f"exp_name_{i}")
    users = c[1].number_input("Users", min_value=0, value=users0, step=100, key=f"exp_users_{i}")
    conversions = c[2].number_input("Conversions", min_value=0, value=conv0, step=10, key=f"exp_conv_{i}")
    share = c[3].number_input(
        "Planned share of traffic",
        min_value=0.0,
        value=1.0,
        step=0.1,
        key=f"exp_share_{i}",
        help="Relative weights; the API normalises them (1, 1 = an even split).",
    )
    # Said at the field, not in a banner far below: the API would refuse the same rule.
    if conversions > users:
        c[2].error(f"Conversions: must not exceed users ({users:,}).")
    if not name.strip():
        c[0].error("Variant name: must not be empty.")
    return {"name": name, "users": int(users), "conversions": int(conversions), "share": float(share)}


def _request() -> dict[str, Any] | None:
    """The analysis request once the visitor submits the form; None before (no call per keystroke)."""
    n = int(
        st.number_input("Number of variants", min_value=2, max_value=6, value=2, key="exp_n")
    )  # outside the form: it changes how many rows the form has
    with st.form("experiment"):
        top = st.columns(2)
        alpha = float(
            top[0].number_input(
                "Significance level (alpha)", min_value=0.001, max_value=0.5, value=0.05, key="exp_alpha"
            )
        )
        override = top[1].toggle("Override a failed sample-ratio check", key="exp_override")
        rows = [_variant_inputs(i) for i in range(n)]
        control = st.selectbox(
            "Control variant",
            [r["name"] for r in rows],
            key="exp_control",
            help="Names come from the rows above as last submitted.",
        )
        submitted = st.form_submit_button("Analyse", type="primary")
    if not submitted:
        return None
    if any(r["conversions"] > r["users"] or not r["name"].strip() for r in rows):
        return None
    return {
        "metric_type": "binary",
        "metric": "conversion",
        "control": control,
        "alpha": alpha,
        "override_srm": override,
        "allocation": {r["name"]: r["share"] for r in rows},
        "variants": [{k: r[k] for k in ("name", "users", "conversions")} for r in rows],
    }


def _srm(srm: dict[str, Any]) -> None:
    text = f"chi² = {srm['chi2']:.3f}, p = {srm['p_value']:.3g} (threshold {srm['threshold']:g})"
    if srm["ok"]:
        st.success(f"**Sample ratio OK**: {text}.", icon=":material/balance:")
    else:
        st.error(
            f"**Sample ratio mismatch**: {text}. Assignment or logging is broken.", icon=":material/warning:"
        )


def _posteriors(bayes: dict[str, Any]) -> None:
    st.subheader("Bayesian")
    st.caption(f"{bayes['model']}, prior {bayes['prior']}, {bayes['level']:.0%} credible intervals.")
    chart = charts.posterior_chart(bayes["variants"])
    if chart is not None:
        charts.show(chart)
    table = pd.DataFrame(
        {
            "variant": v["name"],
            "posterior": v["distribution"],
            "mean": f"{v['mean']:.4f}",
            "credible interval": f"{v['ci'][0]:.4f} – {v['ci'][1]:.4f}",
            "P(best)": f"{v['prob_best']:.3f}",
            "expected loss": f"{v['expected_loss']:.5f}",
        }
        for v in bayes["variants"]
    )
    st.table(table.set_index("variant"))


def _frequentist(comparisons: list[dict[str, Any]]) -> None:
    st.subheader("Frequentist")
    table = pd.DataFrame(
        {
            "variant": c["variant"],
            "test": c["test"],
            "difference": f"{c['difference']:+.4f}",
            "interval": f"{c['ci_difference'][0]:+.4f} – {c['ci_difference'][1]:+.4f}",
            "p-value": f"{c['p_value']:.3g}",
            "p-value (Holm)": f"{c['p_value_holm']:.3g}",
        }
        for c in comparisons
    )
    st.table(table.set_index("variant"))


def render() -> None:
    st.title("Experiment analysis")
    st.caption("Counts per variant of a binary metric; the API checks the sample ratio and decides.")
    body = _request()
    if body is not None:
        try:
            with st.spinner("Analysing..."):
                st.session_state["exp_report"] = client.post("/experiments/analyze", body)
        except client.ApiError as exc:
            if exc.kind != "rejected":
                client.banner(exc)
                st.stop()
            st.error(f"**The analysis was refused.** {exc.message}", icon=":material/error:")
            st.session_state.pop("exp_report", None)
    report = st.session_state.get("exp_report")
    if report is None:
        st.info("Edit the counts and press **Analyse**.", icon=":material/science:")
        return
    decision = report["decision"]
    winner = f" — winner {decision['winner']}" if decision["winner"] else ""
    OUTCOME_STYLE.get(decision["outcome"], st.info)(
        f"**Decision: {decision['outcome']}**{winner}. {decision['reason']}"
    )
    _srm(report["srm"])
    if report["bayesian"]:
        _posteriors(report["bayesian"])
    if report["frequentist"]:
        _frequentist(report["frequentist"])
    if report["caveats"]:
        st.subheader("Caveats")
        st.markdown("\n".join(f"- {c}" for c in report["caveats"]))


render()
