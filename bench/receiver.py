"""A callback receiver cheap enough to share two cores with the workers it measures.

A bare HTTP/1.1 keep-alive server on ``asyncio.Protocol`` (uvloop when importable): it parses
the request line, headers and a ``Content-Length`` body, answers ``200`` with a tiny JSON body,
and records each request's arrival time (``time.time()``) and, when asked, the ``jobId`` of its
JSON body. Chunked request bodies are not supported (httpx sends ``Content-Length``).

Run it as its own process (``python -m bench.receiver --port P``) so it never shares a GIL with
the measuring code; the parent drives it over HTTP on the same port:

- ``POST /__bench/reset?ids=1``: forget every record; ``ids=1`` also records job ids;
- ``GET /__bench/count``: ``{"count": n}``, requests recorded since the last reset;
- ``GET /__bench/records``: ``{"count": n, "times": [...], "ids": [...]}``.

Every other request is a callback and is recorded; with ``--delay-ms`` its answer is sent
that many milliseconds after it arrived (a backend further away, or slower, than loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any, cast

#: Path prefix of the control requests (never recorded).
CONTROL_PREFIX = b"/__bench/"

_OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


class Records:
    """What the receiver saw since the last reset."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[str] = []
        self.record_ids = False
        self.bad_bodies = 0  #: bodies without a readable ``jobId`` while recording ids

    def reset(self, record_ids: bool) -> None:
        self.times, self.ids, self.record_ids, self.bad_bodies = [], [], record_ids, 0

    def add(self, body: bytes) -> None:
        self.times.append(time.time())
        if self.record_ids:
            try:
                self.ids.append(str(json.loads(body)["jobId"]))
            except (ValueError, KeyError, TypeError):
                self.ids.append("")
                self.bad_bodies += 1


class HttpProtocol(asyncio.Protocol):
    """One keep-alive connection; pipelined requests are answered in order."""

    def __init__(self, records: Records, delay_s: float = 0.0) -> None:
        self.records = records
        self.delay_s = delay_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(_HEADER_END)
            if end < 0:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(_CONTENT_LENGTH)
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                try:
                    length = int(head[at + len(_CONTENT_LENGTH) : stop if stop >= 0 else None])
                except ValueError:
                    self._close()
                    return
            total = end + 4 + length
            if len(buffer) < total:
                break
            body, buffer = buffer[end + 4 : total], buffer[total:]
            self._answer(head, body)
            if b"\r\nconnection: close" in head:
                self._close()
                return
        self.buffer = buffer

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        parts = line.split(b" ")
        target = parts[1] if len(parts) > 1 else b"/"
        if target.startswith(CONTROL_PREFIX):
            self.transport.write(self._control(target))
        else:
            self.records.add(body)
            if self.delay_s:
                asyncio.get_running_loop().call_later(self.delay_s, self._late, _OK)
            else:
                self.transport.write(_OK)

    def _late(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)

    def _control(self, target: bytes) -> bytes:
        records = self.records
        path, _, query = target[len(CONTROL_PREFIX) :].partition(b"?")
        reply: dict[str, Any]
        if path == b"reset":
            records.reset(record_ids=b"ids=1" in query)
            reply = {"ok": True}
        elif path == b"count":
            reply = {"count": len(records.times)}
        elif path == b"records":
            reply = {
                "count": len(records.times),
                "times": records.times,
                "ids": records.ids,
                "badBodies": records.bad_bodies,
            }
        else:
            reply = {"error": "unknown control path"}
        data = json.dumps(reply).encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(data)).encode()
            + b"\r\n\r\n"
            + data
        )

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int, delay_ms: float = 0.0) -> None:
    """Serve until SIGTERM or SIGINT, answering each callback ``delay_ms`` after it arrived."""
    loop = asyncio.get_running_loop()
    records = Records()
    server = await loop.create_server(
        lambda: HttpProtocol(records, delay_ms / 1000), host, port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer callbacks this late")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.delay_ms))
    else:
        uvloop.run(serve(args.host, args.port, args.delay_ms))


if __name__ == "__main__":
    main()
