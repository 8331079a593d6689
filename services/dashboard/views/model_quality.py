"""Model quality: the held-out verdict, Qini and uplift curves, metrics and feature importance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.api.model_schemas import (
    ArmCurves,
    ArmEvaluation,
    Calibration,
    Comparison,
    ModelInfo,
    RankerEvaluation,
)
from services.dashboard import charts, client, glossary, verdict
from services.dashboard import formatting as fmt

COMPARED = {
    "chosen": "chosen model",
    "t_learner": "T-learner",
    "response_model": "response model (likely buyers)",
    "placebo": "placebo refit (no signal)",
}


def _arm_metrics(res: ArmEvaluation, kind: str, currency: str) -> None:
    def eff(x: float | None) -> str:
        return fmt.effect(x, kind, currency)

    shown: list[tuple[str, str, str]] = [
        ("Qini (model)", f"{res.qini:.4f}", glossary.TERMS["Qini"]),
        ("Qini (response model)", f"{res.qini_response_model:.4f}", glossary.TERMS["Response model"]),
    ]
    if res.qini_placebo is not None:
        shown.append(("Qini (placebo refit)", f"{res.qini_placebo:.4f}", glossary.TERMS["Placebo refit"]))
    if res.qini_oracle is not None:
        shown.append(("Qini (oracle)", f"{res.qini_oracle:.4f}", glossary.TERMS["Oracle"]))
    if res.qini_vs_oracle is not None:
        shown.append(("Model / oracle", fmt.pct(res.qini_vs_oracle, 0), glossary.TERMS["Oracle"]))
    if res.pearson_cate_truth is not None:
        shown.append(("Correlation with the true effect", f"{res.pearson_cate_truth:.2f}", ""))
    shown += [
        ("Uplift in the top 10%", eff(res.uplift_at_10pct), glossary.TERMS["Uplift at k"]),
        ("Uplift in the top 30%", eff(res.uplift_at_30pct), glossary.TERMS["Uplift at k"]),
        ("Average effect, observed", eff(res.ate_observed), glossary.TERMS["Average effect"]),
        ("Average effect, predicted", eff(res.ate_predicted), glossary.TERMS["Average effect"]),
    ]
    if res.ate_true is not None:
        shown.append(("Average effect, true", eff(res.ate_true), glossary.TERMS["Average effect"]))
    cols = st.columns(4)
    for i, (label, value, help_text) in enumerate(shown):
        cols[i % 4].metric(label, value, help=help_text or None)


def _comparison(compare: Comparison) -> None:
    rows = []
    for key, name in COMPARED.items():
        q = getattr(compare, key).qini
        rows.append(
            {
                "": name,
                "Qini": f"{q.value:.5f}",
                f"{q.level:.0%} interval": f"{q.low:.5f} to {q.high:.5f}",
                "AUUC": f"{getattr(compare, key).auuc.value:.4f}",
            }
        )
    st.table(pd.DataFrame(rows).set_index(""))


def _arm_section(
    arm: str, info: ModelInfo, res: ArmEvaluation, arm_curves: ArmCurves | None, currency: str
) -> None:
    control = info.data.control
    st.subheader(f"Arm {arm} against control {control}")
    st.caption(f"Held-out split of {fmt.count(res.n_test)} users (the trainer's evaluation).")
    _arm_metrics(res, info.data.outcome_kind, currency)
    _effect_scale(arm, info)
    if res.compare is not None:
        st.markdown("**Held-out comparison** (same bootstrap resamples for every model)")
        _comparison(res.compare)
    if arm_curves is not None:
        left, right = st.columns(2)
        unit = "incremental conversions" if info.data.outcome_kind == "binary" else "incremental outcome"
        charts.show(charts.curve_chart(arm_curves.qini, "Qini curve", unit), left)
        charts.show(charts.curve_chart(arm_curves.uplift, "Uplift curve", "uplift × users targeted"), right)
        st.caption(
            f"Curves on the model's held-out sample of {fmt.count(arm_curves.n_users)} users; random is the "
            "straight line to the curve's end point, oracle ranks by the true effect (synthetic data only)."
        )
    charts.show(charts.decile_chart(res.deciles))


def _effect_scale(arm: str, info: ModelInfo) -> None:
    calibration = Calibration.of(info.learner)
    scale = next((a for a in calibration.arms if a.arm == arm), None) if calibration else None
    if scale is None or not scale.slope_se:
        return
    fitted = f"slope {scale.slope:.2f} ± {scale.slope_se:.2f} (1: predicted effects on the right scale)"
    done = (
        "so the spread of the predicted effects around their average was scaled by it"
        if scale.applied
        else "so the predicted effects are served as fitted"
    )
    st.caption(
        f"Effect scale, checked on {fmt.count(scale.rows)} held-out users: {fitted}; {scale.reason}, {done}. "
        "Ranks, and so the Qini and uplift figures, do not depend on it."
    )


def _segments(evaluation_segments: dict[str, float], true_shares: dict[str, float] | None, vs: dict) -> None:
    st.subheader("Segments")
    table = pd.DataFrame({"predicted share": pd.Series(evaluation_segments).map(fmt.pct)})
    if true_shares is not None:
        table["true share"] = pd.Series(true_shares).map(fmt.pct)
    if vs:
        table["precision"] = pd.Series(vs.get("precision", {})).map(fmt.pct)
        table["recall"] = pd.Series(vs.get("recall", {})).map(fmt.pct)
    st.table(table)


def _importance(importance: dict[str, dict[str, float]], info: ModelInfo) -> None:
    st.subheader("Feature importance of each outcome model")
    control = info.data.control
    for arm, gains in importance.items():
        charts.show(charts.importance_chart(gains, f"outcome model, {fmt.arm_label(arm, control)}"))


def _ranker(ranker: RankerEvaluation) -> None:
    st.subheader("Recommendation ranker")
    c = st.columns(3)
    c[0].metric("NDCG@10 (ranker)", f"{ranker.ndcg10_model:.4f}", help=glossary.TERMS["NDCG@10"])
    c[1].metric("NDCG@10 (popularity)", f"{ranker.ndcg10_popularity:.4f}")
    c[2].metric("Items", fmt.count(ranker.items))


def render() -> None:
    st.title("Model quality")
    currency = client.get_settings().currency
    with client.shown_errors(), st.spinner("Loading the held-out evaluation..."):
        info = client.model_info()
        evaluation = client.evaluation()
        curves = client.curves(points=201)
        importance = client.importance()
    verdict.banner(info, evaluation)
    data = info.data
    st.caption(
        f"Serving model {info.version} ({info.serving_format}), trained on {data.source} data: "
        f"{fmt.count(data.rows)} rows, seed {data.seed}, outcome `{data.outcome_column}`."
    )
    for arm, res in evaluation.arms.items():
        _arm_section(arm, info, res, curves.arms.get(arm), currency)
    seg = evaluation.segments
    st.caption(f"Thresholds {seg.lower:.4f} / {seg.upper:.4f} on the predicted effect.")
    _segments(seg.shares, seg.true_shares, seg.vs_truth or {})
    _importance(importance, info)
    if evaluation.ranker is not None:
        _ranker(evaluation.ranker)
    glossary.show()


render()
