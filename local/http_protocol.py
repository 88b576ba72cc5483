"""uvicorn's httptools protocol, writing each response with one system call instead of two.

uvicorn writes a response's head as soon as the app sends ``http.response.start`` and its body
on ``http.response.body``: two ``send`` calls per small response. On the machines we measure,
a system call costs about as much as the rest of a small request's Python, so ``qs gateway``
runs this subclass (``uvicorn --http local.http_protocol:CoalescingHttpToolsProtocol``): writes
made in one turn of the event loop are joined and handed to the socket at the end of the turn.
Closing the connection (or handing it to another protocol) sends what is pending first.
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
