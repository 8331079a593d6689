"""Altair charts of the funnel and daily-trend sections of the API's experiment analysis.

Like charts.py: each takes the API's JSON as is, only reshapes it, and carries a ``description``.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def funnel_frame(funnel: dict[str, Any]) -> pd.DataFrame:
    rows = [r for r in funnel["rows"] if r["rate"] is not None]
    return pd.DataFrame(
        {
            "step": r["step"],
            "variant": r["variant"],
            "rate": r["rate"],
            "low": r["ci_rate"][0],
            "high": r["ci_rate"][1],
            "reached": r["reached"],
        }
        for r in rows
    )


def funnel_chart(funnel: dict[str, Any]) -> alt.LayerChart:
    """Share of each variant's users reaching each step, with its interval."""
    frame = funnel_frame(funnel)
    steps = funnel["steps"]
    last = frame[frame["step"] == steps[-1]]
    summary = ", ".join(f"{v} {r:.1%}" for v, r in zip(last["variant"], last["rate"], strict=True))
    x = alt.X("step:N", sort=steps, title=None, axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("variant:N")
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=x,
            xOffset=offset,
            y=alt.Y("rate:Q", title="share of users", axis=alt.Axis(format="%")),
            color=alt.Color("variant:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["variant:N", "step:N", "reached:Q", alt.Tooltip("rate:Q", format=".2%")],
        )
    )
    rules = alt.Chart(frame).mark_rule(color="black").encode(x=x, xOffset=offset, y="low:Q", y2="high:Q")
    return (bars + rules).properties(
        title="Funnel per variant", height=320, description=f"Funnel per variant; purchased: {summary}"
    )


def daily_chart(daily: dict[str, Any]) -> alt.LayerChart:
    """The daily metric per variant with its interval band (by exposure day)."""
    frame = pd.DataFrame(
        {
            "day": p["day"],
            "variant": p["variant"],
            "mean": p["mean"],
            "low": p["ci"][0] if p["ci"] else p["mean"],
            "high": p["ci"][1] if p["ci"] else p["mean"],
            "users": p["users"],
        }
        for p in daily["points"]
        if p["mean"] is not None
    )
    color = alt.Color("variant:N", legend=alt.Legend(orient="bottom", title=None))
    base = alt.Chart(frame).encode(
        x=alt.X("day:O", title="exposure day", axis=alt.Axis(labelAngle=0)), color=color
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("low:Q", scale=alt.Scale(zero=False)), y2="high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=daily["metric"], scale=alt.Scale(zero=False)),
        tooltip=["day:O", "variant:N", "users:Q", alt.Tooltip("mean:Q", format=".4g")],
    )
    days = frame["day"].nunique()
    return (band + line).properties(
        title=f"Daily {daily['metric']} per variant",
        height=300,
        description=f"Daily {daily['metric']} per variant over {days} exposure days",
    )
