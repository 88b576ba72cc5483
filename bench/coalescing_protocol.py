"""The challenger of ``bench.protocol_ab``: uvicorn's httptools protocol, writing each response
with one system call instead of two. Not used by the service any more.

uvicorn writes a response's head as soon as the app sends ``http.response.start`` and its body
on ``http.response.body``: two ``send`` calls per small response. This subclass joins the
writes made in one turn of the event loop and hands them to the socket at the end of the turn;
closing the connection (or handing it to another protocol) sends what is pending first.

``qs gateway`` ran it until issue 15's rule (keep a hand-written part only where it is >= 20 %
better than the library in the same run) removed it. ``python -m bench --only protocol_ab``,
2026-12-02, the 2 shared cores 0-100 % busy with other work, wrk at 64 connections, median
gain in requests/s per run (single rounds swing by +-60 %):

- after group commit (three runs, 10 x 3 s rounds each): under ``qs gateway`` (3 processes)
  -12, +2 and +6 % (median +2 %), server CPU per request -12, +3 and -1 % (310-380 µs);
  on a bare ASGI app, where the HTTP server is all the work, +6, +38 and +15 % (median +15 %),
  0-5 µs of CPU saved per request of 36-42;
- before it (five runs): gateway +4, +19, +10, +30 and -17 % (median +10 %), bare app +7, +28,
  +26, +9 and +4 % (median +9 %).

The system call saved is 1-6 µs of a gateway request's 300-650 µs of CPU: the gateway runs
stock httptools (``local.cli.GATEWAY_HTTP``). Re-run the A/B if the gateway's request path
gets close to the bare app's cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy that gathers the writes of one loop turn into one ``write``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        """Send what was written since the last flush."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:  # every other method: the real transport's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` over a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        proxy = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(proxy)  # type: ignore[arg-type]


#: uvicorn's ``http`` option naming this protocol.
UVICORN_HTTP = f"{__name__}:CoalescingHttpToolsProtocol"
