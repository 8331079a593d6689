"""The Python API: a DataFrame with text categories in, a published version that serving loads out."""

from pathlib import Path

import numpy as np
import pytest

from shared import uplift
from shared.artifacts import current_version
from shared.synthetic import MarketConfig, generate_market


@pytest.fixture(scope="module")
def market_frame():  # type: ignore[no-untyped-def]
    users = generate_market(MarketConfig(rows=12_000, seed=5, shape="smooth")).users
    return users.drop(columns=["response_type"])


def test_fit_predict_evaluate_and_serve(market_frame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    train, new = market_frame.iloc[:9000], market_frame.iloc[9000:]
    fitted = uplift.fit(
        train, treatment="treatment", outcome="conversion", control="0", exclude=["revenue"],
        id_column="user_id", learner="dr", models_dir=tmp_path / "models",
    )  # fmt: skip
    assert current_version(tmp_path / "models") == fitted.bundle.version
    assert fitted.learner["chosen"] == "dr" and "loyalty_tier" in fitted.bundle.schema.names
    scores = fitted.predict(new, interval=0.9)
    assert list(scores.columns[:3]) == ["cate_1", "segment", "chosen_arm"]
    assert (scores["cate_1_low"] <= scores["cate_1"]).all() and (
        scores["cate_1"] <= scores["cate_1_high"]
    ).all()
    # The smooth market's effect is recovered on users the model never saw.
    assert np.corrcoef(scores["cate_1"], new["true_cate"])[0, 1] > 0.6
    report = fitted.evaluate(new)
    assert report["1"]["qini"]["low"] > 0 and report["1"]["qini"]["value"] < report["1"]["qini"]["high"]
    again = uplift.load(tmp_path / "models")
    np.testing.assert_allclose(again.effects(new), fitted.effects(new))


def test_bad_column_names_the_option(market_frame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="nope"):
        uplift.fit(market_frame, treatment="treatment", outcome="nope", models_dir=tmp_path / "m")
