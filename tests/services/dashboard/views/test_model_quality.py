import httpx

from services.api.model_schemas import Calibration
from services.dashboard.formatting import arm_label
from tests.services.dashboard.conftest import chart_descriptions, open_page


def test_page_shows_the_serving_models_evaluation(dashboard_env):
    url = dashboard_env
    at = open_page("views/model_quality.py")
    assert [t.value for t in at.title] == ["Model quality"]
    assert not at.error
    evaluation = httpx.get(f"{url}/model/evaluation").json()
    arm, res = next(iter(evaluation["arms"].items()))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Qini (model)"] == f"{res['qini']:.4f}"
    assert metrics["Qini (oracle)"] == f"{res['qini_oracle']:.4f}"  # synthetic: the truth is known
    assert metrics["Correlation with the true effect"] == f"{res['pearson_cate_truth']:.2f}"
    assert metrics["Uplift in the top 10%"] == f"{res['uplift_at_10pct'] * 100:+.1f} pp"
    assert any("Held-out verdict" in s.value for s in at.success) or any(
        "Held-out verdict" in e.value for e in at.error
    )
    charts = chart_descriptions(at)
    assert "Qini curve: model, oracle, random" in charts
    assert "Uplift curve: model, oracle, random" in charts
    arms = httpx.get(f"{url}/model").json()["data"]["arms"]
    for a in arms:  # one importance chart per outcome model
        assert any(d.startswith(f"outcome model, {arm_label(a, arms[0])}") for d in charts)
    assert f"Arm {arm} against control {arms[0]}" in [s.value for s in at.subheader]
    # The effect-scale check is read from /model with the API's own type, and shown beside the metrics.
    calibration = Calibration.of(httpx.get(f"{url}/model").json()["learner"])
    assert calibration is not None
    scale = next(a for a in calibration.arms if a.arm == arm)
    captions = [c.value for c in at.caption]
    assert any(f"slope {scale.slope:.2f} ± {scale.slope_se:.2f}" in c and scale.reason in c for c in captions)
