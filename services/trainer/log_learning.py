"""Learning on experiment + log rows with known propensities (see services/trainer/from_log.py).

The same steps as services/trainer/learning.py, with two differences. The selection scores learners
by their out-of-fold Qini on observed outcomes, which is unbiased only on randomized rows, so it runs
on the experiment's training rows alone; the chosen learner is then fitted on all rows with every
row's known propensity. The effect-sample members use the same propensities in their pseudo-outcomes.
The placebo refit shuffles the arms, which makes them randomized: it uses the design shares. Before the
final fit, the experiment's rows get a weight beside the logged rows, chosen on held-out logged rows
(services/trainer/experiment_weight.py): below 1 when the market has moved since the experiment, per
region of the feature space when the move is located (services/trainer/drift_regions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from services.trainer.data import LoggedRows
from services.trainer.experiment_weight import choose_experiment_weight, kish_scaled
from services.trainer.from_log import SELECTION_RULE
from services.trainer.learning import Learned, candidates_for, learner_factory
from services.trainer.settings import TrainerSettings
from shared.estimators import MetaLearner, TLearner
from shared.estimators.registry import sharing_outcomes
from shared.estimators.selection import fold_ids, select_learner
from shared.estimators.served import ServedModel
from shared.estimators.uncertainty import fit_members

Step = Callable[[str], Any]
Make = Callable[[str], MetaLearner]


def _fit_form(
    make: Make,
    codes: list[str],
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray | None,
    weight: np.ndarray | None = None,
) -> ServedModel:
    baseline = make("t").fit(X, t, y, propensity=e, sample_weight=weight)
    assert isinstance(baseline, TLearner)
    # The X-learner reuses the baseline's outcome models (learning.py does the same); both were fitted
    # with the same known propensities, so they are exactly what its stage 1 would fit.
    members = [
        baseline
        if c == "t"
        else sharing_outcomes(make(c), baseline).fit(X, t, y, propensity=e, sample_weight=weight)
        for c in codes
    ]
    return ServedModel(baseline=baseline, members=members, codes=codes)


def _cross_fit_outcomes(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, make: Make, seed: int
) -> np.ndarray:
    """Out-of-fold outcomes under both arms from inverse-propensity-weighted T-learners (2 folds)."""
    folds = fold_ids(t, 2, np.random.default_rng(seed))
    mu = np.zeros((len(y), 2))
    for k in range(2):
        est = make("t").fit(X[folds != k], t[folds != k], y[folds != k], propensity=e[folds != k])
        mu[folds == k] = est.predict_outcomes(X[folds == k])
    return mu


def learn_combined(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    *,
    e: np.ndarray,
    from_log: np.ndarray,
    control: Any,
    outcome_kind: str,
    settings: TrainerSettings,
    seed: int,
    propensity: dict[Any, float] | str | None,
    step: Callable[[str], AbstractContextManager[None]],
    report: Step,
    log_report: dict[str, Any] | None = None,
    names: list[str] | None = None,
    supported: np.ndarray | None = None,
) -> Learned:
    """Choose on the experiment rows, weigh the experiment on held-out logged rows, fit on all rows with
    known propensities, placebo, members. The weight's choice goes to ``log_report``."""
    candidates = candidates_for(settings.learner, outcome_kind, len(np.unique(t)))
    make = learner_factory(settings, control, outcome_kind, seed, propensity)
    selection = None
    if len(candidates) > 1:
        experiment = ~from_log
        with step(
            "select learner on the experiment's rows (" + SELECTION_RULE.split("(")[1].split(")")[0] + ")"
        ):
            selection = select_learner(
                X[experiment], t[experiment], y[experiment], control=control, candidates=candidates,
                make=make, n_folds=settings.folds, max_rows=settings.selection_rows,
                n_boot=settings.bootstrap_resamples, seed=seed + 11, progress=report,
            )  # fmt: skip
        codes = selection.chosen
    else:
        codes = candidates
    with step("weigh the experiment against held-out logged rows"):
        choice = choose_experiment_weight(
            X, t, y, e, from_log, control,
            lambda Xa, ta, ya, ea, wa: make("t").fit(Xa, ta, ya, propensity=ea, sample_weight=wa), seed + 17,
            names=names, supported=supported,
        )  # fmt: skip
    report(f"experiment weight beside the log: {choice.reason}")
    if log_report is not None:
        log_report["experiment_weight"] = choice.to_dict()
    weight = None
    if choice.by_region or choice.chosen != 1.0:
        weight = np.ones(len(y))
        weight[~from_log] = choice.experiment_weights(X[~from_log])
        weight = kish_scaled(weight)
    with step(f"fit {'+'.join(codes)} on experiment + log with known propensities"):
        served = _fit_form(make, codes, X, t, y, e, weight)
    with step("placebo fit"):
        shuffled = np.random.default_rng(seed + 2).permutation(t)
        placebo = _fit_form(make, codes, X, shuffled, y, None)
    with step("effect samples"):
        rows = np.random.default_rng(seed + 5).permutation(len(y))[: settings.selection_rows]
        mu = _cross_fit_outcomes(X[rows], t[rows], y[rows], e[rows], make, seed + 5)
        members = fit_members(
            X[rows], t[rows], y[rows], mu, served.baseline.arms_, n_members=settings.effect_members,
            seed=seed + 13, n_estimators=settings.max_trees, n_jobs=settings.n_jobs, propensity=e[rows],
        )  # fmt: skip
    return Learned(
        served=served, placebo=placebo, selection=selection, members=members, forced=len(candidates) == 1
    )


def logged_learner(
    logged: LoggedRows, rows: np.ndarray, names: list[str] | None = None
) -> Callable[..., Learned]:
    """``learn``'s signature for the pipeline, bound to the known propensities of the training ``rows``
    (``names``: the encoded feature columns, to describe where the market moved)."""
    e, from_log, supported = logged.propensity[rows], logged.mask[rows], logged.supported[rows]

    def run(X: np.ndarray, t: np.ndarray, y: np.ndarray, **kwargs: Any) -> Learned:
        return learn_combined(
            X,
            t,
            y,
            e=e,
            from_log=from_log,
            log_report=logged.report,
            names=names,
            supported=supported,
            **kwargs,
        )

    return run
