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
    name = c[0].text_input("variant", value=name0, key=f"exp_name_{i}")
    users = c[1].number_input("users", min_value=0, value=users0, step=100, key=f"exp_users_{i}")
    conversions = c[2].number_input("conversions", min_value=0, value=conv0, step=10, key=f"exp_conv_{i}")
    share = c[3].number_input(
        "planned share",
        min_value=0.0,
        value=1.0,
        step=0.1,
        key=f"exp_share_{i}",
        help="Normalized by the API.",
    )
    return {"name": name, "users": int(users), "conversions": int(conversions), "share": float(share)}


def _request() -> dict[str, Any]:
    top = st.columns(3)
    n = int(top[0].number_input("variants", min_value=2, max_value=6, value=2, key="exp_n"))
    alpha = float(top[1].number_input("alpha", min_value=0.001, max_value=0.5, value=0.05, key="exp_alpha"))
    override = top[2].toggle("override a failed sample-ratio check", key="exp_override")
    rows = [_variant_inputs(i) for i in range(n)]
    control = st.selectbox("control", [r["name"] for r in rows], key="exp_control")
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
    with client.shown_errors():
        report = client.post("/experiments/analyze", body)
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
