"""The effect-sample members of a served model, scored by numpy for the few rows of a /optimize call.

Why this exists: /optimize draws every user's arm from the model's per-user effect samples, which
are the outputs of M small regression boosters per treatment arm. XGBoost's ``inplace_predict``
costs a fixed ~0.1-1 ms per call whatever the rows, so M calls per request would dominate a
one-user call. Here all members' trees sit in flat node arrays, and a row goes down every tree at
once: one step per tree level (a handful of numpy calls each), then one sum per member.

Exact, as ``shared.pair_trees`` is: comparisons are made on float32 values as XGBoost makes them
(left iff value < threshold, NaN the default way) and leaf values are added in float32 in tree
order starting from the base score, as XGBoost's CPU predictor adds them, so a request scored
before the forest was ready (by XGBoost) and one after get the same samples (checked against the
boosters at load: ``MemberTrees.check``). Anything this does not reproduce
(categorical splits, vector leaves, several outputs, a non-identity output transform, DART) gives
None, and the caller keeps XGBoost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.pair_trees import _parse_base_score, _trees_of

# Objectives whose prediction is the raw margin (identity transform).
_IDENTITY = {"reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror"}
PARITY_TOL = 1e-4


class MemberTrees:
    """Every member of every treatment arm as one forest: ``raw(X)`` is (n, arms, members)."""

    def __init__(
        self,
        feature: np.ndarray,
        threshold: np.ndarray,
        default_left: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        value: np.ndarray,
        roots: np.ndarray,
        tree_member: np.ndarray,
        base: np.ndarray,
        shape: tuple[int, int],
        depth: int,
    ) -> None:
        self._feature, self._threshold, self._default_left = feature, threshold, default_left
        self._left, self._right, self._value = left, right, value
        self._roots, self._base = roots, base
        # Trees are stored member by member; tree i is its member's number _position[i]. The leaf
        # values go into a (members, most trees) grid (zeros past a member's last tree: adding 0 is
        # exact) whose columns are then added in order.
        starts = np.flatnonzero(np.r_[True, tree_member[1:] != tree_member[:-1]])
        self._member = tree_member
        self._position = np.arange(len(tree_member)) - starts[tree_member]
        self._width = int(self._position.max()) + 1
        self._shape, self._depth = shape, depth
        self._children = np.column_stack([left, right]).ravel()  # node i's children at 2i, 2i + 1

    @classmethod
    def from_json(cls, members: Sequence[Sequence[dict[str, Any]]]) -> MemberTrees | None:
        """From each member's parsed XGBoost JSON (``booster.save_raw("json")``), per arm; None if unsupported."""
        k, m = len(members), len(members[0]) if members else 0
        if k == 0 or m == 0 or any(len(arm) != m for arm in members):
            return None
        cols: dict[str, list[Any]] = {n: [] for n in ("f", "t", "d", "l", "r", "v")}
        roots, tree_member, base = [], [], []
        depth = 0
        for j, model in enumerate(b for arm in members for b in arm):
            learner = model["learner"]
            if learner["objective"]["name"] not in _IDENTITY:
                return None
            score = _parse_base_score(learner["learner_model_param"].get("base_score"))
            trees = _trees_of(model)
            if score is None or trees is None:
                return None
            base.append(score)
            for tree in trees:
                d = _append_tree(tree, cols)
                if d is None:
                    return None
                roots.append(d[0])
                depth = max(depth, d[1])
                tree_member.append(j)
            if not tree_member or tree_member[-1] != j:
                return None  # a member without trees
        return cls(
            np.array(cols["f"], dtype=np.intp),
            np.array(cols["t"], dtype=np.float32),
            np.array(cols["d"], dtype=bool),
            np.array(cols["l"], dtype=np.intp),
            np.array(cols["r"], dtype=np.intp),
            np.array(cols["v"], dtype=np.float32),
            np.array(roots, dtype=np.intp),
            np.array(tree_member, dtype=np.intp),
            np.array(base, dtype=np.float32),
            (k, m),
            depth,
        )

    @classmethod
    def from_boosters(cls, members: Sequence[Sequence[Any]]) -> MemberTrees | None:
        """From loaded ``xgboost.Booster`` members per arm (their JSON is read once, at load)."""
        return cls.from_json([[json.loads(bytes(b.save_raw("json"))) for b in arm] for arm in members])

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Each member's output per row, shape (n, treatment arms, members)."""
        x = np.asarray(X, dtype=np.float32)
        n = len(x)
        if not np.isnan(x).any():
            # No missing value: a row goes right iff value >= threshold, so one step per level is a
            # gather of the child (children stored in pairs), half the numpy calls of the NaN path.
            if n == 1:
                row, node = x[0], self._roots
                for _ in range(self._depth):
                    node = self._children[2 * node + (row[self._feature[node]] >= self._threshold[node])]
                leaves = self._value[node][None, :]
            else:
                flat, offset = x.ravel(), (np.arange(n) * x.shape[1])[:, None]
                node = np.broadcast_to(self._roots, (n, len(self._roots)))
                for _ in range(self._depth):
                    go = flat[offset + self._feature[node]] >= self._threshold[node]
                    node = self._children[2 * node + go]
                leaves = self._value[node]
        else:
            node = np.broadcast_to(self._roots, (n, len(self._roots)))
            rows = np.arange(n)[:, None]
            for _ in range(self._depth):
                v = x[rows, self._feature[node]]
                # NaN compares False: the default way decides it.
                left = np.where(np.isnan(v), self._default_left[node], v < self._threshold[node])
                node = np.where(left, self._left[node], self._right[node])
            leaves = self._value[node]
        # Column 0 the base score, then each member's leaves in tree order; a float32 running sum
        # (accumulate is strictly left to right) adds them as XGBoost does, one call for all trees.
        grid = np.zeros((n, len(self._base), self._width + 1), dtype=np.float32)
        grid[:, :, 0] = self._base
        grid[:, self._member, self._position + 1] = leaves
        total = np.add.accumulate(grid, axis=2, dtype=np.float32)[:, :, -1]
        return total.astype(np.float64).reshape(n, *self._shape)

    def check(self, members: Sequence[Sequence[Any]], probe: np.ndarray) -> float:
        """Largest absolute difference from the boosters' own predictions on ``probe``."""
        want = np.stack(
            [np.column_stack([b.inplace_predict(probe) for b in arm]) for arm in members], axis=1
        ).astype(np.float64)
        return float(np.max(np.abs(self.raw(probe) - want))) if len(probe) else 0.0


def _append_tree(tree: dict[str, Any], cols: dict[str, list[Any]]) -> tuple[int, int] | None:
    """Append one JSON tree's nodes; (its root's index, its depth), or None if unsupported.

    A leaf points to itself both ways, so a row that reached it stays while deeper trees go on.
    """
    if int(tree.get("tree_param", {}).get("size_leaf_vector", "1")) > 1:
        return None
    left, right = tree["left_children"], tree["right_children"]
    split_type = tree.get("split_type") or [0] * len(left)
    if any(s != 0 for s in split_type):
        return None
    offset = len(cols["f"])
    depth = [0] * len(left)
    for i in range(len(left)):
        leaf = left[i] == -1
        cols["f"].append(0 if leaf else int(tree["split_indices"][i]))
        cols["t"].append(float(tree["split_conditions"][i]))
        cols["d"].append(bool(tree["default_left"][i]))
        cols["l"].append(offset + (i if leaf else left[i]))
        cols["r"].append(offset + (i if leaf else right[i]))
        cols["v"].append(float(tree["split_conditions"][i]) if leaf else 0.0)
        if not leaf:
            depth[left[i]] = depth[right[i]] = depth[i] + 1
    return offset, max(depth)
