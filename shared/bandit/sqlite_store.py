"""Embedded bandit state: SQLite in WAL mode, one connection per thread.

A reward is one ``BEGIN IMMEDIATE`` transaction (look up the assignment, insert the reward keyed by
assignment id, bump the counts), committed with ``synchronous=FULL`` before the caller returns: a
process killed after acknowledging has lost nothing and one killed before has applied nothing.
FastAPI runs sync routes in a thread pool, hence a connection per thread; ``BEGIN IMMEDIATE``
serialises writers across threads and across worker processes sharing the file.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from shared.bandit.posterior import BetaPosterior, Prior
from shared.bandit.store import (
    PRODUCTION,
    ArmFeedback,
    Assignment,
    CachedFeedback,
    Feedback,
    RewardResult,
    SpaceCaches,
    UnknownAssignment,
    apply_prior,
    check_reward,
    check_space,
    ipw_residual,
)
from shared.sqlite_rows import insert_rows, rows_per_statement

SCHEMA_VERSION = 3
_COUNTS = """CREATE TABLE IF NOT EXISTS counts (
        space TEXT NOT NULL, context TEXT NOT NULL, arm TEXT NOT NULL,
        successes INTEGER NOT NULL, failures INTEGER NOT NULL,
        residual_n INTEGER NOT NULL, residual_sum REAL NOT NULL, residual_sq REAL NOT NULL,
        updated_at REAL NOT NULL, ipw_sum REAL NOT NULL DEFAULT 0, ipw_sq REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (space, context, arm))"""
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS assignments (
        assignment_id TEXT PRIMARY KEY, context TEXT NOT NULL, arm TEXT NOT NULL,
        propensity REAL NOT NULL, created_at REAL NOT NULL, space TEXT NOT NULL DEFAULT '',
        predicted REAL)""",
    "CREATE TABLE IF NOT EXISTS rewards (assignment_id TEXT PRIMARY KEY, reward INTEGER NOT NULL)",
    _COUNTS,
    # Retention deletes by age; ids and times both grow, so new entries land at the index's end.
    "CREATE INDEX IF NOT EXISTS assignments_created ON assignments (created_at)",
)
# Version 1 had no spaces, predictions or residuals: its counts become production's, residual-free.
_FROM_V1 = (
    "ALTER TABLE assignments ADD COLUMN space TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE assignments ADD COLUMN predicted REAL",
    "ALTER TABLE counts RENAME TO counts_v1",
    _COUNTS,
    "INSERT INTO counts SELECT '', context, arm, successes, failures, 0, 0.0, 0.0, 0, 0.0, 0.0 FROM counts_v1",
    "DROP TABLE counts_v1",
    "UPDATE schema_version SET version = 3",
)
# Version 2 had no inverse-propensity sums: they start at 0 (the calibration reads its rewards as
# carrying no weighted residual, which pulls its estimate towards no shift, not away from it).
_FROM_V2 = (
    "ALTER TABLE counts ADD COLUMN ipw_sum REAL NOT NULL DEFAULT 0",
    "ALTER TABLE counts ADD COLUMN ipw_sq REAL NOT NULL DEFAULT 0",
    "UPDATE schema_version SET version = 3",
)
_INSERT = "INSERT INTO assignments VALUES"  # + the rows (shared.sqlite_rows)
_WIDTH = 7
_SYNC_LEVELS = ("NORMAL", "FULL", "EXTRA")
_WAL_SIZE_LIMIT = 64 * 1024 * 1024


class SqliteBanditStore(CachedFeedback):
    """Bandit state in one SQLite file (WAL); safe to share between threads and worker processes."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "FULL",
        cache_ttl_s: float = 0.5,
        busy_timeout_s: float = 30.0,
        checkpoint_interval_s: float | None = 1.0,
        retention_s: float | None = 30 * 24 * 3600.0,
        purge_interval_s: float = 60.0,
        sandbox_retention_s: float = 24 * 3600.0,
    ) -> None:
        if synchronous not in _SYNC_LEVELS:
            raise ValueError(f"synchronous: must be one of {', '.join(_SYNC_LEVELS)}, got {synchronous!r}")
        if checkpoint_interval_s is not None and not checkpoint_interval_s > 0:
            raise ValueError(
                f"checkpoint_interval_s: must be positive or None, got {checkpoint_interval_s!r}"
            )
        if retention_s is not None and not (math.isfinite(retention_s) and retention_s > 0):
            raise ValueError(
                f"retention_s: must be a positive number of seconds or None, got {retention_s!r}"
            )
        if not (math.isfinite(purge_interval_s) and purge_interval_s > 0):
            raise ValueError(
                f"purge_interval_s: must be a positive number of seconds, got {purge_interval_s!r}"
            )
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(
                f"path: must be a file path (each thread opens its own connection), got {path!r}"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        # Other worker processes' rewards show up within cache_ttl_s; this process's own at once.
        self._caches = SpaceCaches(cache_ttl_s)
        if not (math.isfinite(sandbox_retention_s) and sandbox_retention_s > 0):
            raise ValueError(
                f"sandbox_retention_s: must be a positive number of seconds, got {sandbox_retention_s!r}"
            )
        self.sandbox_retention_s = sandbox_retention_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self.retention_s = retention_s
        self._purge_interval_s = purge_interval_s
        self._last_purge = 0.0
        self._create_schema()
        # SQLite checkpoints the WAL into the database inside whichever commit crosses 1000 pages:
        # that commit took ~4 ms instead of ~15 µs, once every ~430 one-user /optimize calls, and
        # stalled every request in flight with it. A background thread checkpoints instead
        # (PASSIVE: it never blocks a reader or writer, and the sqlite3 module releases the GIL).
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_interval_s is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"bandit store {self.path} is closed")
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._connections.append(conn)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(
                f"bandit store {self.path}: the filesystem refused WAL mode (got {mode!r}); "
                "put UPLIFT_DATA_DIR on a local disk"
            )
        if self._checkpoint_interval_s is not None:
            conn.execute("PRAGMA wal_autocheckpoint=0")
            # Without it the WAL file keeps its high-water size after each checkpoint resets it.
            conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        self._local.conn = conn
        self._local.sync = None
        return conn

    def _checkpoint_loop(self) -> None:
        assert self._checkpoint_interval_s is not None
        while not self._stop.wait(self._checkpoint_interval_s):
            try:
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                now = time.time()
                if now - self._last_purge >= self._purge_interval_s:
                    self._last_purge = now
                    self.purge_expired(now)
            except (sqlite3.Error, RuntimeError):
                # Busy or closing: the next round (or the last connection's close) checkpoints.
                continue

    def _conn_at(self, synchronous: str) -> sqlite3.Connection:
        """This thread's connection, committing at the given durability level."""
        conn = self._conn()
        if self._local.sync != synchronous:
            conn.execute(f"PRAGMA synchronous={synchronous}")
            self._local.sync = synchronous
        return conn

    @contextmanager
    def _write(self, synchronous: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed at the given durability level or rolled back on any error."""
        conn = self._conn_at(synchronous)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also after a failed COMMIT (disk full, I/O error): the next BEGIN must find no open transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _create_schema(self) -> None:
        with self._write(self.synchronous) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is None:
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] in (1, 2):
                for statement in _FROM_V1 if row[0] == 1 else _FROM_V2:
                    conn.execute(statement)
            elif row[0] != SCHEMA_VERSION:
                raise RuntimeError(
                    f"bandit store {self.path} has schema version {row[0]}, this code reads version "
                    f"{SCHEMA_VERSION}; point the bandit URL at a new file or upgrade the service"
                )

    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def record_assignments(self, rows: Sequence[Assignment]) -> None:
        if not rows:
            return
        # synchronous=NORMAL in WAL mode survives a killed process (the OS holds the WAL pages); only a
        # power cut can drop it. Rewards pay for an fsync, an /optimize call does not.
        try:
            params = [_row(r) for r in rows]
            if len(params) <= rows_per_statement(_WIDTH):
                # One statement is its own transaction: one call into SQLite instead of one per row
                # plus BEGIN and COMMIT (shared.sqlite_rows says why that matters), same atomicity.
                insert_rows(self._conn_at("NORMAL"), _INSERT, params)
                return
            with self._write("NORMAL") as conn:
                insert_rows(conn, _INSERT, params)
        except sqlite3.IntegrityError as exc:
            raise ValueError(
                f"assignment_id: must be unique, one of these was already issued ({exc})"
            ) from None

    def purge_assignments(self, created_before: float, sandboxes_only: bool = False) -> int:
        """Delete assignments created before the unix time given, with their rewards; the count deleted.

        Counts keep what those rewards taught the posteriors; feedback for a deleted assignment is
        answered as for one never issued. Bounded batches keep each write transaction short.
        """
        if not math.isfinite(created_before):
            raise ValueError(f"created_before: must be a finite unix time, got {created_before!r}")
        deleted = 0
        while True:
            with self._write("NORMAL") as conn:
                ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT assignment_id FROM assignments WHERE created_at < ? "
                        + ("AND space != '' " if sandboxes_only else "")
                        + "LIMIT 5000",
                        (created_before,),
                    ).fetchall()
                ]
                if not ids:
                    return deleted
                conn.executemany("DELETE FROM rewards WHERE assignment_id = ?", [(i,) for i in ids])
                conn.executemany("DELETE FROM assignments WHERE assignment_id = ?", [(i,) for i in ids])
            deleted += len(ids)

    def purge_expired(self, now: float) -> int:
        """Retention: old assignments (any space), then sandboxes idle past ``sandbox_retention_s``."""
        deleted = 0 if self.retention_s is None else self.purge_assignments(now - self.retention_s)
        deleted += self.purge_assignments(now - self.sandbox_retention_s, sandboxes_only=True)
        with self._write("NORMAL") as conn:
            idle = conn.execute(
                "DELETE FROM counts WHERE space != '' AND updated_at < ?", (now - self.sandbox_retention_s,)
            ).rowcount
        if idle:
            self._caches.invalidate_sandboxes()
        return deleted

    def size(self) -> int:
        """Assignments stored (what retention bounds)."""
        return int(self._conn().execute("SELECT count(*) FROM assignments").fetchone()[0])

    def record_reward(self, assignment_id: str, reward: int, space: str = PRODUCTION) -> RewardResult:
        reward = check_reward(reward)
        check_space(space)
        residual: float | None = None
        with self._write(self.synchronous) as conn:
            row = conn.execute(
                "SELECT context, arm, predicted, propensity FROM assignments "
                "WHERE assignment_id = ? AND space = ?",
                (assignment_id, space),
            ).fetchone()
            if row is None:
                raise UnknownAssignment(assignment_id)
            context, arm = str(row[0]), str(row[1])
            inserted = conn.execute(
                "INSERT INTO rewards VALUES (?, ?) ON CONFLICT(assignment_id) DO NOTHING",
                (assignment_id, reward),
            ).rowcount
            if inserted:
                residual = None if row[2] is None else reward - float(row[2])
                r, has = (0.0, 0) if residual is None else (residual, 1)
                w = ipw_residual(r, float(row[3]))
                conn.execute(
                    "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(space, context, arm) DO UPDATE SET "
                    "successes = successes + excluded.successes, failures = failures + excluded.failures, "
                    "residual_n = residual_n + excluded.residual_n, "
                    "residual_sum = residual_sum + excluded.residual_sum, "
                    "residual_sq = residual_sq + excluded.residual_sq, updated_at = excluded.updated_at, "
                    "ipw_sum = ipw_sum + excluded.ipw_sum, ipw_sq = ipw_sq + excluded.ipw_sq",
                    (space, context, arm, reward, 1 - reward, has, r, r * r, time.time(), w, w * w),
                )
                stored = reward
            else:
                stored = int(
                    conn.execute(
                        "SELECT reward FROM rewards WHERE assignment_id = ?", (assignment_id,)
                    ).fetchone()[0]
                )
        if inserted:
            self._caches.of(space).invalidate()
            return RewardResult("applied", context, arm, reward, residual)
        return RewardResult("duplicate" if stored == reward else "conflict", context, arm, stored)

    def _load_feedback(self, space: str) -> Feedback:
        rows = (
            self._conn()
            .execute(
                "SELECT context, arm, successes, failures, residual_n, residual_sum, residual_sq, "
                "ipw_sum, ipw_sq FROM counts WHERE space = ?",
                (space,),
            )
            .fetchall()
        )
        return {
            (str(c), str(a)): ArmFeedback(int(s), int(f), int(n), float(rs), float(rq), float(ws), float(wq))
            for c, a, s, f, n, rs, rq, ws, wq in rows
        }

    def posteriors(
        self, prior: Prior | Mapping[tuple[str, str], Prior]
    ) -> dict[tuple[str, str], BetaPosterior]:
        return apply_prior(self.counts(), prior)

    def ping(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except (sqlite3.Error, RuntimeError):
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join()
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _row(r: Assignment) -> tuple[object, ...]:
    return (r.assignment_id, r.context, r.arm, r.propensity, r.created_at, r.space, r.predicted)
