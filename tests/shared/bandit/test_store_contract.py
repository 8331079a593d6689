"""The BanditStore contract, one body run against both backends (the ``store`` fixture)."""

import math
import time
import uuid

import pytest

from shared.bandit import Assignment, BetaPosterior, Prior, UnknownAssignment, apply_prior, new_assignment_ids
from shared.bandit.store import CountsCache


def assign(store, ids, context="Persuadable", arm="1"):
    store.record_assignments([Assignment(i, context, arm, 0.5, time.time()) for i in ids])
    return list(ids)


def test_reward_is_idempotent_conflicts_are_refused_and_unknown_ids_raise(store):
    ids = assign(store, ["a0", "a1", "a2"])
    assert store.record_reward("a0", 1).status == "applied"
    again = store.record_reward("a0", 1)
    assert (again.status, again.context, again.arm, again.reward) == ("duplicate", "Persuadable", "1", 1)
    conflict = store.record_reward("a0", 0)
    assert conflict.status == "conflict" and conflict.reward == 1  # the stored reward, which stays
    applied = store.record_reward(ids[1], 0)
    assert (applied.status, applied.context, applied.arm, applied.reward) == (
        "applied",
        "Persuadable",
        "1",
        0,
    )
    assert store.counts() == {("Persuadable", "1"): (1, 1)}
    with pytest.raises(UnknownAssignment):
        store.record_reward("never-issued", 1)
    assert store.counts() == {("Persuadable", "1"): (1, 1)}
    assert store.ping()


@pytest.mark.parametrize("bad", [2, -1, True, 1.0, "1", None])
def test_reward_must_be_integer_zero_or_one(store, bad):
    assign(store, ["a0"])
    with pytest.raises(ValueError, match="reward: must be the integer 0 or 1"):
        store.record_reward("a0", bad)
    assert store.counts() == {}
    assert store.record_reward("a0", 1).status == "applied"  # nothing was stored by the bad call


def test_counts_are_kept_per_context_and_arm(store):
    # Separators and non-ASCII in names must not merge or split pairs.
    pairs = [("Sleeping Dog", "0"), ("Sleeping Dog", "1"), ("a:b|c", "x\x1fy"), ("Neutral", "récommandé")]
    rewards = {pair: [1, 0, 1][: k + 1] for k, pair in enumerate(pairs)}
    for k, (pair, rs) in enumerate(rewards.items()):
        ids = assign(store, [f"p{k}-{n}" for n in range(len(rs))], *pair)
        for i, r in zip(ids, rs, strict=True):
            assert store.record_reward(i, r).status == "applied"
    expected = {pair: (sum(rs), len(rs) - sum(rs)) for pair, rs in rewards.items()}
    assert store.counts() == expected


def test_posteriors_combine_counts_with_a_prior(store):
    ids = assign(store, ["s1", "s2", "f1"], "Neutral", "1")
    for i, r in zip(ids, [1, 1, 0], strict=True):
        store.record_reward(i, r)
    assert store.posteriors(Prior()) == {("Neutral", "1"): BetaPosterior(3, 2)}
    per_pair = {("Neutral", "0"): Prior(2, 8), ("Neutral", "1"): Prior(1.5, 3.5)}
    assert store.posteriors(per_pair) == {
        ("Neutral", "0"): BetaPosterior(2, 8),
        ("Neutral", "1"): BetaPosterior(3.5, 4.5),
    }


def test_assignment_ids_are_unique_and_a_batch_is_all_or_nothing(store):
    assign(store, ["dup"], "Neutral", "0")
    with pytest.raises(ValueError, match="assignment_id: must be unique"):
        assign(store, ["fresh", "dup"], "Persuadable", "1")
    with pytest.raises(UnknownAssignment):
        store.record_reward("fresh", 1)
    assert store.record_reward("dup", 1).context == "Neutral"  # the first assignment was kept
    with pytest.raises(ValueError, match="assignment_id: must be unique"):
        assign(store, ["twice", "twice"])
    store.record_assignments([])  # an empty batch is a no-op


def test_counts_are_a_copy(store):
    assign(store, ["a0"])
    store.record_reward("a0", 1)
    snapshot = store.counts()
    snapshot[("Persuadable", "1")] = (99, 99)
    assert store.counts() == {("Persuadable", "1"): (1, 0)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assignment_id": ""}, "assignment_id: must be a non-empty string"),
        ({"context": None}, "context: must be a non-empty string"),
        ({"propensity": 1.5}, r"propensity: must be a probability in \[0, 1\]"),
        ({"propensity": float("nan")}, "propensity: must be a probability"),
        ({"created_at": float("inf")}, "created_at: must be a finite unix time"),
    ],
)
def test_assignment_validates_its_fields(kwargs, message):
    fields = {"assignment_id": "x", "context": "Neutral", "arm": "0", "propensity": 0.4, "created_at": 1.0}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Assignment(**fields)


def test_apply_prior_without_store():
    counts = {("P", "1"): (3, 7), ("old", "9"): (1, 1)}
    assert apply_prior(counts, Prior(1, 1)) == {
        ("P", "1"): BetaPosterior(4, 8),
        ("old", "9"): BetaPosterior(2, 2),
    }
    # A mapping names the pairs wanted: unseen pairs get the prior, unnamed pairs are left out.
    assert apply_prior(counts, {("P", "0"): Prior(1, 1), ("P", "1"): Prior(2, 2)}) == {
        ("P", "0"): BetaPosterior(1, 1),
        ("P", "1"): BetaPosterior(5, 9),
    }


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_counts_cache_expires_and_is_invalidated_by_own_writes():
    clock, loads = FakeClock(), []
    cache = CountsCache(0.5, clock)

    def load():
        loads.append(clock.now)
        return {("c", "a"): (len(loads), 0)}

    assert cache.get(load) == {("c", "a"): (1, 0)}
    clock.now += 0.4
    assert cache.get(load) == {("c", "a"): (1, 0)} and len(loads) == 1  # still fresh
    clock.now += 0.2
    assert cache.get(load) == {("c", "a"): (2, 0)}  # expired after 0.5 s
    cache.invalidate()
    assert cache.get(load) == {("c", "a"): (3, 0)}  # an own write forces a read


def test_counts_cache_drops_a_snapshot_that_raced_with_a_write():
    clock = FakeClock()
    cache = CountsCache(10.0, clock)

    def stale_load():
        cache.invalidate()  # a reward commits while this read is in flight
        return {("c", "a"): (0, 0)}

    assert cache.get(stale_load) == {("c", "a"): (0, 0)}
    assert cache.get(lambda: {("c", "a"): (1, 0)}) == {("c", "a"): (1, 0)}  # the racing snapshot was not kept
    with pytest.raises(ValueError, match="cache_ttl_s: must be a finite number >= 0"):
        CountsCache(-1.0)


def test_a_single_assignment_is_stored_and_still_unique(store):
    # One row takes the one-statement path; same contract as a batch.
    assign(store, ["solo"], "Neutral", "1")
    with pytest.raises(ValueError, match="assignment_id: must be unique"):
        assign(store, ["solo"], "Persuadable", "0")
    assert store.record_reward("solo", 0).context == "Neutral"


def test_new_assignment_ids_are_uuid7_unique_and_time_ordered():
    first = new_assignment_ids(20_000)
    assert len(set(first)) == 20_000
    for aid in first[:50]:
        parsed = uuid.UUID(hex=aid)
        assert len(aid) == 32 and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    time.sleep(0.002)
    later = new_assignment_ids(3)
    # The leading 48 bits are the time in ms: a later call sorts after every earlier id.
    assert min(later) > max(first)
    assert abs(int(later[0][:12], 16) - time.time_ns() // 1_000_000) < 5_000
    assert new_assignment_ids(0) == []
    with pytest.raises(ValueError, match="n: must be non-negative"):
        new_assignment_ids(-1)


def test_a_forked_child_does_not_reuse_the_parents_random_bytes():
    import os

    new_assignment_ids(1)  # fill the pool in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_assignment_ids(1)[0].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    parent = new_assignment_ids(1)[0]
    assert child[12:] != parent[12:]  # the random part (the first 12 hex digits are the time)


def test_rewards_add_residuals_against_the_stored_prediction_atomically_with_the_counts(store):
    now = time.time()
    store.record_assignments(
        [
            Assignment("p0", "Neutral", "1", 0.5, now, predicted=0.2),
            Assignment("p1", "Neutral", "1", 0.25, now, predicted=0.6),
            Assignment("p2", "Neutral", "0", 0.5, now),  # no prediction: counted, no residual
        ]
    )
    first = store.record_reward("p0", 1)
    assert first.status == "applied" and first.residual == pytest.approx(0.8)
    assert store.record_reward("p0", 1).residual is None  # a repeat adds nothing
    store.record_reward("p1", 0)
    store.record_reward("p2", 1)
    fb = store.feedback()
    t = fb[("Neutral", "1")]
    assert (t.successes, t.failures, t.n) == (1, 1, 2)
    assert t.residual_sum == pytest.approx(0.8 - 0.6) and t.residual_sq == pytest.approx(0.64 + 0.36)
    # Each residual over the propensity of its arm: 0.8 / 0.5 and -0.6 / 0.25.
    assert t.ipw_sum == pytest.approx(1.6 - 2.4) and t.ipw_sq == pytest.approx(1.6**2 + 2.4**2)
    assert fb[("Neutral", "0")] == (1, 0, 0, 0.0, 0.0, 0.0, 0.0)
    assert store.counts() == {("Neutral", "1"): (1, 1), ("Neutral", "0"): (1, 0)}


def test_a_propensity_of_zero_is_weighted_at_the_floor_not_infinity(store):
    from shared.bandit.store import IPW_PROPENSITY_FLOOR

    store.record_assignments([Assignment("z0", "Neutral", "1", 0.0, time.time(), predicted=0.5)])
    store.record_reward("z0", 1)
    f = store.feedback()[("Neutral", "1")]
    assert f.ipw_sum == pytest.approx(0.5 / IPW_PROPENSITY_FLOOR) and math.isfinite(f.ipw_sq)


def test_a_sandbox_space_is_invisible_to_production_and_back(store):
    now = time.time()
    store.record_assignments([Assignment("s0", "Neutral", "1", 0.5, now, predicted=0.1, space="sandbox:v1")])
    store.record_assignments([Assignment("q0", "Neutral", "1", 0.5, now, predicted=0.1)])
    with pytest.raises(UnknownAssignment):
        store.record_reward("s0", 1)  # production cannot reward a sandbox assignment
    with pytest.raises(UnknownAssignment):
        store.record_reward("q0", 1, space="sandbox:v1")  # nor a sandbox a production one
    with pytest.raises(UnknownAssignment):
        store.record_reward("s0", 1, space="sandbox:other")
    assert store.record_reward("s0", 1, space="sandbox:v1").status == "applied"
    assert store.counts() == {} and store.feedback() == {}
    assert store.counts("sandbox:v1") == {("Neutral", "1"): (1, 0)}
    with pytest.raises(ValueError, match="space"):
        store.feedback("production")
    with pytest.raises(ValueError, match="space"):
        Assignment("x", "Neutral", "1", 0.5, now, space="sandbox:")
