"""Exact scoring of a tree ensemble over one user's (user, item) pair rows, without building them.

Why this exists: ranking one user's catalog used to mean building a (n_items, n_features) pair
matrix and running every tree on every row (ONNX Runtime or XGBoost), ~200 µs for 200 items, the
largest cost of /optimize. Most of that work is repeated: the user's columns are the same on every
row and the item columns never change between requests; only the cross columns (log ratios of an
item and a user value) mix the two. So each tree's split nodes are split by the column they test and
each part is evaluated as rarely as it can be:

* item nodes once, at load, for every catalog item;
* user nodes once per request, on the one user row;
* cross nodes per request and item, but as a binary search of the item's cross value among that
  cross's sorted thresholds followed by one table look-up, not one comparison per node.

What lets the three parts be combined cheaply is a bitvector form of a tree, after QuickScorer
(Lucchese et al., SIGIR 2015): number the leaves left to right and let every node rule out the
leaves of the subtree the row does not enter. The exit leaf is the one leaf that no node rules out
(any other leaf lies in the subtree its common ancestor with the exit leaf did not enter).
"Ruled out" is an AND of bitmasks, which is order-free, so the user, item and cross parts can each
be computed on their own and ANDed at the end, for all trees and items in a few array operations.
QuickScorer lets only right-going nodes rule out leaves and takes the leftmost survivor; ruling out
both ways instead leaves a single bit, 2**leaf, which float32 holds exactly whatever the leaf count:
its exponent is the leaf's index, with no step to isolate a bit and no rounding to guard against.

Exact rather than approximate, because the result replaces the booster's own scores: comparisons
are made on float32 values as XGBoost makes them (left iff value < threshold, NaN the default way),
cross values are computed as ``pair_matrix`` computes them, and leaf values are added in float32 in
tree order starting from the base score, as XGBoost's CPU predictor adds them.

Speed comes from the number of numpy calls (each costs a microsecond or two whatever its size) and
from passes over the (items, trees) arrays; the layout choices are commented where they are made.

The model comes in as XGBoost's parsed JSON so that the API does not import XGBoost to use it.
Anything this does not reproduce (categorical splits, vector leaves, several outputs, a non-identity
output transform, trees of more than 64 leaves, DART with non-unit tree weights) gives None, and the
caller keeps its other scorer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

# Objectives whose prediction is the raw margin, with a base score stored in margin units.
IDENTITY_OBJECTIVES = frozenset(
    {"rank:ndcg", "rank:pairwise", "rank:map", "reg:squarederror", "reg:linear", "reg:pseudohubererror"}
)
MAX_LEAVES = 64
_EPS = 1e-6  # pair_matrix's floor under both sides of a cross ratio


@dataclass(frozen=True)
class _Tree:
    """One tree in bitvector form: its internal nodes and its leaf values, leaves left to right."""

    features: list[int]
    thresholds: list[float]
    default_left: list[bool]
    left_masks: list[int]  # bit j set: leaf j is in the node's left subtree
    right_masks: list[int]  # bit j set: leaf j is in the node's right subtree
    leaf_values: list[float]


@dataclass(frozen=True)
class _Cross:
    """Per-request evaluation of one cross column (item value / user value, logged)."""

    user_col: int
    # (n_items,) float64, max(item value, 1e-6) as pair_matrix computes it, in the scorer's item order
    numerator: np.ndarray
    thresholds: np.ndarray  # (n_unique,) float32, sorted, distinct
    # (n_unique + 2, n_trees): row c ANDs the masks of the nodes for a value v with c thresholds ≤ v
    # (which goes right at the nodes whose threshold is among the c smallest, left at the others);
    # the last row is for a NaN cross value, which goes each node's default way.
    table: np.ndarray
    # User values (after the 1e-6 floor) for which every item's ratio is a normal float, so that
    # the log is finite and the NaN/overflow handling can be skipped; an empty range if the item
    # column itself holds NaN or inf.
    den_lo: float
    den_hi: float

    def columns(self, row: np.ndarray) -> np.ndarray:
        """(n_items,) row of ``table`` for each item: its count of thresholds ≤ the cross value."""
        # pair_matrix's floor; max keeps a NaN first argument, as np.maximum keeps any NaN.
        den = max(float(row[self.user_col]), _EPS)
        if self.den_lo <= den <= self.den_hi:  # every ratio a normal float: no NaN, no inf
            return self.thresholds.searchsorted(np.log(self.numerator / den).astype(np.float32), "right")
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            value = np.log(self.numerator / den).astype(np.float32)
        col = self.thresholds.searchsorted(value, "right")
        col[np.isnan(value)] = len(self.table) - 1
        return col


def _parse_base_score(raw: Any) -> float | None:
    """XGBoost ≥ 3 writes '[5E-1]' (one value per target), older versions '5E-1'."""
    parts = [p for p in str(raw).strip().strip("[]").split(",") if p.strip()]
    if len(parts) != 1:
        return None
    try:
        return float(parts[0])
    except ValueError:
        return None


def _parse_tree(tree: dict[str, Any]) -> _Tree | None:
    """Bitvector form of one JSON tree, or None if it cannot be reproduced exactly."""
    if int(tree.get("tree_param", {}).get("size_leaf_vector", "1")) > 1:
        return None
    left = tree["left_children"]
    right = tree["right_children"]
    split_type = tree.get("split_type") or [0] * len(left)
    features: list[int] = []
    thresholds: list[float] = []
    default_left: list[bool] = []
    left_masks: list[int] = []
    right_masks: list[int] = []
    leaf_values: list[float] = []

    def walk(node: int, depth: int) -> int | None:
        """Number the leaves under ``node`` left to right; return the mask of those leaves."""
        # A path of depth d implies more than d leaves: the cap also bounds the recursion.
        if depth > MAX_LEAVES or len(leaf_values) > MAX_LEAVES:
            return None
        if left[node] == -1:
            leaf_values.append(float(tree["split_conditions"][node]))
            return 1 << (len(leaf_values) - 1)
        if split_type[node] != 0 or right[node] == -1:
            return None
        slot = len(features)  # pre-order slot, filled once the left subtree is numbered
        features.append(int(tree["split_indices"][node]))
        thresholds.append(float(tree["split_conditions"][node]))
        default_left.append(bool(tree["default_left"][node]))
        left_masks.append(0)
        right_masks.append(0)
        lmask = walk(left[node], depth + 1)
        if lmask is None:
            return None
        rmask = walk(right[node], depth + 1)
        if rmask is None:
            return None
        left_masks[slot], right_masks[slot] = lmask, rmask
        return lmask | rmask

    if walk(0, 0) is None or len(leaf_values) > MAX_LEAVES:
        return None
    return _Tree(features, thresholds, default_left, left_masks, right_masks, leaf_values)


def _trees_of(model: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The JSON trees of a plain tree ensemble, or None for anything else."""
    booster = model["learner"]["gradient_booster"]
    name = booster.get("name")
    if name == "dart":
        if any(float(w) != 1.0 for w in booster.get("weight_drop", [])):
            return None
        booster = booster["gbtree"]
    elif name != "gbtree":
        return None
    trees = booster["model"]["trees"]
    if any(int(g) != 0 for g in booster["model"].get("tree_info", [])):
        return None
    return list(trees)


def _as_numeric(name: str, value: Any, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim or arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: need a {ndim}-D numeric array, got shape {arr.shape} of {arr.dtype}")
    return arr


class PairTreeScorer:
    """A tree ensemble's margins on ``pair_matrix(user_row, item_enc, cross_idx)`` for a fixed catalog.

    Build it with ``from_xgboost_json``; ``scores`` then ranks one user's catalog. Immutable after
    construction, so one instance can serve concurrent requests.
    """

    def __init__(
        self,
        *,
        n_user: int,
        base_score: float,
        item_masks: np.ndarray,
        item_order: np.ndarray | None,
        user_features: np.ndarray,
        user_nan_floor: np.ndarray,
        user_thresholds: np.ndarray,
        user_left_masks: np.ndarray,
        user_right_masks: np.ndarray,
        user_tree_starts: np.ndarray,
        crosses: list[_Cross],
        leaf_values: np.ndarray,
        leaf_offsets: np.ndarray,
    ) -> None:
        self.n_user = n_user
        self.n_items, self.n_trees = item_masks.shape
        self._base = np.float32(base_score)
        self._item_masks = item_masks  # (n_items, n_trees), items in item_order
        # Position in item_order of each catalog item, to put the scores back in catalog order.
        self._item_rank = None if item_order is None else np.argsort(item_order)
        self._user_features = user_features
        self._user_nan_floor = user_nan_floor
        self._user_thresholds = user_thresholds
        self._user_left_masks = user_left_masks
        self._user_right_masks = user_right_masks
        self._user_tree_starts = user_tree_starts
        self._crosses = crosses
        self._leaf_values = leaf_values
        # The float32 2**k has bits (127 + k) << 23: fold the 127 into each tree's offset into
        # leaf_values. Spelled out per item, as an in-place add runs slower with a broadcast operand.
        self._leaf_offsets = np.ascontiguousarray(
            np.broadcast_to(leaf_offsets - 127, item_masks.shape), dtype=np.int32
        )

    @classmethod
    def from_xgboost_json(
        cls,
        model: dict[str, Any],
        n_user: int,
        item_enc: np.ndarray,
        cross_idx: Sequence[tuple[int, int]],
    ) -> PairTreeScorer | None:
        """Compile ``json.loads(booster.save_raw("json"))`` for this catalog; None if unsupported.

        ``n_user``, ``item_enc`` and ``cross_idx`` are what ``pair_matrix`` gets: the user row width,
        the encoded catalog (n_items, n_item_cols) and the (item column, user column) of each cross.
        """
        if isinstance(n_user, bool) or not isinstance(n_user, int | np.integer) or n_user < 1:
            raise ValueError(f"n_user: need a positive int, got {n_user!r}")
        n_user = int(n_user)
        item_enc = _as_numeric("item_enc", item_enc, 2)
        n_items, n_item = item_enc.shape
        if n_items == 0:
            raise ValueError("item_enc: need at least one item")
        crosses_idx = [(int(i), int(j)) for i, j in cross_idx]
        for i, j in crosses_idx:
            if not (0 <= i < n_item and 0 <= j < n_user):
                raise ValueError(
                    f"cross_idx: ({i}, {j}) is outside {n_item} item columns / {n_user} user columns"
                )
        n_features = n_user + n_item + len(crosses_idx)
        try:
            learner = model["learner"]
            param = learner["learner_model_param"]
            objective = learner["objective"]["name"]
            trees_json = _trees_of(model)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"model: not an XGBoost JSON model ({exc!r} missing)") from exc
        if int(param.get("num_feature", n_features)) != n_features:
            raise ValueError(
                f"model: expects {param['num_feature']} features, but n_user + item_enc columns + "
                f"cross_idx give {n_features}"
            )
        if int(param.get("num_class", "0")) > 1 or int(param.get("num_target", "1")) > 1:
            return None
        base = _parse_base_score(param.get("base_score"))
        if objective not in IDENTITY_OBJECTIVES or base is None or not trees_json:
            return None
        trees: list[_Tree] = []
        for tree_json in trees_json:
            parsed = _parse_tree(tree_json)
            if parsed is None or any(not 0 <= f < n_features for f in parsed.features):
                return None
            trees.append(parsed)

        n_trees = len(trees)
        # One bit per leaf; the wider type only when needed, as every pass over the masks reads it.
        dtype = np.uint32 if max(len(t.leaf_values) for t in trees) <= 32 else np.uint64
        ones = int(np.iinfo(dtype).max)
        items32 = item_enc.astype(np.float32)  # what pair_matrix stores in the item columns

        # Bits above a tree's leaf count start cleared here, so they never pass for an exit leaf.
        item_masks = np.array([[(1 << len(t.leaf_values)) - 1 for t in trees]] * n_items, dtype=dtype)
        # (tree, feature, threshold, default_left, mask if left, mask if right); a no-op node per
        # tree keeps every tree's segment non-empty for reduceat.
        user_nodes: list[tuple[int, int, float, bool, int, int]] = [
            (t, 0, np.inf, True, ones, ones) for t in range(n_trees)
        ]
        cross_nodes: list[list[tuple[int, float, bool, int, int]]] = [[] for _ in crosses_idx]
        for t, tree in enumerate(trees):
            for f, thr, dl, lmask, rmask in zip(
                tree.features,
                tree.thresholds,
                tree.default_left,
                tree.left_masks,
                tree.right_masks,
                strict=True,
            ):
                if_left, if_right = ones & ~rmask, ones & ~lmask
                if f < n_user:
                    user_nodes.append((t, f, thr, dl, if_left, if_right))
                elif f < n_user + n_item:
                    x = items32[:, f - n_user]
                    goes_left = np.where(np.isnan(x), dl, x < np.float32(thr))
                    item_masks[goes_left, t] &= dtype(if_left)
                    item_masks[~goes_left, t] &= dtype(if_right)
                else:
                    cross_nodes[f - n_user - n_item].append((t, thr, dl, if_left, if_right))

        crosses: list[_Cross] = []
        for (i_item, j_user), nodes in zip(crosses_idx, cross_nodes, strict=True):
            if not nodes:
                continue
            uniq = np.unique(np.array([n[1] for n in nodes], dtype=np.float32))
            table = np.full((len(uniq) + 2, n_trees), ones, dtype=dtype)
            for t, thr, dl, if_left, if_right in nodes:
                rank = int(np.searchsorted(uniq, np.float32(thr)))
                table[: rank + 1, t] &= dtype(if_left)
                table[rank + 1 : len(uniq) + 1, t] &= dtype(if_right)
                table[-1, t] &= dtype(if_left if dl else if_right)
            numerator = np.maximum(item_enc[:, i_item].astype(np.float64), _EPS)
            if np.isfinite(numerator).all():
                den_lo, den_hi = float(numerator.max()) / 1e300, float(numerator.min()) * 1e300
            else:
                den_lo, den_hi = np.inf, -np.inf
            crosses.append(_Cross(j_user, numerator, uniq, table, den_lo, den_hi))

        # Items sorted by the first cross's numerator: the cross values then come in ascending order
        # for every user, and searchsorted's binary search, taking the same branches item after
        # item, runs about twice as fast as on the catalog's order.
        order: np.ndarray | None = None
        if crosses:
            order = np.argsort(crosses[0].numerator, kind="stable")
            item_masks = item_masks[order]
            crosses = [replace(c, numerator=c.numerator[order]) for c in crosses]

        user_nodes.sort(key=lambda n: n[0])  # stable: tree order, the no-op node first in each
        tree_of = np.array([n[0] for n in user_nodes])
        leaf_values = np.array([v for t in trees for v in t.leaf_values], dtype=np.float32)
        offsets = np.cumsum([0] + [len(t.leaf_values) for t in trees[:-1]])
        return cls(
            n_user=n_user,
            base_score=base,
            item_masks=item_masks,
            item_order=order,
            user_features=np.array([n[1] for n in user_nodes], dtype=np.intp),
            # fmax(NaN, -inf) = -inf goes left; fmax(x, NaN) = x keeps a NaN, which goes right.
            user_nan_floor=np.array([-np.inf if n[3] else np.nan for n in user_nodes], dtype=np.float32),
            user_thresholds=np.array([n[2] for n in user_nodes], dtype=np.float32),
            user_left_masks=np.array([n[4] for n in user_nodes], dtype=dtype),
            user_right_masks=np.array([n[5] for n in user_nodes], dtype=dtype),
            user_tree_starts=np.searchsorted(tree_of, np.arange(n_trees)).astype(np.intp),
            crosses=crosses,
            leaf_values=leaf_values,
            leaf_offsets=offsets.astype(np.int32),
        )

    def scores(self, user_row: np.ndarray) -> np.ndarray:
        """(n_items,) float64 margins of ``user_row`` (n_user,) paired with every catalog item."""
        row = user_row if type(user_row) is np.ndarray else np.asarray(user_row)
        if row.shape != (self.n_user,) or row.dtype.kind not in "fiu":
            raise ValueError(
                f"user_row: need a numeric array of shape ({self.n_user},), got {row.shape} of {row.dtype}"
            )

        # User nodes: a node goes left iff x < threshold (a NaN first replaced by the floor that
        # sends it its default way); one AND per tree over the nodes' masks for their direction.
        # Rounded to float32 first, as pair_matrix stores them (and XGBoost compares them).
        row32 = row if row.dtype == np.float32 else row.astype(np.float32)
        x = np.fmax(row32.take(self._user_features), self._user_nan_floor)
        user_masks = np.bitwise_and.reduceat(
            np.where(x < self._user_thresholds, self._user_left_masks, self._user_right_masks),
            self._user_tree_starts,
        )

        # (n_items, n_trees): the cross tables' rows, the user masks folded into the (small) first.
        crosses = self._crosses
        if crosses:
            first = crosses[0]
            masks = (first.table & user_masks).take(first.columns(row), axis=0)
            for cross in crosses[1:]:
                masks &= cross.table.take(cross.columns(row), axis=0)
            masks &= self._item_masks
        else:
            masks = user_masks & self._item_masks

        # One bit left per tree and item, 2**k for exit leaf k: float32's exponent field is k + 127.
        leaf = masks.astype(np.float32).view(np.int32)
        leaf >>= 23
        leaf += self._leaf_offsets
        # Gathered as (n_trees, n_items) and reduced over axis 0, the leaf values are added tree by
        # tree in float32 starting from the base score: the order, and so the rounding, of
        # XGBoost's CPU predictor (a reduction over the contiguous axis would be pairwise).
        total = np.add.reduce(self._leaf_values.take(leaf.T), axis=0, initial=self._base)
        if self._item_rank is not None:
            total = total.take(self._item_rank)
        return total.astype(np.float64)
