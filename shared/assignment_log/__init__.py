"""A durable log of every assignment and its reward, in SQLite (embedded) or PostgreSQL."""

from shared.assignment_log.open import open_log
from shared.assignment_log.parquet import EXPORT_SCHEMA, write_parquet
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
