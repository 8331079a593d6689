"""Model quality: Qini and uplift curves, held-out metrics and feature importance of the serving model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import charts, client

# Labels for the evaluation's per-arm numbers, in reading order; a missing key (real data) is skipped.
ARM_METRICS = {
    "qini": "Qini (model)",
    "qini_oracle": "Qini (oracle)",
    "qini_vs_oracle": "model / oracle",
    "qini_response_model": "Qini (response model)",
    "qini_placebo": "Qini (placebo refit)",
    "pearson_cate_truth": "Pearson(CATE, truth)",
    "uplift_at_10pct": "uplift @ top 10%",
    "uplift_at_30pct": "uplift @ top 30%",
    "ate_observed": "ATE observed",
    "ate_predicted": "ATE predicted",
    "ate_true": "ATE true",
}


def _arm_metrics(res: dict[str, Any]) -> None:
    shown = [(label, res[key]) for key, label in ARM_METRICS.items() if res.get(key) is not None]
    cols = st.columns(4)
    for i, (label, value) in enumerate(shown):
        cols[i % 4].metric(label, f"{value:.4f}")


def _arm_section(arm: str, control: str, res: dict[str, Any], curves: dict[str, Any] | None) -> None:
    st.subheader(f"Arm {arm} against control {control}")
    st.caption(f"Held-out split of {res['n_test']:,} users (the trainer's evaluation).")
    _arm_metrics(res)
    if curves is not None:
        left, right = st.columns(2)
        charts.show(charts.curve_chart(curves["qini"], "Qini curve", "incremental conversions"), left)
        charts.show(charts.curve_chart(curves["uplift"], "Uplift curve", "uplift × users targeted"), right)
        st.caption(
            f"Curves on the model's held-out sample of {curves['n_users']:,} users; random is the straight "
            "line to the curve's end point, oracle ranks by the true effect (synthetic data only)."
        )
    charts.show(charts.decile_chart(res["deciles"]))


def _segments(seg: dict[str, Any]) -> None:
    st.subheader("Segments")
    st.caption(f"Thresholds {seg['lower']:.4f} / {seg['upper']:.4f} on the predicted effect.")
    table = pd.DataFrame({"predicted share": seg["shares"]})
    if "true_shares" in seg:
        table["true share"] = pd.Series(seg["true_shares"])
        vs = seg["vs_truth"]
        table["precision"] = pd.Series(vs["precision"])
        table["recall"] = pd.Series(vs["recall"])
    st.table(table.round(4))


def _importance(importance: dict[str, dict[str, float]], control: str) -> None:
    st.subheader("Feature importance of each outcome model")
    cols = st.columns(len(importance))
    for col, (arm, gains) in zip(cols, importance.items(), strict=True):
        name = f"outcome model, arm {arm}" + (" (control)" if arm == control else "")
        charts.show(charts.importance_chart(gains, name), col)


def _ranker(ranker: dict[str, Any]) -> None:
    st.subheader("Recommendation ranker")
    c = st.columns(3)
    c[0].metric("NDCG@10 (ranker)", f"{ranker['ndcg10_model']:.4f}")
    c[1].metric("NDCG@10 (popularity)", f"{ranker['ndcg10_popularity']:.4f}")
    c[2].metric("items", f"{ranker['items']:,}")


def render() -> None:
    st.title("Model quality")
    with client.shown_errors():
        info = client.fetch("/model")
        evaluation = client.fetch("/model/evaluation")
        curves = client.fetch("/model/curves", points=201)
        importance = client.fetch("/model/importance")
    data = info["data"]
    st.caption(
        f"Serving model {info['version']} ({info['serving_format']}), trained on {data['source']} data: "
        f"{data['rows']:,} rows, seed {data['seed']}, outcome `{data['outcome_column']}`."
    )
    for arm, res in evaluation["arms"].items():
        _arm_section(arm, data["control"], res, curves["arms"].get(arm))
    _segments(evaluation["segments"])
    _importance(importance, data["control"])
    if evaluation.get("ranker"):
        _ranker(evaluation["ranker"])


render()
