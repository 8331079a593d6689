import httpx

from services.dashboard.formatting import money
from tests.services.dashboard.conftest import chart_descriptions, open_page


def _api_policy(url, cost, segments):
    params = {
        "value_per_conversion": 20.0,
        "cost_per_treatment": cost,
        "budget": 1000.0,
        "lower": segments["lower"],
        "upper": segments["upper"],
        "points": 101,
    }
    return httpx.get(f"{url}/model/policy-curve", params=params).json()


def test_page_draws_the_apis_policy_and_follows_a_control(dashboard_env):
    url = dashboard_env
    segments = httpx.get(f"{url}/model").json()["segments"]
    at = open_page("views/policy_simulator.py")
    assert [t.value for t in at.title] == ["Policy simulator"]
    assert not at.error

    before = _api_policy(url, 1.0, segments)["chosen"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users treated"] == f"{before['policy']['treated']:,}"
    assert metrics["Predicted profit"] == money(before["policy"]["profit"], "$")
    assert metrics["Observed profit"] == money(before["observed"]["profit"]["value"], "$")
    assert f"top {before['share']:.1%}" in at.subheader[0].value
    profit_chart = chart_descriptions(at)[0]
    assert f"cut-off at {before['share']:.1%}" in profit_chart

    at.number_input(key="cost").set_value(3.0).run()
    assert not at.exception
    after = _api_policy(url, 3.0, segments)["chosen"]
    assert (
        after["share"] != before["share"]
    )  # the control must move the cut-off for this test to mean anything
    assert f"cut-off at {after['share']:.1%}" in chart_descriptions(at)[0]
    assert {m.label: m.value for m in at.metric}["Users treated"] == f"{after['policy']['treated']:,}"
    mix = after["segment_mix"]
    assert f"targeted per segment {mix}" in chart_descriptions(at)


def test_thresholds_relabel_the_targeted_users_as_the_api_does(dashboard_env):
    url = dashboard_env
    at = open_page("views/policy_simulator.py")
    at.number_input(key="th_lower").set_value(-0.01).run()
    at.number_input(key="th_upper").set_value(0.01).run()
    assert not at.exception
    expected = _api_policy(url, 1.0, {"lower": -0.01, "upper": 0.01})["chosen"]["segment_mix"]
    assert f"targeted per segment {expected}" in chart_descriptions(at)


def test_one_threshold_keeps_the_others_exact_value(dashboard_env):
    """Moving the lower threshold used to re-snap the upper one to the slider's step (0.0955 → 0.095)."""
    url = dashboard_env
    upper = httpx.get(f"{url}/model").json()["segments"]["upper"]
    at = open_page("views/policy_simulator.py")
    at.number_input(key="th_lower").set_value(-0.02).run()
    assert at.number_input(key="th_upper").value == upper


def test_budget_zero_says_nobody_is_treated_and_draws_no_empty_chart(dashboard_env):
    at = open_page("views/policy_simulator.py")
    at.number_input(key="budget").set_value(0.0).run()
    assert not at.exception
    assert any("treats nobody" in i.value for i in at.info)
    assert not any(d.startswith("targeted per segment") for d in chart_descriptions(at))
