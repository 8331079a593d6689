"""Many rows in one SQLite INSERT statement: one call into SQLite per chunk of rows.

Why: ``executemany`` steps the statement once per row, and Python's sqlite3 module hands the GIL
back and takes it again around every step (and around BEGIN and COMMIT). The API's store writes
run on pool threads while the event loop holds the GIL; each take-back can wait for the loop to let
go, so a write of n rows waited up to n + 2 times. One multi-row statement waits once. A single
statement is its own transaction, so a write that fits one chunk needs no BEGIN/COMMIT either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

# SQLite's limit on ? parameters per statement (SQLITE_MAX_VARIABLE_NUMBER): 32766 since 3.32.0.
MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def rows_per_statement(width: int) -> int:
    """Rows of ``width`` columns that fit in one statement."""
    if width < 1:
        raise ValueError(f"width: must be at least 1, got {width}")
    return max(1, MAX_VARIABLES // width)


def insert_rows(conn: sqlite3.Connection, head: str, params: Sequence[Sequence[Any]]) -> int:
    """Insert ``params`` (rows of equal width) as ``head`` + multi-row VALUES; rows changed.

    ``head`` is the statement up to VALUES (``"INSERT INTO t (a, b) VALUES"``). Rows beyond one
    statement's limit go in further statements: run this inside a transaction when they may.
    """
    if not params:
        return 0
    width = len(params[0])
    if any(len(p) != width for p in params):
        raise ValueError("params: every row must have the same number of values")
    per = rows_per_statement(width)
    one = "(" + ", ".join("?" * width) + ")"
    changed = 0
    for start in range(0, len(params), per):
        chunk = params[start : start + per]
        sql = f"{head} {', '.join([one] * len(chunk))}"
        changed += conn.execute(sql, [v for row in chunk for v in row]).rowcount
    return changed
