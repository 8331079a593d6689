import re

import httpx

from tests.services.dashboard.conftest import chart_descriptions, open_page


def _drawn_rewards(at):
    """Rewards the per-segment posterior charts say they are drawn from, summed over segments."""
    found = [re.search(r"^posterior densities of .+ after (\d+) rewards$", d) for d in chart_descriptions(at)]
    return sum(int(m.group(1)) for m in found if m)


def _bandit(url, sandbox=None):
    return httpx.get(f"{url}/bandit", params={"sandbox": sandbox} if sandbox else None).json()


def _rewards(url, sandbox=None):
    return sum(a["successes"] + a["failures"] for a in _bandit(url, sandbox)["arms"])


def test_simulated_users_learn_in_the_visitors_sandbox_and_production_is_untouched(dashboard_env):
    url = dashboard_env
    at = open_page("views/live_bandit.py")
    assert [t.value for t in at.title] == ["Live bandit"]
    assert not at.error
    sandbox = at.session_state["bandit_sandbox"]
    assert any(sandbox in c.value for c in at.caption)  # the page says which sandbox it shows
    assert any(sandbox in s.value for s in at.subheader)
    production = _bandit(url)
    assert _drawn_rewards(at) == 0 == _rewards(url, sandbox)

    at.number_input(key="sim_n").set_value(60)
    at.number_input(key="sim_seed").set_value(11)
    at.button(key="sim_send").click().run()
    assert not at.exception
    assert _rewards(url, sandbox) == 60  # every simulated user got a reward through /feedback
    assert _bandit(url) == production  # production posteriors and calibration: unchanged
    assert at.success[0].value.startswith("Round 1: 60 users")
    charts = chart_descriptions(at)
    assert "regret after 60 users" in charts
    assert _drawn_rewards(at) == 60
    assert any("Seed 11, round 1" in c.value for c in at.caption)

    at.button(key="sim_send").click().run()
    assert _rewards(url, sandbox) == 120 and _bandit(url) == production
    assert "regret after 120 users" in chart_descriptions(at)
    # Another visitor gets a sandbox of its own.
    other = open_page("views/live_bandit.py")
    assert other.session_state["bandit_sandbox"] != sandbox and _drawn_rewards(other) == 0
