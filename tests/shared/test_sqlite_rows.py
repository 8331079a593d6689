"""Multi-row INSERT statements: every row lands, chunks past SQLite's parameter limit, atomic per statement."""

import sqlite3

import pytest

from shared import sqlite_rows
from shared.sqlite_rows import insert_rows, rows_per_statement


def _table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    return conn


def test_rows_go_in_and_the_count_is_what_changed():
    conn = _table()
    assert insert_rows(conn, "INSERT INTO t (k, v) VALUES", [(1, "a"), (2, "b"), (3, None)]) == 3
    assert conn.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [(1, "a"), (2, "b"), (3, None)]
    # OR IGNORE counts only the rows it inserted.
    assert insert_rows(conn, "INSERT OR IGNORE INTO t (k, v) VALUES", [(3, "x"), (4, "d")]) == 1
    assert insert_rows(conn, "INSERT INTO t (k, v) VALUES", []) == 0


def test_past_the_parameter_limit_rows_go_in_several_statements(monkeypatch):
    monkeypatch.setattr(sqlite_rows, "MAX_VARIABLES", 7)  # 3 rows of 2 per statement
    assert rows_per_statement(2) == 3
    conn = _table()
    assert insert_rows(conn, "INSERT INTO t (k, v) VALUES", [(i, str(i)) for i in range(10)]) == 10
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (10,)


def test_one_statement_is_all_or_nothing():
    conn = _table()
    insert_rows(conn, "INSERT INTO t (k, v) VALUES", [(1, "a")])
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn, "INSERT INTO t (k, v) VALUES", [(2, "b"), (1, "again"), (3, "c")])
    assert conn.execute("SELECT k FROM t ORDER BY k").fetchall() == [(1,)]


def test_rows_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="params"):
        insert_rows(_table(), "INSERT INTO t (k, v) VALUES", [(1, "a"), (2,)])
    with pytest.raises(ValueError, match="width"):
        rows_per_statement(0)
