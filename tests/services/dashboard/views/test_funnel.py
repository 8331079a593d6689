"""The funnel page draws the API's funnel and daily sections for the typed counts and for an uploaded table."""

import httpx

from tests.services.dashboard.conftest import chart_descriptions, open_page


def _typed_request(at):
    funnel = []
    for i in range(2):
        row = {"variant": at.text_input(key=f"fun_name_{i}").value}
        for field in ("users", "viewed", "clicked", "added_to_cart", "purchased"):
            row[field] = int(at.number_input(key=f"fun_{field}_{i}").value)
        funnel.append(row)
    return funnel


def test_page_shows_the_apis_funnel_and_lifts(dashboard_env):
    at = open_page("views/funnel.py")
    assert [t.value for t in at.title] == ["Funnel and daily trend"]
    funnel = _typed_request(at)
    body = {
        "metric_type": "binary",
        "metric": "purchased",
        "control": funnel[0]["variant"],
        "variants": [
            {"name": f["variant"], "users": f["users"], "conversions": f["purchased"]} for f in funnel
        ],
        "funnel": funnel,
    }
    expected = httpx.post(f"{dashboard_env}/experiments/analyze", json=body).json()["funnel"]
    last = [r for r in expected["rows"] if r["step"] == "purchased"]
    descriptions = " ".join(chart_descriptions(at))
    assert (
        "Funnel per variant; purchased: " + ", ".join(f"{r['variant']} {r['rate']:.1%}" for r in last)
        in descriptions
    )
    assert "Daily purchased per variant over 3 exposure days" in descriptions
    table = at.table[0].value
    lift = next(x for x in expected["lifts"] if x["step"] == "purchased")
    assert f"{lift['step_rate']['difference'] * 100:+.1f} pp" in table.loc["Purchased"].to_string()


def test_impossible_counts_show_the_apis_field_and_rule(dashboard_env):
    at = open_page("views/funnel.py")
    at.number_input(key="fun_clicked_1").set_value(9_000).run()  # more clicks than views (8,300)
    assert not at.exception
    assert len(at.error) == 1
    assert "funnel[1].clicked" in at.error[0].value and "must lie in [0, viewed=8300]" in at.error[0].value
