"""Honest held-out comparison: the chosen model against the T-learner, a response model, the placebo
refit and random, each metric with a seeded bootstrap interval, and a verdict on whether there is signal.

The verdict rule (per treatment arm): the chosen model shows signal when the lower end of its Qini
interval is above 0 (random ordering) and its Qini is above the placebo refit's. It also says when a
response model (targeting likely buyers) orders users at least as well, since then uplift modelling
adds nothing over a plain propensity-to-buy score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.metrics.bootstrap import bootstrap_metrics, paired_weights

LEVEL = 0.9


def compare_models(
    y: np.ndarray, treated: np.ndarray, scores: dict[str, np.ndarray], n_boot: int, seed: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Qini, AUUC and uplift@10/30% with intervals for every model, on the same resampled users."""
    weights = paired_weights(len(y), n_boot, seed)
    return {
        name: {k: v.to_dict() for k, v in bootstrap_metrics(y, treated, s, weights, level=LEVEL).items()}
        for name, s in scores.items()
    }


def arm_verdict(compared: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    chosen = compared["chosen"]["qini"]
    placebo = compared["placebo"]["qini"]["value"]
    response = compared["response_model"]["qini"]["value"]
    signal = chosen["low"] > 0.0 and chosen["value"] > placebo
    notes = []
    if chosen["low"] <= 0.0:
        notes.append(
            f"the Qini's {LEVEL:.0%} interval [{chosen['low']:.5f}, {chosen['high']:.5f}] includes random (0)"
        )
    if chosen["value"] <= placebo:
        notes.append(f"the Qini {chosen['value']:.5f} is not above the placebo refit's {placebo:.5f}")
    if response >= chosen["value"]:
        notes.append(f"a response model orders users as well or better (Qini {response:.5f})")
    return {"signal": bool(signal), "beats_response_model": bool(chosen["value"] > response), "notes": notes}


def overall_verdict(per_arm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    weak = [arm for arm, v in per_arm.items() if not v["signal"]]
    if not weak:
        message = "the chosen model ranks held-out users better than random and than the placebo refit"
    else:
        details = "; ".join(f"arm {a}: {', '.join(per_arm[a]['notes'])}" for a in weak)
        message = f"NO RELIABLE SIGNAL on held-out data for arm(s) {', '.join(weak)} ({details})"
    return {
        "signal": not weak,
        "weak_arms": weak,
        "message": message,
        "rule": __doc__.split("\n\n")[1].strip(),
    }
