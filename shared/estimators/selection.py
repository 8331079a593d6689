"""Choosing a learner per data set: K-fold cross-fitting on the training split, scored out of fold.

No learner wins everywhere (Künzel et al. 2019; Curth & van der Schaar 2023), so every candidate is
fitted K times, each time predicting the fold it did not see. The criterion is the one the product is
judged by: the Qini coefficient of the out-of-fold effects on the observed outcomes, averaged over
the treatment arms (each arm against control on its own rows). A paired Poisson bootstrap of those
rows gives every candidate's standard deviation and the sd of its difference with the T-learner, so
the report shows whether a win is larger than the noise.

Beside it, the DR risk (Schuler et al. 2018; Mahajan et al. 2022): the mean squared distance of the
out-of-fold effects from doubly robust pseudo-outcomes built from the T-learner's own out-of-fold
outcome predictions. It is recorded, not used to choose: it judges calibration, while the Qini judges
the ordering that targeting uses.

Learners whose out-of-fold Qini is within one paired bootstrap sd of the best cannot be told apart
by this data: choosing the top one among them would choose noise. Their average (equal weights; the
MAX_ENSEMBLE best of them out of fold when more are tied) is scored the same way and chosen unless it
scores more than one paired sd below the best alone; a single learner is chosen when it is clearly
ahead. The held-out split is never seen here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from shared.estimators.base import MetaLearner
from shared.estimators.drlearner import dr_pseudo_outcomes
from shared.estimators.registry import sharing_outcomes
from shared.estimators.tlearner import TLearner
from shared.metrics.bootstrap import paired_weights, weighted_qini

MIN_ROWS_PER_FOLD = 50
# Most learners averaged: a compute budget, not a statistical constant. Every member is fitted again on
# all training rows and once more for the placebo refit, and the variance an average removes falls off
# quickly with its size (tied learners' errors are strongly correlated).
MAX_ENSEMBLE = 3


class SelectionError(ValueError):
    """The data cannot support the requested cross-fitting; the message names the option and the rule."""


@dataclass
class CandidateScore:
    learner: str
    qini: float | None
    qini_sd: float | None
    qini_per_arm: dict[str, float] = field(default_factory=dict)
    # Paired bootstrap: this candidate's Qini minus the T-learner's, and its sd.
    qini_minus_t: float | None = None
    qini_minus_t_sd: float | None = None
    dr_risk: float | None = None
    fit_seconds: float = 0.0
    error: str | None = None


@dataclass
class Selection:
    chosen: list[str]
    criterion: str
    reason: str
    folds: int
    rows: int
    seed: int
    candidates: list[CandidateScore]
    ensembles: list[CandidateScore]
    wall_seconds: float
    # The selection rows and the T-learner's out-of-fold outcomes there: the uncertainty members reuse them.
    oof_rows: np.ndarray | None = field(default=None, repr=False)
    oof_outcomes: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return "+".join(self.chosen)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("oof_rows", "oof_outcomes")}
        return out | {"name": self.name}


def cross_fit_outcomes(
    X: np.ndarray,
    treatment: np.ndarray,
    y: np.ndarray,
    make_t: Callable[[], MetaLearner],
    n_folds: int,
    seed: int,
) -> np.ndarray:
    """Out-of-fold expected outcome under every arm (n, arms), from T-learners fitted on the other folds."""
    folds = fold_ids(treatment, n_folds, np.random.default_rng(seed))
    mu: np.ndarray | None = None
    for k in range(n_folds):
        est = make_t().fit(X[folds != k], treatment[folds != k], y[folds != k])
        pred = est.predict_outcomes(X[folds == k])
        mu = np.zeros((len(y), pred.shape[1])) if mu is None else mu
        mu[folds == k] = pred
    assert mu is not None
    return mu


CRITERION = (
    "out-of-fold Qini coefficient of the effects on observed outcomes, mean over treatment arms "
    "(each arm vs control on its rows); sd from a paired Poisson bootstrap of the out-of-fold rows"
)


def fold_ids(treatment: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of every row, stratified by arm so each fold holds every arm in its share."""
    folds = np.empty(len(treatment), dtype=np.int64)
    for arm in np.unique(treatment):
        idx = rng.permutation(np.flatnonzero(treatment == arm))
        folds[idx] = np.arange(len(idx)) % n_folds
    return folds


def check_folds(treatment: np.ndarray, n_folds: int, option: str = "--folds") -> None:
    """Every arm needs MIN_ROWS_PER_FOLD rows in every fold, or the fold models are noise."""
    if n_folds < 2:
        raise SelectionError(f"{option}: needs at least 2 folds, got {n_folds}")
    arms, counts = np.unique(treatment, return_counts=True)
    for arm, count in zip(arms, counts, strict=True):
        if count // n_folds < MIN_ROWS_PER_FOLD:
            raise SelectionError(
                f"{option}: with {n_folds} folds every arm needs at least {MIN_ROWS_PER_FOLD} training rows per "
                f"fold; arm {arm!r} has {count} (use fewer folds, more rows, or --learner t)"
            )


def _subsample(treatment: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(treatment) <= max_rows:
        return np.arange(len(treatment))
    return np.sort(rng.choice(len(treatment), size=max_rows, replace=False))


@dataclass
class _Scorer:
    """Per-arm rows, treated flags and the paired bootstrap weights shared by all candidates."""

    y: np.ndarray
    t: np.ndarray
    arms: list[Any]
    weights: np.ndarray

    def scores(self, effects: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Qini per resample (row 0 = the point value), averaged over arms, and the per-arm points."""
        per_arm, total = {}, None
        for k, arm in enumerate(self.arms[1:]):
            rows = (self.t == arm) | (self.t == self.arms[0])
            treated = (self.t[rows] == arm).astype(np.int8)
            q = weighted_qini(self.y[rows], treated, effects[rows, k], self.weights[:, rows])
            per_arm[str(arm)] = float(q[0])
            total = q if total is None else total + q
        assert total is not None
        return total / (len(self.arms) - 1), per_arm


def _score(
    scorer: _Scorer, name: str, effects: np.ndarray, seconds: float
) -> tuple[CandidateScore, np.ndarray]:
    q, per_arm = scorer.scores(effects)
    return (
        CandidateScore(
            learner=name,
            qini=float(q[0]),
            qini_sd=float(q[1:].std(ddof=1)),
            qini_per_arm=per_arm,
            fit_seconds=round(seconds, 2),
        ),
        q,
    )


def _dr_risk(y: np.ndarray, t: np.ndarray, arms: list[Any], mu: np.ndarray, effects: np.ndarray) -> float:
    """Mean squared distance from AIPW pseudo-outcomes (arm shares as the known design propensity)."""
    risks = []
    for k, arm in enumerate(arms[1:]):
        rows = (t == arm) | (t == arms[0])
        treated = (t[rows] == arm).astype(np.float64)
        phi = dr_pseudo_outcomes(
            y[rows], treated, mu[rows, 0], mu[rows, k + 1], np.full(len(treated), treated.mean())
        )
        risks.append(float(np.mean((phi - effects[rows, k]) ** 2)))
    return float(np.mean(risks))


def select_learner(
    X: np.ndarray,
    treatment: np.ndarray,
    y: np.ndarray,
    *,
    control: Any,
    candidates: Sequence[str],
    make: Callable[[str], MetaLearner],
    n_folds: int = 3,
    max_rows: int = 150_000,
    n_boot: int = 100,
    seed: int = 0,
    progress: Callable[[str], Any] | None = None,
) -> Selection:
    """Cross-fit every candidate on (a seeded subsample of) the training rows and choose one or an average."""
    started = time.perf_counter()
    if not candidates:
        raise SelectionError("--learner: no candidate learner can take this data")
    rng = np.random.default_rng(seed)
    rows = _subsample(treatment, max_rows, rng)
    Xs, ts, ys = X[rows], treatment[rows], y[rows]
    check_folds(ts, n_folds)
    folds = fold_ids(ts, n_folds, rng)
    arms = [control, *sorted((a for a in np.unique(ts).tolist() if a != control), key=str)]
    scorer = _Scorer(
        ys, ts, arms, np.vstack([np.ones((1, len(ys))), paired_weights(len(ys), n_boot, seed + 1)])
    )
    n_effects = len(arms) - 1
    oof: dict[str, np.ndarray] = {}
    mu_t: np.ndarray | None = None
    scores: list[CandidateScore] = []
    samples: dict[str, np.ndarray] = {}
    # The T-learner of every fold, for learners whose first stage is exactly it (fitted once, not twice).
    fold_t: dict[int, TLearner] = {}
    for code in sorted(candidates, key=lambda c: c != "t"):
        if progress:
            progress(f"selection: cross-fitting {code} ({n_folds} folds, {len(ys)} rows)")
        t0 = time.perf_counter()
        effects = np.zeros((len(ys), n_effects))
        mu = np.zeros((len(ys), len(arms))) if code == "t" else None
        try:
            for k in range(n_folds):
                fit_rows, pred_rows = folds != k, folds == k
                est = sharing_outcomes(make(code), fold_t.get(k)).fit(
                    Xs[fit_rows], ts[fit_rows], ys[fit_rows]
                )
                if isinstance(est, TLearner):
                    fold_t[k] = est
                effects[pred_rows] = np.asarray(est.predict(Xs[pred_rows])).reshape(-1, n_effects)
                if mu is not None:
                    mu[pred_rows] = est.predict_outcomes(Xs[pred_rows])
        except ValueError as exc:
            scores.append(CandidateScore(code, None, None, error=str(exc)))
            continue
        score, q = _score(scorer, code, effects, time.perf_counter() - t0)
        scores.append(score)
        oof[code], samples[code] = effects, q
        if mu is not None:
            mu_t = mu
    ok = [s for s in scores if s.qini is not None]
    if not ok:
        raise SelectionError(
            "--learner: every candidate failed: " + "; ".join(f"{s.learner}: {s.error}" for s in scores)
        )
    ranked = sorted(ok, key=lambda s: s.qini or 0.0, reverse=True)
    best = ranked[0]
    # Learners the out-of-fold data cannot tell from the best: within one paired sd of its Qini.
    tied = [
        c.learner
        for c in ranked
        if (best.qini or 0.0) - (c.qini or 0.0)
        <= float((samples[best.learner] - samples[c.learner])[1:].std(ddof=1))
    ]
    n_tied = len(tied)
    tied = tied[:MAX_ENSEMBLE]
    ensembles = []
    if len(tied) >= 2:
        avg = np.mean([oof[m] for m in tied], axis=0)
        score, q = _score(scorer, "+".join(tied), avg, 0.0)
        ensembles.append(score)
        oof[score.learner], samples[score.learner] = avg, q
    for s in [*scores, *ensembles]:
        if s.qini is None:
            continue
        if mu_t is not None:
            s.dr_risk = _dr_risk(ys, ts, arms, mu_t, oof[s.learner])
        if "t" in samples:
            diff = samples[s.learner] - samples["t"]
            s.qini_minus_t, s.qini_minus_t_sd = float(diff[0]), float(diff[1:].std(ddof=1))
    winner = best
    if ensembles:
        avg_score = ensembles[0]
        gap_sd = float((samples[avg_score.learner] - samples[best.learner])[1:].std(ddof=1))
        # Picking the top of a tie picks noise; their average has less variance. Taken unless it
        # scores clearly (more than one paired sd) below the best alone.
        if (avg_score.qini or 0.0) >= (best.qini or 0.0) - gap_sd:
            winner = avg_score
    chosen = winner.learner.split("+")
    if winner is best and len(tied) == 1:
        why = f"{best.learner} is ahead of the other {len(ok) - 1} learners by more than one paired sd out of fold"
    elif winner is best:
        why = f"{best.learner} has the best out-of-fold Qini; the average of {', '.join(tied)} scores clearly lower"
    else:
        why = (
            f"{', '.join(tied)} are within one paired sd of the best out of fold, so their average is served"
            if n_tied == len(tied)
            else f"{n_tied} learners are within one paired sd of the best out of fold; the average of the "
            f"{len(tied)} best of them ({', '.join(tied)}) is served"
        )
    reason = f"{why}: Qini {winner.qini:.5f} ± {winner.qini_sd:.5f} (bootstrap sd)"
    if winner.qini_minus_t is not None and winner.learner != "t":
        reason += f"; {winner.qini_minus_t:+.5f} ± {winner.qini_minus_t_sd:.5f} against the T-learner"
    return Selection(
        chosen=chosen,
        criterion=CRITERION,
        reason=reason,
        folds=n_folds,
        rows=len(ys),
        seed=seed,
        candidates=scores,
        ensembles=ensembles,
        wall_seconds=round(time.perf_counter() - started, 2),
        oof_rows=rows if mu_t is not None else None,
        oof_outcomes=mu_t,
    )
