"""The parts of a run that need rows in memory, on a seeded sample of the training rows.

When the final fits run elsewhere (a Dask cluster, external memory), the choice between the T- and
DR-learners (the usual out-of-fold Qini, ``select_learner``) and the uncertainty members are fitted on
a sample of at most ``selection_rows`` training rows, exactly as a single-machine run subsamples them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.trainer.learning import learner_factory
from services.trainer.settings import TrainerSettings
from shared.estimators import LEARNERS, supports
from shared.estimators.selection import Selection, SelectionError, cross_fit_outcomes, select_learner
from shared.estimators.uncertainty import fit_members

OUT_OF_CORE_LEARNERS = ("t", "dr")
SUBSET_REASON = (
    "fitted out of one process's memory: the T- and DR-learners only, as both are per-arm outcome fits plus, "
    "for DR, one regression of a row-wise pseudo-outcome; the choice between them is the usual out-of-fold "
    "Qini, cross-fitted on a seeded sample of at most selection_rows training rows"
)


def out_of_core_candidates(requested: str, outcome_kind: str, n_arms: int, option: str) -> list[str]:
    """T and DR under ``auto``, or the forced one of them (another learner is an error naming --learner)."""
    supported = [c for c in LEARNERS if supports(c, outcome_kind, n_arms) is None]
    if requested == "auto":
        return [c for c in OUT_OF_CORE_LEARNERS if c in supported]
    if requested not in OUT_OF_CORE_LEARNERS:
        raise SelectionError(
            f"--learner: with {option} only auto, {', '.join(OUT_OF_CORE_LEARNERS)} are fitted; got {requested!r}"
        )
    return [requested]


@dataclass
class Sample:
    X: np.ndarray
    t: np.ndarray
    y: np.ndarray


def choose(
    sample: Sample,
    arms: list[Any],
    outcome_kind: str,
    settings: TrainerSettings,
    seed: int,
    candidates: list[str],
    report: Callable[[str], Any],
) -> tuple[list[str], Selection | None]:
    if len(candidates) == 1:
        return candidates, None
    make = learner_factory(settings, arms[0], outcome_kind, seed, None)
    report(f"select learner among {'+'.join(candidates)} on a {len(sample.y)}-row sample")
    selection = select_learner(
        sample.X, sample.t, sample.y, control=arms[0], candidates=candidates, make=make, n_folds=settings.folds,
        max_rows=settings.selection_rows, n_boot=settings.bootstrap_resamples, seed=seed + 11, progress=report,
    )  # fmt: skip
    return selection.chosen, selection


def members(
    sample: Sample,
    arms: list[Any],
    outcome_kind: str,
    settings: TrainerSettings,
    seed: int,
    selection: Selection | None,
) -> list[list[Any]]:
    """The effect samples' boosters, on the selection's out-of-fold outcomes when it ran (as ``learn``)."""
    if selection is not None and selection.oof_outcomes is not None and selection.oof_rows is not None:
        pick, mu = selection.oof_rows, selection.oof_outcomes
    else:
        make = learner_factory(settings, arms[0], outcome_kind, seed, None)
        pick = np.random.default_rng(seed + 5).permutation(len(sample.y))[: settings.selection_rows]
        mu = cross_fit_outcomes(
            sample.X[pick], sample.t[pick], sample.y[pick], lambda: make("t"), 2, seed + 5
        )
    return fit_members(
        sample.X[pick], sample.t[pick], sample.y[pick], mu, list(arms), n_members=settings.effect_members,
        seed=seed + 13, n_estimators=settings.max_trees, n_jobs=settings.n_jobs,
    )  # fmt: skip
