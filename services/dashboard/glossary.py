"""Plain-language meanings of the segments and metrics the pages show, as help text and one expander."""

from __future__ import annotations

import streamlit as st

TERMS = {
    "Uplift": "The change a treatment causes in a user's outcome: with it minus without it. For a "
    "conversion it is in percentage points (pp).",
    "Persuadable": "A user whose predicted effect is above the upper threshold: treating them helps.",
    "Neutral": "A user whose predicted effect lies between the thresholds: treating them changes little.",
    "Sleeping Dog": "A user whose predicted effect is below the lower threshold: treating them hurts.",
    "Qini": "How much better than random the model orders users by uplift (area between its Qini curve and "
    "the random line, per user squared). 0 is random; higher is better.",
    "AUUC": "Area under the uplift curve, above random: another summary of the ordering.",
    "Uplift at k": "Observed uplift (treated minus control rate) among the top k% of users by predicted effect.",
    "Average effect": "Mean effect over all held-out users: observed (treated minus control) or predicted.",
    "Response model": "A model of who buys, ignoring the treatment. If it orders users as well as the "
    "uplift model, uplift modelling adds nothing.",
    "Placebo refit": "The same learner trained with the treatment labels shuffled: what noise alone scores.",
    "Oracle": "Ordering by the true effect, known only on synthetic data: the best any model can do.",
    "Observed on held-out users": "Among users the model never saw, those randomised to the recommended arm "
    "compared with those randomised to control: evidence, not a prediction.",
    "Predicted": "The model's own expectation; only as good as the model.",
    "ROI": "Profit divided by spend.",
    "Audience": "How many users the policy will be applied to. The held-out users stand for them: the "
    "budget is spread over the audience and counts and amounts are scaled to it.",
    "Relative lift": "The effect divided by the control rate (+2 pp on a 10% rate is +20%).",
    "NDCG@10": "How well the recommender ranks the items a user engaged with in its top 10 (1 is perfect).",
}


def show() -> None:
    with st.expander("Glossary", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in TERMS.items()))
