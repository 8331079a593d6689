"""uvicorn's httptools protocol, with each response leaving in one ``send()`` instead of two.

uvicorn writes a response's status line and headers, then its body, as two ``transport.write``
calls, and uvloop turns each into its own ``send`` syscall. On loopback a ``send`` runs the peer's
TCP receive path too, so it is the single largest cost of a small response: py-spy put ~40% of a
``/health`` request's samples on those two lines. Joining everything written in one event-loop step
into one ``send`` took a one-user ``/predict`` from ~0.45 to ~0.33 ms of server CPU on a 2-core
machine (``loadtests/bench_latency.py``), and changes no byte on the wire.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy: writes made in one loop step are joined and written once, right after it.

    Everything else (close, pause/resume reading, extra info) goes to the real transport; ``close``
    and ``write_eof`` flush first, so nothing written before them is lost or reordered.
    """

    __slots__ = ("_buffer", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._buffer.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer.clear()
        # A peer that went away between the write and this flush: the response has nowhere to go.
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(b) for b in self._buffer)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """Pass as ``uvicorn.run(..., http=CoalescingHttpToolsProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        proxy: Any = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(proxy)
