"""Score a user: a form built from the serving model's feature schema, answered by `/predict`."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard import client, glossary
from services.dashboard import formatting as fmt
from shared.schema import FeatureSpec


def readable(name: str) -> str:
    """A column name as a label: ``tenure_days`` → "Tenure days"."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _defaults(features: tuple[FeatureSpec, ...]) -> dict[str, Any]:
    """Start from a real held-out user, so the form opens on a plausible profile."""
    frame = client.sample_frame(1)
    return {} if frame.empty else {f.name: frame.iloc[0][f.name] for f in features}


def _field(f: FeatureSpec, default: Any) -> Any:
    if f.kind == "categorical":
        options = list(f.categories or ())
        index = options.index(default) if default in options else 0
        return st.selectbox(readable(f.name), options, index=index, key=f"f_{f.name}")
    lo, hi = f.minimum, f.maximum
    start = (
        default
        if default is not None and not pd.isna(default)
        else (lo + hi) / 2
        if lo is not None and hi is not None
        else 0.0
    )
    # No min/max on the widget: Streamlit would silently keep the last valid value of an
    # out-of-range entry; the range is checked on submit and said at the field instead.
    return st.number_input(
        readable(f.name),
        value=float(start),
        format="%g",
        key=f"f_{f.name}",
        help=None if lo is None else f"`{f.name}`; seen in training: {lo:g} to {hi:g}",
    )


def out_of_range(f: FeatureSpec, value: Any) -> str | None:
    if f.kind != "numeric" or f.minimum is None or f.maximum is None:
        return None
    if f.minimum <= float(value) <= f.maximum:
        return None
    return (
        f"{readable(f.name)}: {float(value):g} is outside the range seen in training "
        f"({f.minimum:g} to {f.maximum:g}); the model cannot say what happens there"
    )


def _form(features: tuple[FeatureSpec, ...], defaults: dict[str, Any]) -> dict[str, Any] | None:
    with st.form("score"):
        user_id = st.text_input("User ID", value="dashboard-user", key="f_user_id")
        cols = st.columns(3)
        values: dict[str, Any] = {}
        problems = 0
        for i, f in enumerate(features):
            with cols[i % 3]:
                values[f.name] = _field(f, defaults.get(f.name))
                problem = out_of_range(f, values[f.name])
                if problem is not None:
                    st.error(problem)  # right under its field
                    problems += 1
        submitted = st.form_submit_button("Score", type="primary")
    if not submitted:
        return None
    if problems:
        st.session_state.pop("score_answer", None)  # never leave the previous user's prediction on screen
        return None
    return {"user_id": user_id, "features": values}


def _show(prediction: dict[str, Any], version: str, control: str, kind: str, currency: str) -> None:
    st.subheader(f"Segment: {prediction['segment']}")
    st.caption(glossary.TERMS.get(prediction["segment"], ""))
    c = st.columns(4)
    cate = prediction["cate"]
    c[0].metric("Effect of the best arm", fmt.effect(cate, kind, currency), help=glossary.TERMS["Uplift"])
    c[1].metric(
        "Relative lift", fmt.lift(cate, prediction["p_control"]), help=glossary.TERMS["Relative lift"]
    )
    c[2].metric("Conversion if treated", fmt.pct(prediction["p_treated"]))
    c[3].metric("Conversion without treatment", fmt.pct(prediction["p_control"]))
    effects = pd.DataFrame(
        {
            "Arm": [fmt.arm_label(a, control) for a in prediction["effects"]],
            "Effect against control": [fmt.effect(v, kind, currency) for v in prediction["effects"].values()],
        }
    )
    st.dataframe(effects, hide_index=True, width="stretch")
    st.caption(f"Answered by `/predict`, model {version}.")


def render() -> None:
    st.title("Score a user")
    currency = client.get_settings().currency
    with client.shown_errors():
        info = client.model_info()
        features = info.features.features
        user = _form(features, _defaults(features))
    if user is not None:
        try:
            with st.spinner("Scoring..."):
                answer = client.post("/predict", {"users": [user]})
            st.session_state["score_answer"] = answer
        except client.ApiError as exc:
            st.session_state.pop("score_answer", None)
            if exc.kind != "rejected":
                client.banner(exc)
                st.stop()
            st.error(f"**The API refused this user.** {exc.message}", icon=":material/error:")
    answer = st.session_state.get("score_answer")
    if answer is not None:
        _show(
            answer["predictions"][0],
            answer["model_version"],
            info.data.control,
            info.data.outcome_kind,
            currency,
        )
    glossary.show()


render()
