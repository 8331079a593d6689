"""The one interface every assignment-log backend implements (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shared.assignment_log.rows import LogEntry, LogRow, RewardStatus

__all__ = ["AssignmentLog"]


class AssignmentLog(Protocol):
    """Durable record of assignments and their rewards: a call that returns has been committed."""

    backend: str

    def record(self, rows: Iterable[LogRow]) -> int:
        """Store the rows in one transaction; returns how many were new (an id seen before is kept as is)."""
        ...

    def reward(self, assignment_id: str, reward: float) -> RewardStatus:
        """Attach a reward; the first reward for an assignment stands."""
        ...

    def purge(self, older_than_days: float) -> int:
        """Delete assignments (and their rewards) assigned more than this many days ago; returns how many."""
        ...

    def export(self, path: str | Path) -> int:
        """Write every assignment joined with its reward to a Parquet file (replaced atomically); returns rows."""
        ...

    def iter_rows(self, campaign_id: str | None = None, since: datetime | None = None) -> Iterator[LogEntry]:
        """Assignments in time order, optionally of one campaign and assigned at or after ``since``."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...
