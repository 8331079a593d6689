"""With a checkpoint interval, the SQLite log's commits never checkpoint; a background thread does."""

import time
import uuid

from shared.assignment_log import make_row, open_log
from shared.assignment_log.sqlite_log import SqliteAssignmentLog


def _rows(n):
    return [
        make_row(
            assignment_id=uuid.uuid4().hex,
            user_id=f"u{i}",
            features={"age": i, "device": "mobile"},
            arm="rec",
            propensity=0.5,
            segment="Neutral",
            model_version="v1",
            policy="request",
        )
        for i in range(n)
    ]


def test_background_checkpoints_keep_the_wal_in_check_and_stop_on_close(tmp_path):
    log = open_log(f"sqlite:///{tmp_path / 'log.db'}", record_sync="NORMAL", checkpoint_interval_s=0.05)
    assert isinstance(log, SqliteAssignmentLog)
    conn = log._conn()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL until a record switches it
    for _ in range(30):
        log.record(_rows(50))
    time.sleep(0.3)
    # Everything written is in the database file: a new checkpoint has nothing left to copy.
    busy, wal_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and wal_pages == copied
    assert log.count() == 1500
    log.close()
    assert log._checkpointer is not None and not log._checkpointer.is_alive()
