"""The policy replay's rules on a market small enough to reason about: a model wrong by a known amount."""

from __future__ import annotations

import numpy as np
import pytest

from tests.loadtests.scripts import import_script

replay_script = import_script("bench_policy_replay")
figures = import_script("policy_figures")


def _market(n: int, bias: float) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(0)
    true = rng.uniform(0.0, 0.2, n)
    p0 = np.full(n, 0.3)
    effect = true + bias  # the model's effect, off by ``bias`` for everyone
    samples = effect[:, None, None] + rng.normal(0.0, 0.01, (n, 1, 8))
    samples += effect[:, None, None] - samples.mean(axis=2, keepdims=True)  # members centred on it
    model = {
        "effects": effect[:, None],
        "samples": samples,
        "outcomes": np.column_stack([p0, p0 + effect]),
        "segments": ["Persuadable"] * n,
        "p_control": p0,
        "p_treated": p0 + true,
    }
    return model, true


@pytest.mark.parametrize("rule", ["posterior", "trimmed"])
def test_feedback_corrects_a_model_that_underrates_everyone_and_beats_greedy_on_it(rule):
    model, true = _market(40_000, bias=-0.04)
    setting = {"value_per_conversion": 10.0, "cost_per_treatment": 1.0}  # worth treating above 0.1
    uniforms = np.random.default_rng(1).random(len(true))
    treat, learned = replay_script.replay(rule, setting, model, uniforms, seed=2)
    # The feedback's estimate of the effect error is consistent with the +0.04 the model misses (it is
    # noisy: the policy gives most users one arm with a probability near 1) ...
    est = learned["Persuadable"]
    assert est["sd"] is not None and abs(est["mean"] - 0.04) < 3 * est["sd"]
    served = figures.value_of(treat, true, 10.0, 1.0)["profit"]
    greedy = figures.value_of(model["effects"][:, 0] * 10.0 > 1.0, true, 10.0, 1.0)["profit"]
    oracle = figures.value_of(true * 10.0 > 1.0, true, 10.0, 1.0)["profit"]
    # ... and the served policy earns more than greedy on the wrong model, short of the oracle.
    assert greedy < served < oracle
    # Drawing members per user with no feedback cannot learn it.
    members, _ = replay_script.replay("members", setting, model, uniforms, seed=2)
    assert figures.value_of(members, true, 10.0, 1.0)["profit"] < served


def test_on_a_right_model_the_rule_stays_close_to_greedy():
    model, true = _market(20_000, bias=0.0)
    setting = {"value_per_conversion": 10.0, "cost_per_treatment": 1.0}
    uniforms = np.random.default_rng(1).random(len(true))
    treat, _ = replay_script.replay("posterior", setting, model, uniforms, seed=2)
    served = figures.value_of(treat, true, 10.0, 1.0)["profit"]
    greedy = figures.value_of(model["effects"][:, 0] * 10.0 > 1.0, true, 10.0, 1.0)["profit"]
    assert served > 0.95 * greedy


def test_the_trimmed_rule_learns_from_decisions_in_doubt_only():
    sums = {("S", "1"): (10, 1.0, 1.0, 50.0, 9000.0)}  # every reward, one with a weight of 90
    band = {("S", "1"): (4, 2.0, 1.5)}  # the 4 whose arms both had a probability in [0.1, 0.9]
    trimmed = replay_script._feedback(sums, band, "trimmed")[("S", "1")]
    assert (trimmed.n, trimmed.ipw_sum, trimmed.ipw_sq) == (4, 2.0, 1.5)
    full = replay_script._feedback(sums, band, "posterior")[("S", "1")]
    assert (full.n, full.ipw_sum, full.ipw_sq) == (10, 50.0, 9000.0)
