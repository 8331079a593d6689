"""The held-out verdict as a banner: said on every page that shows the model's numbers.

The trainer's verdict (manifest ``verdict``) says whether the chosen model ranks held-out users
better than random and than a placebo refit; the evaluation's ``compare`` block also says whether a
plain response model (targeting likely buyers) does as well. Either failing is shown before any
figure, because the figures below are then the model's optimism, not something to act on.
"""

from __future__ import annotations

import streamlit as st

from services.api.model_schemas import Evaluation, ModelInfo


def weaknesses(info: ModelInfo, evaluation: Evaluation) -> list[str]:
    """One sentence per reason the held-out data does not back the model; empty when it does."""
    reasons: list[str] = []
    if info.verdict is not None and not info.verdict.signal:
        reasons.append(info.verdict.message)
    for arm, res in evaluation.arms.items():
        if res.compare is None:
            continue
        chosen, response = res.compare.chosen.qini, res.compare.response_model.qini
        if response.value >= chosen.value:
            reasons.append(
                f"arm {arm}: a response model (targeting likely buyers) ranks held-out users as well or "
                f"better (Qini {response.value:.5f} against the model's {chosen.value:.5f})"
            )
    return reasons


def banner(info: ModelInfo, evaluation: Evaluation) -> bool:
    """Show the verdict; True when there is a weakness (the page then labels its predictions so)."""
    reasons = weaknesses(info, evaluation)
    if not reasons:
        st.success(
            "**Held-out verdict: signal.** The model ranks held-out users better than random and than "
            "a placebo refit, and better than a response model.",
            icon=":material/verified:",
        )
        return False
    st.error(
        "**Held-out verdict: no reliable signal.** The model's predicted profits below are not backed "
        "by held-out data; trust the observed figures.\n\n" + "\n".join(f"- {r}" for r in reasons),
        icon=":material/report:",
    )
    return True
