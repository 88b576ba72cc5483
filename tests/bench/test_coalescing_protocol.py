"""``bench.coalescing_protocol``, the challenger of ``bench.protocol_ab``: one write per
response, nothing lost or reordered, on the installed uvicorn."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from bench.coalescing_protocol import UVICORN_HTTP, CoalescingTransport
from local.gateway import build_app
from local.manifest import load
from tests.local.conftest import FIXTURE_MANIFEST
from tests.servers import serve


class RecordingTransport:
    """Stands in for a socket transport: records writes and close."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def write(self, data: bytes) -> None:
        self.events.append(data)

    def close(self) -> None:
        self.events.append("closed")

    def is_closing(self) -> bool:
        return "closed" in self.events

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_loop_turn_go_out_as_one_write_in_order():
    async def scenario() -> list[Any]:
        real = RecordingTransport()
        proxy = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        proxy.write(b"head ")
        proxy.write(b"body")
        assert real.events == [], "nothing is sent before the turn ends"
        await asyncio.sleep(0)
        proxy.write(b"next")
        proxy.close()  # sends what is pending before closing
        await asyncio.sleep(0)
        assert proxy.get_extra_info("peername") == ("127.0.0.1", 1)
        return real.events

    assert asyncio.run(scenario()) == [b"head body", b"next", "closed"]


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses (status line to end of a Content-Length body)."""
    data, responses = b"", []
    while len(responses) < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(responses)} responses"
        data += chunk
        while b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if len(rest) < length:
                break
            responses.append(head + b"\r\n\r\n" + rest[:length])
            data = rest[length:]
    return responses


def test_pipelined_requests_are_answered_in_order_and_close_is_honoured():
    with serve(build_app(load(FIXTURE_MANIFEST), threads=0), UVICORN_HTTP) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /items/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            first, missing, last = read_responses(sock, 3)
            assert sock.recv(1) == b"", "closed after the response that asked for it"
    assert first.startswith(b"HTTP/1.1 200") and b'"pathParameters": {"itemId": "1"}' in first
    assert missing.startswith(b"HTTP/1.1 404")
    assert last.startswith(b"HTTP/1.1 200") and b'"pathParameters": {"itemId": "2"}' in last
