"""POST /experiments/analyze with funnel and daily counts: the sections match shared.events, bad counts are 422s."""

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.api import trend_schemas as api
from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.events import daily as daily_mod
from shared.events import funnel as funnel_mod
from shared.stats import frequentist

URL = "/experiments/analyze"
VARIANTS = [{"name": "A", "users": 6, "conversions": 1}, {"name": "B", "users": 4, "conversions": 2}]
FUNNEL = [
    {"variant": "A", "users": 6, "viewed": 4, "clicked": 3, "added_to_cart": 2, "purchased": 1},
    {"variant": "B", "users": 4, "viewed": 3, "clicked": 2, "added_to_cart": 2, "purchased": 2},
]
DAILY = [
    {"day": "2024-01-01", "variant": "A", "users": 2, "total": 1},
    {"day": "2024-01-01", "variant": "B", "users": 2, "total": 2},
    {"day": "2024-01-02", "variant": "A", "users": 4, "total": 1},
    {"day": "2024-01-02", "variant": "B", "users": 2, "total": 1},
]
PAIRS = [
    (api.TrendComparisonOut, frequentist.Comparison),
    (api.FunnelRowOut, funnel_mod.StepOut),
    (api.StepLiftOut, funnel_mod.StepLift),
    (api.FunnelOut, funnel_mod.FunnelReport),
    (api.DayPointOut, daily_mod.DayPoint),
    (api.DailyOut, daily_mod.DailyReport),
]


@pytest.mark.parametrize(("model", "result"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_response_models_mirror_results(model: type[BaseModel], result: type) -> None:
    from dataclasses import fields

    assert list(model.model_fields) == [f.name for f in fields(result)]


@pytest.fixture(scope="module")
def api_client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trends")
    with TestClient(create_app(ApiSettings(models_dir=tmp / "no-models", data_dir=tmp / "var"))) as c:
        yield c


def _body(**extra):
    return {"metric_type": "binary", "metric": "purchased", "control": "A", "variants": VARIANTS, **extra}


def test_sections_match_the_library(api_client):
    res = api_client.post(URL, json=_body(funnel=FUNNEL, daily=DAILY))
    assert res.status_code == 200, res.text
    body = res.json()
    counts = [funnel_mod.FunnelCounts("A", 6, (4, 3, 2, 1)), funnel_mod.FunnelCounts("B", 4, (3, 2, 2, 2))]
    assert body["funnel"] == funnel_mod.funnel(counts, "A").to_dict()
    purchased = next(x for x in body["funnel"]["lifts"] if x["step"] == "purchased")
    assert purchased["rate"]["difference"] == pytest.approx(2 / 4 - 1 / 6)
    points = {(p["day"], p["variant"]): p for p in body["daily"]["points"]}
    assert points[("2024-01-02", "A")]["mean"] == 0.25
    assert points[("2024-01-02", "B")]["vs_control"]["difference"] == pytest.approx(0.5 - 0.25)


def test_sections_null_when_not_asked(api_client):
    body = api_client.post(URL, json=_body()).json()
    assert body["funnel"] is None and body["daily"] is None


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        (
            {"funnel": [{**FUNNEL[0], "clicked": 5}, FUNNEL[1]]},
            "funnel[0].clicked",
            "must lie in [0, viewed=4]",
        ),
        ({"funnel": [FUNNEL[1]]}, "funnel", "control 'A'"),
        ({"funnel": [FUNNEL[0], FUNNEL[0]]}, "funnel", "once"),
        ({"daily": [{**DAILY[0], "total": 3}]}, "daily[0].total", "whole number in [0, users]"),
        ({"daily": [DAILY[0], DAILY[0]]}, "daily", "once"),
        ({"funnel": [{**FUNNEL[0], "users": -1}]}, "funnel[0].users", "greater than or equal"),
    ],
)
def test_bad_counts_are_422(api_client, extra, field, rule):
    res = api_client.post(URL, json=_body(**extra))
    assert res.status_code == 422, res.text
    detail = res.json()["detail"][0]
    assert detail["field"] == field and rule in detail["rule"]


def test_continuous_daily_needs_sums_of_squares(api_client):
    variants = [
        {"name": "A", "users": 3, "sum": 6.0, "sum_squares": 14.0},
        {"name": "B", "users": 3, "sum": 9.0, "sum_squares": 29.0},
    ]
    body = {"metric_type": "continuous", "control": "A", "variants": variants}
    bad = api_client.post(
        URL, json={**body, "daily": [{"day": "d1", "variant": "A", "users": 3, "total": 6.0}]}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "daily[0].total_squares"
    cells = [
        {"day": "d1", "variant": "A", "users": 3, "total": 6.0, "total_squares": 14.0},
        {"day": "d1", "variant": "B", "users": 3, "total": 9.0, "total_squares": 29.0},
    ]
    res = api_client.post(URL, json={**body, "daily": cells})
    assert res.status_code == 200, res.text
    point = res.json()["daily"]["points"][1]
    assert point["mean"] == 3.0 and point["vs_control"]["difference"] == pytest.approx(1.0)
