"""Funnel and daily trend: counts per variant (typed, or counted from an `uplift prepare` table) in,
the API's funnel and daily sections out (`POST /experiments/analyze`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import charts, client, trend_charts
from services.dashboard import formatting as fmt

STEPS = ("viewed", "clicked", "added_to_cart", "purchased")
LABELS = {
    "users": "Users",
    "viewed": "Viewed",
    "clicked": "Clicked",
    "added_to_cart": "Added to cart",
    "purchased": "Purchased",
}
# The form opens on an example test (inputs, not results): users and users reaching each step.
EXAMPLE = [("control", 10_000, 8_200, 5_100, 2_250, 960), ("treatment", 10_000, 8_300, 5_400, 2_600, 1_400)]
EXAMPLE_DAILY = [
    ("2024-03-01", "control", 3_300, 310),
    ("2024-03-01", "treatment", 3_350, 470),
    ("2024-03-02", "control", 3_350, 330),
    ("2024-03-02", "treatment", 3_300, 455),
    ("2024-03-03", "control", 3_350, 320),
    ("2024-03-03", "treatment", 3_350, 475),
]


def _typed_counts() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    funnel = []
    for i, (name, *counts) in enumerate(EXAMPLE):
        cols = st.columns(6)
        row: dict[str, Any] = {"variant": cols[0].text_input("Variant", value=name, key=f"fun_name_{i}")}
        for col, field, value in zip(cols[1:], ("users", *STEPS), counts, strict=True):
            label = LABELS.get(field, field)
            row[field] = int(
                col.number_input(label, min_value=0, value=value, step=10, key=f"fun_{field}_{i}")
            )
        funnel.append(row)
    st.caption("Daily purchases per exposure day (edit, add or delete rows).")
    table = st.data_editor(
        pd.DataFrame(EXAMPLE_DAILY, columns=["day", "variant", "users", "total"]),
        num_rows="dynamic",
        key="fun_daily",
    )
    rows = table.dropna()
    daily = [
        {"day": str(d), "variant": str(v), "users": int(u), "total": float(t)}
        for d, v, u, t in zip(
            rows["day"], rows["variant"], rows["users"].to_numpy(), rows["total"].to_numpy(), strict=True
        )
    ]
    return funnel, daily


def _uploaded_counts(upload: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Counts of a prepared table: the same counting functions `uplift analyze` uses; the API does the rest."""
    from shared.events.daily import daily_cells
    from shared.events.funnel import funnel_counts

    frame = pd.read_parquet(upload) if upload.name.endswith(".parquet") else pd.read_csv(upload)
    try:
        counts = funnel_counts(frame)
        cells = daily_cells(frame, "purchased")
    except ValueError as exc:
        st.error(f"This file is not a prepared table: {exc}")
        st.stop()
    funnel = [
        {"variant": c.variant, "users": c.users, **dict(zip(STEPS, c.reached, strict=True))} for c in counts
    ]
    daily = [{"day": c.day, "variant": c.variant, "users": c.users, "total": c.total} for c in cells]
    return funnel, daily


def _request() -> dict[str, Any]:
    upload = st.file_uploader(
        "A table from `uplift prepare` (optional)", type=["parquet", "csv"], key="fun_file"
    )
    funnel, daily = _uploaded_counts(upload) if upload is not None else _typed_counts()
    top = st.columns(2)
    names = [f["variant"] for f in funnel]
    control = top[0].selectbox("Control variant", names, key="fun_control")
    alpha = float(
        top[1].number_input(
            "Significance level (alpha)", min_value=0.001, max_value=0.5, value=0.05, key="fun_alpha"
        )
    )
    return {
        "metric_type": "binary",
        "metric": "purchased",
        "control": control,
        "alpha": alpha,
        "variants": [
            {"name": f["variant"], "users": f["users"], "conversions": f["purchased"]} for f in funnel
        ],
        "funnel": funnel,
        "daily": daily,
    }


def _lifts(funnel: dict[str, Any]) -> None:
    rows = []
    for lift in funnel["lifts"]:
        step, rate = lift["step_rate"], lift["rate"]
        rows.append(
            {
                "Step": LABELS.get(lift["step"], lift["step"]),
                "Variant": lift["variant"],
                "Step-rate difference": "–" if step is None else fmt.pp(step["difference"]),
                "Interval": "–"
                if step is None
                else fmt.interval(step["ci_difference"][0], step["ci_difference"][1], fmt.pp),
                "p-value": "–" if step is None else f"{step['p_value']:.3g}",
                "Overall difference": "–" if rate is None else fmt.pp(rate["difference"]),
            }
        )
    st.table(pd.DataFrame(rows).set_index("Step"))


def render() -> None:
    st.title("Funnel and daily trend")
    st.caption(
        "A step counts users who did it and every earlier step after exposure; the API computes the "
        "rates, intervals and lifts."
    )
    body = _request()
    with client.shown_errors(), st.spinner("Analysing..."):
        report = client.post("/experiments/analyze", body)
    funnel, daily = report["funnel"], report["daily"]
    charts.show(trend_charts.funnel_chart(funnel))
    st.subheader(f"Lift at each step vs {funnel['control']}")
    _lifts(funnel)
    if daily and daily["points"]:
        charts.show(trend_charts.daily_chart(daily))


render()
