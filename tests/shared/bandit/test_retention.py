"""Assignments are kept for the retention period, then deleted; what their rewards taught stays."""

from __future__ import annotations

import time

import pytest

from shared.bandit import Assignment, UnknownAssignment, new_assignment_ids, open_store
from shared.bandit.sqlite_store import SqliteBanditStore


def _assign(store, ages_s):
    now = time.time()
    ids = new_assignment_ids(len(ages_s))
    store.record_assignments(
        [Assignment(i, "Persuadable", "rec", 0.5, now - a) for i, a in zip(ids, ages_s, strict=True)]
    )
    return ids


def test_purge_deletes_old_assignments_and_their_rewards_but_keeps_counts(sqlite_path):
    store = SqliteBanditStore(sqlite_path, checkpoint_interval_s=None)
    old = _assign(store, [10 * 86400.0] * 3)
    new = _assign(store, [60.0] * 2)
    store.record_reward(old[0], 1)
    store.record_reward(new[0], 0)
    assert store.purge_assignments(time.time() - 86400.0) == 3
    assert store.size() == 2
    with pytest.raises(UnknownAssignment):
        store.record_reward(old[1], 1)  # feedback for a deleted assignment: as for one never issued
    assert store.record_reward(new[0], 0).status == "duplicate"
    assert store.counts() == {("Persuadable", "rec"): (1, 1)}
    assert store._conn().execute("SELECT count(*) FROM rewards").fetchone()[0] == 1
    store.close()


def test_the_background_thread_purges_by_the_retention_setting(sqlite_path):
    # Retention of one second, checked every 50 ms: the old rows go without anyone asking.
    store = SqliteBanditStore(sqlite_path, checkpoint_interval_s=0.05, retention_s=1.0, purge_interval_s=0.05)
    _assign(store, [5.0] * 4)
    keep = _assign(store, [0.0])
    deadline = time.monotonic() + 5
    while store.size() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.size() == 1
    assert store.record_reward(keep[0], 1).status == "applied"
    store.close()


def test_open_store_passes_retention_in_days(sqlite_path):
    store = open_store(f"sqlite:///{sqlite_path}", assignment_retention_days=2)
    assert isinstance(store, SqliteBanditStore) and store.retention_s == 2 * 86400.0
    store.close()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_retention_must_be_positive_and_finite(sqlite_path, bad):
    with pytest.raises(ValueError, match="retention_s"):
        SqliteBanditStore(sqlite_path, retention_s=bad)


@pytest.mark.redis
def test_redis_assignments_expire_after_the_retention(redis_server_url, bandit_namespace, redis_client):
    store = open_store(redis_server_url, namespace=bandit_namespace, assignment_retention_days=1)
    ids = _assign(store, [0.0])
    ttl = redis_client.ttl(f"{bandit_namespace}:a:{ids[0]}")
    assert 86400 - 5 <= ttl <= 86400
    store.close()


def test_idle_sandboxes_are_purged_and_production_counts_stay(sqlite_path):
    store = SqliteBanditStore(sqlite_path, checkpoint_interval_s=None, sandbox_retention_s=60.0)
    now = time.time()
    store.record_assignments(
        [
            Assignment("s-old", "Neutral", "rec", 0.5, now - 120, predicted=0.1, space="sandbox:a"),
            Assignment("p-old", "Neutral", "rec", 0.5, now - 120, predicted=0.1),
        ]
    )
    store.record_reward("s-old", 1, space="sandbox:a")
    store.record_reward("p-old", 1)
    assert store.purge_expired(now) == 1  # the sandbox's assignment is past the sandbox retention
    assert store.size() == 1 and store.counts("sandbox:a") == {("Neutral", "rec"): (1, 0)}  # counts fresh
    assert store.purge_expired(now + 61) == 0  # ... until they are idle past it too
    assert store.counts("sandbox:a") == {} and store.counts() == {("Neutral", "rec"): (1, 0)}
    store.close()


def test_a_version_1_file_is_migrated_with_its_counts(sqlite_path):
    import sqlite3

    sqlite_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(sqlite_path)
    conn.executescript(
        """CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
        CREATE TABLE assignments (assignment_id TEXT PRIMARY KEY, context TEXT NOT NULL, arm TEXT NOT NULL,
            propensity REAL NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE rewards (assignment_id TEXT PRIMARY KEY, reward INTEGER NOT NULL);
        CREATE TABLE counts (context TEXT NOT NULL, arm TEXT NOT NULL, successes INTEGER NOT NULL,
            failures INTEGER NOT NULL, PRIMARY KEY (context, arm));
        INSERT INTO assignments VALUES ('old', 'Neutral', 'rec', 0.5, 1e9);
        INSERT INTO counts VALUES ('Neutral', 'rec', 3, 4);"""
    )
    conn.close()
    store = SqliteBanditStore(sqlite_path, checkpoint_interval_s=None, retention_s=None)
    assert store.schema_version() == 3
    assert store.counts() == {("Neutral", "rec"): (3, 4)}
    res = store.record_reward("old", 1)
    assert res.status == "applied" and res.residual is None
    assert store.feedback()[("Neutral", "rec")] == (4, 4, 0, 0.0, 0.0, 0.0, 0.0)
    store.close()


def test_a_version_2_file_gains_the_weighted_sums_and_keeps_what_it_had(sqlite_path):
    import sqlite3

    sqlite_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(sqlite_path)
    conn.executescript(
        """CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);
        CREATE TABLE assignments (assignment_id TEXT PRIMARY KEY, context TEXT NOT NULL, arm TEXT NOT NULL,
            propensity REAL NOT NULL, created_at REAL NOT NULL, space TEXT NOT NULL DEFAULT '',
            predicted REAL);
        CREATE TABLE rewards (assignment_id TEXT PRIMARY KEY, reward INTEGER NOT NULL);
        CREATE TABLE counts (space TEXT NOT NULL, context TEXT NOT NULL, arm TEXT NOT NULL,
            successes INTEGER NOT NULL, failures INTEGER NOT NULL, residual_n INTEGER NOT NULL,
            residual_sum REAL NOT NULL, residual_sq REAL NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (space, context, arm));
        INSERT INTO assignments VALUES ('new', 'Neutral', 'rec', 0.25, 1e9, '', 0.2);
        INSERT INTO counts VALUES ('', 'Neutral', 'rec', 3, 4, 7, 0.5, 1.5, 1e9);"""
    )
    conn.close()
    store = SqliteBanditStore(sqlite_path, checkpoint_interval_s=None, retention_s=None)
    assert store.schema_version() == 3
    assert store.feedback()[("Neutral", "rec")] == (3, 4, 7, 0.5, 1.5, 0.0, 0.0)
    store.record_reward("new", 1)
    f = store.feedback()[("Neutral", "rec")]
    assert (f.n, f.residual_sum) == (8, pytest.approx(1.3))
    assert (f.ipw_sum, f.ipw_sq) == (pytest.approx(0.8 / 0.25), pytest.approx((0.8 / 0.25) ** 2))
    store.close()


@pytest.mark.redis
def test_redis_sandbox_keys_expire_and_production_keys_keep_theirs(
    make_redis_store, redis_client, bandit_namespace
):
    store = make_redis_store(sandbox_ttl_s=60, assignment_ttl_s=3600)
    now = time.time()
    store.record_assignments([Assignment("sb", "Neutral", "rec", 0.5, now, predicted=0.2, space="sandbox:z")])
    store.record_assignments([Assignment("pr", "Neutral", "rec", 0.5, now, predicted=0.2)])
    store.record_reward("sb", 1, space="sandbox:z")
    store.record_reward("pr", 0)
    sandbox_keys = list(redis_client.scan_iter(f"{bandit_namespace}:sandbox:z:*"))
    assert len(sandbox_keys) == 8  # assignment, reward, successes and the five residual hashes
    assert all(0 < redis_client.ttl(k) <= 60 for k in sandbox_keys)
    assert 3500 < redis_client.ttl(f"{bandit_namespace}:a:pr") <= 3600
    assert redis_client.ttl(f"{bandit_namespace}:failures") == -1  # production counts never expire
    assert store.purge_expired(now) == 0  # Redis retires by TTL; nothing to scan
    assert store.feedback("sandbox:z")[("Neutral", "rec")] == (
        1,
        0,
        1,
        pytest.approx(0.8),
        pytest.approx(0.64),
        pytest.approx(1.6),
        pytest.approx(2.56),
    )
