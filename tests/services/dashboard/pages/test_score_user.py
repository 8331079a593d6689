import httpx
import pytest

from tests.services.dashboard.conftest import open_page


def test_form_follows_the_schema_and_shows_the_apis_prediction(dashboard_env):
    url = dashboard_env
    at = open_page("pages/score_user.py")
    assert [t.value for t in at.title] == ["Score a user"]
    schema = httpx.get(f"{url}/model").json()["features"]["features"]
    for f in schema:  # one widget per feature, of the right kind, with the schema's choices
        widget = at.selectbox(key=f"f_{f['name']}") if f["kind"] == "categorical" else None
        if widget is not None:
            assert list(widget.options) == f["categories"]
        else:
            assert at.number_input(key=f"f_{f['name']}").min == pytest.approx(f["minimum"])

    at.selectbox(key="f_loyalty_tier").select("gold")
    at.number_input(key="f_age").set_value(61.0)
    at.button[0].click().run()
    assert not at.exception and not at.error
    features = {
        f["name"]: (at.selectbox if f["kind"] == "categorical" else at.number_input)(
            key=f"f_{f['name']}"
        ).value
        for f in schema
    }
    assert features["loyalty_tier"] == "gold" and features["age"] == 61.0
    expected = httpx.post(
        f"{url}/predict", json={"users": [{"user_id": "check", "features": features}]}
    ).json()["predictions"][0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["CATE (best arm − control)"] == f"{expected['cate']:+.4f}"
    assert metrics["P(convert | control)"] == f"{expected['p_control']:.4f}"
    assert at.subheader[0].value == f"Segment: {expected['segment']}"
