"""The served effect, read from raw booster outputs: no XGBoost, no scikit-learn (the API imports this).

``combine`` turns the raw outcome columns and direct-effect columns of a served model into the
expected outcome per arm (see ``shared.estimators.served`` for how a fitted learner becomes this
form); ``effect_samples`` and ``effect_interval`` centre the effect-sample members' spread on the
served effect (see ``shared.estimators.uncertainty`` for how the members are fitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
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
    # Per treatment arm: (intercept, slope) of the calibration the effect goes through last
    # (``shared.estimators.effect_calibration``); empty when none was applied.
    calibration: tuple[tuple[float, float], ...] = ()

    @property
    def is_t_learner(self) -> bool:
        return (
            self.outcome_weight == 1.0
            and not any(self.terms)
            and not any(self.offsets)
            and all(c == (0.0, 1.0) for c in self.calibration)
        )

    @cached_property
    def slopes(self) -> np.ndarray | None:
        """The calibration's slope per treatment arm (the members' spread scales with it), or None."""
        return np.array([s for _, s in self.calibration]) if self.calibration else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome_weight": self.outcome_weight,
            "terms": [[[i, w] for i, w in arm] for arm in self.terms],
            "offsets": list(self.offsets),
        }
        if self.calibration:
            out["calibration"] = [[a, b] for a, b in self.calibration]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EffectForm:
        return cls(
            outcome_weight=float(raw["outcome_weight"]),
            terms=tuple(tuple((int(i), float(w)) for i, w in arm) for arm in raw.get("terms", [])),
            offsets=tuple(float(o) for o in raw.get("offsets", [])),
            calibration=tuple((float(a), float(b)) for a, b in raw.get("calibration", [])),
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
    for k, (intercept, slope) in enumerate(form.calibration):
        effects[:, k] = intercept + slope * effects[:, k]
    return np.hstack([mu0, mu0 + effects])


def _scale(slopes: np.ndarray | None) -> float | np.ndarray:
    """The members' spread multiplier: SCALE, times each arm's calibration slope when there is one."""
    return SCALE if slopes is None else SCALE * np.asarray(slopes)[None, :, None]


def effect_samples(point: np.ndarray, raw: np.ndarray, slopes: np.ndarray | None = None) -> np.ndarray:
    """Samples centred on the served effect: point (n, arms) and member outputs (n, arms, members).

    ``slopes``: the served form's calibration slopes (``EffectForm.slopes``): the members are raw,
    uncalibrated fits, so their spread is scaled as the served effect was."""
    return point[:, :, None] + _scale(slopes) * (raw - raw.mean(axis=2, keepdims=True))


def effect_interval(
    point: np.ndarray, raw: np.ndarray, level: float, slopes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A normal interval from the members' scaled spread, centred on the served effect."""
    from scipy.stats import norm

    if not 0.01 <= level <= 0.999:
        # Beyond 0.999 the normal quantile runs to infinity in floating point.
        raise ValueError(f"interval: must be a coverage level between 0.01 and 0.999, got {level}")
    sd = _scale(slopes) * raw.std(axis=2, ddof=1, keepdims=True)
    half = float(norm.ppf(0.5 + level / 2.0)) * sd[:, :, 0]
    return point - half, point + half
