"""PairTreeScorer: the booster's own numbers on pair_matrix rows, or no scorer at all."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from shared.estimators.ranker import DEFAULT_RANK_PARAMS
from shared.pair_trees import PairTreeScorer
from shared.ranking_features import pair_matrix

TOL = 1e-5


def _grid(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int, nan_frac: float) -> np.ndarray:
    """Values on a quarter grid, so many rows sit exactly on a split threshold (x == t goes right)."""
    out = rng.integers(lo, hi, size=shape) / 4.0
    out[rng.random(shape) < nan_frac] = np.nan
    return out.astype(np.float32)


def _catalog(rng: np.random.Generator, n_items: int, n_cols: int, nan_frac: float) -> np.ndarray:
    # Zeros and negatives too: pair_matrix floors the cross numerator at 1e-6.
    return _grid(rng, (n_items, n_cols), -2, 24, nan_frac)


def _users(rng: np.random.Generator, n: int, n_cols: int, nan_frac: float) -> np.ndarray:
    return _grid(rng, (n, n_cols), -2, 16, nan_frac)


def _train(
    params: dict[str, Any],
    rounds: int,
    users: np.ndarray,
    items: np.ndarray,
    cross_idx: list[tuple[int, int]],
    rng: np.random.Generator,
    per_query: int = 10,
) -> xgb.Booster:
    """A booster trained on pair rows: each user sees ``per_query`` random catalog items."""
    n_q = len(users)
    item_idx = rng.integers(0, len(items), size=n_q * per_query)
    X = pair_matrix(np.repeat(users, per_query, axis=0), items[item_idx], cross_idx)
    filled = np.nan_to_num(X, nan=0.5)
    signal = (
        filled[:, 0]
        - 0.7 * filled[:, users.shape[1]]
        + 1.5 * np.sin(filled[:, -1])
        + 0.5 * filled[:, 1] * filled[:, users.shape[1] + 1]
    )
    signal += rng.normal(scale=0.3, size=len(X))
    if params["objective"].startswith("rank:"):
        label = np.digitize(signal, np.quantile(signal, [0.5, 0.75, 0.9])).astype(np.float32)
        dtrain = xgb.DMatrix(X, label, qid=np.repeat(np.arange(n_q), per_query))
    else:
        dtrain = xgb.DMatrix(X, signal.astype(np.float32))
    return xgb.train({"nthread": 2, "seed": 0, **params}, dtrain, num_boost_round=rounds)


def _model(booster: xgb.Booster) -> dict[str, Any]:
    return json.loads(bytes(booster.save_raw("json")))


def _max_leaves(booster: xgb.Booster) -> int:
    trees = _model(booster)["learner"]["gradient_booster"]["model"]["trees"]
    return max(sum(c == -1 for c in t["left_children"]) for t in trees)


def _max_error(
    booster: xgb.Booster, users: np.ndarray, items: np.ndarray, cross_idx: list[tuple[int, int]]
) -> float:
    scorer = PairTreeScorer.from_xgboost_json(_model(booster), users.shape[1], items, cross_idx)
    assert scorer is not None
    with np.errstate(divide="ignore", invalid="ignore"):
        X = pair_matrix(np.repeat(users, len(items), axis=0), np.tile(items, (len(users), 1)), cross_idx)
    ref = np.asarray(booster.inplace_predict(X), dtype=np.float64).reshape(len(users), len(items))
    got = np.stack([scorer.scores(u) for u in users])
    assert got.dtype == np.float64 and got.shape == ref.shape
    return float(np.max(np.abs(got - ref)))


def _thresholds_hit(booster: xgb.Booster, X: np.ndarray, cols: slice) -> bool:
    """Some value in ``X[:, cols]`` equals a split threshold on that column (the tie case)."""
    for t in _model(booster)["learner"]["gradient_booster"]["model"]["trees"]:
        for node, f in enumerate(t["split_indices"]):
            if t["left_children"][node] == -1 or f not in range(X.shape[1])[cols]:
                continue
            if (X[:, f] == np.float32(t["split_conditions"][node])).any():
                return True
    return False


CASES = [
    # objective, depth, rounds, n_user, n_item, crosses
    ("reg:squarederror", 3, 20, 5, 4, [(0, 1), (2, 0)]),
    ("rank:ndcg", 6, 12, 6, 5, [(1, 2), (0, 0), (3, 4)]),
    ("rank:pairwise", 4, 15, 4, 3, [(2, 3)]),
    ("reg:pseudohubererror", 5, 10, 3, 3, [(0, 0), (1, 2)]),
]


@pytest.mark.parametrize(("objective", "depth", "rounds", "n_user", "n_item", "crosses"), CASES)
def test_matches_xgboost_on_pair_rows(
    objective: str,
    depth: int,
    rounds: int,
    n_user: int,
    n_item: int,
    crosses: list[tuple[int, int]],
    test_seed: int,
) -> None:
    rng = np.random.default_rng(test_seed + depth)
    items = _catalog(rng, 60, n_item, nan_frac=0.05)
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "min_child_weight": 0.5}
    booster = _train(params, rounds, _users(rng, 800, n_user, 0.1), items, crosses, rng)
    users = _users(rng, 150, n_user, nan_frac=0.1)
    # A cross's user column at its edges: NaN, 0 and negative (floored at 1e-6), huge, tiny.
    j = crosses[0][1]
    users[:6, j] = [np.nan, 0.0, -3.0, 1e30, 1e-30, 3e-7]
    users[6] = np.nan  # an all-missing user
    X = pair_matrix(np.repeat(users, len(items), axis=0), np.tile(items, (len(users), 1)), crosses)
    assert _thresholds_hit(booster, X, slice(0, n_user)), "no user value on a threshold"
    assert _thresholds_hit(booster, X, slice(n_user, n_user + n_item)), "no item value on a threshold"
    assert _thresholds_hit(booster, X, slice(n_user + n_item, None)), "no cross value on a threshold"
    if depth == 6:  # the 64-bit path: some tree needs more than 32 leaf bits
        assert _max_leaves(booster) > 32
    assert _max_error(booster, users, items, crosses) <= TOL


def test_real_shape_ranker(test_seed: int) -> None:
    """The served ranker's shape: rank:ndcg, 45 trees of depth 5, 200 items, one price cross."""
    rng = np.random.default_rng(test_seed)
    n_user, n_item = 29, 11
    items = _catalog(rng, 200, n_item, nan_frac=0.0)
    items[:, 8] = rng.uniform(3.9, 360.0, size=200).astype(np.float32)  # a price-like column
    cross = [(8, 5)]
    users = _users(rng, 2_000, n_user, nan_frac=0.02)
    users[:, 5] = rng.lognormal(3.5, 0.6, size=len(users)).astype(np.float32)  # an order-value column
    params = {**DEFAULT_RANK_PARAMS, "max_depth": 5}
    booster = _train(params, 45, users, items, cross, rng)
    assert len(_model(booster)["learner"]["gradient_booster"]["model"]["trees"]) == 45
    assert _max_error(booster, users[:60], items, cross) <= TOL


def test_no_cross_and_single_leaf_trees(test_seed: int) -> None:
    rng = np.random.default_rng(test_seed + 1)
    items = _catalog(rng, 30, 3, nan_frac=0.1)
    booster = _train(
        {"objective": "reg:squarederror", "max_depth": 3, "gamma": 1e9},
        3,
        _users(rng, 200, 3, 0.1),
        items,
        [],
        rng,
    )
    assert _max_leaves(booster) == 1
    assert _max_error(booster, _users(rng, 20, 3, 0.1), items, []) <= TOL
    booster = _train(
        {"objective": "reg:squarederror", "max_depth": 4}, 8, _users(rng, 300, 3, 0.1), items, [], rng
    )
    assert _max_error(booster, _users(rng, 40, 3, 0.1), items, []) <= TOL


@pytest.fixture(scope="module")
def small() -> tuple[xgb.Booster, np.ndarray, list[tuple[int, int]]]:
    rng = np.random.default_rng(5)
    items = _catalog(rng, 20, 3, nan_frac=0.0)
    cross = [(0, 1)]
    booster = _train(
        {"objective": "rank:ndcg", "max_depth": 3}, 5, _users(rng, 300, 3, 0.0), items, cross, rng
    )
    return booster, items, cross


def test_dart_needs_unit_weights(small: tuple[xgb.Booster, np.ndarray, list[tuple[int, int]]]) -> None:
    booster, items, cross = small
    rng = np.random.default_rng(6)
    dart = _train(
        {"objective": "rank:ndcg", "booster": "dart", "rate_drop": 0.0, "max_depth": 3},
        5,
        _users(rng, 300, 3, 0.0),
        items,
        cross,
        rng,
    )
    assert _max_error(dart, _users(rng, 20, 3, 0.1), items, cross) <= TOL
    model = _model(dart)
    model["learner"]["gradient_booster"]["weight_drop"][2] = 0.5
    assert PairTreeScorer.from_xgboost_json(model, 3, items, cross) is None


def test_unsupported_models_give_none(
    small: tuple[xgb.Booster, np.ndarray, list[tuple[int, int]]],
) -> None:
    booster, items, cross = small
    assert PairTreeScorer.from_xgboost_json(_model(booster), 3, items, cross) is not None
    rng = np.random.default_rng(7)
    n = 4_000
    X = rng.normal(size=(n, 7)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(np.float32)
    X_items = items

    def refused(params: dict[str, Any], rounds: int = 2, **dmatrix: Any) -> bool:
        b = xgb.train({"nthread": 2, **params}, xgb.DMatrix(X, y, **dmatrix), rounds)
        return PairTreeScorer.from_xgboost_json(_model(b), 3, X_items, cross) is None

    # Categorical split.
    Xc = X.copy()
    Xc[:, 4] = rng.integers(0, 4, size=n)
    y_cat = (Xc[:, 4] == 2).astype(np.float32)
    cat = xgb.train(
        {"max_depth": 2, "max_cat_to_onehot": 1},
        xgb.DMatrix(Xc, y_cat, feature_types=["q"] * 4 + ["c"] + ["q"] * 2, enable_categorical=True),
        2,
    )
    assert 1 in _model(cat)["learner"]["gradient_booster"]["model"]["trees"][0]["split_type"]
    assert PairTreeScorer.from_xgboost_json(_model(cat), 3, X_items, cross) is None
    # More than 64 leaves in a tree.
    deep = xgb.train(
        {"max_depth": 9, "min_child_weight": 0, "lambda": 0, "nthread": 2}, xgb.DMatrix(X, X[:, 0]), 1
    )
    assert _max_leaves(deep) > 64
    assert PairTreeScorer.from_xgboost_json(_model(deep), 3, X_items, cross) is None
    # Outputs that are not the raw margin, several outputs, no trees.
    assert refused({"objective": "binary:logistic"})
    yk = rng.integers(0, 3, size=n).astype(np.float32)
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, yk), 2)
    assert PairTreeScorer.from_xgboost_json(_model(multi), 3, X_items, cross) is None
    assert refused({"booster": "gblinear"})


def test_bad_arguments_name_themselves(
    small: tuple[xgb.Booster, np.ndarray, list[tuple[int, int]]],
) -> None:
    booster, items, cross = small
    model = _model(booster)
    scorer = PairTreeScorer.from_xgboost_json(model, 3, items, cross)
    assert scorer is not None
    for bad in (np.zeros(4, np.float32), np.zeros((1, 3), np.float32), np.array(["a", "b", "c"])):
        with pytest.raises(ValueError, match="user_row"):
            scorer.scores(bad)
    assert scorer.scores([0.5, 1.0, 2.0]).shape == (len(items),)  # lists and float64 are fine
    with pytest.raises(ValueError, match="n_user"):
        PairTreeScorer.from_xgboost_json(model, 0, items, cross)
    with pytest.raises(ValueError, match="item_enc"):
        PairTreeScorer.from_xgboost_json(model, 3, items[:, 0], cross)
    with pytest.raises(ValueError, match="cross_idx"):
        PairTreeScorer.from_xgboost_json(model, 3, items, [(0, 3)])
    with pytest.raises(ValueError, match="model"):  # one column short of what the trees were fit on
        PairTreeScorer.from_xgboost_json(model, 2, items, cross)
    with pytest.raises(ValueError, match="model"):
        PairTreeScorer.from_xgboost_json({"learner": {}}, 3, items, cross)


def test_float64_rows_score_like_pair_matrix(
    small: tuple[xgb.Booster, np.ndarray, list[tuple[int, int]]],
) -> None:
    """pair_matrix rounds user columns to float32 but takes the cross ratio in float64: so do we."""
    booster, items, cross = small
    scorer = PairTreeScorer.from_xgboost_json(_model(booster), 3, items.astype(np.float64), cross)
    assert scorer is not None
    rng = np.random.default_rng(8)
    users = rng.uniform(-1, 5, size=(50, 3))
    ref = booster.inplace_predict(
        pair_matrix(np.repeat(users, len(items), axis=0), np.tile(items.astype(np.float64), (50, 1)), cross)
    ).reshape(50, -1)
    got = np.stack([scorer.scores(u) for u in users])
    assert np.max(np.abs(got - ref)) <= TOL


def test_importing_does_not_import_xgboost() -> None:
    code = "import sys, shared.pair_trees; sys.exit('xgboost' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_edited_splits_ties_floor_and_defaults(test_seed: int) -> None:
    """Splits placed by hand on values the rows hold exactly: a tie goes right, NaN goes the default
    way, and a cross ratio uses the user value floored at 1e-6 (14.5 lies between log(1/1e-6) and
    log(1/3e-7), so an unfloored ratio would take the other branch)."""
    rng = np.random.default_rng(test_seed + 2)
    n_user, n_item, cross = 2, 2, [(0, 0)]
    items = _catalog(rng, 12, n_item, nan_frac=0.0)
    items[:4, 0] = [1.0, 1.0, 0.0, 2.0]  # finite: the ratios take the fast path
    items[:3, 1] = [0.75, np.nan, 0.5]
    booster = _train(
        {"objective": "reg:squarederror", "max_depth": 2, "min_child_weight": 0},
        4,
        _users(rng, 300, n_user, 0.0),
        items,
        cross,
        rng,
    )
    users = np.array(
        [[3e-7, 1.25], [1e-6, np.nan], [0.0, 1.25], [2.0, 0.5], [np.nan, 3.0], [0.5, 1.25]], np.float32
    )
    tie_cross = float(pair_matrix(users[0], items, cross)[0, -1])  # exactly float32(log(1e6))
    model = _model(booster)
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    # (tree, node) -> (feature, threshold, default_left); depth-2 trees: node 0, children 1 and 2.
    edits = {
        (0, 0): (n_user + n_item, 14.5, 0),
        (0, 1): (n_user + 1, 0.75, 1),
        (1, 0): (n_user + n_item, tie_cross, 1),
        (1, 2): (1, 1.25, 0),
        (2, 0): (0, 0.5, 1),
        (2, 1): (n_user, 2.0, 0),
        (3, 0): (1, 3.0, 0),
    }
    for (t, node), (f, thr, dl) in edits.items():
        tree = trees[t]
        assert tree["left_children"][node] != -1
        tree["split_indices"][node], tree["split_conditions"][node] = f, thr
        tree["default_left"][node] = dl
    edited = xgb.Booster(model_file=bytearray(json.dumps(model).encode()))
    assert _max_error(edited, users, items, cross) <= TOL
    # The floor matters here: without it user 0 would score like a user with value 3e-7 / 1e-6 less.
    scorer = PairTreeScorer.from_xgboost_json(model, n_user, items, cross)
    assert scorer is not None
    np.testing.assert_array_equal(scorer.scores(users[0]), scorer.scores(np.array([1e-6, 1.25], np.float32)))
