"""One socket write per response, sent at the end of the loop turn: uvicorn's HTTP protocol over a
transport that holds its writes until the event loop's next turn.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body on ``http.response.body``: two ``send`` calls and, with
``TCP_NODELAY`` (asyncio's default), two TCP segments for every answer, so the client wakes up twice
as often too. Held until the loop's next turn, a response's headers leave with its body in one
call, and the answers one turn finished (a batch of /predict requests, services.api.batching) leave
together: a client driving many connections reads them in one wake-up and sends its next requests
together, which then arrive as one batch again instead of trickling in while the batch is still
being answered. The figures are in docs/benchmarks.md ("Ninth session").

What is held leaves on the next turn at the latest (a streamed body's chunks are delayed by one
turn, not more); ``close()`` sends it first; ``abort()`` drops it, as the transport's own buffer is
dropped; a transport the peer has closed is not written to.

``CoalescingHTTPProtocol`` is the protocol uvicorn would pick itself (httptools, else h11), given
that transport; uvicorn takes it through ``Config(http=...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes reach ``transport`` joined, once per loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._flush_handle = self._loop.call_soon(self._flush)
        self._held.append(bytes(data))

    def _flush(self) -> None:
        self._flush_handle = None
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def close(self) -> None:
        self._cancel_flush()
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._cancel_flush()
        self._held = []
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._cancel_flush()
        self._flush()
        self._transport.write_eof()


class CoalescingHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own HTTP protocol, writing through a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvicorn's protocols are only ever made with a stream transport (uvloop's or asyncio's).
        stream = cast(asyncio.Transport, transport)
        super().connection_made(CoalescingTransport(stream, asyncio.get_running_loop()))
