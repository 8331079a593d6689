"""SQLite specifics: the WAL is checkpointed by a background thread, never inside a request's commit."""

import shutil
import sqlite3
import time
import uuid

import pytest

from shared.bandit import Assignment
from shared.bandit.sqlite_store import SqliteBanditStore


def _assign(store: SqliteBanditStore, n: int) -> None:
    for _ in range(n):
        store.record_assignments([Assignment(uuid.uuid4().hex, "Neutral", "treatment", 0.5, time.time())])


def _rows_in_main_file(store: SqliteBanditStore, tmp_path) -> int:
    """Rows readable from the database file alone, i.e. already checkpointed out of the WAL."""
    copy = tmp_path / "main-only.db"
    shutil.copyfile(store.path, copy)
    with sqlite3.connect(copy) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM assignments").fetchone()[0])
        except sqlite3.DatabaseError:
            # Not even the schema has left the WAL yet, or the copy caught the background
            # checkpoint mid-write (a torn copy, "malformed"): either way, look again.
            return 0


def test_commits_leave_checkpointing_to_the_background_thread(tmp_path):
    store = SqliteBanditStore(tmp_path / "bandit.db", checkpoint_interval_s=0.05)
    try:
        assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        _assign(store, 1500)  # past SQLite's 1000-page autocheckpoint, had it been on
        deadline = time.monotonic() + 10
        while _rows_in_main_file(store, tmp_path) < 1500:
            assert time.monotonic() < deadline, "the background checkpoint never ran"
            time.sleep(0.05)
    finally:
        store.close()
    assert store._checkpointer is not None and not store._checkpointer.is_alive()


def test_without_background_checkpoints_sqlite_checkpoints_on_commit(tmp_path):
    store = SqliteBanditStore(tmp_path / "bandit.db", checkpoint_interval_s=None)
    try:
        assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert store._checkpointer is None
        _assign(store, 1500)
        assert _rows_in_main_file(store, tmp_path) > 0
    finally:
        store.close()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_checkpoint_interval_must_be_positive(tmp_path, bad):
    with pytest.raises(ValueError, match="checkpoint_interval_s: must be positive or None"):
        SqliteBanditStore(tmp_path / "bandit.db", checkpoint_interval_s=bad)
