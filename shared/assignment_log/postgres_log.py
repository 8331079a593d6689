"""The assignment log in PostgreSQL (psycopg 3), for deployments that run several API replicas.

Tables are created unqualified, so they land in the connection's search_path: a URL with
``?options=-csearch_path%3Dmy_schema`` keeps them in that schema (the tests use one per run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

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

__all__ = ["PostgresAssignmentLog", "redact"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS assignment_log (
        assignment_id text PRIMARY KEY,
        assigned_at timestamptz NOT NULL,
        campaign_id text,
        model_version text NOT NULL,
        user_id text NOT NULL,
        features_hash text NOT NULL,
        features_json text,
        arm text NOT NULL,
        propensity double precision NOT NULL CHECK (propensity > 0 AND propensity <= 1),
        segment text NOT NULL,
        policy text NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS assignment_log_time ON assignment_log (assigned_at)",
    "CREATE INDEX IF NOT EXISTS assignment_log_campaign ON assignment_log (campaign_id, assigned_at)",
    """CREATE TABLE IF NOT EXISTS assignment_rewards (
        assignment_id text PRIMARY KEY REFERENCES assignment_log ON DELETE CASCADE,
        reward double precision NOT NULL,
        rewarded_at timestamptz NOT NULL
    )""",
)
_COLUMNS = (
    "assignment_id",
    "assigned_at",
    "campaign_id",
    "model_version",
    "user_id",
    "features_hash",
    "features_json",
    "arm",
    "propensity",
    "segment",
    "policy",
)
_TYPES = ("text", "timestamptz", "text", "text", "text", "text", "text", "text", "float8", "text", "text")
# One statement for a whole batch: the rows travel as one array per column.
_INSERT = (
    f"INSERT INTO assignment_log ({', '.join(_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in _TYPES)}) "
    "ON CONFLICT (assignment_id) DO NOTHING"
)


def redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _entry(t: tuple[Any, ...]) -> LogEntry:
    row = LogRow(**dict(zip(_COLUMNS, t[:11], strict=True)))
    rewarded_at = None if t[12] is None else t[12].astimezone(UTC)
    return LogEntry(row, t[11], rewarded_at)


class PostgresAssignmentLog:
    """One connection per thread (autocommit, explicit transactions); replicas share the tables."""

    backend = "postgresql"

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        self.url = url
        self._timeout = connect_timeout_s
        self._connections: ThreadConnections[psycopg.Connection[Any]] = ThreadConnections(
            redact(url), self._connect, lambda conn: not conn.closed
        )
        conn = self._conn()
        with conn.transaction():
            # Two processes creating the tables at once would race in the catalog; this lock serialises them.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('uplift_assignment_log_schema'))")
            for statement in _SCHEMA:
                conn.execute(statement)

    def _connect(self, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=self._timeout)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionError(
                f"assignment log: PostgreSQL at {redact(self.url)} does not answer: {first}"
            ) from exc

    def _conn(self) -> psycopg.Connection[Any]:
        return self._connections.get()

    def record(self, rows: Iterable[LogRow]) -> int:
        batch = list(rows)
        if not batch:
            return 0
        columns = [[getattr(r, c) for r in batch] for c in _COLUMNS]
        conn = self._conn()
        with conn.transaction():
            cur = conn.execute(_INSERT, columns)
            return cur.rowcount

    def reward(self, assignment_id: str, reward: float) -> RewardStatus:
        value = check_reward(reward)
        conn = self._conn()
        with conn.transaction():
            inserted = conn.execute(
                "INSERT INTO assignment_rewards (assignment_id, reward, rewarded_at) "
                "SELECT assignment_id, %s, now() FROM assignment_log WHERE assignment_id = %s "
                "ON CONFLICT (assignment_id) DO NOTHING RETURNING 1",
                (value, assignment_id),
            ).fetchone()
            if inserted is not None:
                return "applied"
            stored = conn.execute(
                "SELECT reward FROM assignment_rewards WHERE assignment_id = %s", (assignment_id,)
            ).fetchone()
        return "not_found" if stored is None else reward_status(stored[0], value)

    def purge(self, older_than_days: float) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=check_days(older_than_days))
        conn = self._conn()
        with conn.transaction():
            # Rewards go with their assignments (ON DELETE CASCADE).
            return conn.execute("DELETE FROM assignment_log WHERE assigned_at < %s", (cutoff,)).rowcount

    def iter_rows(self, campaign_id: str | None = None, since: datetime | None = None) -> Iterator[LogEntry]:
        start = check_since(since)
        where: list[str] = []
        args: list[object] = []
        if campaign_id is not None:
            where.append("a.campaign_id = %s")
            args.append(campaign_id)
        if start is not None:
            where.append("a.assigned_at >= %s")
            args.append(start)
        sql = (
            f"SELECT {', '.join('a.' + c for c in _COLUMNS)}, r.reward, r.rewarded_at "
            "FROM assignment_log a LEFT JOIN assignment_rewards r ON r.assignment_id = a.assignment_id "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY a.assigned_at, a.assignment_id"
        )
        # A server-side cursor on its own connection: millions of rows stream without filling memory,
        # and the caller may keep writing on this thread's connection meanwhile.
        with self._connect(autocommit=False) as conn, conn.cursor(name="assignment_log_read") as cur:
            cur.itersize = 5000
            cur.execute(sql, args)
            for t in cur:
                yield _entry(t)

    def export(self, path: str | Path) -> int:
        from shared.assignment_log.parquet import write_parquet  # pyarrow only when exporting

        return write_parquet(self.iter_rows(), path)

    def count(self) -> int:
        row = self._conn().execute("SELECT count(*) FROM assignment_log").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> PostgresAssignmentLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
