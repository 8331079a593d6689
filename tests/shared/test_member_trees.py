"""The members' numpy forest gives what XGBoost gives, and refuses what it cannot reproduce."""

import json

import numpy as np
import xgboost as xgb

from shared.bundle import ModelBundle
from shared.member_trees import PARITY_TOL, MemberTrees
from shared.parity import probe_matrix


def test_the_served_members_match_xgboost_on_probe_and_missing_rows(trained_models):
    bundle = ModelBundle.load_current(trained_models)
    members = bundle.members
    trees = MemberTrees.from_boosters(members)
    assert trees is not None
    probe = probe_matrix(bundle.schema, n=300, seed=4)
    holes = probe.copy()
    holes[np.random.default_rng(0).random(holes.shape) < 0.3] = np.nan  # the default directions
    for X in (probe, holes, probe[:1], holes[1:2]):
        want = np.stack([np.column_stack([b.inplace_predict(X) for b in arm]) for arm in members], axis=1)
        got = trees.raw(X)
        assert got.shape == (len(X), len(members), len(members[0]))
        np.testing.assert_array_equal(got, want)  # exact: XGBoost's float32 order of additions
    assert trees.check(members, probe) == 0.0 < PARITY_TOL


def _booster(objective: str, **params):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(float)
    return xgb.train({"objective": objective, "max_depth": 3, **params}, xgb.DMatrix(X, y), num_boost_round=5)


def test_a_plain_regression_booster_matches_and_other_forms_are_refused():
    reg = _booster("reg:squarederror")
    trees = MemberTrees.from_boosters([[reg, reg]])
    X = np.random.default_rng(2).normal(size=(7, 3)).astype(np.float32)
    np.testing.assert_array_equal(trees.raw(X)[:, 0, 0], reg.inplace_predict(X))
    assert MemberTrees.from_boosters([[_booster("binary:logistic")]]) is None  # a logistic transform
    raw = json.loads(bytes(reg.save_raw("json")))
    raw["learner"]["gradient_booster"]["model"]["trees"][0]["split_type"][0] = 1  # a categorical split
    assert MemberTrees.from_json([[raw]]) is None
    assert MemberTrees.from_json([]) is None
