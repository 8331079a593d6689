"""The served effect, read from raw booster outputs: no XGBoost, no scikit-learn (the API imports this).

``combine`` turns the raw outcome columns and direct-effect columns of a served model into the
expected outcome per arm (see ``shared.estimators.served`` for how a fitted learner becomes this
form); ``effect_samples`` and ``effect_interval`` centre the effect-sample members' spread on the
served effect (see ``shared.estimators.uncertainty`` for how the members are fitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Half-sample members vary about √2 times as much as an estimator on all rows.
SCALE = float(1.0 / np.sqrt(2.0))


@dataclass(frozen=True)
class EffectForm:
    """How the effect of each treatment arm is read from the outcome columns and the effect boosters."""

    outcome_weight: float
    # Per treatment arm: (index into the effect boosters, weight).
    terms: tuple[tuple[tuple[int, float], ...], ...] = ()
    offsets: tuple[float, ...] = ()

    @property
    def is_t_learner(self) -> bool:
        return self.outcome_weight == 1.0 and not any(self.terms) and not any(self.offsets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome_weight": self.outcome_weight,
            "terms": [[[i, w] for i, w in arm] for arm in self.terms],
            "offsets": list(self.offsets),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EffectForm:
        return cls(
            outcome_weight=float(raw["outcome_weight"]),
            terms=tuple(tuple((int(i), float(w)) for i, w in arm) for arm in raw.get("terms", [])),
            offsets=tuple(float(o) for o in raw.get("offsets", [])),
        )


T_LEARNER_FORM = EffectForm(outcome_weight=1.0)


def combine(outcomes: np.ndarray, effect_raw: np.ndarray | None, form: EffectForm) -> np.ndarray:
    """Served expected outcome per arm (n, arms) from the raw outcome columns and effect-booster columns."""
    if form.is_t_learner:
        return outcomes
    mu0 = outcomes[:, :1]
    effects = form.outcome_weight * (outcomes[:, 1:] - mu0)
    for k, arm_terms in enumerate(form.terms):
        effects[:, k] += form.offsets[k] if form.offsets else 0.0
        for idx, weight in arm_terms:
            assert effect_raw is not None
            effects[:, k] += weight * effect_raw[:, idx]
    return np.hstack([mu0, mu0 + effects])


def effect_samples(point: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Samples centred on the served effect: point (n, arms) and member outputs (n, arms, members)."""
    return point[:, :, None] + SCALE * (raw - raw.mean(axis=2, keepdims=True))


def effect_interval(point: np.ndarray, raw: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """A normal interval from the members' scaled spread, centred on the served effect."""
    from scipy.stats import norm

    if not 0.01 <= level <= 0.999:
        # Beyond 0.999 the normal quantile runs to infinity in floating point.
        raise ValueError(f"interval: must be a coverage level between 0.01 and 0.999, got {level}")
    half = float(norm.ppf(0.5 + level / 2.0)) * SCALE * raw.std(axis=2, ddof=1)
    return point - half, point + half
