"""Effect and baseline functions of the synthetic markets other than the default "hard" one.

Each shape maps the same user features (``shared.synthetic``) to every user's truth under each arm,
control first: the purchase probability and, for the spend outcome, the mean basket given a
purchase. The generator then draws the observed outcome from that truth, so every shape is scored
against the exact oracle. Every function here is a fixed function of one user's own features (no
sample statistics), so a user's truth does not depend on who else was generated.

The label written to ``response_type`` describes the first treatment arm (recommendations), as in
the hard market: Persuadable (helped), Sleeping Dog (hurt) or Neutral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from shared.shape_names import SHAPES

# Spread of the spend's lognormal noise around the mean basket (mean-one noise: exp(N(-σ²/2, σ))).
SPEND_SIGMA = 0.8
# |true effect| below this is Neutral in the labels (0.5 percentage points; 5 cents of spend).
LABEL_TOLERANCE = {"binary": 0.005, "continuous": 0.05}


@dataclass(frozen=True)
class ShapeTruth:
    """Every user's truth under each arm, control first (one array per arm)."""

    p_buy: list[np.ndarray]
    # Mean basket given a purchase, per arm; None when the outcome is the 0/1 conversion itself.
    basket: list[np.ndarray] | None
    response_type: np.ndarray

    @property
    def expected(self) -> list[np.ndarray]:
        """E[outcome | x, arm]: the conversion probability, or the expected spend p × basket."""
        if self.basket is None:
            return self.p_buy
        return [p * m for p, m in zip(self.p_buy, self.basket, strict=True)]


def shape_truth(shape: str, f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    """The truth of a non-default shape; ``n_arms`` counts control (2 or 3, every shape supports both)."""
    if shape == "smooth":
        return _smooth(f, n_arms)
    if shape == "rare":
        return _rare(f, n_arms)
    if shape == "continuous":
        return _continuous(f, n_arms)
    if shape == "null":
        return _null(f, n_arms)
    raise ValueError(
        f"shape: must be one of {', '.join(SHAPES[1:])} here (hard is synthetic.py's), got {shape!r}"
    )


def _z(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """Numeric features on a common scale, centred and scaled by their generating distributions."""
    loyalty = f["loyalty_tier"].map({"none": 0.0, "bronze": 1 / 3, "silver": 2 / 3, "gold": 1.0})
    return {
        "age": (f["age"].to_numpy() - 40.0) / 12.5,
        "sessions": (np.log1p(f["sessions_30d"].to_numpy()) - 1.6) / 0.5,
        "recency": (np.log1p(f["days_since_purchase"].to_numpy()) - 3.56) / 1.19,
        "aov": (np.log(f["avg_order_value"].to_numpy()) - 3.8) / 0.5,
        "affinity": (f["discount_affinity"].to_numpy() - 0.4) / 0.2,
        "tenure": (np.log1p(f["tenure_days"].to_numpy()) - 5.95) / 0.8,
        "loyalty": loyalty.to_numpy(dtype=np.float64),
    }


def _smooth_baseline(z: dict[str, np.ndarray]) -> np.ndarray:
    return (
        -2.0
        + 0.5 * z["sessions"]
        - 0.4 * z["recency"]
        + 0.25 * z["aov"]
        + 0.3 * np.tanh(z["age"])
        + 0.5 * z["loyalty"]
    )


def _effect_labels(effect: np.ndarray, tolerance: float) -> np.ndarray:
    out = np.full(len(effect), "Neutral", dtype=object)
    out[effect > tolerance] = "Persuadable"
    out[effect < -tolerance] = "Sleeping Dog"
    return out


def _smooth(f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    z = _z(f)
    b = _smooth_baseline(z)
    # Deal seekers and younger, engaged users gain; older users with lapsed or very fresh purchases lose.
    t1 = (
        0.6
        + 0.45 * z["affinity"]
        - 0.3 * z["age"]
        + 0.2 * np.tanh(z["sessions"])
        - 0.15 * z["recency"] ** 2
        + 0.1 * np.sin(z["tenure"])
    )
    # The coupon moves deal seekers and lapsed users, and loses loyal members: unlike arm 1 on purpose.
    t2 = 0.2 + 0.6 * z["affinity"] + 0.25 * z["recency"] - 0.6 * z["loyalty"]
    shifts = [t1, t2][: n_arms - 1]
    p = [expit(b), *(expit(b + t) for t in shifts)]
    return ShapeTruth(
        p_buy=p, basket=None, response_type=_effect_labels(p[1] - p[0], LABEL_TOLERANCE["binary"])
    )


def rare_pockets(f: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Who the recommendations (first) and the coupon (second) move in the rare market."""
    recs = (
        (f["discount_affinity"] > 0.62).to_numpy()
        & f["channel"].isin(["email", "referral"]).to_numpy()
        & (f["cart_adds_30d"] >= 1).to_numpy()
    )
    coupon = (
        (f["device"] == "tablet").to_numpy()
        & (f["age"] < 40).to_numpy()
        & (f["days_since_purchase"] > 30).to_numpy()
    )
    return recs, coupon


def _rare(f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    z = _z(f)
    b = -3.7 + 0.3 * z["sessions"] - 0.3 * z["recency"] + 0.3 * z["loyalty"]
    recs, coupon = rare_pockets(f)
    shifts = [np.where(recs, 2.6, 0.0), np.where(coupon, 2.4, 0.0)][: n_arms - 1]
    labels = np.where(recs, "Persuadable", "Neutral").astype(object)
    return ShapeTruth(p_buy=[expit(b), *(expit(b + t) for t in shifts)], basket=None, response_type=labels)


def _continuous(f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    z = _z(f)
    b = _smooth_baseline(z) - 0.3
    aov = f["avg_order_value"].to_numpy()
    # Recommendations: more deal seekers and younger users buy, and engaged users fill bigger baskets
    # while the rest buy slightly smaller ones, so the spend effect changes sign within the market.
    t1 = 0.3 + 0.4 * z["affinity"] - 0.25 * z["age"]
    m1 = aov * np.exp(0.15 * np.tanh(z["sessions"]) - 0.05)
    # The coupon brings deal seekers in but takes 15% off every basket: a loss on users it does not move.
    t2 = 0.1 + 0.7 * z["affinity"]
    m2 = 0.85 * aov
    shifts, baskets = [t1, t2][: n_arms - 1], [m1, m2][: n_arms - 1]
    p = [expit(b), *(expit(b + t) for t in shifts)]
    m = [aov, *baskets]
    effect = p[1] * m[1] - p[0] * m[0]
    return ShapeTruth(p_buy=p, basket=m, response_type=_effect_labels(effect, LABEL_TOLERANCE["continuous"]))


def _null(f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    p0 = expit(_smooth_baseline(_z(f)))
    return ShapeTruth(
        p_buy=[p0] * n_arms, basket=None, response_type=np.full(len(f), "Neutral", dtype=object)
    )


def draw_spend(rng: np.random.Generator, basket: np.ndarray, bought: np.ndarray) -> np.ndarray:
    """Observed spend: zero without a purchase, else the mean basket times mean-one lognormal noise."""
    noise = np.exp(rng.normal(-0.5 * SPEND_SIGMA**2, SPEND_SIGMA, len(basket)))
    return np.round(bought * basket * noise, 2)
