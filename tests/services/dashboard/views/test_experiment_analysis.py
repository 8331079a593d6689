import httpx
import pytest
from scipy import stats

from services.dashboard.charts import posterior_chart
from tests.services.dashboard.conftest import chart_descriptions, open_page


def _report(url, variants, allocation=None):
    body = {"metric_type": "binary", "metric": "conversion", "control": "A", "alpha": 0.05}
    body |= {
        "override_srm": False,
        "variants": variants,
        "allocation": allocation or {v["name"]: 1.0 for v in variants},
    }
    return httpx.post(f"{url}/experiments/analyze", json=body).json()


def test_page_shows_the_apis_decision_and_follows_edited_counts(dashboard_env):
    url = dashboard_env
    at = open_page("views/experiment_analysis.py")
    assert [t.value for t in at.title] == ["Experiment analysis"]
    names = [at.text_input(key=f"exp_name_{i}").value for i in range(2)]
    variants = [
        {
            "name": n,
            "users": int(at.number_input(key=f"exp_users_{i}").value),
            "conversions": int(at.number_input(key=f"exp_conv_{i}").value),
        }
        for i, n in enumerate(names)
    ]
    assert not at.metric and not at.get("vega_lite_chart")  # nothing is analysed before Analyse
    assert any("press **Analyse**" in i.value for i in at.info)
    at.button[0].click().run()  # the form's submit button
    expected = _report(url, variants)
    shown = " ".join(e.value for e in [*at.success, *at.info, *at.warning, *at.error])
    assert f"Decision: {expected['decision']['outcome']}" in shown
    assert "Sample ratio OK" in shown
    best = max(expected["bayesian"]["variants"], key=lambda v: v["prob_best"])
    assert f"best {best['name']} with P(best) {best['prob_best']:.3f}" in " ".join(chart_descriptions(at))

    # Far more users in B than the planned 50/50: the sample-ratio check must fail and effects be withheld.
    at.number_input(key="exp_users_1").set_value(15_000).run()
    assert not any("Sample ratio mismatch" in e.value for e in at.error)  # typing alone analyses nothing
    # AppTest drops a form's unsubmitted value on a run (a browser keeps it): set it again, then submit.
    at.number_input(key="exp_users_1").set_value(15_000)
    at.button[0].click().run()
    assert not at.exception
    variants[1]["users"] = 15_000
    assert _report(url, variants)["decision"]["outcome"] == "withheld"
    assert any("Sample ratio mismatch" in e.value for e in at.error)
    assert any("Decision: withheld" in e.value for e in at.error)


def test_impossible_counts_show_the_apis_field_and_rule(dashboard_env):
    at = open_page("views/experiment_analysis.py")
    at.number_input(key="exp_conv_1").set_value(10**6)
    at.button[0].click().run()
    assert not at.exception
    # Said at the field, and nothing sent to the API
    assert [e.value for e in at.error] == ["Conversions: must not exceed users (10,050)."]
    assert not any("Decision" in x.value for x in [*at.success, *at.info, *at.warning])


def test_posterior_chart_draws_the_stated_beta_density():
    variants = [
        {
            "name": "A",
            "family": "beta",
            "params": {"alpha": 121, "beta": 881},
            "ci": [0.10, 0.14],
            "prob_best": 0.03,
        },
        {
            "name": "B",
            "family": "beta",
            "params": {"alpha": 151, "beta": 861},
            "ci": [0.13, 0.17],
            "prob_best": 0.97,
        },
    ]
    data = posterior_chart(variants).to_dict()["datasets"]
    rows = next(iter(data.values()))
    a = [r for r in rows if r["variant"] == "A"]
    peak = max(a, key=lambda r: r["density"])
    assert peak["value"] == pytest.approx(120 / 1000, abs=0.002)  # the mode of Beta(121, 881)
    assert peak["density"] == pytest.approx(stats.beta(121, 881).pdf(peak["value"]))
    assert posterior_chart([{**variants[0], "family": "gamma"}]) is None
