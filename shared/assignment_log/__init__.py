"""A durable log of every assignment and its reward, in SQLite (embedded) or PostgreSQL."""

from typing import Any

from shared.assignment_log.open import open_log
from shared.assignment_log.protocol import AssignmentLog
from shared.assignment_log.rows import LogEntry, LogRow, RewardStatus, canonical_json, features_hash, make_row

__all__ = [
    "EXPORT_SCHEMA",
    "AssignmentLog",
    "LogEntry",
    "LogRow",
    "RewardStatus",
    "canonical_json",
    "features_hash",
    "make_row",
    "open_log",
    "write_parquet",
]


def __getattr__(name: str) -> Any:
    # The Parquet export needs pyarrow (~70 MB and most of a second to import): the API, which only
    # records and rewards, never imports it; an export does, on first use.
    if name in ("EXPORT_SCHEMA", "write_parquet"):
        from shared.assignment_log import parquet

        return getattr(parquet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
