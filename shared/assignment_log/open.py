"""Pick the assignment-log backend from a URL: sqlite:///path or postgresql://..."""

from __future__ import annotations

from shared.assignment_log.protocol import AssignmentLog

__all__ = ["open_log"]


def open_log(
    url: str, record_sync: str = "FULL", checkpoint_interval_s: float | None = None
) -> AssignmentLog:
    """``sqlite:///var/assignments.db`` (a file; ``sqlite:////abs/path`` for an absolute one) or
    ``postgresql://user@host:5432/db``. psycopg is imported only for PostgreSQL. ``record_sync``
    is SQLite's durability of ``record`` and ``checkpoint_interval_s`` its background checkpoints
    (see ``SqliteAssignmentLog``); PostgreSQL commits durably."""
    if url.startswith("sqlite:///"):
        from shared.assignment_log.sqlite_log import SqliteAssignmentLog

        path = url.removeprefix("sqlite:///")
        if not path:
            raise ValueError("url: sqlite:/// needs a file path after it, e.g. sqlite:///var/assignments.db")
        return SqliteAssignmentLog(path, record_sync=record_sync, checkpoint_interval_s=checkpoint_interval_s)
    if url.startswith(("postgresql://", "postgres://")):
        from shared.assignment_log.postgres_log import PostgresAssignmentLog

        return PostgresAssignmentLog(url)
    scheme = url.partition("://")[0] if "://" in url else url[:20]
    raise ValueError(f"url: must start with sqlite:/// or postgresql://, got {scheme!r}")
