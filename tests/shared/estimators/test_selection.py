"""Selection picks what the out-of-fold data supports, and refuses data too small to cross-fit."""

from typing import Any

import numpy as np
import pytest

from shared.estimators import TLearner
from shared.estimators.base import MetaLearner
from shared.estimators.selection import SelectionError, check_folds, fold_ids, select_learner


class _Fixed(MetaLearner):
    """A stand-in learner whose effect is a fixed column of X (the truth) or pure noise."""

    def __init__(self, column: int = 0, noise: bool = False, control: Any = 0, outcome: str = "auto") -> None:
        self.column = column
        self.noise = noise
        self.control = control
        self.outcome = outcome

    def _fit_arms(self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
        self.rng_ = np.random.default_rng(0)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        Xm = np.asarray(X)
        return self.rng_.normal(size=len(Xm)) if self.noise else Xm[:, self.column].astype(np.float64)


def _data(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    tau = 0.25 * (X[:, 1] > 0.3)
    X[:, 3] = tau  # column 3 is the true effect: the "oracle" candidate reads it
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.15 + 0.05 * (X[:, 0] > 0) + t * tau).astype(np.float64)
    return X, t, y, tau


def _make(code: str) -> MetaLearner:
    if code == "t":
        return TLearner(n_estimators=60, random_state=0)
    return _Fixed(column=3) if code == "oracle" else _Fixed(noise=True)


def test_picks_the_clearly_right_learner_and_never_the_noise() -> None:
    X, t, y, _ = _data()
    sel = select_learner(
        X, t, y, control=0, candidates=["t", "noise", "oracle"], make=_make, n_boot=50, seed=1
    )
    assert "oracle" in sel.chosen and "noise" not in sel.chosen
    scores = {c.learner: c for c in sel.candidates}
    assert scores["oracle"].qini > scores["t"].qini > scores["noise"].qini
    # Paired against the T-learner, the noise's deficit is several sds.
    assert scores["noise"].qini_minus_t < -3 * scores["noise"].qini_minus_t_sd
    assert scores["oracle"].qini_minus_t > 0
    assert scores["t"].dr_risk is not None and scores["oracle"].dr_risk < scores["noise"].dr_risk
    assert "paired sd" in sel.reason and "noise" not in sel.reason
    assert sel.to_dict()["name"] == sel.name and "oof_outcomes" not in sel.to_dict()


def test_a_failing_candidate_is_recorded_not_fatal() -> None:
    X, t, y, _ = _data(3000)

    def make(code: str) -> MetaLearner:
        if code == "broken":
            return TLearner(control=99)  # no such arm: fit raises ValueError
        return _make(code)

    sel = select_learner(X, t, y, control=0, candidates=["t", "broken"], make=make, n_boot=20, seed=1)
    broken = next(c for c in sel.candidates if c.learner == "broken")
    assert broken.qini is None and "control value" in (broken.error or "")
    assert sel.chosen == ["t"]


def test_folds_are_stratified_and_small_arms_refused() -> None:
    t = np.array([0] * 300 + [1] * 90)
    folds = fold_ids(t, 3, np.random.default_rng(0))
    for k in range(3):
        assert (t[folds == k] == 1).sum() == 30
    with pytest.raises(SelectionError, match=r"--folds: with 3 folds every arm needs at least 50"):
        check_folds(t, 3)
    with pytest.raises(SelectionError, match="--folds: needs at least 2"):
        check_folds(t, 1)


def test_a_tie_of_many_averages_only_the_best_few() -> None:
    """Five learners that cannot be told apart: the served average holds MAX_ENSEMBLE of them, and the
    reason says how many were tied."""
    from shared.estimators.selection import MAX_ENSEMBLE

    X, t, y, _ = _data()
    copies = [f"oracle{i}" for i in range(5)]
    sel = select_learner(
        X, t, y, control=0, candidates=copies, make=lambda code: _Fixed(column=3), n_boot=30, seed=1
    )
    assert len(sel.chosen) == MAX_ENSEMBLE and set(sel.chosen) <= set(copies)
    assert "5 learners are within one paired sd" in sel.reason
