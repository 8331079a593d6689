"""Altair charts of what the API returns. Each takes the API's JSON as is and only reshapes it to draw.

Every chart carries a ``description`` (Vega's ARIA label on the chart's container), so a screen
reader, and the browser test, can read what the chart currently shows.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from scipy import stats
from streamlit.delta_generator import DeltaGenerator

from services.api.model_schemas import Decile, Interval, Line, PolicyCurve
from services.dashboard.formatting import arm_colors, arm_label

SEGMENT_COLORS = {"Persuadable": "#2a9d8f", "Neutral": "#adb5bd", "Sleeping Dog": "#e76f51"}
_SEG_SCALE = alt.Scale(domain=list(SEGMENT_COLORS), range=list(SEGMENT_COLORS.values()))


Drawable = alt.Chart | alt.LayerChart | alt.FacetChart


def show(chart: Drawable, where: DeltaGenerator | None = None) -> None:
    """Draw full width; Streamlit uses the chart's description as its accessible name.

    The autosize is set here, not left to Streamlit: its default fits both axes to the element, and
    on a rerun the element's measured height can be the plot's alone, which squeezed the plot to a
    flat line (the regret and posterior charts) or cut the title. "fit-x" fits the width only; the
    height is the chart's own plus its axes, titles and legend.
    """
    sized = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    (where or st.container()).altair_chart(sized, width="stretch")


def _pct(x: float) -> str:
    return f"{x:.1%}"


def policy_chart(curve: PolicyCurve, metric: str, title: str, currency: str = "$") -> alt.LayerChart:
    """Profit or ROI of the model's ranking against the share targeted, the chosen cut-off marked.

    Random targeting is drawn from the API's own line (profit) or its ROI at the cut-off, which is
    the same at every share (a random subset earns the average effect per user). On the profit chart
    the profit observed on held-out users at the cut-off stands beside the prediction, with its interval.
    """
    chosen = curve.chosen
    assert chosen is not None
    values = curve.profit if metric == "profit" else curve.roi
    frame = pd.DataFrame({"share": curve.share, "value": values, "series": "predicted, model ranking"})
    if metric == "roi":
        frame = frame[frame["share"] > 0]  # no spend, no ROI: the API reports 0 there
    if metric == "profit":
        rand = pd.DataFrame(
            {"share": curve.share, "value": curve.random_profit, "series": "predicted, random"}
        )
        frame = pd.concat([frame, rand], ignore_index=True)
    elif chosen.treat_all.roi is not None:
        roi_all = chosen.treat_all.roi
        rand = pd.DataFrame({"share": [0.0, 1.0], "value": [roi_all, roi_all], "series": "predicted, random"})
        frame = pd.concat([frame, rand], ignore_index=True)
    y_title = f"profit ({currency})" if metric == "profit" else "ROI (profit / spend)"
    value_format = ",.0f" if metric == "profit" else ".0%"
    lines = _share_lines(
        frame,
        "series",
        y_title,
        {"predicted, model ranking": "#264653", "predicted, random": "#e9c46a"},
        value_format,
        y_format=None if metric == "profit" else "%",
    ).encode(
        strokeDash=alt.condition(
            alt.datum.series == "predicted, random", alt.value([5, 4]), alt.value([1, 0])
        )
    )
    policy = chosen.policy.model_dump()
    everyone_value = chosen.treat_all.model_dump()[metric]
    cut = pd.DataFrame({"share": [chosen.share], "label": [f"cut-off {_pct(chosen.share)}"]})
    rule = alt.Chart(cut).mark_rule(color="#e63946", strokeWidth=2).encode(x="share:Q")
    label = (
        alt.Chart(cut)
        .mark_text(align="left", dx=4, dy=-6, color="#e63946", fontWeight="bold")
        .encode(x="share:Q", y=alt.value(8), text="label:N")
    )
    layers: list[alt.Chart] = [lines, rule, label]
    if everyone_value is not None:
        everyone = pd.DataFrame({"share": [1.0], "value": [everyone_value], "label": ["treat everyone"]})
        point = alt.Chart(everyone).mark_point(size=90, filled=True, color="#6c757d", shape="diamond")
        layers += [
            point.encode(x="share:Q", y="value:Q"),
            point.mark_text(align="right", dx=-8, dy=-10, color="#6c757d").encode(
                x="share:Q", y="value:Q", text="label:N"
            ),
        ]
    if metric == "profit" and chosen.policy.treated:
        layers += _observed_marks(chosen.share, chosen.observed.profit)
    policy_value = policy[metric]
    policy_text = "n/a" if policy_value is None else f"{policy_value:,.2f}"
    description = f"{title}: cut-off at {_pct(chosen.share)} of users, policy {metric} {policy_text}"
    if metric == "profit":
        description += f", observed {chosen.observed.profit.value:,.2f}"
    return alt.LayerChart(layer=layers).properties(title=title, height=320, description=description)


def _observed_marks(share: float, observed: Interval) -> list[alt.Chart]:
    """The held-out observed profit at the cut-off: a point and its interval as a vertical bar."""
    frame = pd.DataFrame(
        {"share": [share], "value": [observed.value], "low": [observed.low], "high": [observed.high]}
    )
    base = alt.Chart(frame)
    tip = [
        alt.Tooltip("value:Q", title="observed profit", format=",.0f"),
        alt.Tooltip("low:Q", format=",.0f"),
        alt.Tooltip("high:Q", format=",.0f"),
    ]
    return [
        base.mark_rule(color="#2a9d8f", strokeWidth=3).encode(
            x="share:Q", y="low:Q", y2="high:Q", tooltip=tip
        ),
        base.mark_point(color="#2a9d8f", filled=True, size=120, shape="square").encode(
            x="share:Q", y="value:Q", tooltip=tip
        ),
        base.mark_text(align="left", dx=8, color="#2a9d8f", fontWeight="bold").encode(
            x="share:Q", y="value:Q", text=alt.value("observed on held-out users")
        ),
    ]


def segment_mix_chart(curve: PolicyCurve) -> alt.Chart:
    """Users of each segment among those targeted, as the targeted share grows."""
    rows = [
        {"share": share, "segment": seg, "users": count}
        for share, mix in zip(curve.share, curve.segment_mix, strict=True)
        for seg, count in mix.items()
    ]
    frame = pd.DataFrame(rows)
    chosen = curve.chosen.share if curve.chosen is not None else 0.0
    area = (
        alt.Chart(frame)
        .mark_area(opacity=0.85)
        .encode(
            x=alt.X("share:Q", title="share of users targeted", axis=alt.Axis(format="%")),
            y=alt.Y("users:Q", stack=True, title="targeted users"),
            color=alt.Color("segment:N", scale=_SEG_SCALE, legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("share:Q", format=".1%"), "segment:N", "users:Q"],
        )
    )
    rule = alt.Chart(pd.DataFrame({"share": [chosen]})).mark_rule(color="#e63946").encode(x="share:Q")
    return (area + rule).properties(
        title="Segment mix of the targeted users",
        height=280,
        description=f"segment mix, cut-off {chosen:.3f}",
    )


def chosen_mix_chart(mix: dict[str, int]) -> alt.Chart:
    frame = pd.DataFrame({"segment": list(mix), "users": list(mix.values())})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("segment:N", sort=list(SEGMENT_COLORS), title=None, axis=alt.Axis(labelOverlap=False)),
            x=alt.X("users:Q", title="users targeted at the cut-off"),
            color=alt.Color("segment:N", scale=_SEG_SCALE, legend=None),
            tooltip=["segment:N", "users:Q"],
        )
        .properties(title="Who gets targeted", height=200, description=f"targeted per segment {mix}")
    )


def curve_chart(curves: dict[str, Line], title: str, y_title: str) -> alt.Chart:
    """Model / random / oracle lines of a Qini or uplift curve (x = share targeted)."""
    frame = pd.concat(
        [pd.DataFrame({"share": c.x, "value": c.y, "ranking": name}) for name, c in curves.items()],
        ignore_index=True,
    )
    colors = {"model": "#264653", "oracle": "#2a9d8f", "random": "#e9c46a"}
    order = [n for n in colors if n in curves]
    return _share_lines(frame, "ranking", y_title, {n: colors[n] for n in order}, ",.1f").properties(
        title=title, height=300, description=f"{title}: {', '.join(order)}"
    )


def _share_lines(
    frame: pd.DataFrame,
    series: str,
    y_title: str,
    colors: dict[str, str],
    value_format: str,
    y_format: str | None = None,
) -> alt.Chart:
    """Lines of ``value`` against the share of users targeted, one colour per ``series`` value."""
    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("share:Q", title="share of users targeted", axis=alt.Axis(format="%")),
            y=alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format) if y_format else alt.Axis()),
            color=alt.Color(
                f"{series}:N",
                scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=[
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("value:Q", format=value_format),
                f"{series}:N",
            ],
        )
    )


def decile_chart(deciles: list[Decile]) -> alt.Chart:
    """Observed uplift per decile of predicted uplift, beside the mean prediction."""
    frame = pd.DataFrame([d.model_dump() for d in deciles])
    long = frame.melt(
        id_vars=["bin"], value_vars=["uplift", "predicted"], var_name="kind", value_name="value"
    )
    long["kind"] = long["kind"].map({"uplift": "observed", "predicted": "predicted"})
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("bin:O", title="decile of predicted uplift (0 = highest)"),
            xOffset="kind:N",
            y=alt.Y("value:Q", title="uplift (treated − control rate)"),
            color=alt.Color("kind:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["bin:O", "kind:N", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(title="Uplift by decile (held-out split)", height=280, description="uplift by decile")
    )


def importance_chart(gains: dict[str, float], title: str, top: int = 15) -> alt.Chart:
    frame = pd.DataFrame({"feature": list(gains), "gain": list(gains.values())})
    frame = frame.nlargest(top, "gain")
    return (
        alt.Chart(frame)
        .mark_bar(color="#264653")
        .encode(
            y=alt.Y("feature:N", sort="-x", title=None),
            x=alt.X("gain:Q", title="total gain"),
            tooltip=["feature:N", alt.Tooltip("gain:Q", format=",.1f")],
        )
        .properties(title=title, height=22 * len(frame) + 40, description=f"{title}: top {len(frame)}")
    )


def beta_densities(arms: list[dict[str, Any]], points: int = 300) -> pd.DataFrame:
    """Each segment × arm posterior's density on a grid around that segment's intervals."""
    frames = []
    by_segment: dict[str, list[dict[str, Any]]] = {}
    for a in arms:
        by_segment.setdefault(a["segment"], []).append(a)
    for seg, rows in by_segment.items():
        lo = max(0.0, min(r["ci_low"] for r in rows) - 0.05)
        hi = min(1.0, max(r["ci_high"] for r in rows) + 0.05)
        grid = np.linspace(lo, hi, points)
        for r in rows:
            pdf = stats.beta.pdf(grid, r["alpha"], r["beta"])
            frames.append(pd.DataFrame({"segment": seg, "arm": str(r["arm"]), "rate": grid, "density": pdf}))
    return pd.concat(frames, ignore_index=True)


def density_chart(arms: list[dict[str, Any]], segment: str, all_arms: list[str], control: str) -> alt.Chart:
    """One segment's Beta posteriors, one line per arm (by label, in the arm's own colour)."""
    rows = [a for a in arms if a["segment"] == segment]
    frame = beta_densities(rows)
    frame["arm"] = frame["arm"].map(lambda a: arm_label(a, control))
    colors = arm_colors(all_arms, control)
    total = sum(a["successes"] + a["failures"] for a in rows)
    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("rate:Q", title="conversion rate", axis=alt.Axis(format="%")),
            y=alt.Y("density:Q", title="posterior density"),
            color=alt.Color(
                "arm:N",
                scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["arm:N", alt.Tooltip("rate:Q", format=".2%"), alt.Tooltip("density:Q", format=".2f")],
        )
        .properties(
            title=segment, height=220, description=f"posterior densities of {segment} after {total} rewards"
        )
    )


def regret_chart(history: list[dict[str, Any]]) -> alt.Chart:
    frame = pd.DataFrame(history)
    long = frame.melt(
        id_vars=["users"],
        value_vars=["bandit", "random arm"],
        var_name="policy",
        value_name="regret",
    )
    start = pd.DataFrame({"users": [0, 0], "policy": ["bandit", "random arm"], "regret": [0.0, 0.0]})
    long = pd.concat([start, long], ignore_index=True)
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("users:Q", title="simulated users"),
            y=alt.Y("regret:Q", title="cumulative expected regret (conversions)"),
            color=alt.Color(
                "policy:N",
                scale=alt.Scale(domain=["bandit", "random arm"], range=["#264653", "#e9c46a"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["users:Q", "policy:N", alt.Tooltip("regret:Q", format=".2f")],
        )
        .properties(
            title="Cumulative regret against the oracle policy",
            height=280,
            description=f"regret after {int(frame['users'].iloc[-1])} users",
        )
    )


def _frozen(variant: dict[str, Any]) -> Any:
    """A scipy distribution from the posterior the API states in numbers (family and params)."""
    params = variant.get("params") or {}
    if variant.get("family") == "beta":
        return stats.beta(params["alpha"], params["beta"])
    if variant.get("family") == "normal":
        return stats.norm(params["mean"], params["sd"])
    return None


def posterior_chart(variants: list[dict[str, Any]], points: int = 400) -> alt.Chart | None:
    """Each variant's posterior density as the API states it; None for a family we cannot draw."""
    dists = [_frozen(v) for v in variants]
    if any(d is None for d in dists):
        return None
    width = max(v["ci"][1] for v in variants) - min(v["ci"][0] for v in variants)
    grid = np.linspace(
        min(v["ci"][0] for v in variants) - 0.5 * width,
        max(v["ci"][1] for v in variants) + 0.5 * width,
        points,
    )
    frame = pd.concat(
        [
            pd.DataFrame({"variant": v["name"], "value": grid, "density": d.pdf(grid)})
            for v, d in zip(variants, dists, strict=True)
        ],
        ignore_index=True,
    )
    best = max(variants, key=lambda v: v["prob_best"])
    return (
        alt.Chart(frame)
        .mark_area(opacity=0.45, line=True)
        .encode(
            x=alt.X("value:Q", title="metric (posterior of the mean)"),
            y=alt.Y("density:Q", title="posterior density", stack=None),
            color=alt.Color("variant:N", legend=alt.Legend(orient="bottom")),
            tooltip=[
                "variant:N",
                alt.Tooltip("value:Q", format=".4f"),
                alt.Tooltip("density:Q", format=".2f"),
            ],
        )
        .properties(
            title="Posterior of each variant",
            height=300,
            description=f"posteriors; best {best['name']} with P(best) {best['prob_best']:.3f}",
        )
    )
