"""The assignment log in one SQLite file (WAL, synchronous=FULL): the embedded default."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.assignment_log.connections import ThreadConnections
from shared.assignment_log.rows import (
    LogEntry,
    LogRow,
    RewardStatus,
    check_days,
    check_reward,
    check_since,
    reward_status,
)
from shared.sqlite_rows import insert_rows, rows_per_statement

__all__ = ["SqliteAssignmentLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignment_log (
    assignment_id TEXT PRIMARY KEY,
    assigned_at_us INTEGER NOT NULL,
    campaign_id TEXT,
    model_version TEXT NOT NULL,
    user_id TEXT NOT NULL,
    features_hash TEXT NOT NULL,
    features_json TEXT,
    arm TEXT NOT NULL,
    propensity REAL NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    segment TEXT NOT NULL,
    policy TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assignment_log_time ON assignment_log (assigned_at_us);
CREATE INDEX IF NOT EXISTS assignment_log_campaign ON assignment_log (campaign_id, assigned_at_us);
CREATE TABLE IF NOT EXISTS assignment_rewards (
    assignment_id TEXT PRIMARY KEY,
    reward REAL NOT NULL,
    rewarded_at_us INTEGER NOT NULL
);
"""
_COLUMNS = (
    "assignment_id, assigned_at_us, campaign_id, model_version, user_id, features_hash, features_json, "
    "arm, propensity, segment, policy"
)
_INSERT = f"INSERT OR IGNORE INTO assignment_log ({_COLUMNS}) VALUES"  # + the rows (shared.sqlite_rows)
_WIDTH = 11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Integer microseconds since the epoch: exact, sortable, and the same resolution as the export.
def _to_us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _params(r: LogRow) -> tuple:
    return (
        r.assignment_id,
        _to_us(r.assigned_at),
        r.campaign_id,
        r.model_version,
        r.user_id,
        r.features_hash,
        r.features_json,
        r.arm,
        r.propensity,
        r.segment,
        r.policy,
    )


def _entry(t: tuple) -> LogEntry:
    row = LogRow(
        assignment_id=t[0],
        assigned_at=_from_us(t[1]),
        campaign_id=t[2],
        model_version=t[3],
        user_id=t[4],
        features_hash=t[5],
        features_json=t[6],
        arm=t[7],
        propensity=t[8],
        segment=t[9],
        policy=t[10],
    )
    return LogEntry(row, t[11], None if t[12] is None else _from_us(t[12]))


class SqliteAssignmentLog:
    """One connection per thread (sqlite3 objects are not shared); several processes may share the file."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        busy_timeout_s: float = 30.0,
        record_sync: str = "FULL",
        checkpoint_interval_s: float | None = None,
    ) -> None:
        """``record_sync`` is the durability of ``record``: FULL (on disk before it returns) or NORMAL
        (in WAL mode it survives a killed process, as the OS holds the pages; a power cut may drop the
        last commits). The API logs every /optimize with NORMAL, as the bandit store records its
        assignments; rewards are always FULL."""
        if record_sync not in ("NORMAL", "FULL"):
            raise ValueError(f"record_sync: must be NORMAL or FULL, got {record_sync!r}")
        if checkpoint_interval_s is not None and not checkpoint_interval_s > 0:
            raise ValueError(
                f"checkpoint_interval_s: must be positive or None, got {checkpoint_interval_s!r}"
            )
        self._record_sync = record_sync
        self._checkpoint_interval_s = checkpoint_interval_s
        self._sync = threading.local()  # this thread's connection and its synchronous level
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(
                f"path: must be a file path (each thread opens its own connection), got {path!r}"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._connections: ThreadConnections[sqlite3.Connection] = ThreadConnections(
            str(self.path), self._connect, lambda _conn: True
        )
        with self._write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        # With an interval, commits never checkpoint (one that crosses 1000 pages would copy the WAL
        # and fsync inside a request's write, seconds on a busy disk); a background thread does it,
        # PASSIVE, so it never blocks a reader or a writer. As the bandit store does.
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_interval_s is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="log-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        assert self._checkpoint_interval_s is not None
        while not self._stop.wait(self._checkpoint_interval_s):
            try:
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except (sqlite3.Error, RuntimeError):
                continue  # busy or closing: the next round checkpoints

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread off only so close() may close every thread's connection; each is used by one.
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise RuntimeError(f"assignment log {self.path}: the filesystem refused WAL mode (got {mode!r})")
        if self._checkpoint_interval_s is not None:
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        return conn

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def _write(self, synchronous: str = "FULL") -> Iterator[sqlite3.Connection]:
        conn = self._conn_at(synchronous)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _conn_at(self, synchronous: str) -> sqlite3.Connection:
        """This thread's connection at the given durability level (the pragma only when it changes)."""
        conn = self._conn()
        local = self._sync
        if getattr(local, "conn", None) is not conn or local.level != synchronous:
            conn.execute(f"PRAGMA synchronous={synchronous}")
            local.conn, local.level = conn, synchronous
        return conn

    def record(self, rows: Iterable[LogRow]) -> int:
        params = [_params(r) for r in rows]
        if not params:
            return 0
        if len(params) <= rows_per_statement(_WIDTH):
            # One statement is its own transaction: one call into SQLite instead of one per row plus
            # BEGIN and COMMIT (shared.sqlite_rows says why that matters), same atomicity.
            return insert_rows(self._conn_at(self._record_sync), _INSERT, params)
        with self._write(self._record_sync) as conn:
            return insert_rows(conn, _INSERT, params)

    def reward(self, assignment_id: str, reward: float) -> RewardStatus:
        value = check_reward(reward)
        with self._write() as conn:
            stored = conn.execute(
                "SELECT reward FROM assignment_rewards WHERE assignment_id = ?", (assignment_id,)
            ).fetchone()
            if stored is not None:
                return reward_status(stored[0], value)
            known = conn.execute("SELECT 1 FROM assignment_log WHERE assignment_id = ?", (assignment_id,))
            if known.fetchone() is None:
                return "not_found"
            conn.execute(
                "INSERT INTO assignment_rewards (assignment_id, reward, rewarded_at_us) VALUES (?, ?, ?)",
                (assignment_id, value, _to_us(datetime.now(UTC))),
            )
        return "applied"

    def purge(self, older_than_days: float) -> int:
        cutoff = _to_us(datetime.now(UTC) - timedelta(days=check_days(older_than_days)))
        with self._write() as conn:
            conn.execute(
                "DELETE FROM assignment_rewards WHERE assignment_id IN "
                "(SELECT assignment_id FROM assignment_log WHERE assigned_at_us < ?)",
                (cutoff,),
            )
            return conn.execute("DELETE FROM assignment_log WHERE assigned_at_us < ?", (cutoff,)).rowcount

    def iter_rows(self, campaign_id: str | None = None, since: datetime | None = None) -> Iterator[LogEntry]:
        start = check_since(since)
        where: list[str] = []
        args: list[object] = []
        if campaign_id is not None:
            where.append("a.campaign_id = ?")
            args.append(campaign_id)
        if start is not None:
            where.append("a.assigned_at_us >= ?")
            args.append(_to_us(start))
        sql = (
            f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}, r.reward, r.rewarded_at_us "
            "FROM assignment_log a LEFT JOIN assignment_rewards r ON r.assignment_id = a.assignment_id "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY a.assigned_at_us, a.assignment_id"
        )
        # Its own connection: the caller may record or reward on this thread while it reads.
        with closing(self._connect()) as conn:
            for t in conn.execute(sql, args):
                yield _entry(t)

    def export(self, path: str | Path) -> int:
        from shared.assignment_log.parquet import write_parquet  # pyarrow only when exporting

        return write_parquet(self.iter_rows(), path)

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM assignment_log").fetchone()[0])

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join()
        self._connections.close()

    def __enter__(self) -> SqliteAssignmentLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
