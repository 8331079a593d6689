"""POST /experiments/analyze: summary counts and raw rows, SRM refusal and override, every degenerate case a 4xx.

The route needs no model, so most tests run the app without one (faster, and it proves the
independence); one test drives a real `uplift serve` process.
"""

import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from services.api.experiment_schemas import MAX_ROWS
from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.stats import analyze_rows
from tests.services.api.conftest import run_api

URL = "/experiments/analyze"
BINARY = [
    {"name": "A", "users": 10_000, "conversions": 1000},
    {"name": "B", "users": 10_100, "conversions": 1150},
]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp")
    settings = ApiSettings(
        models_dir=tmp / "no-models", data_dir=tmp / "var", max_body_bytes=16 * 1024 * 1024
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _strict_json(res):
    return json.loads(
        res.text, parse_constant=lambda c: pytest.fail(f"non-finite number {c} in the response")
    )


def test_binary_summary_matches_statsmodels(api):
    res = api.post(URL, json={"metric_type": "binary", "variants": BINARY, "seed": 5, "metric": "conversion"})
    assert res.status_code == 200, res.text
    body = _strict_json(res)
    _, p = proportions_ztest([1150, 1000], [10_100, 10_000])
    assert body["frequentist"][0]["p_value"] == pytest.approx(p, rel=1e-9)
    assert body["srm"]["ok"] and body["seed"] == 5 and body["control"] == "A"
    assert body["decision"] == {"outcome": "ship", "winner": "B", "reason": body["decision"]["reason"]}
    assert {v["name"] for v in body["bayesian"]["variants"]} == {"A", "B"}
    assert body["bayesian"]["lifts"][0]["relative"]["low"] > 0
    assert body["cuped"] is None and body["markdown"].startswith("# Experiment analysis: `conversion`")


def test_continuous_summary_matches_scipy_welch(api):
    variants = [
        {"name": "ctl", "users": 1000, "sum": 5230.0, "sum_squares": 91_000.0},
        {"name": "new", "users": 1200, "sum": 6700.0, "sum_squares": 120_000.0},
    ]
    body = _strict_json(
        api.post(
            URL,
            json={"metric_type": "continuous", "variants": variants, "allocation": {"ctl": 1, "new": 1.2}},
        )
    )
    m = [5.23, 6700 / 1200]
    v = [(91_000 - 5230**2 / 1000) / 999, (120_000 - 6700**2 / 1200) / 1199]
    ref = stats.ttest_ind_from_stats(m[1], v[1] ** 0.5, 1200, m[0], v[0] ** 0.5, 1000, equal_var=False)
    assert body["frequentist"][0]["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert body["srm"]["allocation_assumed"] is False
    assert body["bayesian"]["model"].startswith("Normal")


def test_raw_rows_with_pre_period_match_the_library(api):
    rng = np.random.default_rng(17)
    n = 3000
    arm = np.where(rng.random(n) < 0.5, "A", "B")
    pre = rng.gamma(2.0, 5.0, n)
    y = 0.7 * pre + rng.normal(0, 3, n) + (arm == "B") * 0.8
    rows = [{"variant": a, "value": float(v), "pre": float(p)} for a, v, p in zip(arm, y, pre, strict=True)]
    body = _strict_json(api.post(URL, json={"metric_type": "continuous", "rows": rows, "control": "A"}))
    lib = analyze_rows(arm, y, metric_type="continuous", pre=pre, control="A").to_dict()
    assert body["cuped"]["theta"] == pytest.approx(lib["cuped"]["theta"], rel=1e-12)
    assert body["cuped"]["variance_reduction"] > 0.5
    assert body["cuped"]["comparisons"][0]["p_value"] == pytest.approx(
        lib["cuped"]["comparisons"][0]["p_value"]
    )
    assert body["decision"]["outcome"] == lib["decision"]["outcome"]


def test_binary_rows_equal_their_summary(api):
    rows = [{"variant": "A", "value": float(i % 10 == 0)} for i in range(2000)]
    rows += [{"variant": "B", "value": float(i % 8 == 0)} for i in range(2000)]
    from_rows = _strict_json(api.post(URL, json={"metric_type": "binary", "rows": rows}))
    summary = [
        {"name": "A", "users": 2000, "conversions": 200},
        {"name": "B", "users": 2000, "conversions": 250},
    ]
    from_counts = _strict_json(api.post(URL, json={"metric_type": "binary", "variants": summary}))
    assert from_rows["frequentist"] == from_counts["frequentist"]
    assert from_rows["bayesian"] == from_counts["bayesian"]


def test_srm_failure_is_200_with_effects_withheld_and_override_shows_them(api):
    skewed = [
        {"name": "A", "users": 10_000, "conversions": 1000},
        {"name": "B", "users": 11_000, "conversions": 1300},
    ]
    res = api.post(URL, json={"metric_type": "binary", "variants": skewed})
    assert res.status_code == 200
    body = res.json()
    assert body["effects_withheld"] and body["decision"]["outcome"] == "withheld"
    assert body["frequentist"] is None and body["bayesian"] is None
    assert "sample ratio mismatch" in body["decision"]["reason"] and body["srm"]["p_value"] < 0.001
    forced = api.post(URL, json={"metric_type": "binary", "variants": skewed, "override_srm": True}).json()
    assert not forced["effects_withheld"] and forced["frequentist"][0]["variant"] == "B"
    assert any("overridden" in c for c in forced["caveats"])


def test_all_zero_conversions_is_a_clear_200_without_nan(api):
    zero = [{"name": "A", "users": 500, "conversions": 0}, {"name": "B", "users": 500, "conversions": 0}]
    body = _strict_json(api.post(URL, json={"metric_type": "binary", "variants": zero}))
    assert body["decision"]["outcome"] == "keep running"
    assert any("zero in every variant" in c for c in body["caveats"])


def _v(*specs):
    return [dict(zip(("name", "users", "conversions"), s, strict=True)) for s in specs]


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"variants": _v(("A", 100, 10), ("B", 0, 0))}, "variants[1].users", "every variant needs at least one user"),
        ({"variants": _v(("A", 100, 10))}, "variants", "need at least two"),
        ({"variants": _v(("A", -5, 0), ("B", 10, 1))}, "variants[0].users", "greater than or equal to 0"),
        ({"variants": _v(("A", 10, -1), ("B", 10, 1))}, "variants[0].conversions", "greater than or equal to 0"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 11))}, "variants[1].conversions", "must not exceed users (11 > 10)"),
        ({"variants": _v(("A", 10, 1), ("A", 10, 2))}, "variants", "names must be unique"),
        ({"variants": [{"name": "A", "users": 10}, {"name": "B", "users": 10, "conversions": 1}]}, "variants[0].conversions", "required when metric_type is binary"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 1)), "control": "Z"}, "control", "'Z' is not one of the variants"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 1)), "allocation": {"A": 1}}, "allocation", "must name exactly the variants"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 1)), "allocation": {"A": 1, "B": 0}}, "allocation.B", "must be a finite positive share"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 1)), "alpha": 0}, "alpha", "greater than 0"),
        ({"variants": _v(("A", 10, 1), ("B", 10, 1)), "rows": [{"variant": "A", "value": 1}]}, "variants", "exactly one of"),
        ({}, "variants", "exactly one of"),
        ({"rows": [{"variant": "A", "value": 0.5}, {"variant": "B", "value": 1}]}, "rows.value", "binary metric must be 0 or 1"),
        ({"rows": [{"variant": "A", "value": 1}, {"variant": "A", "value": 0}]}, "rows", "need at least two"),
        ({"rows": [{"variant": "A", "value": 1, "pre": 1.0}, {"variant": "B", "value": 0}]}, "rows[1].pre", "in every row or in none"),
        ({"rows": [{"variant": "A", "value": 1}] * 3 + [{"variant": "B", "value": 0}], "allocation": {"A": 1, "B": 1, "C": 1}}, "allocation.C", "no row has it"),
        ({"metric_type": "continuous", "variants": [{"name": "A", "users": 2, "sum": 10.0, "sum_squares": 1.0}, {"name": "B", "users": 2, "sum": 1.0, "sum_squares": 1.0}]}, "variants[0].sum_squares", "inconsistent"),
        ({"metric_type": "continuous", "variants": [{"name": "A", "users": 2, "conversions": 1}, {"name": "B", "users": 2, "sum": 1.0, "sum_squares": 1.0}]}, "variants[0].sum", "required when metric_type is continuous"),
        ({"metric_type": "ratio", "variants": _v(("A", 10, 1), ("B", 10, 1))}, "metric_type", "'binary' or 'continuous'"),
    ],
)  # fmt: skip
def test_degenerate_input_is_422_naming_field_and_rule(api, payload, field, rule):
    res = api.post(URL, json={"metric_type": "binary", **payload})
    assert res.status_code == 422, res.text
    detail = res.json()["detail"]
    assert any(d["field"] == field and rule in d["rule"] for d in detail), detail


def test_rows_are_bounded(api):
    rows = [{"variant": "A", "value": 1}] * (MAX_ROWS + 1)
    res = api.post(URL, json={"metric_type": "binary", "rows": rows})
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "rows" and "at most 100000" in res.json()["detail"][0]["rule"]


def test_over_real_http(trained_models, tmp_path):
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    with run_api(env) as (url, _):
        ok = httpx.post(f"{url}{URL}", json={"metric_type": "binary", "variants": BINARY}, timeout=30)
        assert ok.status_code == 200 and ok.json()["decision"]["winner"] == "B"
        bad = httpx.post(
            f"{url}{URL}", json={"metric_type": "binary", "variants": _v(("A", 10, 1), ("B", 10, 11))}
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "variants[1].conversions"
