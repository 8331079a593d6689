"""Entry script (`uplift dashboard`, or `streamlit run services/dashboard/app.py`): navigation over the pages.

Every page talks to the API over HTTP only. When the API is down or has no model, a banner says so
and re-checks every few seconds; the page comes back by itself once the API answers.
"""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from services.dashboard import client
from services.dashboard.settings import DashboardSettings

RECHECK_SECONDS = 5

PAGES = [
    st.Page("views/policy_simulator.py", title="Policy simulator", icon=":material/savings:", default=True),
    st.Page("views/model_quality.py", title="Model quality", icon=":material/monitoring:"),
    st.Page("views/live_bandit.py", title="Live bandit", icon=":material/casino:"),
    st.Page("views/score_user.py", title="Score a user", icon=":material/person_search:"),
    st.Page("views/experiment_analysis.py", title="Experiment analysis", icon=":material/science:"),
    st.Page("views/funnel.py", title="Funnel and daily trend", icon=":material/filter_alt:"),
]


def _settings() -> DashboardSettings:
    try:
        return client.get_settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        st.error(
            f"Setting UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}. Fix it and restart the dashboard."
        )
        st.stop()


def _sidebar(settings: DashboardSettings) -> None:
    with st.sidebar:
        st.caption(f"API: `{settings.api_url}`")
        st.caption("API key: set" if settings.api_key else "API key: none")


@st.fragment(run_every=RECHECK_SECONDS)
def _wait_for_api() -> None:
    error = client.readiness()
    if error is None:
        st.rerun()  # the whole app, so the page renders now that the API answers
    client.banner(error)
    st.button("Retry now", key="retry")


def main() -> None:
    st.set_page_config(page_title="uplift-engine", page_icon=":material/target:", layout="wide")
    settings = _settings()
    page = st.navigation(PAGES)
    _sidebar(settings)
    if client.readiness() is not None:
        _wait_for_api()
        st.stop()
    page.run()


main()
