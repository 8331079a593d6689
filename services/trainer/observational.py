"""`--observational`: effects from data whose arms were not randomized.

Per treatment arm (against control): a cross-fitted propensity classifier, overlap diagnostics and
Crump trimming (``shared.causal.overlap``), the AIPW average effect beside the naive difference, the
three refutations and the E-value. The trimmed rows leave the run: learners and the held-out
evaluation see only the population where every arm was possible.

Learners: DR and R are orthogonal to errors in an estimated propensity (their losses are built from
the AIPW score and Robinson's residuals), and X adjusts through its outcome models and only blends by
the propensity, so all three are valid with propensity="estimate" under no unmeasured confounding.
``auto`` means DR here: the cross-fitted selection scores learners by Qini and a DR risk on observed
outcomes with the design's arm shares, which is only honest when the arms were randomized. T and S
are excluded: they never use the propensity, so confounding is removed only as far as each outcome
model extrapolates into the other arm's region, with no second chance (regularization bias grows
with confounding). CT is excluded: it is pure inverse-propensity weighting of one transformed label,
with no outcome model, so its error scales with 1/e and it is neither doubly robust nor stable near the
trimming bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from services.trainer.data import TrainingData
from services.trainer.settings import TrainerSettings
from shared.causal.aipw import aipw_effect, naive_difference
from shared.causal.nuisance import NuisanceConfig, PropensityError, cross_fitted_propensity
from shared.causal.overlap import RULE, arm_overlap, overlap_mask
from shared.causal.refute import refute
from shared.causal.sensitivity import binary_sensitivity, continuous_sensitivity, pooled_sd
from shared.synthetic import ID_COLUMN, TREATMENT_COLUMN
from shared.synthetic_observational import ObservationalConfig, generate_observational

ASSUMPTIONS: dict[str, list[str]] = {
    "randomized": [
        "randomization by design: the arm was assigned at random, independent of every user trait "
        "(checked for sample ratio mismatch against the expected split)",
        "consistency and no interference: a user's outcome depends only on their own assigned arm",
    ],
    "observational": [
        "no unmeasured confounding: given the features, the arm is independent of the potential "
        "outcomes (every common cause of arm and outcome is a feature); not testable, see the E-value",
        "overlap: every arm was possible for every kept user (checked: propensity histograms, Crump "
        "trimming, effective sample size)",
        "consistency and no interference: a user's outcome depends only on their own received arm",
    ],
}
LEARNERS = ("dr", "x", "r")
EXCLUDED = {
    "t": "never uses the propensity; confounding is removed only as far as each arm's outcome model "
    "extrapolates into the other arm's users",
    "s": "never uses the propensity; one regularized outcome model shrinks the effect and absorbs confounding",
    "ct": "pure inverse-propensity weighting with no outcome model: not doubly robust, unstable near 0 or 1",
}


class ObservationalError(ValueError):
    """Bad input for the observational path; the message starts with the option it concerns."""


def learner_for(requested: str) -> str:
    """The learner to fit: ``auto`` → dr (see the module docstring); a learner outside LEARNERS is refused."""
    if requested == "auto":
        return "dr"
    if requested not in LEARNERS:
        why = EXCLUDED.get(requested, "unknown learner")
        raise ObservationalError(
            f"--learner: with --observational must be auto, {', '.join(LEARNERS)}; {requested} {why}"
        )
    return requested


@dataclass
class ObservationalAnalysis:
    keep: np.ndarray
    report: dict[str, Any]


def _arm_report(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, rows: np.ndarray, arm: Any, outcome_kind: str,
    config: NuisanceConfig, truth: np.ndarray | None,
) -> dict[str, Any]:  # fmt: skip
    treated = (t[rows] == arm).astype(np.int64)
    estimate = partial(aipw_effect, outcome_kind=outcome_kind, config=config)
    effect = estimate(X[rows], treated, y[rows])
    checks = refute(estimate, X[rows], treated, y[rows], effect, np.random.default_rng(config.seed + 101))
    sens = (
        binary_sensitivity(effect)
        if outcome_kind == "binary"
        else continuous_sensitivity(effect, pooled_sd(y[rows], treated))
    )
    out: dict[str, Any] = {
        "average_effect": effect.to_dict() | {"method": "AIPW, cross-fitted, on the kept rows"},
        "naive_difference": naive_difference(treated, y[rows]).to_dict(),
        "refutations": [r.to_dict() for r in checks],
        "refutation_lines": [r.line() for r in checks],
        "sensitivity": sens.to_dict(),
    }
    if truth is not None:
        true_ate = float(truth[rows].mean())
        out["true_average_effect"] = true_ate
        out["interval_covers_truth"] = effect.covers(true_ate)
    return out


def analyze(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    *,
    arms: list[Any],
    control: Any,
    outcome_kind: str,
    config: NuisanceConfig,
    min_rows_per_arm: int,
    truth: dict[Any, np.ndarray] | None = None,
) -> ObservationalAnalysis:
    """Propensity, overlap and trimming, then per arm the average effect, refutations and E-value."""
    treatment_arms = [a for a in arms if a != control]
    try:
        E = np.column_stack([cross_fitted_propensity(X, t, a, control, config) for a in treatment_arms])
    except PropensityError as exc:
        raise ObservationalError(f"--observational: {exc}") from exc
    pairs = np.column_stack([(t == a) | (t == control) for a in treatment_arms])
    keep, alphas = overlap_mask(E, pairs, np.column_stack([t == a for a in treatment_arms]))
    for a in arms:
        kept = int(((t == a) & keep).sum())
        if kept < min_rows_per_arm:
            raise ObservationalError(
                f"--observational: after trimming to the overlap region arm {a!r} keeps {kept} rows, fewer "
                f"than {min_rows_per_arm}; the features nearly separate the arms, so no effect is identified"
            )
    per_arm: dict[str, Any] = {}
    for k, arm in enumerate(treatment_arms):
        pair = pairs[:, k]
        overlap = arm_overlap(
            E[pair, k], (t[pair] == arm).astype(np.int64), keep[pair], str(arm), str(control)
        )
        arm_truth = truth.get(arm) if truth else None
        per_arm[str(arm)] = {"overlap": overlap.to_dict()} | _arm_report(
            X, t, y, pair & keep, arm, outcome_kind, config, arm_truth
        )
    report = {
        "assumptions": ASSUMPTIONS["observational"],
        "propensity_model": (
            f"XGBoost classifier of each arm against control, cross-fitted over {config.n_folds} folds "
            f"(seed {config.seed}); clipped to [0.01, 0.99] where divided by"
        ),
        "trimming": {
            "rule": RULE,
            "alphas": dict(zip(map(str, treatment_arms), alphas, strict=True)),
            "rows": len(t),
            "rows_kept": int(keep.sum()),
            "rows_trimmed": int((~keep).sum()),
            "estimand": "effects on the kept (overlap) population, not on every user",
        },
        "learners": {"allowed": list(LEARNERS), "excluded": EXCLUDED, "auto": "dr"},
        "srm_check": "skipped: assignment was not randomized, so there is no designed split to test",
        "arms": per_arm,
    }
    return ObservationalAnalysis(keep=keep, report=report)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The observational section of the CLI printout."""
    trim = report["trimming"]
    lines = [
        "assumptions (observational): " + "; ".join(a.split(":")[0] for a in report["assumptions"]),
        f"overlap: {trim['rows_trimmed']} of {trim['rows']} rows trimmed "
        f"(Crump bounds alpha {', '.join(f'{a}={v:.3f}' for a, v in trim['alphas'].items())}); "
        f"{trim['estimand']}",
    ]
    for arm, res in report["arms"].items():
        ov, eff, naive = res["overlap"], res["average_effect"], res["naive_difference"]
        ess = ov["effective_sample_size_after_trimming"]
        lines.append(f"arm {arm}: effective sample size after trimming {ess}")
        truth = ""
        if "true_average_effect" in res:
            truth = f"; truth {res['true_average_effect']:.4g} ({'covered' if res['interval_covers_truth'] else 'NOT covered'})"
        lines.append(
            f"arm {arm}: average effect (AIPW) {eff['estimate']:.4g} "
            f"[{eff['low']:.4g}, {eff['high']:.4g}] vs naive difference {naive['estimate']:.4g}{truth}"
        )
        lines += [f"  refutation {line}" for line in res["refutation_lines"]]
        s = res["sensitivity"]
        lines.append(
            f"  sensitivity: E-value {s['e_value']:.3f} (interval {s['e_value_interval']:.3f}) on RR "
            f"{s['risk_ratio']:.3f}; {s['reading']}"
        )
    return lines


def observational_analysis(
    data: TrainingData, X: np.ndarray, t: np.ndarray, y: np.ndarray, outcome_kind: str,
    settings: TrainerSettings,
) -> ObservationalAnalysis:  # fmt: skip
    """``analyze`` on every row of a training table (the propensity never sees outcomes; the average
    effect is cross-fitted on its own), with the known truth of synthetic data when there is one."""
    arms = [data.control, *[a for a in pd.unique(t) if a != data.control]]
    truth: dict[Any, np.ndarray] = {}
    for a in arms[1:]:
        column = data.truth(a)
        if column is None and data.has_truth and len(arms) == 2:
            column = data.frame["true_cate"].to_numpy()
        if column is not None:
            truth[a] = column
    config = NuisanceConfig(
        n_folds=settings.folds, n_estimators=settings.max_trees, n_jobs=settings.n_jobs, seed=data.seed + 31
    )
    result = analyze(
        X, t, y, arms=arms, control=data.control, outcome_kind=outcome_kind, config=config,
        min_rows_per_arm=settings.min_rows_per_arm, truth=truth or None,
    )  # fmt: skip
    result.report["notes"] = [
        "per-user effect intervals (effect samples) are spread from a half-sample ensemble fitted with the "
        "arms' shares as propensity; their coverage on confounded data is not established",
        "the held-out Qini and verdict rank users on observed outcomes, which confounding also biases; "
        "read them with the average effect and refutations above",
    ]
    return result


def synthetic_training_data(rows: int, seed: int, arms: int, outcome_kind: str) -> TrainingData:
    """The confounded synthetic table of ``shared.synthetic_observational`` in the trainer's shape."""
    config = ObservationalConfig(
        rows=rows, seed=seed, n_arms=arms, outcome="continuous" if outcome_kind == "continuous" else "binary"
    )
    generated = generate_observational(config)
    return TrainingData(
        frame=generated.users,
        features=generated.features,
        treatment=TREATMENT_COLUMN,
        outcome=generated.outcome,
        control=0,
        source="synthetic-observational",
        seed=seed,
        id_column=ID_COLUMN,
        description=generated.describe(),
        outcome_kind="continuous" if config.outcome == "continuous" else "auto",
    )
