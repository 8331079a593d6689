"""One database connection per thread, all closed together: what both log backends need.

sqlite3 and psycopg connections must not be shared between threads without care, so each thread
opens its own on first use; ``close`` closes every one and later use fails with the log's name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class ThreadConnections(Generic[C]):
    def __init__(self, name: str, connect: Callable[[], C], is_usable: Callable[[C], bool]) -> None:
        self._name = name
        self._connect = connect
        self._is_usable = is_usable
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[C] = []
        self._closed = False

    def get(self) -> C:
        """This thread's connection, opened on first use (or again after the server closed it)."""
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or not self._is_usable(conn):
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"assignment log {self._name} is closed")
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
