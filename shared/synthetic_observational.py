"""A seeded observational data set with known confounding: who got treated depends on features that
also drive the outcome, so the naive treated-minus-control difference is biased while an estimator that
adjusts for those features (AIPW, the DR-learner) can recover the true effect, which is written beside
the data.

Users: ``activity`` and ``tenure`` (standard normal) raise both the chance of being treated and the
baseline outcome, so treated users would have converted (or spent) more anyway and the naive
difference overstates the effect. ``price_sensitivity`` (standard normal) modulates the effect only,
``mobile`` (0/1) and ``noise`` are irrelevant. The arm is drawn from a multinomial logit in
``activity`` and ``tenure`` (control's logit 0), so every user has a propensity strictly inside (0, 1)
but the tails are thin: overlap is limited at the extremes, as in real targeted campaigns.

Truth columns (never features, see ``shared.synthetic.is_truth_column``): ``true_cate`` (two arms) or
``true_cate_<k>`` per treatment arm, and ``p_arm<k>``, the true probability of arm k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

from shared.synthetic import ID_COLUMN, OUTCOME_COLUMN, SPEND_COLUMN, TREATMENT_COLUMN, truth_column

FEATURES = ("activity", "tenure", "price_sensitivity", "mobile", "noise")
# Per treatment arm k: (intercept, activity, tenure) of its logit against control. Strong enough that
# the naive difference is several standard errors off the truth at a few thousand rows.
_ASSIGNMENT = ((-0.3, 0.9, 0.6), (-0.6, 0.5, 0.8))
# Per treatment arm k: (base effect, slope in price_sensitivity) on the log-odds (binary) or in
# spend units (continuous).
_EFFECT = ((0.45, -0.35), (0.25, 0.3))


@dataclass(frozen=True)
class ObservationalConfig:
    rows: int
    seed: int
    n_arms: int = 2
    outcome: Literal["binary", "continuous"] = "binary"

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"rows: must be a positive integer, got {self.rows}")
        if self.n_arms not in (2, 3):
            raise ValueError(f"n_arms: must be 2 or 3, got {self.n_arms}")
        if self.outcome not in ("binary", "continuous"):
            raise ValueError(f"outcome: must be binary or continuous, got {self.outcome!r}")


@dataclass(frozen=True)
class ObservationalData:
    users: pd.DataFrame
    config: ObservationalConfig

    @property
    def outcome(self) -> str:
        return OUTCOME_COLUMN if self.config.outcome == "binary" else SPEND_COLUMN

    @property
    def features(self) -> list[str]:
        return list(FEATURES)

    def describe(self) -> dict[str, object]:
        """What the generator did, for the manifest: the design is confounded on activity and tenure."""
        t = self.users[TREATMENT_COLUMN].to_numpy()
        y = self.users[self.outcome].to_numpy()
        out: dict[str, object] = {
            "generator": "shared.synthetic_observational",
            "config": asdict(self.config),
            "confounders": ["activity", "tenure"],
        }
        for k in range(1, self.config.n_arms):
            col = "true_cate" if self.config.n_arms == 2 else truth_column(k)
            out[f"true_ate_{k}"] = float(self.users[col].mean())
            out[f"naive_difference_{k}"] = float(y[t == k].mean() - y[t == 0].mean())
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def generate_observational(config: ObservationalConfig) -> ObservationalData:
    """Draw users, a confounded arm and the outcome; every draw comes from one seeded Generator."""
    rng = np.random.default_rng(config.seed)
    n = config.rows
    activity, tenure, price = rng.standard_normal((3, n))
    mobile = (rng.random(n) < 0.55).astype(np.int64)
    noise = rng.standard_normal(n)
    k_arms = config.n_arms - 1
    logits = np.column_stack(
        [np.zeros(n)] + [a + b * activity + c * tenure for a, b, c in _ASSIGNMENT[:k_arms]]
    )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    # Inverse-CDF draw of one arm per row from its own probabilities.
    arm = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
    frame = pd.DataFrame(
        {
            ID_COLUMN: np.arange(n),
            "activity": activity,
            "tenure": tenure,
            "price_sensitivity": price,
            "mobile": mobile,
            "noise": noise,
            TREATMENT_COLUMN: arm,
        }
    )
    # Saturating in the confounders, as spend and conversion are in practice (the most active users do
    # not buy without bound); the assignment's tails are where overlap thins.
    base = 1.5 * np.tanh(activity) + np.tanh(tenure)
    effects = [b + s * price for b, s in _EFFECT[:k_arms]]
    if config.outcome == "binary":
        p = [_sigmoid(-1.2 + base)] + [_sigmoid(-1.2 + base + e) for e in effects]
        truth = [pk - p[0] for pk in p[1:]]
        p_arm = np.choose(arm, p)
        frame[OUTCOME_COLUMN] = (rng.random(n) < p_arm).astype(np.int64)
    else:
        mean = [20.0 + 3.0 * base] + [20.0 + 3.0 * base + 4.0 * e for e in effects]
        truth = [m - mean[0] for m in mean[1:]]
        frame[SPEND_COLUMN] = np.choose(arm, mean) + 5.0 * rng.standard_normal(n)
    for k in range(1, config.n_arms):
        frame[f"p_arm{k}"] = probs[:, k]
        frame["true_cate" if config.n_arms == 2 else truth_column(k)] = truth[k - 1]
    return ObservationalData(users=frame, config=config)
