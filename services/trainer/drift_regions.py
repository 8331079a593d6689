"""Where the market moved: a weight of the experiment per region of the feature space, chosen on the log.

The global weight (services/trainer/experiment_weight.py) treats the experiment alike everywhere. When
one group's response changed, the rest of the experiment is still right, and one global compromise both
keeps too much of the stale group and throws away part of the sound rest. The candidates' held-out
risks locate the change:

1. A shallow regression tree, fitted on the logged rows of fold 0, learns where the experiment at full
   weight predicts them worse than the log alone does: its target is
   d_i = risk_i(w = 1) − risk_i(w = lowest candidate), the rows' held-out risks. The caller passes the
   squared error on the outcome of the arm each row got (experiment_weight.py): unlike the
   transformed outcome it needs no propensity, so every logged row judges, including the users a
   near-greedy policy treats (or spares) almost surely, which is where a stale experiment costs.
2. Each leaf is then judged on the logged rows of fold 1, rows that did not shape the tree (so a leaf
   that looks changed only by the noise that placed its split is not judged on that noise). It is
   changed when the same contrast d, fixed before looking, is above 0 by more than z standard errors,
   z the one-sided normal quantile of 0.1587 / leaves (0.1587 is what one standard error leaves in one
   tail, the global rule's level; Bonferroni over the leaves), so an unchanged market keeps every leaf
   at 1 about as often as the one global test keeps 1, **and** the effect moved there: the treated
   rows' residuals under the full weight part from the control rows' by z standard errors. A baseline
   that moved for both arms alike (a season, a price) makes the experiment predict outcomes worse
   without making its effects wrong, and the effects are all it is kept for. The contrast is read on
   the smallest region around the leaf in which both arms have rows: a tree grown on outcome errors
   tends to split along the policy's own boundary, leaving leaves of one arm. Where even the root has
   one arm, a changed effect cannot be told from a changed baseline and every leaf keeps 1. A changed
   leaf takes the global rule's weight on its own rows among the weights below 1: the largest within
   one paired standard error of its lowest.
3. When some leaf is judged changed (weight below 1), the regions give every experiment row its weight;
   when none is, the global choice stands for all rows (a change spread over the whole market shows in
   the global test, not in any one leaf).

The tree's sizes are scale-free and stated: depth at most 3 (at most 8 regions), every leaf at least
1/16 of fold 0's rows and at least ``min_rows``. Nothing here is tuned to a data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from services.trainer.one_se_rule import one_se_choice

MAX_DEPTH = 3
LEAF_SHARE = 1 / 16
# One standard error leaves this much of a normal in one tail: the global rule's level.
ONE_SE_TAIL = 0.15866
RULE = (
    f"a regression tree (depth <= {MAX_DEPTH}, leaves >= 1/{round(1 / LEAF_SHARE)} of the rows) fitted on "
    "half of the logged rows locates where the experiment at full weight predicts the outcome of each row's "
    "own arm worse than the log alone; on the other half a leaf is changed when that difference is above 0 by z standard errors "
    "(z = one-sided normal quantile of 0.1587 / leaves) and the treated rows' residuals part from the control "
    "rows' by z standard errors (read on the smallest region around it with both arms), and then takes the "
    "largest weight below 1 within one paired standard error of its lowest risk; used when some leaf is changed"
)


@dataclass(frozen=True)
class Region:
    """One leaf: its path in feature terms, the judging rows in it, and its weight."""

    rule: str
    judged_rows: int
    weight: float
    # Per candidate weight: mean held-out risk on the leaf's judging rows.
    risks: dict[float, float]
    # Treated minus control mean residual of the full-weight candidate (None: an arm too thin to say).
    effect_shift: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "judged_logged_rows": self.judged_rows,
            "weight": self.weight,
            "held_out_outcome_risk": {f"{w:g}": round(r, 6) for w, r in self.risks.items()},
            "effect_shift": None if self.effect_shift is None else round(self.effect_shift, 6),
        }


@dataclass(frozen=True)
class Regions:
    """The fitted tree and each leaf's weight; ``weights(X)`` maps rows to their leaf's weight."""

    tree: Any  # sklearn.tree.DecisionTreeRegressor
    leaf_weight: dict[int, float]
    regions: tuple[Region, ...]
    z: float
    # The changed regions, sibling leaves of one weight merged: (rule, weight).
    changed_rules: list[tuple[str, float]]

    @property
    def changed(self) -> bool:
        return any(r.weight < 1.0 for r in self.regions)

    def weights(self, X: np.ndarray) -> np.ndarray:
        # Indexed by node id: one vectorised lookup for every experiment row, not a Python loop.
        by_node = np.ones(self.tree.tree_.node_count)
        by_node[list(self.leaf_weight)] = list(self.leaf_weight.values())
        return by_node[self.tree.apply(np.asarray(X, dtype=np.float32))]


Condition = tuple[str, str, float | str]  # (column, operator, threshold or category)


def _render(conditions: list[Condition]) -> str:
    """Readable conditions, keeping only the tightest bound per numeric column."""
    upper: dict[str, float] = {}
    lower: dict[str, float] = {}
    out: list[str] = []
    for column, op, value in conditions:
        if op == "<=":
            upper[column] = min(float(value), upper.get(column, np.inf))
        elif op == ">":
            lower[column] = max(float(value), lower.get(column, -np.inf))
        else:
            out.append(f"{column} {op} {value}")
    out += [f"{c} > {v:.4g}" for c, v in lower.items()] + [f"{c} <= {v:.4g}" for c, v in upper.items()]
    return " and ".join(out) or "all users"


def _paths(tree: Any, names: list[str] | None) -> dict[int, list[Condition]]:
    """Every node's path from the root; a one-hot column ``f=c`` split at 0.5 reads ``f = c``/``f != c``."""
    t = tree.tree_
    paths: dict[int, list[Condition]] = {}

    def walk(node: int, conditions: list[Condition]) -> None:
        paths[node] = conditions
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == right:  # a leaf: sklearn marks both children -1
            return
        i, threshold = int(t.feature[node]), float(t.threshold[node])
        feature = names[i] if names is not None and i < len(names) else f"x[{i}]"
        low: Condition
        high: Condition
        if "=" in feature and 0.0 < threshold < 1.0:
            column, _, category = feature.partition("=")
            low, high = (column, "!=", category), (column, "=", category)
        else:
            low, high = (feature, "<=", threshold), (feature, ">", threshold)
        walk(left, [*conditions, low])
        walk(right, [*conditions, high])

    walk(0, [])
    return paths


def _merged(
    tree: Any, paths: dict[int, list[Condition]], leaf_weight: dict[int, float]
) -> list[tuple[str, float]]:
    """The changed regions as few rules as the tree allows: a subtree whose leaves share a weight is one."""
    t = tree.tree_
    out: list[tuple[str, float]] = []

    def leaves(node: int) -> list[int]:
        left, right = int(t.children_left[node]), int(t.children_right[node])
        return [node] if left == right else leaves(left) + leaves(right)

    def walk(node: int) -> None:
        weights = {leaf_weight[leaf] for leaf in leaves(node)}
        if len(weights) == 1:
            weight = weights.pop()
            if weight < 1.0:
                out.append((_render(paths[node]), weight))
            return
        walk(int(t.children_left[node]))
        walk(int(t.children_right[node]))

    walk(0)
    return out


def _effect_shift(residual: np.ndarray, treated: np.ndarray, min_per_arm: int) -> tuple[float, float] | None:
    """Mean residual of the treated minus that of the control rows, and its standard error; None when an
    arm has fewer than ``min_per_arm`` rows (a shift in one arm alone cannot be told from the baseline's)."""
    r1, r0 = residual[treated], residual[~treated]
    if min(len(r1), len(r0)) < min_per_arm:
        return None
    se = float(np.sqrt(r1.var(ddof=1) / len(r1) + r0.var(ddof=1) / len(r0)))
    return float(r1.mean() - r0.mean()), se


def _arm_contrast(
    leaf: int,
    parent: dict[int, int],
    path: Any,
    residual: np.ndarray,
    treated: np.ndarray,
    min_per_arm: int,
) -> tuple[float, float] | None:
    """The effect shift read on the smallest region holding ``leaf`` in which both arms have rows.

    A tree grown on outcome errors tends to split along the policy's own boundary (a changed group's
    errors are in its treated rows), leaving leaves the policy gave one arm; their parent still holds
    both. None when even the root lacks an arm."""
    node: int | None = leaf
    while node is not None:
        rows = path[:, node].nonzero()[0]
        shift = _effect_shift(residual[rows], treated[rows], min_per_arm)
        if shift is not None:
            return shift
        node = parent.get(node)
    return None


def locate(
    X_logged: np.ndarray,
    fold: np.ndarray,
    risk: np.ndarray,
    candidates: tuple[float, ...],
    *,
    residual: np.ndarray,
    treated: np.ndarray,
    min_rows: int,
    seed: int,
    names: list[str] | None = None,
) -> Regions | None:
    """Regions and their weights by the module's rule, or None when fold 0 is too small for two leaves.

    ``risk[c, i]``: held-out risk of logged row i under candidate weight ``candidates[c]``; ``fold[i]`` in
    {0, 1}. ``candidates`` must hold 1.0. ``residual[i]``: the row's outcome minus the full-weight
    candidate's prediction for the arm it got; ``treated[i]``: whether that arm is a treatment.
    """
    from scipy.stats import norm
    from sklearn.tree import DecisionTreeRegressor

    grow, judge = fold == 0, fold == 1
    leaf_rows = max(min_rows, int(np.ceil(LEAF_SHARE * grow.sum())))
    if grow.sum() < 2 * leaf_rows or judge.sum() < 2 * min_rows:
        return None
    full = candidates.index(1.0)
    lowest = int(np.argmin(candidates))
    X32 = np.asarray(X_logged, dtype=np.float32)
    target = risk[full, grow] - risk[lowest, grow]
    tree = DecisionTreeRegressor(max_depth=MAX_DEPTH, min_samples_leaf=leaf_rows, random_state=seed)
    tree.fit(X32[grow], target)
    paths = _paths(tree, names)
    leaf_ids = [node for node in paths if tree.tree_.children_left[node] == tree.tree_.children_right[node]]
    z = float(norm.ppf(1.0 - ONE_SE_TAIL / len(leaf_ids)))
    judged_leaf = tree.apply(X32[judge])
    judged_path = tree.decision_path(X32[judge]).tocsc()  # rows x nodes: which nodes each row passes
    t = tree.tree_
    parent = {int(child): node for node in paths for child in (t.children_left[node], t.children_right[node])}
    parent.pop(-1, None)  # sklearn marks a leaf's children -1
    judged_risk = risk[:, judge]
    judged_residual = np.asarray(residual, dtype=np.float64)[judge]
    judged_treated = np.asarray(treated, dtype=bool)[judge]
    leaf_weight: dict[int, float] = {}
    regions = []
    for leaf in leaf_ids:
        in_leaf = judged_leaf == leaf
        rows = judged_risk[:, in_leaf]
        n = rows.shape[1]
        means = rows.mean(axis=1) if n else np.full(len(candidates), np.nan)
        shift = _arm_contrast(leaf, parent, judged_path, judged_residual, judged_treated, min_rows // 2)
        weight = 1.0
        # Too few judging rows and the leaf cannot say the experiment is wrong there: it keeps 1. The
        # experiment must predict the leaf worse than the log alone (d) and the treated rows' residuals
        # must part from the control rows' (shift): a baseline that moved for both arms alike leaves the
        # effect, which is all the experiment is kept for, as it was.
        if n >= min_rows and shift is not None and abs(shift[0]) > z * shift[1]:
            d = rows[full] - rows[lowest]
            if d.mean() > z * d.std(ddof=1) / np.sqrt(n):
                below = [c for c in range(len(candidates)) if candidates[c] < 1.0]
                weight, _, _ = one_se_choice(rows, candidates, below)
        leaf_weight[leaf] = float(weight)
        regions.append(
            Region(
                _render(paths[leaf]),
                n,
                float(weight),
                {w: float(m) for w, m in zip(candidates, means, strict=True)},
                None if shift is None else shift[0],
            )
        )
    return Regions(
        tree=tree,
        leaf_weight=leaf_weight,
        regions=tuple(regions),
        z=z,
        changed_rules=_merged(tree, paths, leaf_weight),
    )
