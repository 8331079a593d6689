import re

import httpx

from tests.services.dashboard.conftest import chart_descriptions, open_page


def _drawn_rewards(at):
    """Rewards the per-segment posterior charts say they are drawn from, summed over segments."""
    found = [re.search(r"^posterior densities of .+ after (\d+) rewards$", d) for d in chart_descriptions(at)]
    return sum(int(m.group(1)) for m in found if m)


def _rewards(url):
    return sum(a["successes"] + a["failures"] for a in httpx.get(f"{url}/bandit").json()["arms"])


def test_simulated_users_reach_the_api_and_its_posteriors_learn(dashboard_env):
    url = dashboard_env
    at = open_page("views/live_bandit.py")
    assert [t.value for t in at.title] == ["Live bandit"]
    assert not at.error
    start = _rewards(url)
    assert _drawn_rewards(at) == start

    at.number_input(key="sim_n").set_value(60)
    at.number_input(key="sim_seed").set_value(11)
    at.button(key="sim_send").click().run()
    assert not at.exception
    assert _rewards(url) == start + 60  # every simulated user got a reward through /feedback
    assert at.success[0].value.startswith("Round 1: 60 users")
    charts = chart_descriptions(at)
    assert "regret after 60 users" in charts
    assert _drawn_rewards(at) == start + 60
    assert any("Seed 11, round 1" in c.value for c in at.caption)

    at.button(key="sim_send").click().run()
    assert _rewards(url) == start + 120
    assert "regret after 120 users" in chart_descriptions(at)
