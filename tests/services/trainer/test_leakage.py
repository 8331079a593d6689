import numpy as np
import pandas as pd

from services.trainer.leakage import find_leaks
from shared.datasets import HILLSTROM_PATH


def test_hillstrom_visit_names_conversion_and_spend() -> None:
    frame = pd.read_csv(HILLSTROM_PATH)
    features = [c for c in frame.columns if c not in ("segment", "visit")]
    flagged = {w.column for w in find_leaks(frame, features, "visit", "binary")}
    assert flagged == {"conversion", "spend"}
    clean = [c for c in features if c not in ("conversion", "spend")]
    assert find_leaks(frame, clean, "visit", "binary") == []


def test_a_renamed_leaky_column_is_caught_by_its_values() -> None:
    """Named innocently, a column that implies the outcome still gets a warning."""
    frame = pd.read_csv(HILLSTROM_PATH).rename(columns={"conversion": "c1", "spend": "amount_x"})
    warnings = find_leaks(frame, ["recency", "history", "c1", "amount_x", "channel"], "visit", "binary")
    assert {w.column for w in warnings} == {"c1", "amount_x"}
    assert all("determines the outcome" in w.reason for w in warnings)
    assert "--exclude c1" in warnings[0].message() or "--exclude amount_x" in warnings[0].message()


def test_continuous_outcome_copy_is_flagged_and_noise_is_not() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 10.0, 5000)
    frame = pd.DataFrame({"y": y, "copy": y * 1.1 + 0.01, "noise": rng.normal(size=5000)})
    assert [w.column for w in find_leaks(frame, ["copy", "noise"], "y", "continuous")] == ["copy"]


def test_history_of_an_outcome_is_not_flagged_by_name() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "y": (rng.random(3000) < 0.2).astype(float),
            "days_since_purchase": rng.integers(0, 300, 3000),
            "avg_order_value": rng.gamma(2.0, 20.0, 3000),
            "purchased": rng.integers(0, 2, 3000),
        }
    )
    flagged = [
        w.column
        for w in find_leaks(frame, ["days_since_purchase", "avg_order_value", "purchased"], "y", "binary")
    ]
    assert flagged == ["purchased"]
