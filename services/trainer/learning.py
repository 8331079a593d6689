"""Which learner, fitted how: selection on the training split, the final fits, the placebo and the members.

The held-out split never reaches this module; ``pipeline`` evaluates what it returns once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.trainer.settings import TrainerSettings
from shared.estimators import LEARNERS, MetaLearner, TLearner, supports
from shared.estimators.registry import sharing_outcomes
from shared.estimators.selection import Selection, SelectionError, cross_fit_outcomes, select_learner
from shared.estimators.served import ServedModel
from shared.estimators.uncertainty import fit_members

LEARNER_CODES = tuple(LEARNERS)
Step = Callable[[str], Any]


@dataclass
class Learned:
    served: ServedModel
    placebo: ServedModel
    selection: Selection | None
    members: list[list[Any]]
    forced: bool


def outcome_kind_of(y: np.ndarray, requested: str) -> str:
    if requested in ("binary", "continuous"):
        return requested
    return "binary" if bool(np.isin(y, (0.0, 1.0)).all()) else "continuous"


def candidates_for(learner: str, outcome_kind: str, n_arms: int) -> list[str]:
    """The learners to fit: every one that can take this data under ``auto``, else the forced one.

    A forced learner that cannot take the data is a SelectionError naming --learner and the rule.
    """
    if learner != "auto" and learner not in LEARNERS:
        raise SelectionError(f"--learner: must be one of auto, {', '.join(LEARNERS)}; got {learner!r}")
    if learner != "auto":
        rule = supports(learner, outcome_kind, n_arms)
        if rule is not None:
            raise SelectionError(f"--learner: {rule}")
        return [learner]
    return [code for code in LEARNERS if supports(code, outcome_kind, n_arms) is None]


def learner_factory(
    settings: TrainerSettings,
    control: Any,
    outcome_kind: str,
    seed: int,
    propensity: dict[Any, float] | str | None,
) -> Callable[[str], MetaLearner]:
    """Constructors with the run's settings; the design's propensity (or "estimate" for observational data)
    goes to learners that use one."""

    def make(code: str) -> MetaLearner:
        cls = LEARNERS[code]
        kwargs: dict[str, Any] = {
            "n_estimators": settings.max_trees,
            "control": control,
            "outcome": outcome_kind,
            "n_jobs": settings.n_jobs,
            "random_state": seed,
        }
        if "propensity" in cls().get_params():
            kwargs["propensity"] = propensity if propensity is not None else "shares"
        return cls(**kwargs)

    return make


def _fit_form(
    make: Callable[[str], MetaLearner], codes: list[str], X: np.ndarray, t: np.ndarray, y: np.ndarray
) -> ServedModel:
    baseline = make("t").fit(X, t, y)
    assert isinstance(baseline, TLearner)
    members = [baseline if c == "t" else sharing_outcomes(make(c), baseline).fit(X, t, y) for c in codes]
    return ServedModel(baseline=baseline, members=members, codes=codes)


def learn(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    *,
    control: Any,
    outcome_kind: str,
    settings: TrainerSettings,
    seed: int,
    propensity: dict[Any, float] | str | None,
    step: Callable[[str], AbstractContextManager[None]],
    report: Step,
) -> Learned:
    """Choose (or take the forced learner), fit on all training rows, refit on shuffled arms, fit members."""
    n_arms = len(np.unique(t))
    candidates = candidates_for(settings.learner, outcome_kind, n_arms)
    make = learner_factory(settings, control, outcome_kind, seed, propensity)
    selection = None
    if len(candidates) > 1:
        with step("select learner"):
            selection = select_learner(
                X, t, y, control=control, candidates=candidates, make=make, n_folds=settings.folds,
                max_rows=settings.selection_rows, n_boot=settings.bootstrap_resamples, seed=seed + 11,
                progress=report,
            )  # fmt: skip
        codes = selection.chosen
    else:
        codes = candidates
    with step(f"fit {'+'.join(codes)} on the training split"):
        served = _fit_form(make, codes, X, t, y)
    with step("placebo fit"):
        # The same procedure on shuffled arms: whatever "effect" it finds is noise at this sample size.
        shuffled = np.random.default_rng(seed + 2).permutation(t)
        placebo = _fit_form(make, codes, X, shuffled, y)
    with step("effect samples"):
        if selection is not None and selection.oof_outcomes is not None and selection.oof_rows is not None:
            rows, mu = selection.oof_rows, selection.oof_outcomes
        else:
            rows = np.random.default_rng(seed + 5).permutation(len(y))[: settings.selection_rows]
            mu = cross_fit_outcomes(X[rows], t[rows], y[rows], lambda: make("t"), 2, seed + 5)
        arms = served.baseline.arms_
        members = fit_members(
            X[rows], t[rows], y[rows], mu, arms, n_members=settings.effect_members, seed=seed + 13,
            n_estimators=settings.max_trees, n_jobs=settings.n_jobs,
        )  # fmt: skip
    return Learned(
        served=served, placebo=placebo, selection=selection, members=members, forced=len(candidates) == 1
    )
