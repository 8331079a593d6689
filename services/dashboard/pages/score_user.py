"""Score a user: a form built from the serving model's feature schema, answered by `/predict`."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import client


def _defaults(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Start from a real held-out user, so the form opens on a plausible profile."""
    frame = client.sample_frame(1)
    return {} if frame.empty else {f["name"]: frame.iloc[0][f["name"]] for f in features}


def _field(f: dict[str, Any], default: Any) -> Any:
    name = f["name"]
    if f["kind"] == "categorical":
        options = list(f["categories"])
        index = options.index(default) if default in options else 0
        return st.selectbox(name, options, index=index, key=f"f_{name}")
    lo, hi = f.get("minimum"), f.get("maximum")
    start = (
        default if default is not None and not pd.isna(default) else (lo + hi) / 2 if lo is not None else 0.0
    )
    return st.number_input(
        name,
        min_value=float(lo) if lo is not None else None,
        max_value=float(hi) if hi is not None else None,
        value=float(start),
        format="%g",
        key=f"f_{name}",
        help=None if lo is None else f"seen in training: {lo:g} to {hi:g}",
    )


def _form(features: list[dict[str, Any]], defaults: dict[str, Any]) -> dict[str, Any] | None:
    with st.form("score"):
        user_id = st.text_input("user_id", value="dashboard-user", key="f_user_id")
        cols = st.columns(3)
        values = {}
        for i, f in enumerate(features):
            with cols[i % 3]:
                values[f["name"]] = _field(f, defaults.get(f["name"]))
        if not st.form_submit_button("Score", type="primary"):
            return None
    return {"user_id": user_id, "features": values}


def _show(prediction: dict[str, Any], version: str) -> None:
    st.subheader(f"Segment: {prediction['segment']}")
    c = st.columns(3)
    c[0].metric("CATE (best arm − control)", f"{prediction['cate']:+.4f}")
    c[1].metric("P(convert | treated)", f"{prediction['p_treated']:.4f}")
    c[2].metric("P(convert | control)", f"{prediction['p_control']:.4f}")
    effects = pd.DataFrame(
        {"arm": list(prediction["effects"]), "effect vs control": prediction["effects"].values()}
    )
    st.dataframe(effects, hide_index=True, width="stretch")
    st.caption(f"Answered by `/predict`, model {version}.")


def render() -> None:
    st.title("Score a user")
    with client.shown_errors():
        info = client.model_info()
        features = [f.model_dump() for f in info.features.features]
        user = _form(features, _defaults(features))
        if user is not None:
            answer = client.post("/predict", {"users": [user]})
            _show(answer["predictions"][0], answer["model_version"])


render()
