"""The lean HTTP/1.1 transport against real sockets: a scripted raw server, uvicorn over TLS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from local.embedded_redis import free_port
from shared.delivery.transport import KeepAliveTransport
from tests.conftest import wait_for
from tests.servers import self_signed_certificate, serve


class RawServer:
    """Answers each request on 127.0.0.1 with the next scripted raw response.

    A script entry is (bytes to send, whether to close the connection afterwards); ``None``
    bytes mean: never answer (the connection stays open until the client gives up).
    """

    def __init__(self, script: list[tuple[bytes | None, bool]]) -> None:
        self.script = script
        self.connections = 0
        self.closed = 0  #: connections this server has closed
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        finally:
            conn.close()
            self.closed += 1

    def _converse(self, conn: socket.socket) -> None:
        buffer = b""
        while self.script:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")), 0,
            )  # fmt: skip
            while len(buffer) < length:
                buffer += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
            answer, close = self.script.pop(0)
            if answer is None:
                conn.recv(1)  # wait for the client to hang up
                return
            conn.sendall(answer)
            if close:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=KeepAliveTransport(max_body_bytes=100), timeout=5) as c:
        yield c


def ok(body: bytes = b'{"ok":true}') -> tuple[bytes, bool]:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body), False


def test_sequential_requests_reuse_one_connection(client: httpx.Client):
    server = RawServer([ok(), ok(), ok()])
    for _ in range(3):
        response = client.post(server.url + "/send-sms", content=b'{"a":1}')
        assert response.status_code == 200 and response.json() == {"ok": True}
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /send-sms HTTP/1.1\r\n") and first.endswith(b'\r\n\r\n{"a":1}')
    assert b"content-length: 7" in first.lower() and b"host: 127.0.0.1" in first.lower()


def test_chunked_and_interim_answers_are_decoded(client: httpx.Client):
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\nretry-after: 7\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"
    )
    server = RawServer([(chunked, False), ok()])
    response = client.post(server.url, content=b"{}")
    assert (response.status_code, response.text) == (503, "hello world")
    assert response.headers["retry-after"] == "7"
    assert client.post(server.url, content=b"{}").status_code == 200
    assert server.connections == 1, "a fully read chunked body leaves the connection reusable"


def test_a_body_without_length_is_read_to_the_close_and_the_connection_dropped(client):
    server = RawServer([(b"HTTP/1.1 200 OK\r\n\r\nuntil close", True), ok()])
    assert client.post(server.url, content=b"{}").text == "until close"
    assert client.post(server.url, content=b"{}").status_code == 200
    assert server.connections == 2


def test_a_huge_body_is_cut_at_the_limit_and_the_connection_dropped(client):
    big = b"x" * 1000
    server = RawServer([ok(big), ok()])
    assert client.post(server.url, content=b"{}").content == big[:100]
    assert client.post(server.url, content=b"{}").status_code == 200
    assert server.connections == 2


def test_a_negative_content_length_is_a_protocol_error_and_the_connection_is_not_reused(client):
    server = RawServer([(b"HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\nhello", False), ok()])
    with pytest.raises(httpx.RemoteProtocolError, match="Content-Length"):
        client.post(server.url, content=b"{}")
    assert client.post(server.url, content=b"{}").status_code == 200
    assert server.connections == 2 and len(server.requests) == 2


def test_an_idle_connection_the_server_closed_is_not_reused(client: httpx.Client):
    server = RawServer([(ok()[0], True), ok()])  # the server closes right after answering
    assert client.post(server.url, content=b"{}").status_code == 200
    wait_for(lambda: server.closed == 1, what="the server's close")
    assert client.post(server.url, content=b"{}").status_code == 200
    assert server.connections == 2 and len(server.requests) == 2


def test_a_connection_closed_just_as_it_is_reused_is_retried_once_on_a_fresh_one(client):
    # The second request arrives on the kept-alive connection and the server hangs up without
    # a byte of answer (its idle timeout racing our reuse): the client sends it again, fresh.
    server = RawServer([ok(), (b"", True), ok()])
    assert client.post(server.url, content=b"{}").status_code == 200
    assert client.post(server.url, content=b'{"n":2}').status_code == 200
    assert server.connections == 2
    assert [r.endswith(b'{"n":2}') for r in server.requests] == [False, True, True]


def test_connection_errors_and_timeouts_are_httpx_errors():
    transport = KeepAliveTransport()
    with httpx.Client(transport=transport) as c, pytest.raises(httpx.ConnectError):
        c.post(f"http://127.0.0.1:{free_port()}/", content=b"{}")
    silent = RawServer([(None, False)])  # accepts, never answers
    with (
        httpx.Client(transport=transport, timeout=0.2) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        c.post(silent.url, content=b"{}")
    with httpx.Client(transport=transport) as c, pytest.raises(httpx.UnsupportedProtocol):
        c.post("ftp://127.0.0.1/x", content=b"{}")
    bad = RawServer([(b"NONSENSE\r\n\r\n", True)])
    with httpx.Client(transport=transport) as c, pytest.raises(httpx.RemoteProtocolError):
        c.post(bad.url, content=b"{}")


def test_https_callbacks_work_over_tls(tmp_path: Path):
    key, cert = self_signed_certificate(tmp_path, "localhost")

    async def hook(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"received": len(await request.body())})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve(app, tls=(key, cert)) as url:
        port = int(url.rsplit(":", 1)[1])
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(transport=KeepAliveTransport(ssl_context=trusted)) as c:
            for _ in range(2):
                assert c.post(f"https://localhost:{port}/hook", content=b"{}").json() == {
                    "received": 2
                }
        default = KeepAliveTransport()
        with httpx.Client(transport=default) as c, pytest.raises(httpx.ConnectError):
            c.post(f"https://localhost:{port}/hook", content=b"{}")  # untrusted certificate
        assert default.ssl_context().verify_mode == ssl.CERT_REQUIRED  # the system's defaults


def test_plain_http_never_loads_the_ca_store():
    transport = KeepAliveTransport()
    server = RawServer([ok()])
    with httpx.Client(transport=transport) as c:
        assert c.post(server.url + "/send-sms", content=b"{}").status_code == 200
    assert transport._ssl_context is None, "loading the CA store costs 10-100 ms of CPU"
