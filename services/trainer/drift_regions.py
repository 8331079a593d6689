"""Where the market moved: a weight of the experiment per region of the feature space, chosen on the log.

The global weight (services/trainer/experiment_weight.py) treats the experiment alike everywhere. When
one group's response changed, the rest of the experiment is still right, and one global compromise both
keeps too much of the stale group and throws away part of the sound rest. The same held-out risks
locate the change:

1. A shallow regression tree, fitted on the logged rows of fold 0, learns where the experiment at full
   weight predicts their effects worse than the log alone does: its target is
   d_i = risk_i(w = 1) − risk_i(w = lowest candidate), the rows' held-out transformed-outcome risks.
2. Each leaf is then judged on the logged rows of fold 1, rows that did not shape the tree (so a leaf
   that looks changed only by the noise that placed its split is not judged on that noise). It is
   changed when the same contrast d, fixed before looking, is above 0 by more than z standard errors,
   z the one-sided normal quantile of 0.1587 / leaves (0.1587 is what one standard error leaves in one
   tail, the global rule's level; Bonferroni over the leaves), so an unchanged market keeps every leaf
   at 1 about as often as the one global test keeps 1. A changed leaf takes the global rule's weight on
   its own rows among the weights below 1: the largest within one paired standard error of its lowest.
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
    "half of the logged rows locates where the experiment at full weight predicts their effects worse than "
    "the log alone; on the other half a leaf is changed when that difference is above 0 by z standard errors "
    "(z = one-sided normal quantile of 0.1587 / leaves) and then takes the largest weight below 1 within one "
    "paired standard error of its lowest risk; used when some leaf is changed"
)


@dataclass(frozen=True)
class Region:
    """One leaf: its path in feature terms, the judging rows in it, and its weight."""

    rule: str
    judged_rows: int
    weight: float
    # Per candidate weight: mean held-out risk on the leaf's judging rows.
    risks: dict[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "judged_logged_rows": self.judged_rows,
            "weight": self.weight,
            "held_out_effect_risk": {f"{w:g}": round(r, 6) for w, r in self.risks.items()},
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


def locate(
    X_logged: np.ndarray,
    fold: np.ndarray,
    risk: np.ndarray,
    candidates: tuple[float, ...],
    *,
    min_rows: int,
    seed: int,
    names: list[str] | None = None,
) -> Regions | None:
    """Regions and their weights by the module's rule, or None when fold 0 is too small for two leaves.

    ``risk[c, i]``: held-out risk of logged row i under candidate weight ``candidates[c]``; ``fold[i]`` in
    {0, 1}. ``candidates`` must hold 1.0.
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
    judged_risk = risk[:, judge]
    leaf_weight: dict[int, float] = {}
    regions = []
    for leaf in leaf_ids:
        rows = judged_risk[:, judged_leaf == leaf]
        n = rows.shape[1]
        means = rows.mean(axis=1) if n else np.full(len(candidates), np.nan)
        weight = 1.0
        # Too few judging rows and the leaf cannot say the experiment is wrong there: it keeps 1.
        if n >= min_rows:
            d = rows[full] - rows[lowest]
            if d.mean() > z * d.std(ddof=1) / np.sqrt(n):
                below = [c for c in range(len(candidates)) if candidates[c] < 1.0]
                weight, _, _ = one_se_choice(rows, candidates, below)
        leaf_weight[leaf] = float(weight)
        regions.append(
            Region(
                _render(paths[leaf]),
                int(rows.shape[1]),
                float(weight),
                {w: float(m) for w, m in zip(candidates, means, strict=True)},
            )
        )
    return Regions(
        tree=tree,
        leaf_weight=leaf_weight,
        regions=tuple(regions),
        z=z,
        changed_rules=_merged(tree, paths, leaf_weight),
    )
