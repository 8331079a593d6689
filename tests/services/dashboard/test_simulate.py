import numpy as np
import pandas as pd
import pytest

from services.dashboard.simulate import CHUNK, has_truth, regret, run_round, true_rates

FEATURES = ["age", "device"]


def _frame(n, p_control, p_treated):
    return pd.DataFrame(
        {
            "age": np.arange(n, dtype=float),
            "device": ["mobile"] * n,
            "p_control": p_control,
            "p_treated": p_treated,
        }
    )


class FakeApi:
    """Stands in for /optimize and /feedback: picks arms by a rule, records every reward it is sent."""

    def __init__(self, pick):
        self.pick = pick
        self.optimize_calls = []
        self.rewards = {}
        self.arms = {}

    def __call__(self, path, body):
        if path == "/optimize":
            self.optimize_calls.append(body)
            decisions = []
            for u in body["users"]:
                aid = f"a{len(self.arms)}"
                self.arms[aid] = self.pick(u)
                decisions.append({"assignment_id": aid, "arm": self.arms[aid]})
            return {"decisions": decisions}
        assert path == "/feedback"
        assert body["assignment_id"] not in self.rewards
        self.rewards[body["assignment_id"]] = body["reward"]
        return {"status": "applied"}


def test_regret_against_the_oracle_by_hand():
    rates = np.array([[0.1, 0.3], [0.5, 0.2]])
    lost, lost_random = regret(rates, np.array([0, 0]))
    assert lost == pytest.approx(0.2)  # user 1 lost 0.3 - 0.1; user 2 got its best arm
    assert lost_random == pytest.approx((0.3 - 0.2) + (0.5 - 0.35))


def test_rewards_follow_the_truth_of_the_chosen_arm_and_every_user_is_rewarded():
    # Control never converts and treatment always does, so each reward is exactly "was treated".
    api = FakeApi(pick=lambda u: "1" if u["features"]["age"] % 2 else "0")
    n = 2 * CHUNK + 7
    res = run_round(
        _frame(50, 0.0, 1.0), FEATURES, ["0", "1"], "0", n, np.random.default_rng(3), api, sandbox="t"
    )
    assert len(api.rewards) == n and [len(c["users"]) for c in api.optimize_calls] == [CHUNK, CHUNK, 7]
    assert all(api.rewards[a] == int(arm == "1") for a, arm in api.arms.items())
    assert res.rewards == res.treated == sum(arm == "1" for arm in api.arms.values())
    assert res.regret == pytest.approx(n - res.treated)  # every control pick lost one conversion
    assert {c["policy"]["seed"] for c in api.optimize_calls} == {res.thompson_seed}
    ids = [u["user_id"] for c in api.optimize_calls for u in c["users"]]
    assert len(set(ids)) == n


def test_reward_rate_matches_the_true_probability():
    api = FakeApi(pick=lambda u: "0")
    n = 20_000
    res = run_round(
        _frame(100, 0.3, 0.9), FEATURES, ["0", "1"], "0", n, np.random.default_rng(5), api, sandbox="t"
    )
    se = np.sqrt(0.3 * 0.7 / n)
    assert abs(res.rewards / n - 0.3) < 4 * se
    assert res.regret == pytest.approx(n * 0.6)


def test_same_seed_same_round():
    results = []
    for _ in range(2):
        api = FakeApi(pick=lambda u: "1")
        frame = _frame(100, 0.2, 0.4)
        results.append(
            run_round(frame, FEATURES, ["0", "1"], "0", 300, np.random.default_rng(9), api, sandbox="t")
        )
    assert results[0] == results[1]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="frame: needs p_control and each arm's truth"):
        run_round(
            pd.DataFrame({"age": [1.0]}),
            ["age"],
            ["0", "1"],
            "0",
            5,
            np.random.default_rng(0),
            FakeApi(str),
            sandbox="t",
        )
    with pytest.raises(ValueError, match="n: must be at least 1"):
        run_round(
            _frame(5, 0.1, 0.2),
            FEATURES,
            ["0", "1"],
            "0",
            0,
            np.random.default_rng(0),
            FakeApi(str),
            sandbox="t",
        )
    with pytest.raises(ValueError, match="sandbox: must be"):
        run_round(
            _frame(5, 0.1, 0.2),
            FEATURES,
            ["0", "1"],
            "0",
            5,
            np.random.default_rng(0),
            FakeApi(str),
            sandbox="a b",
        )


def test_every_call_names_the_sandbox():
    api = FakeApi(pick=lambda u: "1")
    calls = []

    def post(path, body):
        calls.append(body)
        return api(path, body)

    run_round(
        _frame(20, 0.1, 0.2), FEATURES, ["0", "1"], "0", 30, np.random.default_rng(1), post, sandbox="v-7"
    )
    assert len(calls) == 31 and all(c["sandbox"] == "v-7" for c in calls)


def test_truth_of_several_arms_comes_from_their_true_effects():
    rows = pd.DataFrame({"p_control": [0.1, 0.4], "true_cate_1": [0.2, -0.1], "true_cate_2": [0.0, 0.3]})
    assert true_rates(rows, ["0", "1", "2"], "0") == pytest.approx(
        np.array([[0.1, 0.3, 0.1], [0.4, 0.3, 0.7]])
    )
    assert has_truth(rows, ["0", "1", "2"], "0")
    assert not has_truth(rows, ["0", "1", "3"], "0")
    assert not has_truth(
        _frame(3, 0.1, 0.2), ["0", "1", "2"], "0"
    )  # one p_treated cannot tell two arms apart
    assert not has_truth(rows.drop(columns="p_control"), ["0", "1", "2"], "0")
