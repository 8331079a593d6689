import httpx

from tests.services.dashboard.conftest import open_page


def test_form_follows_the_schema_and_shows_the_apis_prediction(dashboard_env):
    url = dashboard_env
    at = open_page("views/score_user.py")
    assert [t.value for t in at.title] == ["Score a user"]
    schema = httpx.get(f"{url}/model").json()["features"]["features"]
    for f in schema:  # one widget per feature, of the right kind, with the schema's choices
        widget = at.selectbox(key=f"f_{f['name']}") if f["kind"] == "categorical" else None
        if widget is not None:
            assert list(widget.options) == f["categories"]
        else:
            assert f"{f['minimum']:g} to {f['maximum']:g}" in at.number_input(key=f"f_{f['name']}").help

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
    assert metrics["Effect of the best arm"] == f"{expected['cate'] * 100:+.1f} pp"
    assert metrics["Conversion without treatment"] == f"{expected['p_control']:.1%}"
    assert at.subheader[0].value == f"Segment: {expected['segment']}"


def test_an_out_of_range_value_is_refused_at_its_field_and_clears_the_prediction(dashboard_env):
    age = next(
        f for f in httpx.get(f"{dashboard_env}/model").json()["features"]["features"] if f["name"] == "age"
    )
    at = open_page("views/score_user.py")
    at.button[0].click().run()
    assert at.metric  # a first prediction
    at.number_input(key="f_age").set_value(500.0)
    at.button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Age: 500 is outside the range seen in training ({age['minimum']:g} to {age['maximum']:g}); "
        "the model cannot say what happens there"
    ]
    assert not at.metric  # the previous user's prediction is gone
